"""The MicroPython half of tools/bench.py: runs inside the `micropython` unix port.

Boots the virtual board exactly as main.py does (board/sim + firmware/app), measures the heap
the firmware holds once everything is constructed (module bytecode plus objects; the sim models
are excluded through the heap mark board/sim.py takes before any driver is built), the wall
time from process start to the first metering tick, and how many simulated days pass per wall
second (that figure includes the chip models' cost, so it is the sim's speed, not the
firmware's). Prints one JSON line prefixed with BENCH:.
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


# Every module the firmware loads on a board: importing them first separates the RAM their
# bytecode takes (which freezing them into the firmware image would save) from the objects.
_FIRMWARE_MODULES = (
    "firmware.app",
    "firmware.meter",
    "firmware.screen",
    "hal.fram",
    "hal.rv3032",
    "hal.st7567",
    "hal.keypad",
    "hal.relay",
    "lib.aio",
    "lib.ticks",
)


def main(afe, run_days):
    gc.collect()
    before_code = gc.mem_alloc()
    for name in _FIRMWARE_MODULES + ("hal." + afe,):
        __import__(name)
    gc.collect()
    code_bytes = gc.mem_alloc() - before_code

    hw = board.build("sim", speed="max", display="none", load="london", afe=afe)
    from firmware import app

    meter_app = app.App(hw)
    hw.afe.begin()
    gc.collect()
    heap_total = gc.mem_alloc()
    objects_bytes = heap_total - hw.sim.heap_mark
    sim = hw.sim

    # Boot to first tick: run one metering window at a time until the first tick is in.
    while meter_app.meter.ticks == 0:
        sim.end_us = sim.time.now_us() + hw.tick_ms * 1000
        asyncio.new_event_loop()
        asyncio.run(meter_app.run_async())
    first_tick_wall_ms = _elapsed_ms(_T0_US)

    # Throughput: run_days more simulated days as fast as possible.
    start_us = sim.time.now_us()
    ticks0 = meter_app.meter.ticks
    sim.end_us = start_us + int(run_days * 86400) * 1_000_000
    t1 = time.ticks_us()
    asyncio.new_event_loop()
    asyncio.run(meter_app.run_async())
    wall_us = time.ticks_diff(time.ticks_us(), t1)
    sim_days = (sim.time.now_us() - start_us) / 86400e6
    ticks = meter_app.meter.ticks - ticks0
    result = {
        "afe": afe,
        "heap_after_boot_bytes": objects_bytes + code_bytes,
        "heap_objects_bytes": objects_bytes,
        "heap_module_code_bytes": code_bytes,
        "heap_with_sim_models_bytes": heap_total,
        "boot_to_first_tick_ms": round(first_tick_wall_ms, 1),
        "sim_days_per_wall_s": round(sim_days / (wall_us / 1e6), 4) if wall_us > 0 else None,
        "sim_wall_us_per_tick": wall_us // ticks if ticks else None,
        "bench_sim_days": sim_days,
        "micropython": sys.version,
    }
    print("BENCH:" + json.dumps(result))


main(
    sys.argv[1] if len(sys.argv) > 1 else "ade7953",
    float(sys.argv[2]) if len(sys.argv) > 2 else 0.05,
)
