"""Half-hourly load profile: four channels, exact carry, power-cut-safe closing.

Requirements (requirements.md §2): CoP 10 keeps >= 48 periods/day for 20 days of every
demand value as integers with the sub-unit remainder carried into the next period; SMETS2
keeps 13 months of HH active import and 3 months of export, reactive import and reactive
export. Channels: 0 active import (Wh), 1 active export (Wh), 2 reactive import (varh),
3 reactive export (varh).

Period p covers meter seconds [p * 1800, (p + 1) * 1800), meter seconds counting from
2000-01-01T00:00:00Z. Indices fit the 24-bit record field until the year 2957.

Storage (firmware/layout.py): a 4-channel ring (period u24 | status u8 | 4 x u24 | CRC-16)
for the newest ALL4_DAYS and an import-only ring (period u24 | status u8 | u24 | CRC-16) for
the older months. A period lives in slot `period % slots` of a ring, so a range read is
direct indexing. When a period is closed into 4-channel slot p, the record in the NEXT slot
(p + 1 - slots4, the next to be overwritten) first has its import value copied to the import
ring: a garbage tail from a torn write can then only hit data that is already copied. Each
ring therefore guarantees slots - 1 periods, and import history = slots4 + slots1 - 2.

Accrual is exact: per channel the open period holds whole units plus a remainder in fine
units (`fine_per_unit` of them per Wh, e.g. firmware/energy.py's `unit`). A tick's energy is
added to the period that contains the tick's time. At a boundary the whole units are stored
and the remainder carries on, so sum(stored) * fine_per_unit + open period == energy fed,
exactly. Values above the 24-bit field are stored saturated, flagged DATA_ERROR, and the
excess carries into the next period: energy is never dropped.

Closing is power-cut safe without a journal: the record is written to the ring, then the
caller commits the register record (open period + 1). If the cut falls in between, the
register record still names the old open period; at construction the ring is found to hold
that period already, so the state advances without writing a duplicate. The register record
also keeps a copy of the last closed record, and a ring slot found corrupt is rewritten from
it. No period index is ever skipped: gaps (power outage, forward clock jump) are filled with
zero records flagged POWER_DOWN or CLOCK_ADJUSTED; a backward jump never reopens a closed
period: the open period absorbs the time (flagged CLOCK_ADJUSTED) until the clock passes it.
"""

from micropython import const

from firmware import layout
from firmware.store import NO_PERIOD, OK, REPAIRED, crc16, get_u32, put_u32

# Status bits (requirements.md §2 implementation note).
CLOCK_INVALID = const(0x01)
CLOCK_ADJUSTED = const(0x02)  # period truncated or extended by a clock change
POWER_DOWN = const(0x04)  # supply off during (part of) the period
DATA_ERROR = const(0x08)  # metering functionality error / failed transfer / saturated value
IMPORT_ONLY = const(0x80)  # read side only: an import-ring record (other channels unknown)

_U24 = const(0xFFFFFF)
_PERIOD = const(1800)

# Offsets inside the register record's profile section (layout.REG_PROFILE).
_OPEN = const(0)
_STATUS = const(4)
_FIRST = const(8)
_WHOLE = const(12)
_REM = const(28)


def _put24(buf, off, v):
    buf[off] = v & 0xFF
    buf[off + 1] = (v >> 8) & 0xFF
    buf[off + 2] = (v >> 16) & 0xFF


def _get24(buf, off):
    return buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16)


