"""Supply monitoring alarms: reverse running and phase failure, logged on and off.

Requirements: CoP 10 alarm set (requirements.md §14, MCOP 5.5.3): "phase failure (any
combination)" and "reverse running", both logged on and off, reset automatically when the
condition clears and never by a read. SMETS2: 0x81BB "Reverse Current" to the Power Event Log
(requirements.md §1, §13); supply interrupted 0x8F57-0x8F5A and restored 0x8F35-0x8F3C with the
>= 3 min "long outage" variants (requirements.md §12, Appendix A). Codes: firmware/codes.py.

Inputs per metering window: the AFE counts (after the creep gate, firmware/creep.py), the
transfer flag `ok`, the instantaneous figures and `now` (UTC meter seconds, None while the
clock is invalid; passed through to the event sink untouched).

Figures layout (one array('l') of FIGS_PER_PHASE ints per phase, phase p at p * 7):

    FIG_V_MV 0   RMS voltage, mV           FIG_S_MVA 4  apparent power, mVA
    FIG_I_MA 1   RMS current, mA           FIG_PF    5  power factor x 1000, signed
    FIG_P_MW 2   active power, mW, signed  FIG_F_MHZ 6  line frequency, mHz
    FIG_Q_MVAR 3 reactive power, mvar, signed

Reverse running (definition)
----------------------------
A phase is running in reverse when it exports active energy where export is not expected:
`export_mask` has bit p set for phases that legitimately export (microgeneration), so the
default 0 is an import-only site, where any sustained export, or one phase of a 3-phase meter
exporting while the others import (a reversed CT or swapped tails), is reverse running. A site
with generation sets the bits of the generating phases and keeps detection on the others.

Noise must never trip it, so detection integrates energy, not power samples: per window
x += (export - import) - leak, clamped to [0, trip], in fine units (1/unit Wh, firmware/
energy.py); the leak is `reverse_min_w` over the window, carried exactly. The alarm comes on
when x reaches `reverse_wh` (so only net export above the minimum power, sustained until that
energy has flowed, trips it) and goes off after `reverse_clear_ms` of consecutive windows with
no net export on that phase (hysteresis). Defaults: 5 W (about the power at the starting
current, 20 mA x 230 V: below it the creep gate already discards the counts), 2 Wh, 60 s.
Windows with ok False are ignored (their counts are untrustworthy).

Phase failure (definition)
--------------------------
A phase fails when its RMS voltage stays below `fail_pct` of Un (default 50 %: below every
voltage-quality threshold of requirements.md §11, the extreme under-voltage example being
180 V = 78 % Un, so a sag is reported as a sag and only a lost phase as a failure) for
`debounce_ms` (default 3 s: one low 1-s window is a dip, not a failure). It is restored when the
voltage stays at or above `restore_pct` of Un (default 60 %: a 10 % Un hysteresis band, far
wider than RMS noise) for the same debounce time. The outage runs from the first low window to
the first window of the final recovery; its duration (counted in windows, so it is right even
while the clock is invalid) picks the short or the >= `long_outage_s` (default 180 s, GBCS;
OBIS 0-0:96.7.20 long-failure threshold) restored code. On a 3-phase meter each phase has its
own L1/L2/L3 codes, and while every phase has failed the supply as a whole is interrupted: the
total codes are logged as well, total interrupted right after the last phase's own entry and
total restored right before the first returning phase's own entry. On a single-phase meter the
phase is the supply: only the total codes are used. A meter that loses its own supply never
sees the restoration: the power-fail path logs that outage at the next boot (`restored_code`
gives the code).

Event sink: `events(log_id, code, value, now)`; value: reverse = phase number 1..3, interrupted
= the phase voltage in mV at confirmation (0 for the 3-phase total), restored = outage duration
in whole seconds. Outage start
and end times (UTC or None) for the 0x8F36 alert payload are in `outage_start` / `outage_end`
(index 0 = total, 1..3 = L1..L3). No allocation in `on_tick` (the sink may allocate).
"""

