"""Energy accumulator: AFE counts -> cumulative registers, integer only, remainder carried.

Implements docs/interfaces.md "Units across the seam" and DESIGN.md rules 1-3:

- An AFE delivers, per metering window, non-negative counts per phase and quadrant (active
  import A+, active export A-, reactive import R+, reactive export R-: OBIS C = 1..4,
  requirements.md §1) and `count_uwh = (num, den)`: one count is num/den uWh
  (ATM90E32 at MC = 3200: 0.01 CF = 3.125 mWh = (3125, 1), chips.md §2.4; the virtual ADE7953
  front end: 150 000 uJ = (125, 3), hal/sim/ade7953_model.py).
- Import and export are separate monotonic registers: export is never netted into import
  (requirements.md §1 "Netting ... not allowed in Settlement"; chips.md §7 complaint 2). The
  signed net register is derived, read-only, and labelled "not for settlement".
- Every count is converted exactly: the sub-Wh remainder is carried forward, never dropped and
  never a float (chips.md §8.2 D4: Tasmota's float carry loses 0.003 %; §8.3 residual carry).

Representation (why it looks like this)
---------------------------------------
The ratio is reduced once: num/den uWh = num_r / unit Wh with g = gcd(num, den * 10**6),
num_r = num / g and unit = den * 10**6 / g. The "fine unit" is therefore 1/unit Wh, and a
count is exactly num_r fine units. For the ATM90E32 this is 1/320 Wh (one count); for the
virtual ADE7953 1/24 000 Wh (one count). Every register is a triple of small ints:

    kwh  whole kWh, 0 <= kwh < KWH_WRAP (10**9 kWh = 10**12 Wh)
    wh   whole Wh within the kWh, 0 <= wh < 1000
    rem  fine units within the Wh, 0 <= rem < unit

On ESP32/RP2040 an int >= 2**30 is a heap object (reference/micropython.md §1), so a single
Wh or fine-unit total would start allocating after ~1 GWh or ~3 MWh. With the triple, every
value the tick touches is bounded by the constructor checks below:

    counts per slot            <= phases * max_counts        (checked < 2**30)
    fine delta per slot        <= phases * max_counts * num_r (checked < 2**30)
    rem + carried part         <  unit * (num_r + 1)          (checked < 2**30)
    kwh                        <  10**9                       (< 2**30)

so `on_tick` and `pack_into` allocate nothing at any register value, including next to the
10**9 kWh roll-over (about 1 400 years at 72 kW; MID Annex V 5.2 asks for no roll-over within
4000 h at Imax). The registers hold 10**12 Wh > the 10**8 kWh lifetime asked for, exactly.

Per-tick outputs for the profile, tariff and demand code (no allocation, rewritten every tick):

    delta_wh[slot]    whole Wh the register advanced in this window
    delta_fine[slot]  fine units registered in this window (= counts * num_r)

so over any run of ticks: sum(delta_wh) == Wh(register end) - Wh(register start), and
sum(delta_fine) == fine(end) - fine(start), where fine = (kwh * 1000 + wh) * unit + rem. A
half-hourly value summed from delta_wh plus the register's carried remainder equals the
register delta exactly.

Slots: `slot(phase, quadrant)`; phase None is the total. On a 1-phase meter the total is the
phase (4 slots). On 3 phases the total has its own 4 slots fed with the per-quadrant sum of the
phases' counts, so total == exact sum of the phases in fine units (checked on unpack).

A window whose transfer was not verified (`ok` False), or whose counts are impossible for the
front end (negative, or above `max_counts`), registers nothing: its counts are untrustworthy
and a read-clear register cannot be re-read (chips.md §2.4 "do not retry"; DESIGN rule 7). The
window counts as a functionality error (`errors`, monotonic, persisted), `last_ok` is False
and the deltas are zero; the profile flags a period in which `errors` changed.

Persistence: `pack_into(buf, offset)` writes PAYLOAD bytes (layout below) for the store's
register record; `unpack_from(buf, offset)` validates and loads them. An all-zero payload
(a freshly formatted store) loads as zero registers.

    offset 0  u8  layout version (1)
           1  u8  phases
           2  u16 reserved (0)
           4  u32 unit (fine units per Wh; a different AFE ratio refuses to load)
           8  u32 functionality errors
          12  per slot: u32 kwh, u16 wh, u32 rem   (10 bytes, little-endian)
"""

import struct
from array import array

from micropython import const

# Quadrant order inside each phase's group of four counts (docs/interfaces.md).
Q_ACTIVE_IMPORT = const(0)
Q_ACTIVE_EXPORT = const(1)
Q_REACTIVE_IMPORT = const(2)
Q_REACTIVE_EXPORT = const(3)
QUADRANT_NAMES = ("active_import", "active_export", "reactive_import", "reactive_export")

