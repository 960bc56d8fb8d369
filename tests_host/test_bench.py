"""tools/bench.py --tiny: one JSON object with every documented figure, of sane types and values.

Timings are not asserted (they belong to the bench, not to tests); the allocation and traffic
figures are exact and are.
"""

import json
import os
import subprocess
import sys

import mpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_TIMINGS = (
    "tick_us",
    "afe_read_energy_us",
    "afe_vi_us",
    "afe_measure_us",
    "on_tick_us",
    "on_tick_sim_fram_us",
    "afe_read_sim_us",
)
_MP_KEYS = _TIMINGS + (
    "afe",
    "heap_after_boot_bytes",
    "heap_objects_bytes",
    "heap_module_code_bytes",
    "heap_with_sim_models_bytes",
    "boot_to_first_tick_ms",
    "sim_days_per_wall_s",
    "sim_wall_us_per_tick",
    "bench_sim_days",
    "bench_ticks",
    "watchdog_reset",
    "spi_bytes_per_tick",
    "fram_bytes_per_tick",
    "fram_bytes_per_tick_max",
    "fram_bytes_per_hh_close",
    "fram_hh_closes_seen",
    "fram_write_costs",
    "alloc_on_tick_bytes",
    "alloc_afe_read_bytes",
    "alloc_afe_read_sim_bytes",
    "micropython",
    "tick_us_runs",
)


def _bench():
    mpy.micropython_or_skip()
    proc = subprocess.run(
        [sys.executable, "tools/bench.py", "--tiny"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # the whole output is one JSON object


def test_bench_reports_every_figure():
    from firmware.store import write_costs

    costs = write_costs()  # the store's own arithmetic (pinned by test_store.py)
    tick = costs["tick"]
    r = _bench()
    assert set(r) == {"mpy_total_bytes", "ade7953", "atm90e32", "cpython", "run", "dlms"}
    dlms = r["dlms"]
    assert dlms["profile_rows"] == 96  # the tiny run reads 2 days of the 4-channel profile
    assert 0 < dlms["association_heap_bytes"] < 8 * 1024  # issue 5: under 8 KB
    assert dlms["get_ms"] >= 0 and dlms["profile_read_ms"] >= 0
    # The same over a real socket: a running virtual board's TCP wrapper, 2 history days.
    port = dlms["virtual_board"]
    assert port["profile_rows"] == 96 and port["gets"] == 20
    assert port["profile_bytes"] > 96 * 30 and port["profile_blocks"] >= 1
    assert 0 < port["get_fastest_ms"] <= port["get_ms"] and port["profile_read_ms"] > 0
    assert r["run"] == {"sim_days": 0.002, "calls_per_round": 20}
    for arch in ("xtensawin", "armv6m"):
        assert isinstance(r["mpy_total_bytes"][arch], int) and r["mpy_total_bytes"][arch] > 0
    for afe, phases in (("ade7953", 1), ("atm90e32", 3)):
        m = r[afe]
        assert set(m) == set(_MP_KEYS), afe
        assert m["afe"] == afe
        assert m["watchdog_reset"] is False
        for key in _TIMINGS + ("boot_to_first_tick_ms", "sim_days_per_wall_s"):
            assert isinstance(m[key], (int, float)) and m[key] > 0, key
        # The tick timings come from the fastest run; the tiny bench makes just one.
        assert m["tick_us_runs"] == [m["tick_us"]]
        assert m["heap_after_boot_bytes"] == m["heap_objects_bytes"] + m["heap_module_code_bytes"]
        assert 0 < m["heap_after_boot_bytes"] < m["heap_with_sim_models_bytes"]
        assert m["bench_ticks"] >= 170  # 0.002 days of 1 s windows
        # The firmware's steady-state tick and the drivers' read path allocate nothing.
        assert m["alloc_on_tick_bytes"] == 0
        assert m["alloc_afe_read_bytes"] == 0
        assert isinstance(m["alloc_afe_read_sim_bytes"], int)
        # SPI traffic by device: the FRAM commit writes the changed bytes and reads the copy
        # back, plus the command/address frames. The AFE frames are fixed per tick: the energy
        # registers (each verified) and V and I only (ATM90E32: 24 + 9 four-byte frames).
        spi = m["spi_bytes_per_tick"]
        assert set(spi) == {"afe", "fram", "lcd", "total"}
        assert spi["afe"] == (80.0 if phases == 1 else 132.0)
        assert spi["fram"] >= 2 * tick
        assert spi["total"] >= spi["afe"] + spi["fram"] + spi["lcd"]
        # A commit rewrites only the changed bytes of the register copy: the live figure
        # depends on what changed, never below the store's minimal tick (seq, CRC and
        # the bytes that change every tick); issue 3 targets 64 bytes a tick, 256 a close.
        assert tick <= m["fram_bytes_per_tick"] <= m["fram_bytes_per_tick_max"]
        assert m["fram_bytes_per_tick"] <= 64
        assert m["fram_hh_closes_seen"] >= 1
        assert tick < m["fram_bytes_per_hh_close"] <= 256
        assert m["fram_write_costs"] == costs
        c = r["cpython"][afe]
        assert set(c) == set(_TIMINGS) | {
            "alloc_on_tick_bytes",
            "alloc_afe_read_bytes",
            "alloc_afe_read_sim_bytes",
        }
        for key in _TIMINGS:
            assert isinstance(c[key], float) and c[key] > 0, key
        assert c["alloc_on_tick_bytes"] is None  # CPython has no gc.mem_alloc
