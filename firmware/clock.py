"""The meter clock: UTC meter seconds from the RTC and the tick counter, and time sync.

Requirements (requirements.md §3, reliability.md §4 and T13):
- UTC only inside; local time is a display matter (firmware/civil.py).
- Time comes from the RTC at boot and is carried by the 2**30-periodic tick counter between
  RTC reads (DESIGN.md "clock"). The RTC is re-read every hour, long before the tick distance
  nears 2**29 ms, and the sub-second part is kept in ms, so there is no drift from integer
  division and no error across tick wraps. `now()` never goes backwards on its own.
- If the RTC reports lost time (RV-3032 PORF/VLF, DS3231 OSF), is unreadable, holds
  impossible fields, or reads earlier than the last time the meter persisted (`now_utc_hint`),
  the clock is INVALID: a CLOCK_INVALID alarm is raised, `now()` keeps counting from the hint
  (ticks only) so the firmware can still pace itself, but `timestamp_or_none()` returns None
  and every consumer must check `valid`: no bogus timestamps (T13 b). Only a sync makes it
  valid again.
- Sync goes through the COSEM Clock 0-0:1.0.0.255 methods (ECS70):
  `preset_adjusting_time` + `adjust_to_preset_time`, `shift_time`, and the attribute-2 write
  `set_time`.

Adjustment policy (SMETS2 keeps the clock within 10 s of UTC; GBCS alert 0x8F0C is named
"Clock not adjusted (adjustment greater than 10 seconds)"):
- adjust_to_preset_time: now outside [validity_start, validity_end] -> not adjusted, 0x81C6
  (Event Log). Inside, |delta| <= 10 s -> applied, 0x8145 (Event Log). Inside, |delta| > 10 s
  -> NOT adjusted, 0x8F0C (Security Log). While the clock is invalid there is no reference to
  compare with, so the window and the 10 s limit are skipped and the preset is applied.
- shift_time(s): |s| > 900 -> ValueError (DLMS range). Valid clock: |s| <= 10 -> applied,
  0x8145; |s| > 10 -> not adjusted, 0x8F0C (Security Log). Invalid clock: a relative shift has
  no reference -> not adjusted, 0x81C6.
- set_time(sec) (attribute 2 write; the COSEM layer allows it only at the time-setting access
  level) applies any change: this is how a far-out or invalid clock is set. It raises no GBCS
  clock alert.
- Every applied change emits TIME_CHANGED_BY_PORT (CoP 10 "port access which changes
  time/date"; Security Log when the step is over 10 s or the clock was invalid, else Event
  Log), DEMAND_PERIOD_ADJUSTED when a valid clock moved (CoP 10 "demand period truncated or
  extended by time synchronisation"), and CLOCK_VALID when it ends an invalid spell. Each
  request returns an Adjustment (old, new, delta, periods crossed) so the profile can flag or
  close demand periods without losing energy. The RTC is written and its lost flag cleared on
  every applied change; a failed RTC write raises OSError and changes nothing.

Events go to the injected sink `events(log_id, code, value, utc_or_None)` (firmware/codes.py);
the value is the adjustment in seconds, or the invalid-reason bits for CLOCK_INVALID.
"""

from micropython import const

from firmware import civil, codes
from lib.ticks import ticks_diff

# Re-read the RTC after this many ms: 1 h, far inside the 2**29 ms (6.2 days) over which
# ticks_diff is unambiguous, and short enough that the tick oscillator's error (tens of ppm,
# ~0.1 s/h) is corrected before it reaches a second.
_REFRESH_MS = const(3_600_000)
# An hourly RTC read further than this from the tick-carried time is treated as an RTC read
# fault (glitched I2C, RTC reset mid-run), not as a correction: 5 s is 50x the tick drift.
_TRUST_MS = const(5000)
# SMETS2: the clock is kept within 10 s of UTC; larger sync adjustments are refused (0x8F0C).
SYNC_LIMIT_S = const(10)
# DLMS Clock shift_time range (seconds).
SHIFT_MAX_S = const(900)
# Largest meter second (2099-12-31 23:59:59): the RTC stores a two-digit year.
SEC_MAX = 3155759999

# Why the clock is invalid (bits of `invalid_reason`, value of the CLOCK_INVALID event).
REASON_LOST = const(1)  # RTC lost-time flag (PORF / VLF / OSF) set
REASON_RANGE = const(2)  # RTC fields out of range
REASON_BEHIND = const(4)  # RTC earlier than the last time the meter persisted
REASON_FAULT = const(8)  # RTC did not answer (OSError)
REASON_NOT_BOOTED = const(16)  # boot() not run yet

# Adjustment kinds.
ADJ_PRESET = const(0)
ADJ_SHIFT = const(1)
ADJ_SET = const(2)


def _no_events(log_id, code, value, utc):
    pass