KWH_WRAP = const(1_000_000_000)  # registers roll over at 10**9 kWh (see module docstring)
_SMALL = const(0x40000000)  # 2**30: first int that allocates on 32-bit ports
_ERR_MAX = const(0x3FFFFFFF)
_VERSION = const(1)
_HEADER = const(12)
_SLOT_BYTES = const(10)
_HEADER_FMT = "<BBHII"
_SLOT_FMT = "<IHI"


def gcd(a, b):
    """Greatest common divisor (MicroPython's math module has no gcd)."""
    while b:
        a, b = b, a % b
    return a


def fine_ratio(count_uwh):
    """(num_r, unit): one count is num_r / unit Wh exactly, in lowest terms."""
    num, den = count_uwh
    if not isinstance(num, int) or not isinstance(den, int) or num <= 0 or den <= 0:
        raise ValueError("count_uwh must be a ratio of positive ints")
    scale = den * 1_000_000
    g = gcd(num, scale)
    return num // g, scale // g


def slot_count(phases):
    return 4 if phases == 1 else 4 * (phases + 1)


def payload_size(phases):
    return _HEADER + _SLOT_BYTES * slot_count(phases)


def trunc_divmod(n, d):
    """Quotient truncated toward zero and the remainder with the sign of n (chips.md §8.3).

    Python's // floors toward -inf (-5000 // 3600 == -2); the EmonLibCM residual carry and the
    net register want -1 and -1400.
    """
    q = (-n if n < 0 else n) // d
    if n < 0:
        q = -q
    return q, n - q * d


