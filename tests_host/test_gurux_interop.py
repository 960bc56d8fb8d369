"""A second, independent DLMS/COSEM client reads the meter: Gurux's PyPI `gurux-dlms`,
unmodified (issue 5 "Checked by": any other standard client associates on the wrapper as
client 16, no security, server logical address 1, and reads the clock, 1-0:1.8.0.255 and the
HH profile). dlms-cosem is covered in test_dlms_interop.py; Gurux is a different code base,
with its own A-XDR, HDLC and block-transfer handling, so agreeing with both is the evidence.

The meter is the same in-process rig (firmware/comms.py serve_tcp on ephemeral ports over a
Meter after 36 simulated hours of the "varied" load). Every socket read has a timeout.
"""

import datetime as dtm
import socket

import pytest

pytest.importorskip("gurux_dlms")

from gurux_dlms import GXByteBuffer, GXDLMSClient, GXReplyData  # noqa: E402
from gurux_dlms.enums import Authentication, InterfaceType  # noqa: E402
from gurux_dlms.objects import (  # noqa: E402
    GXDLMSClock,
    GXDLMSProfileGeneric,
    GXDLMSRegister,
)
from test_dlms_interop import EPOCH, Rig, _expected  # noqa: E402

TIMEOUT_S = 10


class GuruxSession:
    """A Gurux client on a socket: the request frames Gurux builds go out as they are, and
    what comes back is handed to Gurux's own parser until it says the reply is complete."""

    def __init__(self, port, interface):
        self.client = GXDLMSClient(True, 16, 1, Authentication.NONE, None, interface)
        self.interface = interface
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)

    def _exchange(self, frame, reply):
        self.sock.sendall(bytes(frame))
        received = GXByteBuffer()
        notify = GXReplyData()
        while not self.client.getData(received, reply, notify):
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("the meter closed the connection")
            received.set(chunk)

    def _data_block(self, frames, reply):
        for frame in frames if isinstance(frames, list) else [frames]:
            reply.clear()
            self._exchange(frame, reply)
            while reply.isMoreData():  # HDLC segments and GET block transfer
                self._exchange(self.client.receiverReady(reply), reply)
        assert reply.error == 0, "the meter refused: error %d" % reply.error

    def open(self):
        if self.interface == InterfaceType.HDLC:
            reply = GXReplyData()
            self._data_block(self.client.snrmRequest(), reply)
            self.client.parseUAResponse(reply.data)
        reply = GXReplyData()
        self._data_block(self.client.aarqRequest(), reply)
        self.client.parseAareResponse(reply.data)

    def read(self, obj, attribute):
        reply = GXReplyData()
        self._data_block(self.client.read(obj, attribute), reply)
        return self.client.updateValue(obj, attribute, reply.value)

    def rows_by_range(self, profile, start, end):
        reply = GXReplyData()
        self._data_block(self.client.readRowsByRange(profile, start, end), reply)
        self.client.updateValue(profile, 2, reply.value)
        return profile.buffer

    def close(self):
        try:
            reply = GXReplyData()
            self._data_block(self.client.releaseRequest(), reply)
            if self.interface == InterfaceType.HDLC:
                reply = GXReplyData()
                self._data_block(self.client.disconnectRequest(), reply)
        finally:
            self.sock.close()


@pytest.fixture(scope="module")
def rig():
    r = Rig()
    yield r
    r.stop()


def _utc(gx_datetime):
    """A Gurux GXDateTime -> aware UTC datetime."""
    return gx_datetime.value.astimezone(dtm.timezone.utc)


@pytest.mark.parametrize(
    "interface", [InterfaceType.WRAPPER, InterfaceType.HDLC], ids=["wrapper", "hdlc"]
)
def test_gurux_reads_clock_register_and_the_hh_profile(rig, interface):
    totals, rows = rig.call(_expected, rig)
    port = rig.ports["wrapper" if interface == InterfaceType.WRAPPER else "hdlc"]
    s = GuruxSession(port, interface)
    try:
        s.open()
        clock = GXDLMSClock("0.0.1.0.0.255")
        s.read(clock, 2)
        now = rig.call(rig.meter.clock.now)
        assert _utc(clock.time) == EPOCH + dtm.timedelta(seconds=now)

        register = GXDLMSRegister("1.0.1.8.0.255")
        s.read(register, 3)
        assert register.scaler == 1 and int(register.unit) == 30  # 10**0 Wh
        s.read(register, 2)
        assert register.value == totals[0] > 0

        profile = GXDLMSProfileGeneric("1.0.99.1.0.255")
        s.read(profile, 3)  # capture objects: clock, status, the four channels
        names = [(int(o.objectType), o.logicalName) for o, _ in profile.captureObjects]
        assert names == [
            (8, "0.0.1.0.0.255"),
            (1, "0.0.96.10.1.255"),
            (3, "1.0.1.29.0.255"),
            (3, "1.0.2.29.0.255"),
            (3, "1.0.3.29.0.255"),
            (3, "1.0.4.29.0.255"),
        ]
        s.read(profile, 4)
        assert profile.capturePeriod == 1800
        s.read(profile, 2)  # the whole buffer, by GET block transfer
        got = [[_utc(r[0]).isoformat()] + [int(v) for v in r[1:]] for r in profile.buffer]
        assert got == rows and len(rows) >= 70

        # Selective access by range, both bounds inclusive (Gurux builds the descriptor).
        start = dtm.datetime.fromisoformat(rows[10][0])
        end = dtm.datetime.fromisoformat(rows[13][0])
        picked = s.rows_by_range(profile, start, end)
        assert [[_utc(r[0]).isoformat()] + [int(v) for v in r[1:]] for r in picked] == rows[10:14]
    finally:
        s.close()
