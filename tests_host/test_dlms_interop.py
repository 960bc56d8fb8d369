"""Interoperability with the UNMODIFIED PyPI client dlms-cosem (issue 5 "Checked by").

The server runs in-process under CPython on 127.0.0.1 with ephemeral ports (asyncio in a
background thread: firmware/comms.py serve_tcp for the TCP wrapper and HDLC-over-TCP),
backed by a Meter on the virtual board after ~1.5 simulated days of the "varied" load, so
the profile and the logs hold data. Every client session is tools/read.py (built on
dlms-cosem) in a subprocess under `timeout` (dlms-cosem can hang, dlms.md §9).

Covered at every level (16 public, 17 LLS, 1 HLS operator, 2 HLS configuration) over both
transports: associate, clock, every register with scaler/unit, the HH profile in full, by
range and by one open-ended bound, the event logs; reads the public level is refused, recorded
as that Data-Access-Result; the per-phase registers of a 3-phase (ATM90E32) meter; a clock
sync through HLS as client 1 and as client 2 (preset + adjust, and shift); a denied write at a
lower level; a wrong password; CSV (every row) and PNG output.
"""

import asyncio
import datetime as dtm
import json
import os
import subprocess
import sys
import threading

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
UTC = dtm.timezone.utc
EPOCH = dtm.datetime(2000, 1, 1, tzinfo=UTC)
HOURS = 36
PHASE_C = (21, 41, 61)  # L1, L2, L3: 1-0:C.8.0 with C = PHASE_C[phase] + quadrant
UNITS = (30, 30, 32, 32)  # Wh, Wh, varh, varh
DENIED = {"error": "read-write-denied", "kind": "data-access-result", "code": 3}
UNDEFINED = {"error": "object-undefined", "kind": "data-access-result", "code": 4}

pytest.importorskip("dlms_cosem")


class Rig:
    """Meter + CosemServer + both TCP listeners in a background event loop."""

    def __init__(self, afe="ade7953"):
        import sc_cosem

        from firmware import comms
        from firmware.cosem.server import CosemServer

        self.hw, self.meter = sc_cosem.boot_meter(hours=HOURS, tick_s=300, afe=afe, load="varied")
        self.server = CosemServer(self.meter)
        self.ports = {}
        self.ic = {1: 1, 2: 1}
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            for kind in ("wrapper", "hdlc"):
                self.loop.create_task(
                    comms.serve_tcp(
                        "127.0.0.1",
                        0,
                        kind,
                        self.server,
                        on_ready=lambda p, k=kind: (
                            self.ports.__setitem__(k, p),
                            ready.set() if len(self.ports) == 2 else None,
                        ),
                    )
                )
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert ready.wait(10)

    def call(self, fn, *a):
        """Run fn(*a) on the server's loop thread (the meter is not thread-safe)."""
        fut = asyncio.run_coroutine_threadsafe(_call(fn, *a), self.loop)
        return fut.result(10)

    def read(self, transport, client, *extra, expect_ok=True):
        args = [
            "timeout",
            "40",
            PY,
            os.path.join(ROOT, "tools", "read.py"),
            "--port",
            str(self.ports[transport]),
            "--transport",
            transport,
            "--client",
            str(client),
            "--json",
            "--timeout",
            "30",
        ]
        if client in (1, 2):
            args += ["--ic", str(self.ic[client])]
        args += list(extra)
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
        if expect_ok:
            assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
        if client in (1, 2) and "client_ic_end" in out:
            self.ic[client] = out["client_ic_end"] + 1
        elif client in (1, 2):
            self.ic[client] += 1000  # a failed session used an unknown number of ICs
        return proc.returncode, out

    def stop(self):
        async def shutdown():
            for t in asyncio.all_tasks():
                if t is not asyncio.current_task():
                    t.cancel()
            await asyncio.sleep(0.05)
            self.loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        self.thread.join(5)


async def _call(fn, *a):
    return fn(*a)


@pytest.fixture(scope="module")
def rig():
    r = Rig()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def rig3():
    """A 3-phase meter (ATM90E32): the "varied" load loses L2 for part of each day."""
    r = Rig(afe="atm90e32")
    yield r
    r.stop()


def _expected(rig):
    m = rig.meter
    acc = m.acc
    totals = [acc.wh(acc.slot(None, q)) for q in range(4)]
    prof = m.profile
    rows = []
    rec = [0] * 6
    for p in range(prof.oldest(4), prof.newest() + 1):
        assert prof.read(p, rec)
        t = (EPOCH + dtm.timedelta(seconds=(p + 1) * 1800)).isoformat()
        rows.append([t, rec[1] & 0x7F, rec[2], rec[3], rec[4], rec[5]])
    return totals, rows


