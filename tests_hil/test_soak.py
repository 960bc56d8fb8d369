"""Bad input on the local port (issue 5 deliverable 7; reliability.md T12): at least 10,000
malformed frames sent to the virtual board's DLMS ports: no crash, no hang, heap stable, and
valid sessions are still served afterwards.
"""

import os
import random
import socket
import sys
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.append(os.path.join(ROOT, "hal", "sim", "cpython"))  # `micropython` stand-in

from lib.crc import crc16_x25  # noqa: E402
from tools.bench_port import AARQ_PUBLIC  # noqa: E402


def _hdlc(body_without_flags):
    fcs = crc16_x25(body_without_flags)
    return b"\x7e" + bytes(body_without_flags) + bytes((fcs & 0xFF, fcs >> 8)) + b"\x7e"


def _malformed_hdlc(rng, i):
    kind = i % 6
    if kind == 0:  # random garbage
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 40)))
    if kind == 1:  # a good-looking I-frame with a broken FCS
        f = bytearray(_hdlc(bytes((0xA0, 0x0A, 0x03, 0x21, 0x10, 0, 0, 0xE6, 0xE6, 0x00))))
        f[-2] ^= 0xFF
        return bytes(f)
    if kind == 2:  # length field longer than the frame
        return b"\x7e\xa0\xff\x03\x21\x93" + b"\x00" * 8 + b"\x7e"
    if kind == 3:  # oversized frame (length 0x7FF)
        return b"\x7e\xa7\xff" + bytes(rng.getrandbits(8) for _ in range(64)) + b"\x7e"
    if kind == 4:  # valid FCS, unknown control byte and garbage information
        return _hdlc(bytes((0xA0, 0x08, 0x03, 0x21, 0xFF, 0x01, 0x02, 0x03)))
    return b"\x7e\x7e\x7e" + bytes((0xA0,)) + b"\x7e"  # flags and a stray format byte


def _wrapped(apdu):
    return bytes((0, 1, 0, 16, 0, 1)) + len(apdu).to_bytes(2, "big") + apdu


# First bytes of the APDUs the server decodes (AARQ, RLRQ, GET/SET/ACTION requests, the
# ciphered forms), so the garbage reaches each decoder and not only the "unknown tag" path.
_TAGS = (0x60, 0x62, 0xC0, 0xC1, 0xC3, 0xC8, 0xC9, 0xCB, 0xDB, 0xDD, 0x21)


def _malformed_apdu(rng, i):
    kind = i % 4
    if kind == 0:  # a known tag, then garbage of any length
        return bytes((rng.choice(_TAGS),)) + bytes(
            rng.getrandbits(8) for _ in range(rng.randint(0, 120))
        )
    if kind == 1:  # a GET-Request-Normal cut short at a random point
        get = bytes.fromhex("C001C100030100010800FF0200")
        return get[: rng.randint(1, len(get) - 1)]
    if kind == 2:  # an A-XDR length claiming 4 GB inside a SET
        return bytes.fromhex("C101C100030100010800FF0200") + b"\x09\x84\xff\xff\xff\xff"
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 60)))  # anything at all


def _session_garbage(rng, i):
    """Bad APDU i in a wrapper frame. A garbage AARQ is refused and ends the association it
    arrived in (so does a release): a valid AARQ goes first now and then, so the garbage keeps
    reaching the service decoders rather than only the "not associated" answer."""
    frame = _wrapped(_malformed_apdu(rng, i))
    return _wrapped(AARQ_PUBLIC) + frame if i % 25 == 24 else frame


def _send_batched(sock, frames):
    """Send the frames in ~4 KB writes; -> how many were sent."""
    batch = bytearray()
    n = 0
    for frame in frames:
        batch += frame
        n += 1
        if len(batch) > 4096:
            sock.sendall(batch)
            batch = bytearray()
    sock.sendall(batch)
    return n


def _drain(sock, counter):
    """Read whatever the meter answers until it closes, so its writes never back up."""
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return
            counter[0] += len(data)
    except OSError:
        return


def test_ten_thousand_malformed_frames(board):
    if board.hdlc_port is None:
        pytest.skip("the soak targets the virtual board's TCP ports")
    rng = random.Random(20261125)
    before = board.status()
    sent = 0
    with socket.create_connection(("127.0.0.1", board.hdlc_port), timeout=30) as s:
        sent += _send_batched(s, (_malformed_hdlc(rng, i) for i in range(10_000)))
        time.sleep(1)
    # Malformed wrapper headers: each is answered by closing that connection only.
    for i in range(200):
        with socket.create_connection(("127.0.0.1", board.dlms_port), timeout=30) as s:
            header = bytes((0, 9 if i % 2 else 1, 0, 16, 0, 1, 0xFF, 0xFF))  # bad version/len
            s.sendall(header + bytes(rng.getrandbits(8) for _ in range(16)))
            s.settimeout(10)
            try:
                assert s.recv(64) == b""  # closed by the meter, nothing answered
            except ConnectionResetError:
                pass
            except TimeoutError:
                pytest.fail(
                    "malformed wrapper header %d: the meter neither answered nor closed in 10 s%s"
                    % (i, board.console_tail())
                )
        sent += 1
    # Malformed APDUs inside an association (the decoders past the transport): a public AARQ,
    # then 3,000 bad APDUs in well-formed wrapper frames on the same connection. Each is
    # answered (an exception-response, or a refusing AARE) and none ends the session.
    answered = [0]
    with socket.create_connection(("127.0.0.1", board.dlms_port), timeout=30) as s:
        reader = threading.Thread(target=_drain, args=(s, answered), daemon=True)
        reader.start()
        s.sendall(_wrapped(AARQ_PUBLIC))
        sent += _send_batched(s, (_session_garbage(rng, i) for i in range(3_000)))
        time.sleep(1)
        s.shutdown(socket.SHUT_WR)
        reader.join(20)
        assert not reader.is_alive(), "the meter kept the connection open" + board.console_tail()
    # Every bad APDU got an answer of at least a wrapper header and a 3-byte
    # exception-response: none was dropped silently or ended the connection.
    assert answered[0] >= 3_000 * (8 + 3)
    assert sent >= 13_000
    # Valid sessions are still served on both transports, and the meter kept metering.
    for transport, port in (("hdlc", board.hdlc_port), ("wrapper", board.dlms_port)):
        out = board.read_local_port(transport, port)
        assert out["registers"]["1.0.1.8.0.255"]["unit"] == 30
    after = board.status()
    assert after["ticks"] > before["ticks"]
    assert after["heap_used"] < before["heap_used"] * 1.2 + 16_384, (before, after)
