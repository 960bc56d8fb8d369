"""The measuring half of tools/bench.py: runs inside the `micropython` unix port (and, for the
CPython per-tick figures, imported by tools/bench.py under CPython).

    micropython tools/bench_mp.py AFE DAYS [TICKS]     (from the repo root; prints BENCH:{...})

Boots the virtual board exactly as main.py does (board/sim + firmware/app: App, afe.begin(),
meter.boot()). Figures, per front end (`afe`):

heap_after_boot_bytes       heap the firmware holds once everything is constructed: module
                            bytecode (heap_module_code_bytes) + objects (heap_objects_bytes;
                            the sim models are excluded through the heap mark board/sim.py
                            takes before any driver is built). Target (issue 4): < 40 KB.
heap_with_sim_models_bytes  everything in the heap, models included (information only).
boot_to_first_tick_ms       wall time from process start to the first metering tick on the
                            virtual board. Target (issue 2): < 2000.
sim_days_per_wall_s         simulated days per wall second of the whole virtual board (models,
                            fake buses, engine, firmware), over `bench_sim_days` days at the
                            board's default 1 s metering window.
sim_wall_us_per_tick        the same run as wall microseconds per metering tick.
tick_us                     the firmware's own cost of one full steady-state tick (AFE energy
                            read + V/I read + Meter.on_tick), chip I/O excluded: the sum of
                            afe_read_energy_us, afe_vi_us and on_tick_us. Target (issue 4):
                            < 200 in the MicroPython unix port.
afe_read_energy_us          driver read_energy_into() alone: the SPI frames are answered by a
                            replay of what the simulated chip sent (no model, no fake bus).
afe_vi_us                   driver read_vi_into() alone (the voltages and currents the core
                            checks every window), the same way.
afe_measure_us              driver measure_into() alone, the same way: every display and
                            quality figure, read on demand (App.figures()), not part of a tick.
on_tick_us                  Meter.on_tick (creep gate, accumulator, monitor, profile accrual,
                            register commit) on a non-boundary tick, with the FRAM driver
                            swapped for RAM (slice copies: no FRAM bus time).
on_tick_sim_fram_us         the same tick over the real FRAM driver, fake bus and FRAM model.
afe_read_sim_us             read_energy_into + read_vi_into over the fake bus and chip model.
alloc_on_tick_bytes         heap bytes allocated per steady-state Meter.on_tick over the real
                            FRAM driver and the sim bus (gc.mem_alloc delta over N ticks, GC
                            off, divided by N). Target: 0. MicroPython only (None on CPython).
alloc_afe_read_bytes        the same for the AFE driver's read_energy_into, read_vi_into and
                            measure_into over the replay bus. Target: 0.
alloc_afe_read_sim_bytes    the same over the fake bus and chip model (the models allocate:
                            information only, not a firmware figure).
spi_bytes_per_tick          SPI bytes clocked per metering tick during the throughput run, by
                            device ({"afe", "fram", "lcd", "total"}), from the fake SPI's
                            counters.
fram_bytes_per_tick         FRAM bytes the store wrote per non-boundary tick, live from the
                            running meter (Store.bytes_written deltas). Target (issue 3): <= 64
                            per tick is the issue's aim; the two-copy register record is 338.
fram_bytes_per_hh_close     FRAM bytes written by a tick that closes a half hour (that tick's
                            register commit included), live; the largest seen over the run
                            (`fram_hh_closes_seen` of them). Target (issue 3): <= 256.
fram_write_costs            firmware/store.py write_costs(): the same figures computed on a
                            RAM part through the store's code paths (tick, hh_close,
                            log_append, config_commit, per_day).

Timing figures are the best (lowest) of a few rounds of N calls, in microseconds per call.
"""

import time

try:
    _ticks_us = time.ticks_us
    _ticks_diff = time.ticks_diff
except AttributeError:  # CPython

    def _ticks_us():
        return time.perf_counter_ns() // 1000

    def _ticks_diff(a, b):
        return a - b


_T0_US = _ticks_us()

import gc  # noqa: E402
import sys  # noqa: E402
from array import array  # noqa: E402

if "." not in sys.path:
    sys.path.insert(0, ".")  # the repo root is the working directory
if sys.implementation.name != "micropython":
    sys.path.append("hal/sim/cpython")  # the `micropython` / `framebuf` stand-ins, last

import board  # noqa: E402

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
# Timings are the lowest round: a shared VM's noise (another guest's burst) only ever adds
# time, and at 3 rounds it still showed as +50 % outliers; 9 rounds keep the figure steady.
_ROUNDS = 9


def _mem_alloc():
    return gc.mem_alloc() if hasattr(gc, "mem_alloc") else None


def _noop_sleep(ms):
    pass


class RamFram:
    """The FRAM driver's interface over a bytearray, by slice copies (no bus, no model)."""

    def __init__(self, image):
        self.size = len(image)
        self.image = bytearray(image)
        self._views = {}

    def write(self, addr, buf):
        n = len(buf)
        self.image[addr : addr + n] = buf

    def readinto(self, addr, buf):
        n = len(buf)
        key = (addr << 24) | n
        view = self._views.get(key)
        if view is None:
            view = memoryview(self.image)[addr : addr + n]
            self._views[key] = view
        buf[0:n] = view


