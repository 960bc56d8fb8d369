"""Meter core for the foundation: per-quadrant count totals fed by each metering tick.

This is the functional core the asyncio shell feeds (DESIGN.md "Subsystems are a functional
core"). It keeps the raw AFE count totals per phase and quadrant (active import, active export,
reactive import, reactive export) as small ints per tick; conversion to Wh uses the AFE's
integer `count_uwh` ratio. The exact accumulator with carried remainders, the store and the
profiles replace the internals in later steps without changing the shell.
"""

from array import array

# Quadrant order inside each phase's group of four counts (docs/interfaces.md).
QUADRANTS = ("active_import", "active_export", "reactive_import", "reactive_export")


class Meter:
    def __init__(self, phases, count_uwh):
        if phases not in (1, 3):
            raise ValueError("phases must be 1 or 3")
        num, den = count_uwh
        if num <= 0 or den <= 0:
            raise ValueError("count_uwh must be a positive ratio")
        self.phases = phases
        self.count_num = num
        self.count_den = den
        self.totals = [0] * (4 * phases)
        self.ticks = 0
        self.read_errors = 0

    def counts_buffer(self):
        """The preallocated buffer the AFE driver reads into every tick."""
        return array("l", [0] * (4 * self.phases))

    def on_tick(self, counts, ok):
        """Add one window's counts. A failed transfer counts as an error, never a retry."""
        self.ticks += 1
        if not ok:
            self.read_errors += 1
            return
        totals = self.totals
        for i in range(len(totals)):
            totals[i] += counts[i]

    def quadrant_counts(self, quadrant):
        """Total counts of one quadrant summed over the phases."""
        t = 0
        for p in range(self.phases):
            t += self.totals[4 * p + quadrant]
        return t

    def registers_wh(self):
        """Whole Wh/varh per quadrant (floor), for display and status; never mutates."""
        out = {}
        for q in range(4):
            out[QUADRANTS[q]] = (
                self.quadrant_counts(q) * self.count_num // (self.count_den * 1_000_000)
            )
        return out
