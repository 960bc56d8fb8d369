"""The whole meter on the virtual board: board/sim + firmware/app, without the REPL.

Runs under CPython and the MicroPython unix port. `run_sim` returns the registers, the HH
profile sums and the ground truth the sim takes at the last window read, so the tests can
check exactness to the unit.
"""

import board
from firmware import app
from firmware.energy import QUADRANT_NAMES


def _options(days, tick_s, load, afe):
    return {
        "speed": "max",
        "display": "none",
        "days": days,
        "tick_s": tick_s,
        "load": load,
        "afe": afe,
        "dlms_port": 0,  # no TCP listeners: tests run side by side
        "hdlc_port": 0,
    }


def _boot(days, tick_s, load, afe):
    hw = board.build("sim", **_options(days, tick_s, load, afe))
    meter_app = app.App(hw)
    hw.afe.begin()
    meter_app.meter.boot()
    return hw, meter_app


def _run_like_main(days, tick_s, load, afe):
    """What main.py does on the virtual board: run, and boot again after each power cut."""
    hw = board.build("sim", **_options(days, tick_s, load, afe))
    sim = hw.sim
    meter_app = None
    while hw is not None:
        meter_app = app.main(hw)
        hw = hw.next_boot()
    return sim, meter_app


def _profile_sums(meter):
    """Per channel: sum of stored HH values (Wh) and the open period's energy (fine units)."""
    prof = meter.profile
    sums = [0, 0, 0, 0]
    periods = 0
    flagged = 0
    out = [0, 0, 0, 0, 0, 0]
    first = prof.oldest(4)
    last = prof.newest()
    p = first
    while p <= last and first >= 0:
        if prof.read(p, out):
            periods += 1
            if out[1]:
                flagged += 1
            for ch in range(4):
                sums[ch] += out[2 + ch]
        p += 1
    return {
        "stored_wh": sums,
        "open_fine": [prof.open_energy(ch) for ch in range(4)],
        "periods": periods,
        "first": first,
        "last": last,
        "flagged": flagged,
    }


def run_sim(afe, days, tick_s, load):
    sim, meter_app = _run_like_main(days, tick_s, load, afe)
    meter = meter_app.meter
    acc = meter.acc
    truth = sim.truth()
    totals = [acc.slot(None, q) for q in range(4)]
    return {
        "windows": sim.energy_reads,
        "boots": sim.boots,
        "outages": sim.outages,
        "read_errors": meter.read_errors,
        "count_uwh": list(meter_app.hw.afe.count_uwh),
        "phase_wh": meter.phase_registers_wh(),
        "total_wh": [acc.wh(s) for s in totals],
        "total_fine": [acc.fine(s) for s in totals],
        "unit": acc.unit,
        "truth_counts": truth["afe_counts"],
        "lost_counts": truth["afe_counts_lost_at_power_cuts"],
        "profile": _profile_sums(meter),
        "names": list(QUADRANT_NAMES),
        "clock_valid": meter.clock.valid,
        "power_log": meter.logs.count(2),
    }


def tick_allocates_nothing(afe):
    """The ISR and a steady-state tick of the whole core (gate, accumulator, monitor,
    profile, store commit) under heap_lock. The AFE read is the driver's own heap_lock test
    (sc_afe); here the counts of one window are fed straight to the core."""
    import micropython

    hw, meter_app = _boot(0.01, 1, "constant", afe)
    meter = meter_app.meter
    counts = meter.counts
    figures = meter.figures
    hw.afe.read_energy_into(counts)
    hw.afe.measure_into(figures)
    meter.on_tick(counts, True, figures)  # warm up: first tick of a period may allocate
    failures = 0
    isr = meter_app._on_tick_irq_ref
    for _ in range(20):
        micropython.heap_lock()
        try:
            isr(None)  # the hard ISR: set the flag, nothing else
            meter.on_tick(counts, True, figures)
        except MemoryError:
            failures += 1
        micropython.heap_unlock()
    return {"failures": failures, "ticks": meter.ticks}


def _run_until(hw, meter_app, seconds):
    import asyncio

    sim = hw.sim
    sim.end_us = sim.time.now_us() + seconds * 1_000_000
    sim._reads_at_end = None
    asyncio.new_event_loop()
    asyncio.run(meter_app.run_async())