class ReplaySpi:
    """Answers each write_readinto() with the next recorded MISO frame, in a loop."""

    def __init__(self, frames):
        self._frames = frames
        self._i = 0

    def write_readinto(self, tx, rx):
        frame = self._frames[self._i]
        self._i = (self._i + 1) % len(self._frames)
        rx[0 : len(frame)] = frame


class RecordingSpi:
    """Passes transfers to the real (fake) bus and records every MISO frame."""

    def __init__(self, spi):
        self._spi = spi
        self.frames = []

    def write_readinto(self, tx, rx):
        self._spi.write_readinto(tx, rx)
        self.frames.append(bytes(rx))


class _IdlePin:
    def __call__(self, v=None):
        return 1

    def value(self, v=None):
        return 1


def boot(afe, tick_s=1):
    """The virtual board booted as main.py does it -> (hw, App)."""
    hw = board.build(
        "sim",
        speed="max",
        display="none",
        load="london",
        afe=afe,
        tick_s=tick_s,
        dlms_port=0,  # no TCP listeners in the bench
        hdlc_port=0,
    )
    from firmware import app

    meter_app = app.App(hw)
    hw.afe.begin()
    meter_app.meter.boot()
    return hw, meter_app


def _best_us(fn, n):
    """Lowest mean wall us per call of fn() over _ROUNDS rounds of n calls."""
    best = None
    for _ in range(_ROUNDS):
        t = _ticks_us()
        for _ in range(n):
            fn()
        us = _ticks_diff(_ticks_us(), t) / n
        if best is None or us < best:
            best = us
    return round(best, 1)


def _alloc_per_call(fn, n):
    """Heap bytes allocated per fn() call (GC off), or None without gc.mem_alloc."""
    if _mem_alloc() is None:
        return None
    fn()  # warm: a first call may create lazily cached objects
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        for _ in range(n):
            fn()
        return (gc.mem_alloc() - before) // n
    finally:
        gc.enable()


def tick_figures(afe, n=200):
    """Per-tick costs of the firmware's own path (see the module docstring), any runtime."""
    hw, meter_app = boot(afe)
    sim = hw.sim
    meter = meter_app.meter
    counts = meter.counts
    figures = meter.figures
    # One metering window of real load, so counts and figures are those of a steady tick.
    sim.time.advance(hw.tick_ms * 1000)
    hw.afe.read_energy_into(counts)
    hw.afe.read_vi_into(figures)
    meter.on_tick(counts, True, figures)  # the first tick after boot may open a period
    # Sim time stands still from here: every tick below is a non-boundary tick.
    out = {}

    def on_tick():
        meter.on_tick(counts, True, figures)

    out["on_tick_sim_fram_us"] = _best_us(on_tick, n)
    out["alloc_on_tick_bytes"] = _alloc_per_call(on_tick, n)

    store = meter.store
    real_fram = store.fram
    ram = RamFram(sim.fram_model.image)
    store.fram = ram
    out["on_tick_us"] = _best_us(on_tick, n)
    store.fram = real_fram
    sim.fram_model.image[:] = ram.image  # keep the part and the store's state in step

    afe_drv = hw.afe
    scratch = array("l", [0] * len(counts))
    scratch_figs = array("l", [0] * len(figures))

    def afe_sim():
        afe_drv.read_energy_into(scratch)
        afe_drv.read_vi_into(scratch_figs)

    out["afe_read_sim_us"] = _best_us(afe_sim, n)
    out["alloc_afe_read_sim_bytes"] = _alloc_per_call(afe_sim, n)

    # The driver alone: more instances over a bus that replays what the chip answered.
    cls = type(afe_drv)
    rec = RecordingSpi(sim.spi)
    recorder = cls(rec, sim.cs_afe, sleep_ms=_noop_sleep)
    recorder.read_energy_into(scratch)
    n_energy = len(rec.frames)
    recorder.read_vi_into(scratch_figs)
    n_vi = len(rec.frames)
    recorder.measure_into(scratch_figs)
    energy = cls(ReplaySpi(rec.frames[:n_energy]), _IdlePin(), sleep_ms=_noop_sleep)
    vi = cls(ReplaySpi(rec.frames[n_energy:n_vi]), _IdlePin(), sleep_ms=_noop_sleep)
    measure = cls(ReplaySpi(rec.frames[n_vi:]), _IdlePin(), sleep_ms=_noop_sleep)

    def read_energy():
        energy.read_energy_into(scratch)

    def read_vi():
        vi.read_vi_into(scratch_figs)

    def read_measure():
        measure.measure_into(scratch_figs)

    def afe_replay():
        energy.read_energy_into(scratch)
        vi.read_vi_into(scratch_figs)
        measure.measure_into(scratch_figs)

    out["afe_read_energy_us"] = _best_us(read_energy, n)
    out["afe_vi_us"] = _best_us(read_vi, n)
    out["afe_measure_us"] = _best_us(read_measure, n)
    out["alloc_afe_read_bytes"] = _alloc_per_call(afe_replay, n)
    out["tick_us"] = round(out["afe_read_energy_us"] + out["afe_vi_us"] + out["on_tick_us"], 1)
    return out


