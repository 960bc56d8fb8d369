"""Scenarios for firmware/civil.py and firmware/clock.py (run under CPython and MicroPython).

`World` is true time in ms. `FakeTicks` and `FakeRTC` derive the firmware's tick counter and
the RTC from it with their own frequency errors (ppm), all in integers, so every expected
value is exact under both interpreters.
"""

from firmware import civil, codes
from firmware.clock import (
    REASON_BEHIND,
    REASON_FAULT,
    REASON_LOST,
    REASON_RANGE,
    MeterClock,
)

_MASK = 0x3FFFFFFF
_PPM = 1_000_000


class World:
    def __init__(self):
        self.ms = 0

    def advance(self, ms):
        self.ms += ms


class FakeTicks:
    def __init__(self, world, start, ppm=0):
        self.world = world
        self.start = start
        self.ppm = ppm

    def ticks_ms(self):
        return (self.start + self.world.ms * (_PPM + self.ppm) // _PPM) & _MASK


class FakeRTC:
    """Calendar RTC over World time: counts from `start_sec` at world ms 0, `ppm` fast."""

    def __init__(self, world, start_sec, ppm=0, lost=False):
        self.world = world
        self.ppm = ppm
        self.off_ms = start_sec * 1000
        self.lost = lost
        self.reads = 0
        self.writes = []
        self.clears = 0
        self.fail = False
        self.garbage = False

    def _scaled(self):
        return self.world.ms * (_PPM + self.ppm) // _PPM

    def seconds(self):
        return (self.off_ms + self._scaled()) // 1000

    def read_into(self, fields):
        if self.fail:
            raise OSError(5)
        self.reads += 1
        civil.to_fields(self.seconds(), fields, 2000)
        fields[6] -= 1
        if self.garbage:
            fields[1] = 13

    def write(self, fields):
        if self.fail:
            raise OSError(5)
        if fields[6] < 0 or fields[6] > 6:
            raise ValueError("weekday")
        sec = civil.from_fields(fields[0] + 2000, fields[1], fields[2], fields[3], fields[4], 0)
        sec += fields[5]
        # A seconds write restarts the prescaler: the RTC is exactly `sec` now.
        self.off_ms = sec * 1000 - self._scaled()
        self.writes.append(list(fields))

    def time_lost(self):
        if self.fail:
            raise OSError(5)
        return self.lost

    def clear_lost(self):
        self.lost = False
        self.clears += 1


class Sink:
    def __init__(self):
        self.log = []

    def __call__(self, log_id, code, value, utc):
        self.log.append([log_id, code, value, utc])


# ---- civil -----------------------------------------------------------------------------


def bst_all_years():
    """[year, start, end, last Sunday of March, last Sunday of October] for 2000-2099."""
    out = []
    for y in range(2000, 2100):
        s, e = civil.bst_bounds(y)
        out.append([y, s, e, civil.last_sunday(y, 3), civil.last_sunday(y, 10)])
    return out


def bst_edges_2024():
    f = civil.from_fields
    pts = [
        f(2024, 3, 31, 0, 59, 59),
        f(2024, 3, 31, 1, 0, 0),
        f(2024, 10, 27, 0, 59, 59),
        f(2024, 10, 27, 1, 0, 0),
    ]
    return [[p, civil.is_bst(p), civil.format_utc(p), civil.format_local(p)] for p in pts]


def bst_sweep(years):
    """For each year: is_bst one second either side of both bounds (expect F T T F)."""
    out = []
    for y in years:
        s, e = civil.bst_bounds(y)
        out.append([civil.is_bst(s - 1), civil.is_bst(s), civil.is_bst(e - 1), civil.is_bst(e)])
    return out


def leap_days():
    f = civil.from_fields

    def err(*a):
        try:
            f(*a)
        except ValueError:
            return "ValueError"
        return "ok"

    return {
        "2000-02-29": list(civil.to_fields(f(2000, 2, 29, 12, 0, 0))),
        "2024-02-29": list(civil.to_fields(f(2024, 2, 29, 23, 59, 59))),
        "2024-03-01": f(2024, 3, 1, 0, 0, 0) - f(2024, 2, 28, 0, 0, 0),
        "2023-03-01": f(2023, 3, 1, 0, 0, 0) - f(2023, 2, 28, 0, 0, 0),
        "2023-02-29": err(2023, 2, 29, 0, 0, 0),
        "2024-02-30": err(2024, 2, 30, 0, 0, 0),
        "2024-04-31": err(2024, 4, 31, 0, 0, 0),
        "1999-12-31": err(1999, 12, 31, 0, 0, 0),
        "2100-01-01": err(2100, 1, 1, 0, 0, 0),
        "24:00": err(2024, 1, 1, 24, 0, 0),
        "60 s": err(2024, 1, 1, 0, 0, 60),
        "month 0": err(2024, 0, 1, 0, 0, 0),
        "days_in_year_2024": civil.days_from_civil(2025, 1, 1) - civil.days_from_civil(2024, 1, 1),
        "days_in_year_2023": civil.days_from_civil(2024, 1, 1) - civil.days_from_civil(2023, 1, 1),
        "epoch": list(civil.to_fields(0)),
        "max": list(civil.to_fields(f(2099, 12, 31, 23, 59, 59))),
        "civil_from_days_59": list(civil.civil_from_days(59)),
        "civil_from_days_60": list(civil.civil_from_days(60)),
        "dow_2024_03_31": civil.day_of_week(2024, 3, 31),
    }


def sample_seconds(n, seed):
    """n deterministic pseudo-random meter seconds over 2000-2099 (a 31-bit LCG)."""
    out = []
    x = seed
    span = civil.from_fields(2099, 12, 31, 23, 59, 59) + 1
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        hi = x
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out.append(((hi << 31) | x) % span)
    return out


def round_trip(n, seed):
    """to_fields of n sample seconds, and how many failed from_fields(to_fields(s)) == s."""
    rows = []
    bad = 0
    buf = [0] * 7
    for s in sample_seconds(n, seed):
        f = civil.to_fields(s)
        civil.to_fields(s, buf)
        if civil.from_fields(f[0], f[1], f[2], f[3], f[4], f[5]) != s or list(f) != buf:
            bad += 1
        rows.append([s] + list(f))
    return {"bad": bad, "rows": rows}


def formats():
    s = civil.from_fields(2024, 3, 31, 1, 59, 59)
    f = civil.to_fields(s)
    return [
        civil.format_datetime(f),
        civil.format_date(f),
        civil.format_time(f),
        civil.format_utc(civil.from_fields(2024, 7, 4, 9, 5, 3)),
        civil.format_local(civil.from_fields(2024, 7, 4, 23, 30, 0)),
        civil.format_local(civil.from_fields(2024, 12, 31, 23, 30, 0)),
        list(civil.local_fields(civil.from_fields(2024, 12, 31, 23, 30, 0))),
        list(civil.local_fields(civil.from_fields(2024, 6, 30, 23, 30, 0))),
    ]


def to_fields_allocates_nothing():
    import micropython

    buf = bytearray(7)
    s = civil.from_fields(2031, 12, 31, 23, 59, 59)
    micropython.heap_lock()
    try:
        for i in range(500):
            civil.to_fields(s + i * 3607, buf, 2000)
            civil.from_fields(buf[0] + 2000, buf[1], buf[2], buf[3], buf[4], buf[5])
        ok = True
    except MemoryError:
        ok = False
    micropython.heap_unlock()
    return [ok, list(buf)]


# ---- clock: boot -----------------------------------------------------------------------

T0 = 771_164_400  # 2024-06-08 12:20:00Z (checked in test_clock)


def _clock(start=T0, tick_start=0x3FFF0000, lost=False, hint=None, rtc_ppm=0, tick_ppm=0):
    w = World()
    ticks = FakeTicks(w, tick_start, tick_ppm)
    rtc = FakeRTC(w, start, rtc_ppm, lost)
    sink = Sink()
    clk = MeterClock(rtc, ticks.ticks_ms, hint, sink)
    return w, rtc, sink, clk


def boot_cases():
    out = {}
    w, rtc, sink, clk = _clock()
    out["valid"] = [clk.boot(), clk.valid, clk.now(), clk.timestamp_or_none(), sink.log]
    w, rtc, sink, clk = _clock(lost=True)
    ok = clk.boot()
    w.advance(7_200_500)
    out["lost"] = [ok, clk.invalid_reason, clk.now(), clk.timestamp_or_none(), sink.log]
    w, rtc, sink, clk = _clock(lost=True, hint=T0 - 86400)
    clk.boot()
    w.advance(1500)
    out["lost_hint"] = [clk.now(), clk.timestamp_or_none(), sink.log]
    w, rtc, sink, clk = _clock()
    rtc.garbage = True
    out["range"] = [clk.boot(), clk.invalid_reason, sink.log]
    w, rtc, sink, clk = _clock(hint=T0 + 10)
    out["behind"] = [clk.boot(), clk.invalid_reason, clk.now(), sink.log]
    w, rtc, sink, clk = _clock()
    rtc.fail = True
    out["fault"] = [clk.boot(), clk.invalid_reason, clk.now(), sink.log]
    out["reasons"] = [REASON_LOST, REASON_RANGE, REASON_BEHIND, REASON_FAULT]
    return out


# ---- clock: synchronisation ------------------------------------------------------------


def _adj(a):
    return [a.kind, a.old, a.new, a.delta, a.applied, a.code, a.periods, a.period_changed]


def _run_sync(kind, arg, start=T0, lost=False):
    w, rtc, sink, clk = _clock(start=start, lost=lost)
    clk.boot()
    w.advance(400)  # a fraction of a second into the clock's life
    if kind == "preset":
        preset, vs, ve = arg
        clk.preset_adjusting_time(preset, vs, ve)
        a = clk.adjust_to_preset_time()
    elif kind == "shift":
        a = clk.shift_time(arg)
    else:
        a = clk.set_time(arg)
    before = clk.now()
    w.advance(2000)
    return {
        "adj": _adj(a),
        "events": sink.log,
        "now": before,
        "now_2s": clk.now(),
        "rtc_writes": rtc.writes,
        "rtc_clears": rtc.clears,
        "rtc_now": rtc.seconds(),
        "valid": clk.valid,
    }


def sync_preset(preset, validity_start, validity_end, start=T0, lost=False):
    return _run_sync("preset", (preset, validity_start, validity_end), start, lost)


def sync_shift(seconds, start=T0, lost=False):
    return _run_sync("shift", seconds, start, lost)


def sync_set(sec, start=T0, lost=False):
    return _run_sync("set", sec, start, lost)


def sync_errors():
    out = []
    w, rtc, sink, clk = _clock()
    clk.boot()

    def val(fn, *a):
        try:
            fn(*a)
        except ValueError:
            return "ValueError"
        return "ok"

    out.append(val(clk.adjust_to_preset_time))  # no preset
    out.append(val(clk.shift_time, 901))
    out.append(val(clk.shift_time, -901))
    out.append(val(clk.set_time, -1))
    out.append(val(clk.set_time, 3155760000))  # 2100-01-01
    out.append(val(clk.preset_adjusting_time, T0, T0 + 10, T0))  # end before start
    clk.preset_adjusting_time(T0 + 1, None, T0 + 61)
    clk.adjust_to_preset_time()
    out.append(val(clk.adjust_to_preset_time))  # a preset is used once
    # A failed RTC write changes nothing and logs nothing.
    n = len(sink.log)
    rtc.fail = True
    try:
        clk.set_time(T0 + 100)
        out.append("no error")
    except OSError:
        out.append("OSError")
    rtc.fail = False
    out.append([clk.now(), len(sink.log) - n])
    return out


# ---- clock: time keeping ---------------------------------------------------------------


def ticks_wrap_exact(tick_start, step_ms, steps):
    """now() every step_ms from a tick count near 2**30: mismatches against true time."""
    w, rtc, sink, clk = _clock(tick_start=tick_start)
    clk.boot()
    bad = 0
    wraps = 0
    prev_t = tick_start
    for _ in range(steps):
        w.advance(step_ms)
        t = (tick_start + w.ms) & _MASK
        if t < prev_t:
            wraps += 1
        prev_t = t
        if clk.now() != T0 + w.ms // 1000:
            bad += 1
    return {"bad": bad, "wraps": wraps, "end": clk.now(), "rtc_reads": rtc.reads}


def long_gap(gap_ms):
    """now() not called for gap_ms (beyond the 2**29 ms ticks_diff horizon): the RTC recovers."""
    w, rtc, sink, clk = _clock()
    clk.boot()
    w.advance(gap_ms)
    return [clk.now(), T0 + w.ms // 1000]


def drift_discipline(tick_ppm, rtc_ppm, hours):
    """now() each second against the RTC when the tick oscillator is off by tick_ppm."""
    w, rtc, sink, clk = _clock(tick_ppm=tick_ppm, rtc_ppm=rtc_ppm)
    clk.boot()
    worst_ahead = 0
    worst_behind = 0
    backwards = 0
    prev = clk.now()
    for _ in range(hours * 3600):
        w.advance(1000)
        n = clk.now()
        if n < prev:
            backwards += 1
        prev = n
        e = n - rtc.seconds()
        worst_ahead = max(worst_ahead, e)
        worst_behind = min(worst_behind, e)
    return {
        "ahead": worst_ahead,
        "behind": worst_behind,
        "backwards": backwards,
        "faults": clk.rtc_faults,
        "reads": rtc.reads,
    }


def rtc_glitch():
    """An hourly RTC read far from the tick-carried time is a fault, not a correction."""
    w, rtc, sink, clk = _clock()
    clk.boot()
    rtc.off_ms -= 60_000  # the RTC suddenly reads a minute behind
    w.advance(3_600_000)
    a = clk.now()
    rtc.fail = True
    w.advance(3_600_000)
    b = clk.now()
    return [a - T0, b - T0, clk.rtc_faults, clk.valid]


def now_allocates_nothing():
    import micropython

    w, rtc, sink, clk = _clock(tick_start=0x3FFFF000, tick_ppm=150)
    clk.boot()
    reads = rtc.reads
    micropython.heap_lock()
    try:
        for _ in range(8000):
            w.advance(1000)
            clk.now()
            clk.timestamp_or_none()
        ok = True
    except MemoryError:
        ok = False
    micropython.heap_unlock()
    return [ok, rtc.reads - reads, clk.now() - T0]


# ---- holdover on the virtual board's RV-3032 model -------------------------------------


def holdover(days, temps_c, hint_at_off=True, curve=None):
    """Power off for `days` (temperature cycling through temps_c, one per 6 h), power on,
    boot a fresh MeterClock. Then sync with set_time if the clock came back invalid."""
    from hal.rv3032 import RV3032
    from hal.sim import machine
    from hal.sim.rtc_model import RV3032Model
    from hal.sim.simtime import SimTime

    st = SimTime()
    model = RV3032Model(st, start_utc=T0)
    if curve is not None:
        model.set_curve([tuple(p) for p in curve])
    i2c = machine.I2C(0)
    i2c.attach(0x51, model)

    def sleep_ms(ms):
        st.advance(ms * 1000)

    rtc = RV3032(i2c, sleep_ms=sleep_ms)
    rtc.configure_backup()
    st.advance(3_600_000_000)  # an hour powered: the trickle charger fills the cap
    sink = Sink()
    clk = MeterClock(rtc, st.ticks_ms, None, sink)
    ok0 = clk.boot()
    st.advance(1_000_000)
    last = clk.now()
    model.power_off()
    steps = days * 4
    for i in range(steps):
        model.set_temperature_c(temps_c[i % len(temps_c)])
        st.advance(6 * 3_600_000_000)
    model.power_on()
    sink2 = Sink()
    clk2 = MeterClock(rtc, st.ticks_ms, last if hint_at_off else None, sink2)
    ok = clk2.boot()
    true = model.true_utc_seconds()
    rtc_error_s = model.rtc_us() // 1_000_000 - true
    out = {
        "rtc_error_s": rtc_error_s,
        "boot0": ok0,
        "valid": ok,
        "reason": clk2.invalid_reason,
        "error_s": clk2.now() - true,
        "stamp_is_none": clk2.timestamp_or_none() is None,
        "events": list(sink2.log),
        "cap_mv": model.cap_voltage_mv(),
    }
    st.advance(2 * 3_600_000_000)  # two hours running: hourly RTC reads happen
    out["after_2h_stamp_is_none"] = clk2.timestamp_or_none() is None
    out["after_2h_error_s"] = clk2.now() - model.true_utc_seconds() if ok else None
    if not ok:
        true = model.true_utc_seconds()
        a = clk2.set_time(true)
        out["sync"] = _adj(a)[3:6]
        out["sync_events"] = [e[:2] for e in sink2.log[1:]]
        out["after_sync"] = [clk2.valid, clk2.timestamp_or_none() == true, rtc.time_lost()]
        st.advance(10 * 3_600_000_000)
        out["after_sync_10h_error_s"] = clk2.now() - model.true_utc_seconds()
    return out


def codes_table():
    return [
        codes.LOG_EVENT,
        codes.LOG_SECURITY,
        codes.LOG_POWER,
        codes.CLOCK_ADJUSTED,
        codes.CLOCK_NOT_ADJUSTED_WINDOW,
        codes.CLOCK_NOT_ADJUSTED_OVER_10S,
        codes.TIME_CHANGED_BY_PORT,
        codes.DEMAND_PERIOD_ADJUSTED,
        codes.CLOCK_INVALID,
        codes.CLOCK_VALID,
    ]
