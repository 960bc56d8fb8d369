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
  Channel A also applies PHCALA, AIRMSOS and AWATTOS/AVAROS/AVAOS (below). On the virtual
  part AVGAIN/AIGAIN act on VRMS/IRMS only and the power gains on power and energy only [I].

Front-end error (`set_frontend_error`): a real board's dividers, shunts/CTs and anti-alias
filters make the chip see V x (1 + ev), I x (1 + ei) and a current shifted by an extra phase
angle, plus a current noise floor and a watt offset (crosstalk). The virtual board is ideal
until a test injects such an error on channel A; the model then reports what that uncorrected
chip would, and the calibration registers correct it, as on the real part:

    angle    current lag = true lag + error + PHCALA x 1.117 us x 360 x f (bit 9 set: advance)
    powers   P' = S'cos(lag'), Q' = S'sin(lag'), S' = S (1 + ev)(1 + ei); the watt offset and
             AWATTOS (1 LSB = 1/512 AWATT LSB = 1/80 mW) add to P' while the supply is on,
             AVAROS / AVAOS likewise to Q' / S'; then xWGAIN / xVARGAIN / xVAGAIN
    energy   the same transform of each interval's net active / reactive energy (so with an
             error injected, positive-only/absolute ACCMODE see net energy per sync interval)
    IRMS     sqrt((I' x 128)^2 + noise^2 + AIRMSOS) x AIGAIN / 0x400000 (the offset acts
             before the square root [DS eq. 33]; its scaling on the part is [I])
    VRMS     V' x 20 x AVGAIN / 0x400000
    PF       P_reported / S_reported

With no error injected and PHCALA / offsets at 0 every path is the exact ideal one.

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

ROT_ONE = 10**12  # fixed-point unit of rotation(): cos/sin x 10^12
_PI_R = 3_141_592_653_590  # pi x 10^12
_PHCAL_NS = 1117  # PHCAL LSB: 1.117 us [DS p.34]


def rotation(udeg):
    """(cos, sin) x ROT_ONE of an angle in micro-degrees, integer Taylor series (|a| < 30 deg):
    bit-identical under CPython and MicroPython."""
    x = trunc_div(udeg * _PI_R, 180_000_000)
    r = ROT_ONE
    c = r
    s = x
    term = r
    k = 0
    while term:
        k += 2
        term = -trunc_div(term * x * x, r * r * (k - 1) * k)
        c += term
    term = x
    k = 1
    while term:
        k += 2
        term = -trunc_div(term * x * x, r * r * (k - 1) * k)
        s += term
    return c, s


def phcal_udeg(reg, f_mhz):
    """Phase shift (micro-degrees of extra current lag) of a PHCALx register at f_mhz."""
    mag = reg & 0x1FF
    u = mag * _PHCAL_NS * f_mhz * 360 // 1_000_000
    return -u if reg & 0x200 else u


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
    # 0x0xx..0x3xx: 1..4 bytes; everything above (0x702 version, 0x800 EX_REF) is 8-bit.
    return (addr >> 8) + 1 if addr < 0x400 else 1


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
        # front-end error: v ppm, i ppm, phase (mdeg of extra current lag), noise mA, offset mW
        self.frontend_error = (0, 0, 0, 0, 0)
        self._sync_us = sim_time.now_us()
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
        self._sync_us = self._time.now_us()
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
        self._sync_us = now
        self._truth_base = self._last
        self._status |= _RESET_BIT
        self._update_irq()
        self._schedule_cycend(now)

    def restore_schedule(self):
        """After a Ctrl-C cut one of this model's events short (SimTime.interrupted): a real
        chip never stops for the MCU's REPL, so put back whichever event the cut lost (the
        start-up RESET or the next CYCEND). Does nothing when the schedule is intact."""
        if not self.powered:
            return
        now = self._time.now_us()
        if not self._ready:
            if self._ready_handle is None:
                self._ready_handle = self._time.call_at(now, self._on_ready)
        elif self._cyc_handle is None and not self._wait_supply:
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
        now = self._time.now_us()
        dt = now - self._sync_us
        self._sync_us = now
        if not (self.powered and self._ready):
            return
        imp, exp = cum[0] - last[0], cum[1] - last[1]
        rimp, rexp = cum[2] - last[2], cum[3] - last[3]
        app = cum[4] - last[4]
        accmode = self._regs[0x201]
        mode = self._regs[0x004]
        front = None
        if not self._ideal():
            front = self._front_energy(imp - exp, rimp - rexp, app, dt)
        for i in range(6):
            kind = i >> 1
            sel = (accmode >> (2 * i)) & 3  # 1:0 A watt, 3:2 B watt, 5:4 A var, 7:6 B var
            if front is not None and not i & 1:
                d = front[kind]
                if kind < 2 and sel:
                    d = (d if d > 0 else 0) if sel == 1 else abs(d)
            elif kind == 2:
                d = app
            else:
                pos, neg = (imp, exp) if kind == 0 else (rimp, rexp)
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

    # ---- front-end error and its correction (channel A) ------------------------------
    def set_frontend_error(self, v_ppm=0, i_ppm=0, phase_mdeg=0, noise_ma=0, offset_mw=0):
        """Make channel A see an uncalibrated board (module docstring). Phase: extra current
        lag in millidegrees (negative: the current leads, as through a typical CT)."""
        if not (-500_000 < v_ppm < 500_000 and -500_000 < i_ppm < 500_000):
            raise ValueError("gain error beyond +-50 %")
        if not -7_000 <= phase_mdeg <= 7_000:
            raise ValueError("phase error beyond the PHCAL range")
        if noise_ma < 0:
            raise ValueError("noise")
        self._sync()  # energy so far was measured with the old front end
        self.frontend_error = (v_ppm, i_ppm, phase_mdeg, noise_ma, offset_mw)

    def _ideal(self):
        r = self._regs
        return (
            self.frontend_error == (0, 0, 0, 0, 0)
            and not r[0x108]
            and not r[0x289]
            and not r[0x28A]
            and not r[0x28B]
        )

    def _front(self, p, q, s, f_mhz):
        """(P', Q', S') in the units given (mW or nJ) for true P, Q, S: gains and phase."""
        ev, ei, ph = self.frontend_error[0], self.frontend_error[1], self.frontend_error[2]
        k = (1_000_000 + ev) * (1_000_000 + ei)
        c, sn = rotation(ph * 1000 + phcal_udeg(self._regs[0x108], f_mhz))
        d = ROT_ONE * 1_000_000_000_000
        return (
            trunc_div((p * c - q * sn) * k, d),
            trunc_div((q * c + p * sn) * k, d),
            trunc_div(s * k, 1_000_000_000_000),
        )

    def _offsets_x80(self):
        """Watt / var / VA offsets in 1/80 mW (= AWATTOS LSB) while the supply is on."""
        r = self._regs
        return (
            self.frontend_error[4] * 80 + _wrap24(r[0x289]),
            _wrap24(r[0x28A]),
            _wrap24(r[0x28B]),
        )

    def _front_energy(self, act, react, app, dt_us):
        f = self._grid.frequency_mhz()
        out = list(self._front(act, react, app, f))
        if f > 0 and dt_us > 0:
            offs = self._offsets_x80()
            for k in range(3):
                out[k] += trunc_div(offs[k] * dt_us, 80)
        return out

    def _ideal_irms(self):
        fe = self.frontend_error
        return not (fe[1] or fe[3] or self._regs[0x286])

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
            which = (addr - 0x210) >> 1
            gain = regs[(0x284, 0x282, 0x283)[which] + (12 if addr & 1 else 0)]
            if not addr & 1 and not self._ideal():
                fp, fq, fs = self._front(p, q, s, f)
                raw80 = (fs, fp, fq)[which] * 80
                if v > 0:
                    raw80 += self._offsets_x80()[(2, 0, 1)[which]]
                return _clamp24(trunc_div(raw80 * POWER_NUM * gain, 80 * POWER_DEN * UNITY_GAIN))
            raw = (s, p, q)[which]
            val = trunc_div(raw * POWER_NUM * gain, POWER_DEN * UNITY_GAIN)
            if addr & 1:
                val = trunc_div(val * nnum, nden)
            return _clamp24(val)
        if addr == 0x21C:  # VRMS
            ev = self.frontend_error[0]
            return v * VRMS_PER_MV * (1_000_000 + ev) * regs[0x281] // (UNITY_GAIN * 1_000_000)
        if addr == 0x21A and not self._ideal_irms():
            ei, noise = self.frontend_error[1], self.frontend_error[3]
            i0 = i_ma * IRMS_PER_MA * (1_000_000 + ei) // 1_000_000
            n0 = noise * IRMS_PER_MA if v > 0 else 0
            sq = i0 * i0 + n0 * n0 + _wrap24(regs[0x286])
            return isqrt(sq) * regs[0x280] // UNITY_GAIN
        if addr in (0x21A, 0x21B):
            irms = i_ma * IRMS_PER_MA * regs[0x280 if addr == 0x21A else 0x28C] // UNITY_GAIN
            return irms * nnum // nden if addr == 0x21B else irms
        if addr in (0x226, 0x227):
            return self._live(0x21C) * 1414 // 1000
        if addr in (0x228, 0x229, 0x22A, 0x22B):
            return self._live(0x21A if addr < 0x22A else 0x21B) * 1414 // 1000
        if addr in (0x10A, 0x10B):  # PF: 0x7FFF = +1, sign of P
            if addr == 0x10A and not self._ideal():
                ps = _wrap24(self._live(0x212))
                ss = _wrap24(self._live(0x210))
                pf = trunc_div(ps * 32767, ss) if ss else 0
                pf = 32767 if pf > 32767 else (-32767 if pf < -32767 else pf)
                return pf & 0xFFFF
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
        if canon in _GAIN or canon in (0x201, 0x004, 0x108, 0x289, 0x28A, 0x28B):
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

    def spi_transfer(self, w, r):
        """Bulk path for write_readinto(): a whole frame (2 address bytes, the command, the
        register's data) in one call, with exactly the effect of spi_byte() per byte. Any
        other shape (a partial or overlong frame, a frame already begun, tracing, a chip not
        answering) goes byte by byte."""
        n = len(w)
        if self._n == 0 and self._mosi is None and n >= 3 and self.powered and self._ready:
            addr = (w[0] << 8) | w[1]
            width = reg_width(addr)
            if n == 3 + width:
                self._n = n
                self._addr = addr
                cmd = w[2]
                self._cmd = cmd
                self._width = width
                r[0] = 0
                r[1] = 0
                r[2] = 0
                if cmd & 0x80:
                    out = self._read_value(addr)
                    self._out = out
                    for k in range(width):
                        r[3 + k] = (out >> (8 * (width - 1 - k))) & 0xFF
                    self._complete(0x35, out)
                    fault = self.flip_miso
                    if fault is not None and fault[0] == self._addr:
                        self.flip_miso = None
                        r[n - 1] = (r[n - 1] ^ fault[1]) & 0xFF
                else:
                    data = 0
                    for k in range(width):
                        data = (data << 8) | w[3 + k]
                    self._data = data
                    self._write(self._addr, self._data)
                    self._complete(0xCA, self._data)  # as spi_byte(): after a SWRST these are 0
                return
        for i in range(n):
            r[i] = self.spi_byte(w[i]) & 0xFF

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
