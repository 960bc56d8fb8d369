"""tools/read.py's FramedTcpIO: HDLC frames end where their length field says, not at a 0x7E.

IEC 62056-46 frames are not byte-stuffed, so 0x7E occurs inside them: in the FCS (its last byte
in 1 frame of 256), the HCS, the length byte, the payload. The peer here is the meter's own
HDLC layer (firmware/cosem/hdlc.py HdlcServer) on a TCP socket, answering every APDU with one
chosen so that its reply frame holds 0x7E where a flag-hunting reader goes wrong; the client
is the UNMODIFIED dlms-cosem HdlcTransport with FramedTcpIO as its `io`.

With dlms-cosem's own BlockingTcpIO in its place (checked by hand with dlms-cosem 25.1.0, io
timeout 2 s) the "fcs_last", "fcs_both", "payload_flags" and "segmented" exchanges below never
complete: recv_frame takes the FCS's 0x7E (or the first of two payload 0x7E) for the closing
flag, then reads the real closing flag alone and waits for another 0x7E the meter never sends,
so the exchange ends in CommunicationError("Could not receive data") when the socket timeout
expires (a hang without one). Over a whole session 1 frame in 256 hits the FCS case. The
"hcs_low" and "length_byte" cases pass with either IO and guard the other positions.
"""

import socket
import threading
import time

import pytest

pytest.importorskip("dlms_cosem")

from firmware.cosem import hdlc  # noqa: E402
from tools import read  # noqa: E402

FLAG = 0x7E
LLC_RESPONSE = b"\xe6\xe7\x00"
CLIENT = b"\x21"  # client SAP 16, 1-byte HDLC address
SERVER = b"\x03"  # logical device 1, 1-byte form (what dlms-cosem writes)
# GET-Request-Normal for 1-0:1.8.0.255 attribute 2 (what the client sends is not the point).
REQUEST = bytes.fromhex("c001c1000301000108ffff0200")
MAX_INFO = 128  # the IEC 62056-46 default both sides keep (dlms-cosem's SNRM has no params)


def get_response(payload):
    """GET-Response-Normal, data = octet-string `payload`."""
    n = len(payload)
    size = bytes((n,)) if n < 0x80 else b"\x82" + n.to_bytes(2, "big")
    return b"\xc4\x01\xc1\x00\x09" + size + payload


def reply_frames(apdu):
    """The I-frames the meter sends for `apdu` as the answer to the client's first I-frame:
    N(R) = 1, N(S) counting up, LLC in the first segment, MAX_INFO bytes of information each."""
    data = LLC_RESPONSE + apdu
    chunks = [data[i : i + MAX_INFO] for i in range(0, len(data), MAX_INFO)]
    return [
        hdlc.encode_frame(CLIENT, SERVER, hdlc.i_control(k, 1), c, segmented=k < len(chunks) - 1)
        for k, c in enumerate(chunks)
    ]


def search(make, want):
    """The first make(i) whose reply frames satisfy want(frames)."""
    for i in range(1 << 18):
        apdu = make(i)
        if want(reply_frames(apdu)):
            return apdu
    raise AssertionError("no such frame in the search space")


def _u16(i):
    return i.to_bytes(2, "big")


CASES = {
    # The FCS's last byte (sent right before the closing flag) is 0x7E, its first is not.
    "fcs_last": (
        lambda i: get_response(_u16(i)),
        lambda fs: fs[0][-2] == FLAG and fs[0][-3] != FLAG,
    ),
    # Both FCS bytes are 0x7E: three 0x7E in a row end the frame.
    "fcs_both": (
        lambda i: get_response(_u16(i)),
        lambda fs: fs[0][-2] == FLAG and fs[0][-3] == FLAG,
    ),
    # Two 0x7E in a row and another one inside the APDU; the FCS holds none.
    "payload_flags": (
        lambda i: get_response(b"\x7e\x7e" + _u16(i) + b"\x7e"),
        lambda fs: FLAG not in fs[0][-3:-1],
    ),
    # The HCS's first byte is 0x7E (it covers format..control: only the length varies).
    "hcs_low": (lambda i: get_response(bytes(i)), lambda fs: fs[0][6] == FLAG),
    # The length byte of the format field is 0x7E (a 126-byte frame).
    "length_byte": (lambda i: get_response(bytes(i)), lambda fs: fs[0][2] == FLAG),
    # A 3-segment answer whose middle segment's FCS ends in 0x7E: the client's RR follows it.
    "segmented": (
        lambda i: get_response(bytes(190) + _u16(i) + bytes(108)),
        lambda fs: len(fs) == 3 and fs[1][-2] == FLAG,
    ),
}


class FakeMeter:
    """firmware/cosem/hdlc.py HdlcServer on a TCP socket of 127.0.0.1, answering every APDU
    with `apdu`; keeps every frame it sent."""

    def __init__(self, apdu):
        self.apdu = apdu
        self.sent = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        conn.settimeout(10)

        def send(buf):
            self.sent.append(bytes(buf))
            conn.sendall(buf)

        server = hdlc.HdlcServer(send, lambda sap, ld, apdu: self.apdu)
        try:
            while True:
                data = conn.recv(4096)
                if not data:
                    break
                server.feed(data)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.listener.close()
        self.thread.join(5)