def _run_until(hw, meter_app, end_us):
    import asyncio

    sim = hw.sim
    sim.end_us = end_us
    sim._reads_at_end = None
    asyncio.new_event_loop()
    asyncio.run(meter_app.run_async())


def fram_figures(hw, meter_app, min_ticks):
    """Store bytes written per tick, live: the common per-tick delta and the half-hour closes."""
    meter = meter_app.meter
    store = meter.store
    plain = {}  # bytes written by a non-boundary tick -> how many ticks wrote that much
    closes = []  # bytes written by each tick that closed a half hour

    last = [meter.clock.timestamp_or_none()]  # UTC of the previous tick

    def counting(counts, ok, figures):
        before = store.bytes_written
        on_tick(counts, ok, figures)
        d = store.bytes_written - before
        now = meter.clock.timestamp_or_none()
        prev = last[0]
        last[0] = now
        if prev is not None and now is not None and now // 1800 != prev // 1800:
            closes.append(d)
        else:
            plain[d] = plain.get(d, 0) + 1

    on_tick = meter.on_tick
    meter.on_tick = counting  # instance attribute: the metering task finds it first
    try:
        sim = hw.sim
        # Run past the next half-hour boundary, and at least min_ticks ticks.
        start_s = meter.clock.timestamp_or_none() or 0
        to_boundary = 1800 - start_s % 1800
        seconds = max(to_boundary + 2 * hw.tick_ms // 1000, min_ticks * hw.tick_ms // 1000)
        _run_until(hw, meter_app, sim.time.now_us() + seconds * 1_000_000)
    finally:
        del meter.on_tick
    common = None
    for d, seen in plain.items():
        if common is None or seen > plain[common]:
            common = d
    return {
        "fram_bytes_per_tick": common,
        "fram_bytes_per_tick_max": max(plain) if plain else None,
        "fram_bytes_per_hh_close": max(closes) if closes else None,
        "fram_hh_closes_seen": len(closes),
    }


def run_figures(afe, run_days, fram_ticks):
    """Heap, boot time, throughput, SPI traffic and live FRAM traffic (MicroPython run)."""
    gc.collect()
    before_code = gc.mem_alloc()
    for name in _FIRMWARE_MODULES + ("hal." + afe,):
        __import__(name)
    gc.collect()
    code_bytes = gc.mem_alloc() - before_code

    hw, meter_app = boot(afe)
    gc.collect()
    heap_total = gc.mem_alloc()
    objects_bytes = heap_total - hw.sim.heap_mark
    sim = hw.sim
    meter = meter_app.meter

    # Boot to first tick: run one metering window at a time until the first tick is in.
    while meter.ticks == 0:
        _run_until(hw, meter_app, sim.time.now_us() + hw.tick_ms * 1000)
    first_tick_wall_ms = _ticks_diff(_ticks_us(), _T0_US) / 1000

    # Throughput: run_days more simulated days as fast as possible.
    spi = sim.spi
    devices = (("afe", sim.afe_model), ("fram", sim.fram_model), ("lcd", sim.lcd_model))
    spi0 = [spi.device_bytes(m) for _, m in devices]
    total0 = spi.bytes_transferred
    start_us = sim.time.now_us()
    ticks0 = meter.ticks
    t1 = _ticks_us()
    _run_until(hw, meter_app, start_us + int(run_days * 86400) * 1_000_000)
    wall_us = _ticks_diff(_ticks_us(), t1)
    sim_days = (sim.time.now_us() - start_us) / 86400e6
    ticks = meter.ticks - ticks0
    spi_per_tick = {"total": (spi.bytes_transferred - total0) / ticks if ticks else None}
    for i in range(len(devices)):
        name, model = devices[i]
        spi_per_tick[name] = (spi.device_bytes(model) - spi0[i]) / ticks if ticks else None
    for key, value in list(spi_per_tick.items()):
        if value is not None:
            spi_per_tick[key] = round(value, 1)
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
        "bench_ticks": ticks,
        "watchdog_reset": sim.watchdog_reset,
        "spi_bytes_per_tick": spi_per_tick,
    }
    result.update(fram_figures(hw, meter_app, fram_ticks))
    from firmware.store import write_costs

    result["fram_write_costs"] = write_costs()
    return result


def main(argv):
    """`AFE DAYS [N]`: every figure (MicroPython); `ticks AFE [N]`: tick_figures only (any
    runtime: tools/bench.py runs that under CPython)."""
    import json

    if argv and argv[0] == "ticks":
        afe = argv[1] if len(argv) > 1 else "ade7953"
        result = tick_figures(afe, int(argv[2]) if len(argv) > 2 else 200)
    else:
        afe = argv[0] if argv else "ade7953"
        n = int(argv[2]) if len(argv) > 2 else 200
        result = run_figures(afe, float(argv[1]) if len(argv) > 1 else 0.05, n)
        result.update(tick_figures(afe, n))
        result["micropython"] = sys.version
    print("BENCH:" + json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
