"""No-load (creep) and starting-current gate: no registration without current.

Requirements (reliability.md §3, test target T7):

- MID 2014/32/EU Annex V 5.4: no registration at 0.8-1.1 Un with no current; 5.5: the meter
  starts and keeps registering at the starting current Ist. Class B (Table 1): Ist <= 0.04 Itr.
- IEC 62053-21 class 1 (direct connection): starting current 0.004 Ib. No-load test (EN 50470-3
  at 1.15 Un, current circuit open): at most 1 pulse over the test time. We aim for 0 counts.

Where the gate acts, and why
----------------------------
Per metering window and per phase, on the RMS current the AFE measured for that window
(`figures`, layout in firmware/monitor.py). A phase whose current is below `threshold_ma`
registers nothing in that window: its four quadrant counts are zeroed in place before the
Accumulator sees them, and tallied in `discarded` (so registered + discarded == what the AFE
delivered, exactly). At or above the threshold every count registers.

The standards state both conditions as currents (Ist; "no current"), not as power: at Ist and
PF 0 the active energy of a window is almost nothing yet must register, so an energy or power
floor would break 5.5 at low power factor, while a current floor does not. Offset creep in the
energy path (the chips.md §7 complaint 5: ~100 W with no CT) is removed whatever its size,
because the current reading is independent of the energy accumulation path.

Defaults: Ib = 5 A and Itr = 0.5 A (a 5(100) A direct-connected meter). Ist is the stricter of
the two standards: min(0.004 Ib, 0.04 Itr) = 20 mA. The gate threshold sits below Ist by
`margin_pct` (default 75 % -> 15 mA) so that an RMS reading a few mA low at Ist still
registers (IRMS resolution: 1 mA on the ATM90E32, chips.md §2.4), while the no-load noise of
a calibrated AFE (a few mA after IRMSOS, chips.md §1.6) stays below it.
"""

from array import array

from micropython import const

from firmware.monitor import FIG_I_MA, FIGS_PER_PHASE

_SAT = const(0x3FFFFFFF)


def starting_current_ma(ib_ma, itr_ma):
    """Ist in mA: the stricter of IEC 62053-21 class 1 (0.004 Ib) and MID class B (0.04 Itr)."""
    return min(ib_ma * 4 // 1000, itr_ma * 4 // 100)


class CreepGate:
    """Zeroes a phase's counts for windows whose RMS current is below the threshold."""

    def __init__(self, phases, ib_ma=5000, itr_ma=500, margin_pct=75, threshold_ma=None):
        if phases not in (1, 3):
            raise ValueError("phases must be 1 or 3")
        if ib_ma <= 0 or itr_ma <= 0 or margin_pct <= 0 or margin_pct > 100:
            raise ValueError("bad starting-current parameters")
        self.phases = phases
        self.start_ma = starting_current_ma(ib_ma, itr_ma)
        if threshold_ma is None:
            threshold_ma = self.start_ma * margin_pct // 100
        if threshold_ma < 1 or threshold_ma > self.start_ma:
            # A zero threshold would register creep; one above Ist would miss MID 5.5.
            raise ValueError("threshold must be 1 mA .. the starting current")
        self.threshold_ma = threshold_ma
        self.gated_ticks = array("l", [0] * phases)  # windows discarded, per phase
        self.discarded = array("l", [0] * (4 * phases))  # counts discarded, per slot
        # Bit p set: phase p's current was below the threshold when the previous window
        # ended, i.e. when this window began. All set at boot: nothing vouches for a load yet.
        self._low_before = (1 << phases) - 1

    def apply(self, counts, figures):
        """Gate one window in place; returns a bit mask of the gated phases (bit p = phase p).

        The RMS current is measured once per window, at its end. A window is no-load only if
        the current was below the threshold at BOTH its ends (this window's figures and the
        previous one's): a window in which a load switched off ends at 0 A but held real
        energy, and gating on the end value alone discarded up to a whole window of it each
        time a load stopped (found by the 30-day exactness test). A creeping meter with no
        current stays below the threshold at every window end, so creep is still discarded.
        No allocation. Call it after the AFE read and before Accumulator.on_tick.
        """
        mask = 0
        low_now = 0
        thr = self.threshold_ma
        disc = self.discarded
        before = self._low_before
        for p in range(self.phases):
            if figures[p * FIGS_PER_PHASE + FIG_I_MA] >= thr:
                continue
            low_now |= 1 << p
            if not before & (1 << p):
                continue  # the window began with current flowing: its energy is real
            mask |= 1 << p
            if self.gated_ticks[p] < _SAT:
                self.gated_ticks[p] += 1
            for i in range(4 * p, 4 * p + 4):
                c = counts[i]
                if c:
                    d = disc[i] + c
                    disc[i] = d if d < _SAT else _SAT
                    counts[i] = 0
        self._low_before = low_now
        return mask
