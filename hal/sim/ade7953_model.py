"""Byte-level model of the ADE7953 single-phase metering IC on SPI, fed by the grid model.

Implements the parts of the datasheet (ADE7953 Rev. C) the firmware relies on, summarised in
reference/chips.md §1:

- SPI frame [DS p.51-53]: 2 address bytes MSB first, a command byte (0x80 read, 0x00 write),
  then the register's data MSB first. Width from the address: 0x0xx 8-bit, 0x1xx 16-bit,
  0x2xx 24-bit, 0x3xx the 32-bit alias of 0x2xx (sign-extended for signed registers);
  0x702 (version) and 0x800 (EX_REF) are 8-bit. Raising CS before the last data bit aborts the
  frame (a write is not committed). Modes 0 and 3, SCLK <= 5 MHz.
- Power-up [DS p.18]: nothing answers for 66 ms (26 ms + ~40 ms), then IRQSTATA bit 20
  (RESET) is set and IRQ (active low) asserts. CONFIG.SWRST (bit 7) repeats this.
- CONFIG 0x102 default 0x8004 (bit 15 COMM_LOCK = 1: unlocked); 0x120 only takes a write
  when the frame right before it wrote the key 0xAD to 0xFE (`optimum_settings()` tells).
- LAST_OP (0x0FD: 0x35 read, 0xCA write), LAST_ADD (0x1FE), LAST_RWDATA (0x0FF/0x1FF/0x2FF/
  0x3FF) record the last complete transfer; reading them does not change them.
- Energy [DS p.19-26]: AENERGYx / RENERGYx / APENERGYx are signed 24-bit and wrap (AEOFA etc.
  flag it). LCYCMODE bits 0-5 put a register in line-cycle mode: it is loaded with the energy
  of the last LINECYC half line cycles at CYCEND (IRQSTATA bit 18) and holds; bit 6 RSTREAD
  makes every energy read clear the register. ACCMODE selects signed / positive-only /
  absolute accumulation per channel.
- xWGAIN, xVARGAIN, xVAGAIN, xIGAIN, AVGAIN scale the outputs by gain / 0x400000 [DS p.34].
  Offsets and PHCAL are stored; the virtual front end is ideal, so they are not applied.

The virtual board's analogue front end (our choice, documented for hal/ade7953.py):

    energy   1 count = 150 000 uJ at gain 0x400000 (= 125/3 uWh; full scale ~31 kW at the
             206.9 kHz maximum count rate)
    VRMS     20 counts per mV (1 LSB = 50 uV; 9 032 007 full scale = 451.6 V)
    IRMS     128 counts per mA (1 LSB = 7.8125 uA; full scale 70.6 A)
    power    AWATT / AVAR / AVA = mW x 5 / 32 (1 LSB = 6.4 mW)
    Period   223 750 / (Period + 1) Hz;  PF 0x7FFF = +1

Energy counts come from the grid's exact cumulative nJ per quadrant times the gain, divided
by 150 000 000 nJ x 0x400000 with the remainder carried inside the model: nothing is ever
lost or made up, and `truth_counts()` gives what an ideal reader must have collected.
Channel A is the line current; channel B the neutral current, equal to A times
`neutral_ratio` (1/1 unless a tamper scenario changes it with `set_neutral_ratio`).
"""

from hal.sim.grid import isqrt, trunc_div

ENERGY_LSB_NJ = 150_000_000
UNITY_GAIN = 0x400000
VRMS_PER_MV = 20
IRMS_PER_MA = 128
POWER_NUM, POWER_DEN = 5, 32
VERSION = 0x80  # the virtual silicon's version byte
STARTUP_US = 66_000
PERIOD_CLOCK = 223_750_000  # Period = 223 750 000 / f_mHz - 1

_RESET_BIT = 1 << 20
_CYCEND_BIT = 1 << 18
_OVERFLOW_BITS = (1 << 3, 0, 1 << 4, 0, 1 << 5, 0)  # AEOFA, VAREOFA, VAEOFA (channel A)

_ENERGY = (0x21E, 0x21F, 0x220, 0x221, 0x222, 0x223)  # AENERGYA/B RENERGYA/B APENERGYA/B
_GAIN = (0x282, 0x28E, 0x283, 0x28F, 0x284, 0x290)  # AWGAIN BWGAIN AVARGAIN BVARGAIN AVA/BVA