@pytest.mark.parametrize("transport", ["wrapper", "hdlc"])
@pytest.mark.parametrize("client", [16, 17, 1, 2])
def test_every_level_reads_clock_registers_profile_logs(rig, transport, client):
    totals, rows = rig.call(_expected, rig)
    assert len(rows) >= 70  # 36 h of half hours
    a, b = rows[10][0][:16], rows[13][0][:16]
    args = ["--logs", "--range-check", "%s,%s" % (a, b)]
    rc, out = rig.read(transport, client, *args)
    now = rig.call(rig.meter.clock.now)
    assert out["clock"] == (EPOCH + dtm.timedelta(seconds=now)).isoformat()
    regs = out["registers"]
    for q, ln in enumerate(("1.0.1.8.0.255", "1.0.2.8.0.255", "1.0.3.8.0.255", "1.0.4.8.0.255")):
        assert regs[ln] == {"value": totals[q], "scaler": 0, "unit": 30 if q < 2 else 32}
    assert totals[0] > 0 and totals[1] > 0 and totals[2] > 0 and totals[3] > 0
    got = [[r[0][:19] + "+00:00"] + r[1:] for r in out["profile"]]
    assert got == rows  # the whole 4-channel profile, by GET block transfer
    rng = [[r[0][:19] + "+00:00"] + r[1:] for r in out["range"]]
    assert rng == rows[10:14]  # both bounds inclusive
    assert "profile_error" not in out
    if client == 16:
        # Public: the registers and the HH profile; the per-period registers and the logs
        # are refused with read-write-denied (not a transport failure), and nothing else.
        for q in range(4):
            assert regs["1.0.%d.29.0.255" % (q + 1)] == DENIED
        assert out["logs"] == {"event": DENIED, "security": DENIED, "power": DENIED}
        assert "error" not in out
        return
    last = rows[-1]
    for q in range(4):
        assert regs["1.0.%d.29.0.255" % (q + 1)] == {
            "value": last[2 + q],
            "scaler": 0,
            "unit": UNITS[q],
        }
    logs = out["logs"]
    assert len(logs["power"]) >= 1 and len(logs["event"]) >= 1
    ev_codes = [r[1] for r in logs["event"]]
    expected_events = rig.call(lambda: [e[2] for e in rig.meter.logs.entries(0)])
    assert ev_codes == expected_events


@pytest.mark.parametrize("transport", ["wrapper", "hdlc"])
def test_lower_levels_are_denied_the_clock_write(rig, transport):
    for client in (16, 17):
        rc, out = rig.read(transport, client, "--try-write")
        assert out["write_result"] == 3  # read-write-denied
    before = rig.call(lambda: rig.meter.logs.count(1))
    assert before >= 1  # 0x8F30 source lacks authority, once per association


@pytest.mark.parametrize("client", [1, 2])
def test_clock_sync_through_hls_preset_and_shift(rig, client):
    # docs/dlms.md: the clock's time setting (attribute 2, methods 4-6) is operator level, and
    # a level includes everything below it, so configuration (client 2) may set it too.
    events_before = rig.call(lambda: [e[2] for e in rig.meter.logs.entries(0)])
    now = rig.call(rig.meter.clock.now)
    target = (EPOCH + dtm.timedelta(seconds=now + 5)).replace(tzinfo=None).isoformat()
    rc, out = rig.read("wrapper", client, "--sync", "preset", "--sync-to", target)
    assert out["sync_methods"] == [5, 4]
    assert out["clock_after"] == target + "+00:00"
    now2 = rig.call(rig.meter.clock.now)
    assert now2 == now + 5
    target = (EPOCH + dtm.timedelta(seconds=now2 - 3)).replace(tzinfo=None).isoformat()
    rc, out = rig.read("hdlc", client, "--sync", "shift", "--sync-to", target)
    assert out["sync_methods"] == [6]
    assert out["clock_after"] == target + "+00:00"
    assert rig.call(rig.meter.clock.now) == now2 - 3
    events = rig.call(lambda: [e[2] for e in rig.meter.logs.entries(0)])
    # Each sync is a CoP 10 clock adjustment event of the clock's own (firmware/clock.py).
    assert events.count(0x8145) == events_before.count(0x8145) + 2
    assert events.count(0xF010) == events_before.count(0xF010) + 2