class Adjustment:
    """The outcome of one time-change request.

    old      meter seconds (whole) just before the request
    new      the requested time (meter seconds)
    delta    new - old
    applied  True when the clock now runs from `new`
    code     GBCS alert raised (0x8145 / 0x81C6 / 0x8F0C) or 0 (set_time)
    was_valid  the clock was valid before (delta is meaningful only then)
    periods  half-hour boundaries crossed: new // 1800 - old // 1800 when applied, else 0.
             > 0: the current period ended early and periods - 1 whole periods were skipped;
             < 0: time went back into periods already closed (the profile merges into them).
    """

    def __init__(self, kind, old, new, applied, code, was_valid):
        self.kind = kind
        self.old = old
        self.new = new
        self.delta = new - old
        self.applied = applied
        self.code = code
        self.was_valid = was_valid
        self.periods = (new // civil.HALF_HOUR - old // civil.HALF_HOUR) if applied else 0

    @property
    def period_changed(self):
        """The current demand period was truncated (delta > 0) or extended (delta < 0)."""
        return self.applied and self.was_valid and self.delta != 0

    def as_tuple(self):
        return (self.old, self.new, self.delta, self.applied, self.code, self.periods)


class MeterClock:
    """UTC meter seconds for the firmware; see the module docstring for the rules.

    rtc       driver with read_into(fields), write(fields), time_lost(), clear_lost();
              fields = [year - 2000, month, day, hour, minute, second, weekday], weekday
              0-6 from Monday as hal/rv3032.py and hal/ds3231.py count it (written, never
              read: the chips only count it)
    ticks_ms  callable returning a 2**30-periodic ms counter
    now_utc_hint  the latest meter second the firmware persisted (e.g. from the store), or
              None. The RTC reading earlier than this makes the clock invalid, and an invalid
              clock counts on from it.
    events    sink events(log_id, code, value, utc_or_None)
    """

    def __init__(self, rtc, ticks_ms, now_utc_hint=None, events=None):
        self._rtc = rtc
        self._ticks_ms = ticks_ms
        self._hint = now_utc_hint
        self._events = events if events is not None else _no_events
        self._rf = bytearray(7)  # RTC register image, preallocated for the hourly read
        self.valid = False
        self.invalid_reason = REASON_NOT_BOOTED
        self.rtc_faults = 0  # hourly RTC reads that failed or disagreed by > _TRUST_MS
        self._preset = None
        base = now_utc_hint if now_utc_hint is not None else 0
        self._anchor(base, 0, ticks_ms())

    # ---- time keeping ---------------------------------------------------------------------

    def _anchor(self, sec, ms, t):
        self._sec = sec  # meter seconds at tick t
        self._ms = ms  # plus this many ms (0..999)
        self._t0 = t
        self._last = sec  # floor that keeps now() monotonic

    def _read_rtc(self):
        # -> meter seconds, or -1 when the fields are impossible. OSError propagates.
        f = self._rf
        self._rtc.read_into(f)
        year = f[0] + 2000
        if not civil.fields_valid(year, f[1], f[2], f[3], f[4], f[5]):
            return -1
        return civil.from_fields(year, f[1], f[2], f[3], f[4], f[5])

    def boot(self):
        """Read the RTC and decide whether the time is valid. Returns `valid`."""
        reason = 0
        sec = -1
        t = self._ticks_ms()
        try:
            if self._rtc.time_lost():
                reason |= REASON_LOST
            sec = self._read_rtc()
            t = self._ticks_ms()
        except OSError:
            reason |= REASON_FAULT
        if not reason & REASON_FAULT:
            if sec < 0:
                reason |= REASON_RANGE
            elif self._hint is not None and sec < self._hint:
                reason |= REASON_BEHIND
        self.invalid_reason = reason
        if reason:
            self.valid = False
            base = self._hint
            if base is None:
                base = sec if sec >= 0 else 0
            self._anchor(base, 0, t)
            self._events(codes.LOG_EVENT, codes.CLOCK_INVALID, reason, None)
        else:
            self.valid = True
            self._anchor(sec, 0, t)
        return self.valid

    def now(self):
        """UTC meter seconds. Allocates nothing (the metering tick calls it)."""
        t = self._ticks_ms()
        el = ticks_diff(t, self._t0)
        if el >= _REFRESH_MS or el < 0:
            self._refresh(t, el)
            el = ticks_diff(self._ticks_ms(), self._t0)
        s = self._sec + (self._ms + el) // 1000
        if s < self._last:
            return self._last
        self._last = s
        return s

    def timestamp_or_none(self):
        """now() for records and logs, or None while the clock is invalid."""
        if not self.valid:
            return None
        return self.now()

    def _refresh(self, t, el):
        # Fold the elapsed ticks into the anchor (exact: ms kept), then check against the RTC.
        if el >= 0:
            total = self._ms + el
            self._sec += total // 1000
            self._ms = total % 1000
            self._t0 = t
        else:
            # Over 2**29 ms without a call (or a broken tick source): the tick distance is
            # ambiguous. Restart the count here; the RTC below puts the time right.
            self._t0 = t
        if not self.valid:
            return  # the RTC holds nothing trustworthy until a sync
        try:
            r = self._read_rtc()
        except OSError:
            r = -1
        if r < 0:
            self.rtc_faults += 1
            return
        t = self._ticks_ms()
        e = (self._sec - r) * 1000 + self._ms + ticks_diff(t, self._t0)
        if 0 <= e < 1000:
            return  # consistent: the RTC second contains our time; keep the finer phase
        if el >= 0 and (e < -_TRUST_MS or e > _TRUST_MS):
            self.rtc_faults += 1
            return
        # Snap to the nearest instant the RTC reading allows: R.000 when the ticks ran slow,
        # R.999 when they ran fast (then the monotonic floor holds now() for under a second).
        last = self._last
        self._anchor(r, 0 if e < 0 else 999, t)
        if last > r:
            self._last = last

    # ---- synchronisation (COSEM Clock methods) --------------------------------------------

    def preset_adjusting_time(self, preset, validity_start=None, validity_end=None):
        """Store a preset time and its validity window (None = unspecified end)."""
        _check_sec(preset)
        if validity_start is not None:
            _check_sec(validity_start)
        if validity_end is not None:
            _check_sec(validity_end)
        if validity_start is not None and validity_end is not None:
            if validity_end < validity_start:
                raise ValueError("validity window ends before it starts")
        self._preset = (preset, validity_start, validity_end)

    def adjust_to_preset_time(self):
        """Apply the stored preset (one shot). Returns an Adjustment."""
        if self._preset is None:
            raise ValueError("no preset time")
        preset, start, end = self._preset
        self._preset = None
        cur = self.now()
        if self.valid:
            if (start is not None and cur < start) or (end is not None and cur > end):
                return self._refuse(ADJ_PRESET, cur, preset, codes.CLOCK_NOT_ADJUSTED_WINDOW)
            if _over_limit(preset - cur):
                return self._refuse(ADJ_PRESET, cur, preset, codes.CLOCK_NOT_ADJUSTED_OVER_10S)
        return self._apply(ADJ_PRESET, cur, preset, codes.CLOCK_ADJUSTED)

    def shift_time(self, seconds):
        """Shift the time by -900..900 s. The fraction of the current second is dropped so
        the tick anchor and the RTC (its prescaler restarts on a seconds write) agree."""
        if seconds < -SHIFT_MAX_S or seconds > SHIFT_MAX_S:
            raise ValueError("shift_time range is -900..900 s")
        cur = self.now()
        target = cur + seconds
        if not self.valid:
            return self._refuse(ADJ_SHIFT, cur, target, codes.CLOCK_NOT_ADJUSTED_WINDOW)
        if _over_limit(seconds):
            return self._refuse(ADJ_SHIFT, cur, target, codes.CLOCK_NOT_ADJUSTED_OVER_10S)
        _check_sec(target)
        return self._apply(ADJ_SHIFT, cur, target, codes.CLOCK_ADJUSTED)

    def set_time(self, sec):
        """Attribute-2 write: set the time to `sec`, any step (see module docstring)."""
        _check_sec(sec)
        return self._apply(ADJ_SET, self.now(), sec, 0)

    def _refuse(self, kind, cur, target, code):
        log = codes.LOG_SECURITY if code == codes.CLOCK_NOT_ADJUSTED_OVER_10S else codes.LOG_EVENT
        self._events(log, code, target - cur, cur if self.valid else None)
        return Adjustment(kind, cur, target, False, code, self.valid)

    def _apply(self, kind, cur, target, code):
        was_valid = self.valid
        wf = self._rf
        civil.to_fields(target, wf, 2000)
        wf[6] -= 1  # the RTC drivers count weekdays 0-6 from Monday (hal/rv3032.py)
        self._rtc.write(wf)  # OSError here leaves the clock untouched
        self._rtc.clear_lost()
        self._anchor(target, 0, self._ticks_ms())
        self.valid = True
        self.invalid_reason = 0
        adj = Adjustment(kind, cur, target, True, code, was_valid)
        delta = adj.delta
        ev = self._events
        if code:
            ev(codes.LOG_EVENT, code, delta, target)
        big = not was_valid or _over_limit(delta)
        ev(
            codes.LOG_SECURITY if big else codes.LOG_EVENT,
            codes.TIME_CHANGED_BY_PORT,
            delta,
            target,
        )
        if adj.period_changed:
            ev(codes.LOG_EVENT, codes.DEMAND_PERIOD_ADJUSTED, delta, target)
        if not was_valid:
            ev(codes.LOG_EVENT, codes.CLOCK_VALID, 0, target)
        return adj


def _over_limit(delta):
    return delta > SYNC_LIMIT_S or delta < -SYNC_LIMIT_S


def _check_sec(sec):
    if sec < 0 or sec > SEC_MAX:
        raise ValueError("time outside 2000-2099")