_DEFAULTS = {
    0x000: 0x00,  # SAGCYC
    0x001: 0x00,  # DISNOLOAD
    0x004: 0x40,  # LCYCMODE (RSTREAD)
    0x007: 0x00,  # PGA_V
    0x008: 0x00,  # PGA_IA
    0x009: 0x00,  # PGA_IB
    0x040: 0x00,  # WRITE_PROTECT
    0x0FE: 0x00,  # unlock key
    0x800: 0x00,  # EX_REF
    0x100: 0xFFFF,  # ZXTOUT
    0x101: 0x0000,  # LINECYC
    0x102: 0x8004,  # CONFIG
    0x103: 0x003F,  # CF1DEN
    0x104: 0x003F,  # CF2DEN
    0x107: 0x0300,  # CFMODE
    0x108: 0x0000,  # PHCALA
    0x109: 0x0000,  # PHCALB
    0x110: 0x0000,  # ALT_OUTPUT
    0x120: 0x0000,  # must become 0x0030 after every power-up
    0x200: 0x000000,  # SAGLVL
    0x201: 0x000000,  # ACCMODE
    0x203: 0x00E419,  # AP_NOLOAD
    0x204: 0x00E419,  # VAR_NOLOAD
    0x205: 0x00E419,  # VA_NOLOAD
    0x224: 0xFFFFFF,  # OVLVL
    0x225: 0xFFFFFF,  # OILVL
    0x22C: 0x100000,  # IRQENA (RESET always enabled)
    0x22F: 0x000000,  # IRQENB
}
for _a in range(0x280, 0x298):
    _DEFAULTS[_a] = 0
for _a in (0x280, 0x281, 0x282, 0x283, 0x284, 0x28C, 0x28D, 0x28E, 0x28F, 0x290):
    _DEFAULTS[_a] = UNITY_GAIN

# Registers the firmware cannot write (computed live or status).
_READ_ONLY = (
    0x0FD, 0x0FF, 0x1FE, 0x1FF, 0x2FF, 0x702, 0x10A, 0x10B, 0x10C, 0x10D, 0x10E,
    0x210, 0x211, 0x212, 0x213, 0x214, 0x215, 0x216, 0x217, 0x218, 0x21A, 0x21B, 0x21C,
    0x21E, 0x21F, 0x220, 0x221, 0x222, 0x223, 0x226, 0x227, 0x228, 0x229, 0x22A, 0x22B,
    0x22D, 0x22E, 0x230, 0x231, 0x37F,
)  # fmt: skip
# 24-bit registers whose 32-bit alias is sign-extended.
_SIGNED24 = (
    (0x210, 0x211, 0x212, 0x213, 0x214, 0x215, 0x216, 0x217, 0x218)
    + _ENERGY
    + (
        0x285,
        0x286,
        0x287,
        0x288,
        0x289,
        0x28A,
        0x28B,
        0x291,
        0x292,
        0x295,
        0x296,
        0x297,
    )
)
_LAST = (0x0FD, 0x1FE, 0x0FF, 0x1FF, 0x2FF, 0x3FF)


def reg_width(addr):
    """Data bytes of a register address (chips.md §1.3)."""
    if addr in (0x702, 0x800):
        return 1
    return {0: 1, 1: 2, 2: 3, 3: 4}.get(addr >> 8, 1)


def _wrap24(v):
    v &= 0xFFFFFF
    return v - 0x1000000 if v & 0x800000 else v


def _clamp24(v):
    return 0x7FFFFF if v > 0x7FFFFF else (-0x800000 if v < -0x800000 else v)