class Accumulator:
    """Cumulative per-phase and total registers for the four quadrants."""

    def __init__(self, phases, count_uwh, max_counts=0xFFFFFF):
        if phases not in (1, 3):
            raise ValueError("phases must be 1 or 3")
        num_r, unit = fine_ratio(count_uwh)
        if not isinstance(max_counts, int) or max_counts <= 0:
            raise ValueError("max_counts must be a positive int")
        # The bounds in the module docstring: everything in the tick stays a small int.
        if phases * max_counts * num_r >= _SMALL or unit * (num_r + 1) >= _SMALL:
            raise ValueError("count ratio too fine for small-int arithmetic")
        self.phases = phases
        self.count_uwh = (count_uwh[0], count_uwh[1])
        self.num_r = num_r
        self.unit = unit
        self.max_counts = max_counts
        self.n_slots = slot_count(phases)
        self.total_base = 0 if phases == 1 else 4 * phases
        self.payload_size = payload_size(phases)
        n = self.n_slots
        self._kwh = array("l", [0] * n)
        self._wh = array("l", [0] * n)
        self._rem = array("l", [0] * n)
        self.delta_wh = array("l", [0] * n)
        self.delta_fine = array("l", [0] * n)
        self.errors = 0  # functionality errors: windows that could not be trusted
        self.ticks = 0  # windows seen since boot (not persisted)
        self.last_ok = True

    # ---- addressing ----------------------------------------------------------------------
    def slot(self, phase, quadrant):
        """Slot index of (phase 0..phases-1, quadrant 0..3); phase None is the total."""
        if quadrant < 0 or quadrant > 3:
            raise ValueError("quadrant must be 0..3")
        if phase is None:
            return self.total_base + quadrant
        if phase < 0 or phase >= self.phases:
            raise ValueError("no such phase")
        return 4 * phase + quadrant

    # ---- the tick (hot path: no allocation) ----------------------------------------------
    def on_tick(self, counts, ok):
        """Register one window's counts; returns True if they were registered."""
        self.ticks += 1
        n4 = 4 * self.phases
        maxc = self.max_counts
        good = ok
        if good:
            for i in range(n4):
                c = counts[i]
                if c < 0 or c > maxc:
                    good = False
        if not good:
            dwh = self.delta_wh
            dfine = self.delta_fine
            for i in range(self.n_slots):
                dwh[i] = 0
                dfine[i] = 0
            if self.errors < _ERR_MAX:
                self.errors += 1
            self.last_ok = False
            return False
        self.last_ok = True
        phases = self.phases
        for q in range(4):
            t = 0
            for p in range(phases):
                c = counts[4 * p + q]
                t += c
                self._add(4 * p + q, c)
            if phases > 1:
                self._add(self.total_base + q, t)
        return True

    def _add(self, i, c):
        unit = self.unit
        num_r = self.num_r
        # c * num_r fine units = a * num_r whole Wh + b * num_r fine units, with b < unit, so
        # no intermediate exceeds unit * (num_r + 1) (see the bounds in the docstring).
        a = c // unit
        b = c - a * unit
        inc = a * num_r
        r = self._rem[i] + b * num_r
        if r >= unit:
            q = r // unit
            inc += q
            r -= q * unit
        self._rem[i] = r
        self.delta_fine[i] = c * num_r
        self.delta_wh[i] = inc
        if inc:
            w = self._wh[i] + inc
            if w >= 1000:
                q = w // 1000
                w -= q * 1000
                k = self._kwh[i] + q
                if k >= KWH_WRAP:
                    k -= KWH_WRAP
                self._kwh[i] = k
            self._wh[i] = w

    # ---- reads (never mutate) ------------------------------------------------------------
    def parts(self, slot):
        """(kwh, wh, rem) of a slot: small ints, no allocation."""
        return self._kwh[slot], self._wh[slot], self._rem[slot]

    def wh(self, slot):
        """Whole Wh (or varh) of a slot; may be a big int (allocates)."""
        return self._kwh[slot] * 1000 + self._wh[slot]

    def remainder(self, slot):
        """Carried sub-Wh part of a slot in fine units (1/unit Wh)."""
        return self._rem[slot]

    def fine(self, slot):
        """The whole register in fine units (big int)."""
        return (self._kwh[slot] * 1000 + self._wh[slot]) * self.unit + self._rem[slot]

    def register(self, phase, quadrant):
        """(Wh, remainder in fine units) of a phase (None = total) and quadrant."""
        s = self.slot(phase, quadrant)
        return self.wh(s), self._rem[s]

    def net(self, phase=None, reactive=False):
        """NET register, NOT FOR SETTLEMENT: import - export as (Wh, fine remainder), signed.

        Derived exactly from the monotonic import and export registers (netting is linear, so
        netting each tick would give the same sum; deriving it means it can never drift from
        them and needs no storage). Truncated toward zero with a signed remainder, as the
        EmonLibCM residual carry (chips.md §8.3).
        """
        base = 2 if reactive else 0
        n = self.fine(self.slot(phase, base)) - self.fine(self.slot(phase, base + 1))
        return trunc_divmod(n, self.unit)

    # ---- persistence ---------------------------------------------------------------------
    def pack_into(self, buf, offset):
        """Write the register payload (payload_size bytes) at buf[offset:]; no allocation."""
        struct.pack_into(
            _HEADER_FMT, buf, offset, _VERSION, self.phases, 0, self.unit, self.errors
        )
        kwh = self._kwh
        wh = self._wh
        rem = self._rem
        o = offset + _HEADER
        for i in range(self.n_slots):
            struct.pack_into(_SLOT_FMT, buf, o, kwh[i], wh[i], rem[i])
            o += _SLOT_BYTES

    def _all_zero(self, buf, offset):
        for i in range(offset, offset + self.payload_size):
            if buf[i]:
                return False
        return True

    def unpack_from(self, buf, offset):
        """Load a payload written by pack_into; ValueError (nothing changed) if it is invalid."""
        if len(buf) - offset < self.payload_size:
            raise ValueError("register payload truncated")
        version, phases, _res, unit, errors = struct.unpack_from(_HEADER_FMT, buf, offset)
        if version == 0 and self._all_zero(buf, offset):
            # The fresh form a store format writes (store.initial_registers zero-fills the
            # record, whose CRC still protects it): zero registers, no errors.
            unit, errors = self.unit, 0
        elif version != _VERSION or phases != self.phases:
            raise ValueError("register payload for another layout")
        if unit != self.unit:
            raise ValueError("register payload for another count ratio")
        if errors > _ERR_MAX:
            raise ValueError("register payload error count out of range")
        vals = []
        o = offset + _HEADER
        for _ in range(self.n_slots):
            k, w, r = struct.unpack_from(_SLOT_FMT, buf, o)
            if k >= KWH_WRAP or w >= 1000 or r >= unit:
                raise ValueError("register payload value out of range")
            vals.append((k, w, r))
            o += _SLOT_BYTES
        if self.phases > 1:
            # The total must be the exact sum of the phases (modulo the common roll-over).
            span = KWH_WRAP * 1000 * unit
            for q in range(4):
                s = 0
                for p in range(self.phases):
                    k, w, r = vals[4 * p + q]
                    s += (k * 1000 + w) * unit + r
                k, w, r = vals[self.total_base + q]
                if (s - ((k * 1000 + w) * unit + r)) % span:
                    raise ValueError("register payload total is not the sum of the phases")
        for i in range(self.n_slots):
            k, w, r = vals[i]
            self._kwh[i] = k
            self._wh[i] = w
            self._rem[i] = r
            self.delta_wh[i] = 0
            self.delta_fine[i] = 0
        self.errors = errors
