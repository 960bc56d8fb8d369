"""The MicroPython half of tools/bench.py: runs inside the `micropython` unix port.

Boots the virtual board exactly as main.py does (board/sim + firmware/app), measures the heap
the firmware holds once everything is constructed (the sim models are excluded through the
heap mark board/sim.py takes before any driver is imported), the wall time from process start
to the first metering tick, and how many simulated days pass per wall second. Prints one JSON
line prefixed with BENCH:.
"""

import time

_T0_US = time.ticks_us()

import asyncio  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, ".")  # tools/bench.py runs this with the repo root as the working directory

import board  # noqa: E402


def _elapsed_ms(since_us):
    return time.ticks_diff(time.ticks_us(), since_us) / 1000


def main(afe, run_days):
    hw = board.build("sim", speed="max", display="none", load="london", afe=afe)
    from firmware import app

    meter_app = app.App(hw)
    hw.afe.begin()
    gc.collect()
    heap_total = gc.mem_alloc()
    heap_firmware = heap_total - hw.sim.heap_mark
    sim = hw.sim

    # Boot to first tick: stop the simulation just after the first metering window.
    sim.end_us = hw.tick_ms * 1000 + 1
    asyncio.run(meter_app.run_async())
    first_tick_wall_ms = _elapsed_ms(_T0_US)
    ticks_after_boot = meter_app.meter.ticks

    # Throughput: run_days more simulated days as fast as possible.
    start_us = sim.time.now_us()
    sim.end_us = start_us + int(run_days * 86400) * 1_000_000
    t1 = time.ticks_us()
    asyncio.new_event_loop()
    asyncio.run(meter_app.run_async())
    wall_s = _elapsed_ms(t1) / 1000
    sim_days = (sim.time.now_us() - start_us) / 86400e6
    result = {
        "afe": afe,
        "heap_after_boot_bytes": heap_firmware,
        "heap_after_boot_with_sim_models_bytes": heap_total,
        "boot_to_first_tick_ms": round(first_tick_wall_ms, 1),
        "first_tick_count": ticks_after_boot,
        "sim_days_per_wall_s": round(sim_days / wall_s, 4) if wall_s > 0 else None,
        "bench_sim_days": sim_days,
        "ticks": meter_app.meter.ticks,
        "micropython": sys.version,
    }
    print("BENCH:" + json.dumps(result))


main(
    sys.argv[1] if len(sys.argv) > 1 else "ade7953",
    float(sys.argv[2]) if len(sys.argv) > 2 else 0.05,
)