def clock_sync_keeps_every_period(afe):
    """Issue "Durable core" 5: syncs flag, truncate/extend or skip periods, never lose energy."""
    from firmware import codes
    from firmware.profile import CLOCK_ADJUSTED

    hw, meter_app = _boot(None, 10, "constant", afe)
    meter = meter_app.meter
    _run_until(hw, meter_app, 3600)
    out = {"t0": meter.clock.now()}
    small = meter.shift_time(5)  # inside the open half hour: extends nothing, truncates it
    out["small"] = [small.applied, small.code, small.periods]
    _run_until(hw, meter_app, 600)
    jump = meter.set_time(meter.clock.now() + 7200)  # 4 half-hour boundaries forward
    out["jump"] = [jump.applied, jump.periods]
    _run_until(hw, meter_app, 3600)
    big = meter.shift_time(60)  # over 10 s: refused, 0x8F0C in the Security Log
    out["big"] = [big.applied, big.code]
    prof = meter.profile
    rec = [0, 0, 0, 0, 0, 0]
    periods = []
    p = prof.oldest(4)
    while p <= prof.newest():
        prof.read(p, rec)
        periods.append([rec[0], rec[1], rec[2]])
        p += 1
    out["periods"] = periods
    out["adjusted"] = [r[0] for r in periods if r[1] & CLOCK_ADJUSTED]
    acc = meter.acc
    s = acc.slot(None, 0)
    stored = sum(r[2] for r in periods)
    out["import_exact"] = stored * acc.unit + prof.open_energy(0) == acc.fine(s)
    events = []
    for log_id in (codes.LOG_EVENT, codes.LOG_SECURITY):
        for entry in meter.logs.entries(log_id):
            events.append([log_id, entry[2]])
    out["events"] = events
    return out


def screen_after_a_day(afe):
    """The LCD text after one day at 2 kW import (48.0 kWh) and how often it was redrawn."""
    hw, meter_app = _boot(None, 10, "constant", afe)
    screen = meter_app.screen
    draws = [0]
    draw = screen.draw

    def counting(meter):
        redrawn = draw(meter)
        if redrawn:
            draws[0] += 1
        return redrawn

    screen.draw = counting
    _run_until(hw, meter_app, 86400)
    return {"lines": list(screen.lines), "draws": draws[0], "ticks": meter_app.meter.ticks}


def figures_on_demand(afe):
    """Issue 4 deliverable 7: a tick reads the voltages and currents only; App.figures()
    reads every display and quality figure when asked, without touching the energy path."""
    hw, meter_app = _boot(None, 1, "constant", afe)
    meter = meter_app.meter
    _run_until(hw, meter_app, 30)
    tick_figures = list(meter.figures)
    reads = hw.sim.energy_reads
    on_demand = list(meter_app.figures())
    again = list(meter_app.figures())
    truth_before = hw.sim.truth()["afe_counts"]
    return {
        "ticks": meter.ticks,
        "tick": tick_figures,
        "on_demand": on_demand,
        "repeatable": on_demand == again,
        "energy_reads_unchanged": hw.sim.energy_reads == reads,
        "truth_unchanged": hw.sim.truth()["afe_counts"] == truth_before,
    }


def watchdog_rules(afe):
    """Issue "Foundation" 8: the watchdog is fed by a healthy loop only, and a REPL service
    session after Ctrl-C keeps the board up for a bounded time, then lets it reset.

    1. A healthy loop: one feed per tick, no reset.
    2. The UI task stuck (awaiting something that never comes): the metering task goes on
       ticking but stops feeding after _UI_STALL_TICKS, and the watchdog fires.
    3. With the loop stopped (as after Ctrl-C), hold_for_service(5 s) feeds from timer slot 1
       every second for 5 s; the watchdog then expires one timeout after the last feed.
    """
    from hal.sim import machine

    hw, meter_app = _boot(0.01, 1, "constant", afe)
    sim = hw.sim
    _run_until(hw, meter_app, 20)
    wdt = meter_app.wdt
    healthy = [meter_app.meter.ticks, wdt.feeds, sim.watchdog_reset]

    async def stuck_ui():
        import asyncio

        await asyncio.Event().wait()

    meter_app.ui_task = stuck_ui
    ticks0 = meter_app.meter.ticks
    feeds0 = wdt.feeds
    _run_until(hw, meter_app, 60)
    stall = [
        meter_app.meter.ticks - ticks0,
        wdt.feeds - feeds0,
        sim.watchdog_reset,
        wdt.expired,
    ]

    # Service session: a fresh watchdog, as after a reset, and the loop stopped.
    t = sim.time
    wdt = machine.WDT(0, timeout=8000)
    meter_app.wdt = wdt
    start_us = t.now_us()
    meter_app.hold_for_service(5000)
    feeds0 = wdt.feeds
    expired_after_ms = None
    try:
        t.advance_to(start_us + 60_000_000)
    except machine.WatchdogReset:
        expired_after_ms = (t.now_us() - start_us) // 1000
    service = [wdt.feeds - feeds0, expired_after_ms]
    meter_app.end_service_hold()
    return {"healthy": healthy, "stall": stall, "service": service}


def keypad_fault_keeps_metering(afe):
    """A keypad whose bus fails (the PCF8574 cable pulled): scans raise OSError. The UI task
    counts the errors and goes on drawing; the meter keeps ticking and the watchdog fed."""
    hw, meter_app = _boot(0.01, 1, "constant", afe)

    class PulledKeypad:
        def scan(self):
            raise OSError(5)  # EIO, as hal/pcf8574.py raises on a NACK

    hw.keypad = PulledKeypad()
    _run_until(hw, meter_app, 10)
    return [
        meter_app.meter.ticks,
        meter_app.ui_runs,
        meter_app.keypad_errors,
        hw.sim.watchdog_reset,
        meter_app.status()["keypad_errors"],
    ]