def test_wrong_password_is_rejected_and_logged(rig):
    before = rig.call(lambda: rig.meter.logs.count(1))
    rc, out = rig.read("wrapper", 17, "--password", "wrong", expect_ok=False)
    assert rc == 1
    assert "REJECTED_PERMANENT" in out["error"] and "AUTHENTICATION_FAILED: 13" in out["error"]
    codes = rig.call(lambda: [e[2] for e in rig.meter.logs.entries(1)])
    assert rig.call(lambda: rig.meter.logs.count(1)) == before + 1
    assert codes[-1] == 0x8F3E
    rig.call(lambda: rig.server.security.auth_ok(17))  # do not drift towards the lockout


def test_csv_and_png_from_the_reader(rig, tmp_path):
    totals, rows = rig.call(_expected, rig)
    csv_path = tmp_path / "hh.csv"
    png_path = tmp_path / "hh.png"
    rig.read("wrapper", 17, "--csv", str(csv_path), "--png", str(png_path))
    lines = csv_path.read_text().strip().splitlines()
    assert lines[0] == "period_end_utc,status,ai_wh,ae_wh,ri_varh,re_varh"
    # Every HH row, every field, against the meter's own profile store (not via DLMS).
    assert lines[1:] == [",".join(str(v) for v in r) for r in rows]
    assert len(rows) >= 70 and any(r[1] for r in rows)  # the outages flag some periods
    from PIL import Image

    assert Image.open(png_path).size == (960, 360)


def test_profile_by_one_open_ended_bound(rig):
    _totals, rows = rig.call(_expected, rig)
    k = len(rows) // 2
    at = rows[k][0][:16]  # "YYYY-MM-DDTHH:MM", a period end
    rc, out = rig.read("wrapper", 17, "--from", at)
    assert out["profile_range"] == [at + ":00+00:00", "2099-12-31T23:59:59+00:00"]
    assert out["profile"] == rows[k:]
    rc, out = rig.read("hdlc", 17, "--to", at)
    assert out["profile_range"] == ["2000-01-01T00:00:00+00:00", at + ":00+00:00"]
    assert out["profile"] == rows[: k + 1]


@pytest.mark.parametrize("transport", ["wrapper", "hdlc"])
def test_three_phase_meter_per_phase_registers(rig3, transport):
    """--phases 3 reads 1-0:21..24.8.0, 41..44.8.0, 61..64.8.0 with scaler/unit: each equals
    the meter's own per-phase register (energy.Accumulator slot), exactly."""
    m = rig3.meter
    assert m.phases == 3

    def registers():
        acc = m.acc
        per_phase = [[acc.wh(acc.slot(ph, q)) for q in range(4)] for ph in range(3)]
        return per_phase, [acc.wh(acc.slot(None, q)) for q in range(4)]

    per_phase, totals = rig3.call(registers)
    rc, out = rig3.read(transport, 16, "--phases", "3")
    regs = out["registers"]
    expected = {}
    for ph in range(3):
        for q in range(4):
            ln = "1.0.%d.8.0.255" % (PHASE_C[ph] + q)
            expected[ln] = {"value": per_phase[ph][q], "scaler": 0, "unit": UNITS[q]}
    for q in range(4):
        expected["1.0.%d.8.0.255" % (q + 1)] = {"value": totals[q], "scaler": 0, "unit": UNITS[q]}
        expected["1.0.%d.29.0.255" % (q + 1)] = DENIED  # public
    assert regs == expected
    # The phases differ (L2 is lost for part of each day), so a swapped OBIS code would show.
    assert per_phase[0][0] > 0 and per_phase[1][0] != per_phase[0][0]
    assert all(v > 0 for row in per_phase for v in row)
    # Without --phases 3 they are not read.
    rc, out = rig3.read(transport, 16)
    assert sorted(out["registers"]) == sorted(
        ["1.0.%d.8.0.255" % (q + 1) for q in range(4)]
        + ["1.0.%d.29.0.255" % (q + 1) for q in range(4)]
    )


def test_single_phase_meter_has_no_per_phase_registers(rig):
    totals, rows = rig.call(_expected, rig)
    rc, out = rig.read("wrapper", 17, "--phases", "3")
    regs = out["registers"]
    for c in PHASE_C:
        for q in range(4):
            assert regs["1.0.%d.8.0.255" % (c + q)] == UNDEFINED
    # Refusals are results: the rest of the session went on.
    for q in range(4):
        assert regs["1.0.%d.8.0.255" % (q + 1)] == {
            "value": totals[q],
            "scaler": 0,
            "unit": UNITS[q],
        }
    assert out["profile"] == rows
