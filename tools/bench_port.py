"""DLMS/COSEM figures measured on the virtual board's local port, over a real TCP socket.

    .venv/bin/python tools/bench_port.py [--history-days 20] [--gets 200]

Starts `tools/sim.py` (the firmware in the MicroPython unix port) with `--history-days N
--tick-s 300` and the TCP wrapper (IEC 62056-47) on a free 127.0.0.1 port, waits until the
history has filled the CoP 10 profile, then, as the public client (SAP 16, no security):

    get_ms               mean round trip of a GET of 1-0:1.8.0.255 value (request sent to
                         reply received), over `gets` GETs, and the fastest one
    profile_read_ms      wall time to read 1-0:99.1.0.255 buffer (every entry, GET with
                         block transfer), from the first request to the last block
    profile_rows/blocks  what that read returned

The client is a minimal one written for timing (fixed APDUs, no library in the loop), so the
figures are the meter's and the socket's, not a client library's. Issue 5 targets: a GET under
5 ms, the 20-day profile (960 rows) under 2 s over the wrapper. Prints one JSON object.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time

_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _HERE)
sys.path.append(os.path.join(_HERE, "hal", "sim", "cpython"))  # `micropython` stand-in, last

from firmware.cosem.axdr import decode_length  # noqa: E402
from tools.mpenv import ROOT  # noqa: E402

CLIENT_SAP = 16
SERVER_SAP = 1
# AARQ (Green Book 9.3.2): LN referencing without ciphering, no authentication; user
# information = xDLMS InitiateRequest, version 6, conformance 0x007E1F (GET, SET, ACTION,
# selective access, block transfer with GET), client max PDU 0x04B0.
AARQ_PUBLIC = bytes.fromhex("601DA109060760857405080101BE10040E01000000065F1F0400007E1F04B0")
RLRQ = bytes.fromhex("6200")
OBIS_AI = bytes((1, 0, 1, 8, 0, 255))
OBIS_PROFILE = bytes((1, 0, 99, 1, 0, 255))


class PortError(Exception):
    pass


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _recv_exact(sock, n):
    data = bytearray()
    while len(data) < n:
        part = sock.recv(n - len(data))
        if not part:
            raise PortError("the meter closed the connection")
        data += part
    return bytes(data)


def exchange(sock, apdu):
    """One wrapper round trip: send `apdu` from SAP 16 to SAP 1, return the reply APDU."""
    header = bytes((0, 1, 0, CLIENT_SAP, 0, SERVER_SAP)) + len(apdu).to_bytes(2, "big")
    sock.sendall(header + apdu)
    head = _recv_exact(sock, 8)
    if head[:2] != b"\x00\x01":
        raise PortError("not a wrapper header: %s" % head.hex())
    return _recv_exact(sock, int.from_bytes(head[6:8], "big"))


def get_request(class_id, obis, attribute):
    """GET-Request-Normal (C0 01), invoke-id 0xC1, no selective access."""
    return bytes((0xC0, 1, 0xC1)) + class_id.to_bytes(2, "big") + obis + bytes((attribute, 0))


def get_all(sock, request):
    """GET with block transfer -> (A-XDR data, blocks). Raises PortError on a refusal."""
    reply = exchange(sock, request)
    if reply[:2] == b"\xc4\x01":
        if reply[3] != 0:
            raise PortError("data-access-result %d" % reply[4])
        return reply[4:], 0
    data = bytearray()
    blocks = 0
    while True:
        if reply[:2] != b"\xc4\x02":
            raise PortError("unexpected reply %s" % reply[:8].hex())
        last = reply[3]
        block = reply[4:8]
        if reply[8] != 0:
            raise PortError("data-access-result %d in block %d" % (reply[9], blocks))
        n, pos = decode_length(reply, 9, len(reply))
        data += reply[pos : pos + n]
        blocks += 1
        if last:
            return bytes(data), blocks
        reply = exchange(sock, bytes((0xC0, 2, 0xC1)) + block)


def _array_count(data):
    if not data or data[0] != 0x01:
        raise PortError("the profile buffer is not an array")
    return decode_length(data, 1, len(data))[0]


def associate(sock):
    aare = exchange(sock, AARQ_PUBLIC)
    # association-result (A2 03 02 01 xx): 0 = accepted
    at = aare.find(b"\xa2\x03\x02\x01")
    if aare[:1] != b"\x61" or at < 0 or aare[at + 4] != 0:
        raise PortError("association refused: %s" % aare.hex())


def start_sim(history_days, port):
    cmd = [
        sys.executable,
        os.path.join(ROOT, "tools", "sim.py"),
        "--history-days",
        str(history_days),
        "--tick-s",
        "300",
        "--dlms-port",
        str(port),
        "--hdlc-port",
        "0",
        "--display",
        "none",
    ]
    return subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def wait_for_history(port, rows, proc, timeout_s):
    """Connect once the port listens and the profile holds `rows` entries (attribute 7)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PortError("the virtual board exited: %s" % proc.stderr.read()[-2000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                associate(s)
                data, _ = get_all(s, get_request(7, OBIS_PROFILE, 7))
                exchange(s, RLRQ)
            if data[0] == 0x06 and int.from_bytes(data[1:5], "big") >= rows:
                return
        except (OSError, PortError):
            pass
        time.sleep(0.5)
    raise PortError("the profile did not reach %d rows in %d s" % (rows, timeout_s))


def measure(port, gets):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        associate(s)
        req = get_request(3, OBIS_AI, 2)
        times = []
        for _ in range(gets):
            t0 = time.perf_counter()
            get_all(s, req)
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        data, blocks = get_all(s, get_request(7, OBIS_PROFILE, 2))
        profile_s = time.perf_counter() - t0
        exchange(s, RLRQ)
    return {
        "get_ms": round(sum(times) / len(times) * 1000, 3),
        "get_fastest_ms": round(min(times) * 1000, 3),
        "gets": gets,
        "profile_read_ms": round(profile_s * 1000, 1),
        "profile_rows": _array_count(data),
        "profile_blocks": blocks,
        "profile_bytes": len(data),
        "where": "virtual board (tools/sim.py, MicroPython unix port), TCP wrapper on 127.0.0.1",
    }


def run(history_days=20, gets=200, timeout_s=300):
    rows = int(history_days * 48)
    port = _free_port()
    proc = start_sim(history_days, port)
    try:
        wait_for_history(port, rows, proc, timeout_s)
        return measure(port, gets)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--history-days", type=float, default=20, help="profile days to read")
    p.add_argument("--gets", type=int, default=200, help="GETs timed for the latency")
    args = p.parse_args(argv)
    if args.history_days <= 0 or args.gets <= 0:
        raise SystemExit("--history-days and --gets must be positive")
    print(json.dumps(run(args.history_days, args.gets), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