def exchange(apdu):
    """SNRM/UA, one request, DISC/UA through the unmodified dlms-cosem HdlcTransport with
    FramedTcpIO. -> (the APDU the client returned, the frames the meter sent)."""
    from dlms_cosem.io import HdlcTransport

    read._quiet_client_logs()
    meter = FakeMeter(apdu)
    io = read.FramedTcpIO("127.0.0.1", meter.port, timeout=3)
    transport = HdlcTransport(client_logical_address=16, server_logical_address=1, io=io)
    box = {}

    def run():
        try:
            transport.connect()
            box["apdu"] = transport.send_request(REQUEST)
            transport.disconnect()
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(15)
    io.disconnect()
    meter.close()
    assert not t.is_alive(), "the client hung"
    assert "error" not in box, repr(box.get("error"))
    return box["apdu"], meter.sent


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_frame_with_0x7e_inside_reaches_dlms_cosem_whole(case):
    make, want = CASES[case]
    apdu = search(make, want)
    expected = reply_frames(apdu)
    got, sent = exchange(apdu)
    assert got == apdu
    # The meter really sent the frames the search chose: UA, the answer, UA (DISC).
    i_frames = [f for f in sent if hdlc.control_kind(f[5])[0] == hdlc.I_FRAME]  # 1-byte addr
    assert i_frames == expected
    assert want(i_frames)
    assert len(sent) == 2 + len(expected)


class Peer:
    """The far end of a FramedTcpIO connection: a listening socket whose accepted side the
    test writes to directly."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(5)
        self.port = self.listener.getsockname()[1]

    def accept(self):
        conn, _ = self.listener.accept()
        return conn

    def close(self):
        self.listener.close()


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.close()


def _frame(info, control=0x30):
    return hdlc.encode_frame(CLIENT, SERVER, control, info)


def test_recv_until_flag_returns_one_frame_by_its_length(peer):
    a = get_response(b"\x7e\x7e\x01\x7e")  # three 0x7E inside
    b = get_response(b"\x02")
    fa = _frame(LLC_RESPONSE + a)
    fb = _frame(LLC_RESPONSE + b, 0x52)
    inside = fa[1:-1].count(FLAG)
    assert inside >= 3 and FLAG not in fb[1:-1]
    io = read.FramedTcpIO("127.0.0.1", peer.port, timeout=2)
    io.connect()
    conn = peer.accept()
    try:
        # Inter-frame fill (two flags) before the first frame, and the second frame sharing
        # its opening flag with the first one's closing flag; sent a byte at a time.
        wire = bytes((FLAG,)) + fa + fb[1:]
        for i in range(len(wire)):
            conn.sendall(wire[i : i + 1])
        assert io.recv_until(b"\x7e") == fa
        # dlms-cosem looks for the frame end at each 0x7E in turn and asks again after each
        # piece that does not parse: those polls get nothing, without waiting.
        t0 = time.monotonic()
        assert [io.recv_until(b"\x7e") for _ in range(inside)] == [b""] * inside
        assert time.monotonic() - t0 < 0.5
        assert io.recv_until(b"\x7e") == fb
        # dlms-cosem sends only once it has parsed the frame: a send drops the empty polls
        # still owed for fa, so the next recv_until is the next frame.
        conn.sendall(fa)
        assert io.recv_until(b"\x7e") == fa
        io.send(b"\x00")
        conn.sendall(fb)
        assert io.recv_until(b"\x7e") == fb
    finally:
        io.disconnect()
        conn.close()


def test_wrapper_reads_are_buffered_and_exact(peer):
    io = read.FramedTcpIO("127.0.0.1", peer.port, timeout=2)
    io.connect()
    conn = peer.accept()
    try:
        conn.sendall(bytes(range(20)))
        assert io.recv(8) == bytes(range(8))
        assert io.recv(12) == bytes(range(8, 20))
    finally:
        io.disconnect()
        conn.close()


def test_a_closed_connection_is_an_error_not_a_spin(peer):
    io = read.FramedTcpIO("127.0.0.1", peer.port, timeout=5)
    io.connect()
    conn = peer.accept()
    frame = _frame(LLC_RESPONSE + get_response(b"\x01"))
    conn.sendall(frame[:10])  # the meter dies mid-frame
    conn.close()
    t0 = time.monotonic()
    with pytest.raises(read.LinkClosed):
        io.recv_until(b"\x7e")
    assert time.monotonic() - t0 < 1  # at once, not after the timeout
    assert read.error_kind(read.LinkClosed("x")) == "transport"
    io.disconnect()


def test_silence_is_a_timeout(peer):
    io = read.FramedTcpIO("127.0.0.1", peer.port, timeout=0.5)
    io.connect()
    conn = peer.accept()
    try:
        t0 = time.monotonic()
        with pytest.raises(read.LinkTimeout) as exc:
            io.recv(8)
        assert 0.4 < time.monotonic() - t0 < 3
        assert read.error_kind(exc.value) == "timeout"
    finally:
        io.disconnect()
        conn.close()


@pytest.mark.parametrize(
    "wire, message",
    [
        (b"\x7e\x55\x00", "not an HDLC frame format type 3: 0x55"),
        (b"\x7e\xa0\x05", "HDLC length field 5 is too short"),
        # A 9-byte frame by its length field followed by 0x00 instead of the closing flag.
        (b"\x7e\xa0\x09" + bytes(7) + b"\x00", "no closing flag after the 9 bytes"),
    ],
)
def test_bytes_that_are_not_a_frame_are_a_framing_error(peer, wire, message):
    io = read.FramedTcpIO("127.0.0.1", peer.port, timeout=2)
    io.connect()
    conn = peer.accept()
    try:
        conn.sendall(wire)
        with pytest.raises(read.FramingError, match=message):
            io.recv_until(b"\x7e")
    finally:
        io.disconnect()
        conn.close()
