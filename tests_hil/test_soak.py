"""Bad input on the local port (issue 5 deliverable 7; reliability.md T12): at least 10,000
malformed frames sent to the virtual board's DLMS ports: no crash, no hang, heap stable, and
valid sessions are still served afterwards.
"""

import os
import random
import socket
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.append(os.path.join(ROOT, "hal", "sim", "cpython"))  # `micropython` stand-in

from lib.crc import crc16_x25  # noqa: E402


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


def test_ten_thousand_malformed_frames(board):
    if board.hdlc_port is None:
        pytest.skip("the soak targets the virtual board's TCP ports")
    rng = random.Random(20261125)
    before = board.status()
    sent = 0
    with socket.create_connection(("127.0.0.1", board.hdlc_port), timeout=30) as s:
        batch = bytearray()
        for i in range(10_000):
            batch += _malformed_hdlc(rng, i)
            if len(batch) > 4096:
                s.sendall(batch)
                batch = bytearray()
            sent += 1
        s.sendall(batch)
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
    assert sent >= 10_000
    # Valid sessions are still served on both transports, and the meter kept metering.
    for transport, port in (("hdlc", board.hdlc_port), ("wrapper", board.dlms_port)):
        out = board.read_local_port(transport, port)
        assert out["registers"]["1.0.1.8.0.255"]["unit"] == 30
    after = board.status()
    assert after["ticks"] > before["ticks"]
    assert after["heap_used"] < before["heap_used"] * 1.2 + 16_384, (before, after)
