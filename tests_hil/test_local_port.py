"""The board's local port: a real DLMS/COSEM client (dlms-cosem, unmodified) reads the meter.

On the virtual board the local port is the TCP wrapper and HDLC over TCP on 127.0.0.1 (the
real boards speak HDLC on their UART, which needs an optical probe: run tools/read.py against
it by hand). The clock, a register and the HH profile; the profile is compared with the
meter's own store, read through the REPL.
"""

import datetime as dtm
import time

import pytest


def test_dlms_client_reads_clock_and_registers(board):
    if board.dlms_port is None:
        pytest.skip("a real board's local port is its UART: use tools/read.py with a probe")
    # The meter has been interrupted and resumed from the REPL by earlier tests: its local
    # port must still answer (firmware/comms.py keeps its listening socket across the interrupt).
    out = board.read_local_port("wrapper", board.dlms_port)
    assert out["clock"].startswith("20")
    reg = out["registers"]["1.0.1.8.0.255"]
    assert reg["scaler"] == 0 and reg["unit"] == 30
    # The meter keeps counting: what mpremote sees afterwards is at least what DLMS read.
    status = board.status()
    assert 0 <= reg["value"] <= status["registers_wh"]["active_import"]


# The meter's own HH profile, read on the board through the REPL (never through DLMS):
# [period, status, AI, AE, RI, RE] for each period of the 4-channel window, oldest first.
PROFILE = """import firmware.app as app
p = app._app.meter.profile
rec = [0] * 6
rows = []
n = p.newest()
if n >= 0:
    for q in range(p.oldest(4), n + 1):
        rows.append(list(rec) if p.read(q, rec) else [q, None])
emit({"rows": rows, "utc": app._app.meter.clock.timestamp_or_none()})
"""
PERIOD_S = 1800
EPOCH = dtm.datetime(2000, 1, 1, tzinfo=dtm.timezone.utc)


def _period_end(q):
    return (EPOCH + dtm.timedelta(seconds=(q + 1) * PERIOD_S)).isoformat()


@pytest.mark.parametrize("transport", ["wrapper", "hdlc"])
def test_dlms_client_reads_the_hh_profile(board, transport):
    if board.dlms_port is None:
        pytest.skip("a real board's local port is its UART: use tools/read.py with a probe")
    # Until a half hour has closed since the board's last power-on, wait for the first one (a
    # simulated half hour is 90 s of wall time at the HIL speed of 20), looking again after
    # the time it should take, then every 5 s.
    deadline = time.monotonic() + 150
    while True:
        meter = board.query(PROFILE)
        if meter["rows"]:
            break
        assert time.monotonic() < deadline, "no half hour closed in 150 s"
        assert meter["utc"] is not None, "the meter's clock is invalid"
        left_s = PERIOD_S - meter["utc"] % PERIOD_S
        time.sleep(max(5, left_s / board.SIM_OPTIONS["speed"] + 1))
    port = board.dlms_port if transport == "wrapper" else board.hdlc_port
    out = board.read_local_port(transport, port)
    meter = board.query(PROFILE)
    expected = []
    for r in meter["rows"]:
        assert r[1] is not None, "unreadable record %r" % r
        assert r[1] & 0x80 == 0  # a 4-channel record
        expected.append([_period_end(r[0])] + r[1:])
    got = out["profile"]
    assert len(got) >= 1
    # What DLMS read is the meter's own store, period for period, field for field; the meter
    # kept metering afterwards, so it may hold periods that closed after the read.
    assert got == expected[: len(got)]
    # ... and it got every period that had closed by the clock the session read first.
    closed = [e for e in expected if e[0] <= out["clock"]]
    assert len(got) >= len(closed)
    assert "profile_error" not in out