class Profile:
    """The HH profile over a mounted firmware.store.Store (see the module docstring).

    Its state lives in `store.regs` (layout.REG_PROFILE/REG_LAST) and becomes durable with
    the caller's `store.commit_registers()` after each accrue/power_up/clock_changed.
    """

    def __init__(self, store, fine_per_unit=1000):
        if fine_per_unit <= 0 or fine_per_unit >= 0x40000000:
            raise ValueError("fine_per_unit must be 1..2**30-1")
        self.store = store
        self.ratio = fine_per_unit
        g = store.geo
        self.s4 = g.slots4
        self.s1 = g.slots1
        self.b4 = g.p4_base
        self.b1 = g.p1_base
        self.whole = [0, 0, 0, 0]
        self.rem = [0, 0, 0, 0]
        self.last = [0, 0, 0, 0, 0, 0]  # last closed record: period, status, 4 values
        self.open = -1  # open period, -1 = none yet
        self.status = 0
        self.first = -1
        self.records_written = 0
        self.recovered = 0  # closes found done at construction (cut before the commit)
        self.rewritten = 0  # ring records rewritten from the register copy
        self._r4 = bytearray(layout.PROFILE4_SLOT)
        self._r1 = bytearray(layout.PROFILE1_SLOT)
        self._tmp = [0, 0, 0, 0, 0, 0]
        self._restore()

    # ---- register-record state ----------------------------------------------------------
    def _restore(self):
        regs = self.store.regs
        o = layout.REG_PROFILE
        op = get_u32(regs, o + _OPEN)
        if self.store.reg.state not in (OK, REPAIRED):
            # Register record lost (the store has raised its NVM error): the open period
            # and its energy are unknown. Start afresh at the next accrue, hide nothing.
            self.state_lost = True
            self.first = 0
            return
        self.state_lost = False
        if op == NO_PERIOD:
            self.open = -1
            self.first = -1
        else:
            self.open = op
            self.first = get_u32(regs, o + _FIRST)
        self.status = regs[o + _STATUS]
        for i in range(4):
            self.whole[i] = get_u32(regs, o + _WHOLE + 4 * i)
            self.rem[i] = get_u32(regs, o + _REM + 4 * i)
        o = layout.REG_LAST
        lp = get_u32(regs, o)
        last = self.last
        last[0] = -1 if lp == NO_PERIOD else lp
        last[1] = regs[o + 4]
        for i in range(4):
            last[2 + i] = get_u32(regs, o + 8 + 4 * i)
        if self.store.read_only:
            return
        # The last closed record must be in the ring: rewrite it if a cut or bit rot hit it.
        if last[0] >= 0 and not self._read4(last[0], self._tmp):
            self._write4(last[0], last[1], last[2], last[3], last[4], last[5])
            self.rewritten += 1
        # A close whose register commit was cut: the ring already holds the open period.
        tmp = self._tmp
        while self.open >= 0 and self._read4(self.open, tmp):
            for i in range(4):
                self.whole[i] -= tmp[2 + i]
                last[2 + i] = tmp[2 + i]
            last[0] = tmp[0]
            last[1] = tmp[1]
            self.open += 1
            self.status = 0
            self.recovered += 1
        self._pack()

    def _pack(self):
        regs = self.store.regs
        o = layout.REG_PROFILE
        # -1 packs as FF FF FF FF (NO_PERIOD) using small ints only: no heap int on 32-bit.
        put_u32(regs, o + _OPEN, self.open)
        regs[o + _STATUS] = self.status
        put_u32(regs, o + _FIRST, self.first)
        for i in range(4):
            put_u32(regs, o + _WHOLE + 4 * i, self.whole[i])
            put_u32(regs, o + _REM + 4 * i, self.rem[i])
        o = layout.REG_LAST
        last = self.last
        put_u32(regs, o, last[0])
        regs[o + 4] = last[1]
        for i in range(4):
            put_u32(regs, o + 8 + 4 * i, last[2 + i])

    # ---- ring records -------------------------------------------------------------------
    def _write4(self, period, status, a, b, c, d):
        r = self._r4
        _put24(r, 0, period)
        r[3] = status
        _put24(r, 4, a)
        _put24(r, 7, b)
        _put24(r, 10, c)
        _put24(r, 13, d)
        crc = crc16(r, 0, 16)
        r[16] = crc & 0xFF
        r[17] = crc >> 8
        self.store.write(self.b4 + (period % self.s4) * layout.PROFILE4_SLOT, r)
        self.records_written += 1

    def _read4(self, period, out):
        r = self._r4
        self.store.readinto(self.b4 + (period % self.s4) * layout.PROFILE4_SLOT, r)
        if crc16(r, 0, 16) != r[16] | (r[17] << 8) or _get24(r, 0) != period:
            return False
        out[0] = period
        out[1] = r[3]
        out[2] = _get24(r, 4)
        out[3] = _get24(r, 7)
        out[4] = _get24(r, 10)
        out[5] = _get24(r, 13)
        return True

    def _write1(self, period, status, value):
        r = self._r1
        _put24(r, 0, period)
        r[3] = status
        _put24(r, 4, value)
        crc = crc16(r, 0, 7)
        r[7] = crc & 0xFF
        r[8] = crc >> 8
        self.store.write(self.b1 + (period % self.s1) * layout.PROFILE1_SLOT, r)

    def _read1(self, period, out):
        r = self._r1
        self.store.readinto(self.b1 + (period % self.s1) * layout.PROFILE1_SLOT, r)
        if crc16(r, 0, 7) != r[7] | (r[8] << 8) or _get24(r, 0) != period:
            return False
        out[0] = period
        out[1] = r[3] | IMPORT_ONLY
        out[2] = _get24(r, 4)
        out[3] = None
        out[4] = None
        out[5] = None
        return True

    def _migrate(self, q):
        """Copy period q's import value from the 4-channel ring to the import ring."""
        if q < 0 or q < self.first:
            return
        tmp = self._tmp
        if self._read4(q, tmp):
            self._write1(q, tmp[1], tmp[2])
        elif not self._read1(q, tmp):
            # The 4-channel record is gone (bit rot): keep the index, flag the loss.
            self._write1(q, DATA_ERROR, 0)

    # ---- closing ------------------------------------------------------------------------
    def _close(self, next_status):
        """Close the open period, open the next one with `next_status`."""
        p = self.open
        self._migrate(p + 1 - self.s4)
        w = self.whole
        st = self.status
        for i in range(4):
            if w[i] > _U24:
                st |= DATA_ERROR
        v0 = min(w[0], _U24)
        v1 = min(w[1], _U24)
        v2 = min(w[2], _U24)
        v3 = min(w[3], _U24)
        self._write4(p, st, v0, v1, v2, v3)
        last = self.last
        last[0] = p
        last[1] = st
        last[2] = v0
        last[3] = v1
        last[4] = v2
        last[5] = v3
        w[0] -= v0
        w[1] -= v1
        w[2] -= v2
        w[3] -= v3
        self.open = p + 1
        self.status = next_status

    def _start(self, p, status):
        self.open = p
        if self.first < 0:
            self.first = p
        self.status |= status

    def _advance(self, target, fill_status):
        """Close periods up to `target` (exclusive), zero-filling the gap with fill_status."""
        span = self.s4 + self.s1
        if target - self.open > span + 1:
            # Only the newest `span` periods can be retained: close the open one, then
            # restart the history just far enough back to fill every retained slot.
            self._close(fill_status)
            self.open = target - span
            self.first = self.open
        while self.open < target:
            self._close(fill_status)

    # ---- public API ---------------------------------------------------------------------
    def accrue(self, now_s, d_ai, d_ae, d_ri, d_re):
        """Add one tick's energy (fine units, >= 0) measured up to meter second `now_s`.

        now_s None = clock invalid: the energy goes to the open period, flagged, and no
        period is closed until the time is valid again. Non-boundary ticks allocate nothing
        (every value stays a small int on 32-bit ports while meter seconds are < 2**30, i.e.
        until 2034; after that the caller's now_s itself is a heap int).
        """
        if d_ai < 0 or d_ae < 0 or d_ri < 0 or d_re < 0:
            raise ValueError("profile deltas must be >= 0")
        if now_s is None:
            self.status |= CLOCK_INVALID
        else:
            p = now_s // _PERIOD
            if self.open < 0:
                self._start(p, 0)
            elif p == self.open + 1:
                self._close(0)
            elif p > self.open:
                # More than one boundary at once: the clock jumped without clock_changed().
                self._advance(p, CLOCK_ADJUSTED)
        self._add(0, d_ai)
        self._add(1, d_ae)
        self._add(2, d_ri)
        self._add(3, d_re)
        self._pack()

    def _add(self, i, d):
        x = self.rem[i] + d
        r = self.ratio
        if x >= r:
            q = x // r
            self.whole[i] += q
            x -= q * r
        self.rem[i] = x

    def flag(self, bits):
        """OR status bits into the open period (e.g. DATA_ERROR on a failed transfer)."""
        self.status |= bits & 0x7F
        self._pack()

    def power_up(self, now_s):
        """At boot: flag the period the supply failed in and zero-fill the outage."""
        if self.open >= 0:
            self.status |= POWER_DOWN
        if now_s is None:
            self.status |= CLOCK_INVALID
        else:
            p = now_s // _PERIOD
            if self.open < 0:
                self._start(p, POWER_DOWN)
            elif p > self.open:
                self._advance(p, POWER_DOWN)
        self._pack()

    def clock_changed(self, old_s, new_s):
        """The clock was set from old_s to new_s (either may be None = invalid).

        Forward across a boundary: the open period is closed (truncated) and skipped periods
        are zero-filled, all flagged CLOCK_ADJUSTED. Backward: the open period stays open
        and absorbs the time (extended), flagged; closed periods are never rewritten.
        """
        self.status |= CLOCK_ADJUSTED
        if new_s is not None:
            p = new_s // _PERIOD
            if self.open < 0:
                self._start(p, CLOCK_ADJUSTED)
            elif p > self.open:
                self._advance(p, CLOCK_ADJUSTED)
                self.status |= CLOCK_ADJUSTED
        self._pack()

    # ---- reading (never writes) ---------------------------------------------------------
    def newest(self):
        """Newest closed period, or -1."""
        if self.open < 0 or self.open - 1 < self.first:
            return -1
        return self.open - 1

    def oldest(self, channels=4):
        """Oldest period whose record is guaranteed: channels 4 = all four, 1 = import."""
        n = self.newest()
        if n < 0:
            return -1
        keep = self.s4 - 1 if channels == 4 else self.s4 + self.s1 - 2
        return max(self.first, n - keep + 1)

    def read(self, period, out):
        """Fill out[0:6] = period, status, AI, AE, RI, RE (None = not kept); True if found.

        Records older than the 4-channel window come from the import ring with status bit
        IMPORT_ONLY. Allocation-free with a preallocated `out` list.
        """
        n = self.newest()
        if n < 0 or period > n or period < self.oldest(1):
            return False
        if period >= self.oldest(4) and self._read4(period, out):
            return True
        return self._read1(period, out)

    def read_newest(self, i, out):
        """Record i counted back from the newest closed period (0 = newest)."""
        n = self.newest()
        if n < 0 or i < 0:
            return False
        return self.read(n - i, out)

    def records(self, frm, to, out=None):
        """Yield the kept records of periods frm..to inclusive, oldest first.

        With `out` the same list is refilled and yielded each time (no per-record
        allocation); without, a fresh (period, status, (AI, AE, RI, RE)) tuple is yielded.
        """
        buf = out if out is not None else [0, 0, 0, 0, 0, 0]
        p = max(frm, self.oldest(1))
        to = min(to, self.newest())
        while p <= to:
            if self.read(p, buf):
                if out is not None:
                    yield buf
                else:
                    yield (buf[0], buf[1], (buf[2], buf[3], buf[4], buf[5]))
            p += 1

    def open_energy(self, i):
        """Energy of the open period on channel i in fine units (whole * ratio + remainder)."""
        return self.whole[i] * self.ratio + self.rem[i]