from array import array

from micropython import const

from firmware import codes
from firmware.energy import fine_ratio

FIG_V_MV = const(0)
FIG_I_MA = const(1)
FIG_P_MW = const(2)
FIG_Q_MVAR = const(3)
FIG_S_MVA = const(4)
FIG_PF = const(5)
FIG_F_MHZ = const(6)
FIGS_PER_PHASE = const(7)

_MS_PER_HOUR = const(3_600_000)
_SAT = const(0x3FFFFFFF)


def interrupted_code(index):
    """Supply-interrupted code: index 0 = total / single phase, 1..3 = L1..L3."""
    return codes.SUPPLY_INTERRUPTED + index


def restored_code(index, seconds, long_outage_s=180):
    """Restored code for an outage of `seconds`: index 0 = total, 1..3 = L1..L3."""
    long = 1 if seconds >= long_outage_s else 0
    if index == 0:
        return codes.SUPPLY_RESTORED + long
    return codes.SUPPLY_RESTORED_L1 + 2 * (index - 1) + long


class Monitor:
    """Per-phase reverse-running and phase-failure alarms for one meter."""

    def __init__(
        self,
        phases,
        count_uwh,
        events,
        tick_ms=1000,
        un_mv=230_000,
        fail_pct=50,
        restore_pct=60,
        debounce_ms=3000,
        long_outage_s=180,
        export_mask=0,
        reverse_wh=2,
        reverse_min_w=5,
        reverse_clear_ms=60_000,
    ):
        if phases not in (1, 3):
            raise ValueError("phases must be 1 or 3")
        if tick_ms <= 0 or un_mv <= 0 or debounce_ms < 0 or long_outage_s < 0:
            raise ValueError("bad timing or voltage")
        if not 0 < fail_pct <= restore_pct <= 100:
            raise ValueError("need 0 < fail_pct <= restore_pct <= 100")
        if reverse_wh <= 0 or reverse_min_w < 0 or reverse_clear_ms < 0:
            raise ValueError("bad reverse-running parameters")
        self.phases = phases
        self._events = events
        self.tick_ms = tick_ms
        self.long_outage_s = long_outage_s
        self.export_mask = export_mask
        self.fail_mv = un_mv * fail_pct // 100
        self.restore_mv = un_mv * restore_pct // 100
        self._deb = max(1, -(-debounce_ms // tick_ms))  # whole windows, rounded up
        self._clear = max(1, -(-reverse_clear_ms // tick_ms))
        num_r, unit = fine_ratio(count_uwh)
        self._num_r = num_r
        self._trip = reverse_wh * unit
        # Leak per window = min_w * tick_ms / 3 600 000 Wh = _leak_q + _leak_r / 3 600 000 fine.
        self._leak_q, self._leak_r = divmod(reverse_min_w * tick_ms * unit, _MS_PER_HOUR)
        if self._trip >= _SAT or self._leak_q >= _SAT:
            raise ValueError("reverse-running thresholds too large")
        self._leak_acc = 0
        # Reverse running, per phase.
        self._x = array("l", [0] * phases)
        self._quiet = array("l", [0] * phases)
        self.reverse = bytearray(phases)  # 1 while the alarm is on
        # Phase failure, per phase; index 0 of the outage lists is the total.
        self.failed = bytearray(phases)
        self._low = array("l", [0] * phases)
        self._high = array("l", [0] * phases)
        self._out = array("l", [0] * phases)
        self.all_failed = False
        self._all_out = 0
        self.outage_start = [None] * (phases + 1)
        self.outage_end = [None] * (phases + 1)
        self._first_low = [None] * phases
        self._first_high = [None] * phases

    def on_tick(self, counts, ok, figures, now):
        """Observe one window; logs alarm transitions through the sink."""
        phases = self.phases
        # The outage clocks run on every window, trusted or not: time passes either way.
        for p in range(phases):
            if (self._low[p] or self.failed[p]) and self._out[p] < _SAT:
                self._out[p] += 1
        if self.all_failed and self._all_out < _SAT:
            self._all_out += 1
        if not ok:
            return
        leak = self._leak_q
        self._leak_acc += self._leak_r
        if self._leak_acc >= _MS_PER_HOUR:
            self._leak_acc -= _MS_PER_HOUR
            leak += 1
        for p in range(phases):
            if not (self.export_mask >> p) & 1:
                self._reverse(p, counts[4 * p + 1] - counts[4 * p], leak, now)
        for p in range(phases):
            self._voltage(p, figures[p * FIGS_PER_PHASE + FIG_V_MV], now)
        if phases > 1:
            self._phases_done(now)

    def _reverse(self, p, net_counts, leak, now):
        net = net_counts * self._num_r
        x = self._x[p] + net - leak
        if x < 0:
            x = 0
        elif x > self._trip:
            x = self._trip
        self._x[p] = x
        if not self.reverse[p]:
            if x >= self._trip:
                self.reverse[p] = 1
                self._quiet[p] = 0
                self._events(codes.REVERSE_LOG, codes.REVERSE_CURRENT, p + 1, now)
            return
        if net > 0:
            self._quiet[p] = 0
            return
        q = self._quiet[p] + 1
        if q >= self._clear:
            self.reverse[p] = 0
            self._x[p] = 0
            q = 0
            self._events(codes.REVERSE_LOG, codes.REVERSE_CURRENT_CLEARED, p + 1, now)
        self._quiet[p] = q

    def _voltage(self, p, v, now):
        idx = p + 1 if self.phases > 1 else 0
        if not self.failed[p]:
            if v < self.fail_mv:
                if not self._low[p]:
                    self._first_low[p] = now  # committed only if the failure is confirmed
                    self._out[p] = 1
                self._low[p] += 1
                if self._low[p] >= self._deb:
                    self.failed[p] = 1
                    self._high[p] = 0
                    self.outage_start[idx] = self._first_low[p]
                    self.outage_end[idx] = None
                    self._events(codes.PHASE_FAILURE_LOG, interrupted_code(idx), v, now)
            else:
                self._low[p] = 0
                self._out[p] = 0
            return
        if v < self.restore_mv:
            self._high[p] = 0
            return
        h = self._high[p] + 1
        self._high[p] = h
        if h == 1:
            self._first_high[p] = now
        if h < self._deb:
            return
        # Restored: the outage ended at the first window of this run of good windows.
        seconds = (self._out[p] - h) * self.tick_ms // 1000
        if self.all_failed:
            self._end_all(self._first_high[p], now)
        self.failed[p] = 0
        self._low[p] = 0
        self._high[p] = 0
        self._out[p] = 0
        self.outage_end[idx] = self._first_high[p]
        code = restored_code(idx, seconds, self.long_outage_s)
        self._events(codes.PHASE_FAILURE_LOG, code, seconds, now)

    def _phases_done(self, now):
        # Total interruption: every phase failed (logged after the last phase's own entry).
        if self.all_failed:
            return
        for p in range(self.phases):
            if not self.failed[p]:
                return
        # The supply was fully lost when the last phase went: the shortest running outage.
        last = 0
        out = _SAT
        for p in range(self.phases):
            if self._out[p] < out:
                out = self._out[p]
                last = p
        self.all_failed = True
        self._all_out = out
        self.outage_start[0] = self.outage_start[last + 1]
        self.outage_end[0] = None
        self._events(codes.PHASE_FAILURE_LOG, codes.SUPPLY_INTERRUPTED, 0, now)

    def _end_all(self, first_high, now):
        # The first phase back ends the total outage (logged before that phase's own entry).
        seconds = (self._all_out - self._deb) * self.tick_ms // 1000
        self.all_failed = False
        self._all_out = 0
        self.outage_end[0] = first_high
        code = restored_code(0, seconds, self.long_outage_s)
        self._events(codes.PHASE_FAILURE_LOG, code, seconds, now)