class ADE7953Model:
    """The chip: plug into hal/sim/machine.SPI with `spi.attach(cs_pin, model)`."""

    spi_modes = ((0, 0), (1, 1))
    spi_max_hz = 5_000_000

    def __init__(self, sim_time, grid, irq_pin=None, phase=0, startup_us=STARTUP_US):
        self._time = sim_time
        self._grid = grid
        self._irq = irq_pin
        self._phase = phase
        self._startup_us = startup_us
        self.neutral_ratio = (1, 1)
        self.trace = None  # set to a list to record every frame's MOSI bytes
        self.flip_miso = None  # (addr, mask): corrupt the last byte of the next read of addr
        self.cycends = 0
        self.resets = 0
        self._ready_handle = None
        self._cyc_handle = None
        self._wait_supply = False
        self.powered = False
        grid.subscribe(self._grid_changed)
        self.power_up()

    # ---- power -----------------------------------------------------------------------
    def power_up(self):
        """VDD rises: registers at defaults, RESET IRQ after the start-up time."""
        self._cancel_events()
        self.powered = True
        self._ready = False
        self._regs = dict(_DEFAULTS)
        self._status = 0
        self._status_b = 0
        self._key = False
        self._key_next = False
        self._last_op = 0
        self._last_add = 0
        self._last_data = 0
        self._acc = [0] * 6
        self._pending = [0] * 6
        self._energy = [0] * 6
        self._last = self._grid.energy_nj(self._phase)
        self._truth_base = self._last
        self._cyc_rem = 0
        self._frame_reset()
        self._drive_irq(1)
        self._ready_handle = self._time.call_at(
            self._time.now_us() + self._startup_us, self._on_ready
        )

    def power_down(self):
        """VDD gone: the chip stops answering and counting; IRQ floats high (pull-up)."""
        self._cancel_events()
        self.powered = False
        self._ready = False
        self._drive_irq(1)

    def _on_ready(self, now):
        self._ready_handle = None
        self._ready = True
        self.resets += 1
        self._last = self._grid.energy_nj(self._phase)
        self._truth_base = self._last
        self._status |= _RESET_BIT
        self._update_irq()
        self._schedule_cycend(now)

    def _cancel_events(self):
        for h in (self._ready_handle, self._cyc_handle):
            if h is not None:
                self._time.cancel(h)
        self._ready_handle = None
        self._cyc_handle = None

    # ---- line cycles -----------------------------------------------------------------
    def _schedule_cycend(self, now):
        if self._cyc_handle is not None:
            self._time.cancel(self._cyc_handle)
            self._cyc_handle = None
        self._wait_supply = False
        if not (self.powered and self._ready):
            return
        linecyc = self._regs[0x101]
        if linecyc == 0:
            return
        f = self._grid.frequency_mhz()
        if f <= 0:
            # No zero crossings in an outage: look again when the grid next changes.
            nxt = self._grid.next_change_us()
            self._wait_supply = True
            if nxt is not None:
                self._cyc_handle = self._time.call_at(nxt, self._schedule_cycend)
            return
        num = linecyc * 500_000_000 + self._cyc_rem
        self._cyc_rem = num % f
        self._cyc_handle = self._time.call_at(now + num // f, self._cycend)

    def _cycend(self, now):
        self._cyc_handle = None
        if self._grid.frequency_mhz() <= 0:
            self._cyc_rem = 0
            self._schedule_cycend(now)
            return
        self._sync()
        mode = self._regs[0x004]
        for i in range(6):
            if mode & (1 << i):
                self._energy[i] = _wrap24(self._pending[i])
                self._pending[i] = 0
        self.cycends += 1
        self._status |= _CYCEND_BIT
        self._update_irq()
        self._schedule_cycend(now)

    def _grid_changed(self):
        # A new scenario may end an outage we were waiting out.
        if self.powered and self._ready and self._wait_supply:
            self._schedule_cycend(self._time.now_us())

    # ---- energy ----------------------------------------------------------------------
    def _divisor(self, i):
        den = self.neutral_ratio[1] if i & 1 else 1
        return ENERGY_LSB_NJ * UNITY_GAIN * den

    def _sync(self):
        cum = self._grid.energy_nj(self._phase)
        last = self._last
        self._last = cum
        if not (self.powered and self._ready):
            return
        imp, exp = cum[0] - last[0], cum[1] - last[1]
        rimp, rexp = cum[2] - last[2], cum[3] - last[3]
        app = cum[4] - last[4]
        accmode = self._regs[0x201]
        mode = self._regs[0x004]
        for i in range(6):
            kind = i >> 1
            if kind == 2:
                d = app
            else:
                pos, neg = (imp, exp) if kind == 0 else (rimp, rexp)
                sel = (accmode >> (2 * i)) & 3  # 1:0 A watt, 3:2 B watt, 5:4 A var, 7:6 B var
                d = pos if sel == 1 else (pos + neg if sel == 2 else pos - neg)
            if not d:
                continue
            if i & 1:
                d *= self.neutral_ratio[0]
            self._acc[i] += d * self._regs[_GAIN[i]]
            div = self._divisor(i)
            q = self._acc[i] // div
            self._acc[i] -= q * div
            if not q:
                continue
            if mode & (1 << i):
                self._pending[i] += q
            else:
                total = self._energy[i] + q
                if total != _wrap24(total):
                    self._status |= _OVERFLOW_BITS[i]
                    self._update_irq()
                self._energy[i] = _wrap24(total)

    def set_neutral_ratio(self, num, den):
        """Neutral current = line current x num/den (tamper, bypass, earth fault)."""
        if den <= 0 or num < 0:
            raise ValueError("ratio")
        self._sync()
        self.neutral_ratio = (num, den)
        self._acc[1] = self._acc[3] = self._acc[5] = 0

    def truth_counts(self):
        """Channel A energy since power-up as exact counts at the present gains:
        [active import, active export, reactive import, reactive export]."""
        cum = self._grid.energy_nj(self._phase)
        base = self._truth_base
        out = []
        for k in range(4):
            gain = self._regs[_GAIN[0 if k < 2 else 2]]
            out.append((cum[k] - base[k]) * gain // (ENERGY_LSB_NJ * UNITY_GAIN))
        return out

    def truth_net_counts(self):
        """(active, reactive) net counts since power-up: what AENERGYA/RENERGYA sum to."""
        cum = self._grid.energy_nj(self._phase)
        base = self._truth_base
        act = (cum[0] - base[0]) - (cum[1] - base[1])
        react = (cum[2] - base[2]) - (cum[3] - base[3])
        d = ENERGY_LSB_NJ * UNITY_GAIN
        return [act * self._regs[_GAIN[0]] // d, react * self._regs[_GAIN[2]] // d]

    def optimum_settings(self):
        """True once 0x120 holds 0x0030 (the required post-power-up setting)."""
        return self._regs[0x120] == 0x0030

    def locked(self):
        """True once CONFIG.COMM_LOCK (bit 15) has been cleared."""
        return not self._regs[0x102] & 0x8000

    # ---- interrupts ------------------------------------------------------------------
    def _drive_irq(self, level):
        if self._irq is not None:
            self._irq.drive(level)

    def _update_irq(self):
        enabled = self._regs[0x22C] | _RESET_BIT
        self._drive_irq(0 if self._status & enabled else 1)

    # ---- live values ---------------------------------------------------------------
    def _live(self, addr):
        v, i_ma, p, q, f = self._grid.state(self._phase)
        nnum, nden = self.neutral_ratio
        regs = self._regs
        s = isqrt(p * p + q * q)
        if addr in (0x210, 0x211, 0x212, 0x213, 0x214, 0x215):
            raw = (s, p, q)[(addr - 0x210) >> 1]
            gain = regs[(0x284, 0x282, 0x283)[(addr - 0x210) >> 1] + (12 if addr & 1 else 0)]
            val = trunc_div(raw * POWER_NUM * gain, POWER_DEN * UNITY_GAIN)
            if addr & 1:
                val = trunc_div(val * nnum, nden)
            return _clamp24(val)
        if addr == 0x21C:  # VRMS
            return v * VRMS_PER_MV * regs[0x281] // UNITY_GAIN
        if addr in (0x21A, 0x21B):
            irms = i_ma * IRMS_PER_MA * regs[0x280 if addr == 0x21A else 0x28C] // UNITY_GAIN
            return irms * nnum // nden if addr == 0x21B else irms
        if addr in (0x226, 0x227):
            return self._live(0x21C) * 1414 // 1000
        if addr in (0x228, 0x229, 0x22A, 0x22B):
            return self._live(0x21A if addr < 0x22A else 0x21B) * 1414 // 1000
        if addr in (0x10A, 0x10B):  # PF: 0x7FFF = +1, sign of P
            pf = trunc_div(p * 32767, s) if s else 0
            return pf & 0xFFFF
        if addr == 0x10E:
            if f <= 0:
                return 0xFFFF
            return min(0xFFFF, (PERIOD_CLOCK + f // 2) // f - 1)
        if addr == 0x201:  # ACCMODE with the live sign bits
            val = regs[0x201] & 0x3FF
            if p < 0:
                val |= (1 << 10) | (1 << 11)
            if q < 0:
                val |= (1 << 12) | (1 << 13)
            return val
        return 0

    # ---- register access -----------------------------------------------------------
    def _read_value(self, addr):
        """Value transmitted for a read of `addr` (applies read-with-reset)."""
        width = reg_width(addr)
        canon = addr - 0x100 if width == 4 and addr != 0x37F else addr
        regs = self._regs
        if canon == 0x0FD:
            return self._last_op
        if canon == 0x1FE:
            return self._last_add
        if canon in (0x0FF, 0x1FF, 0x2FF):
            return self._last_data & ((1 << (8 * width)) - 1)
        if canon == 0x702:
            return VERSION
        if canon in _ENERGY:
            self._sync()
            i = _ENERGY.index(canon)
            val = self._energy[i]
            if regs[0x004] & 0x40:
                self._energy[i] = 0
        elif canon == 0x22D:
            val = self._status
        elif canon == 0x22E:
            val = self._status
            self._status = 0
            self._update_irq()
        elif canon == 0x230:
            val = self._status_b
        elif canon == 0x231:
            val = self._status_b
            self._status_b = 0
        elif canon == 0x37F:
            val = self._crc()
        elif canon in _READ_ONLY or canon == 0x201:
            val = self._live(canon)
        else:
            val = regs.get(canon, 0)
        if width == 4 and canon != 0x37F:
            val = _wrap24(val) if canon in _SIGNED24 else val & 0xFFFFFF
        return val & ((1 << (8 * width)) - 1)

    def _crc(self):
        acc = 0xFFFFFFFF
        for a in sorted(self._regs):
            acc = ((acc * 33) ^ (a << 24) ^ self._regs[a]) & 0xFFFFFFFF
        return acc

    def _write(self, addr, value):
        width = reg_width(addr)
        canon = addr - 0x100 if width == 4 else addr
        if canon in _READ_ONLY or canon not in self._regs:
            return
        bank = 0 if width == 1 else (1 if width == 2 else 2)
        if self._regs[0x040] & (1 << bank) and canon != 0x040:
            return
        if canon == 0x120 and not self._key:
            return
        value &= 0xFFFFFF if width >= 3 else (1 << (8 * width)) - 1
        if canon in _GAIN or canon in (0x201, 0x004):
            self._sync()  # the old setting applies up to now
        if canon == 0x004:
            for i in range(6):
                leaving = self._regs[0x004] & (1 << i) and not value & (1 << i)
                if leaving:
                    self._energy[i] = _wrap24(self._energy[i] + self._pending[i])
                    self._pending[i] = 0
        if canon == 0x102 and value & 0x80:  # SWRST
            self.power_up()
            return
        self._regs[canon] = value
        if canon in (0x101, 0x004):
            self._cyc_rem = 0
            self._schedule_cycend(self._time.now_us())
        elif canon == 0x22C:
            self._update_irq()

    # ---- SPI device protocol -------------------------------------------------------
    def _frame_reset(self):
        self._n = 0
        self._addr = 0
        self._cmd = 0
        self._width = 0
        self._out = 0
        self._data = 0
        self._done = False
        self._mosi = bytearray() if self.trace is not None else None

    def spi_begin(self):
        self._frame_reset()

    def spi_byte(self, b):
        if self._mosi is not None:
            self._mosi.append(b)
        if not (self.powered and self._ready):
            return 0
        n = self._n
        self._n = n + 1
        if n == 0:
            self._addr = b << 8
            return 0
        if n == 1:
            self._addr |= b
            return 0
        if n == 2:
            self._cmd = b
            self._width = reg_width(self._addr)
            if b & 0x80:
                self._out = self._read_value(self._addr)
            return 0
        k = n - 3
        if k >= self._width:
            return 0
        last = k == self._width - 1
        if self._cmd & 0x80:
            out = (self._out >> (8 * (self._width - 1 - k))) & 0xFF
            if last:
                self._complete(0x35, self._out)
                fault = self.flip_miso
                if fault is not None and fault[0] == self._addr:
                    self.flip_miso = None
                    out ^= fault[1]  # a noisy MISO line: the chip itself saw nothing wrong
            return out
        self._data = (self._data << 8) | b
        if last:
            self._write(self._addr, self._data)
            self._complete(0xCA, self._data)
        return 0

    def _complete(self, op, data):
        self._done = True
        if self._addr in _LAST:
            return  # reading the verification registers leaves them alone
        self._last_op = op
        self._last_add = self._addr
        self._last_data = data
        self._key_next = op == 0xCA and self._addr == 0x0FE and data == 0xAD

    def spi_end(self):
        if self.trace is not None and self._mosi is not None:
            self.trace.append(bytes(self._mosi))
        # The unlock key only opens 0x120 for the frame right after it.
        if self._n:
            self._key = self._key_next
            self._key_next = False
        self._frame_reset()
