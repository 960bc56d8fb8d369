"""Byte-level model of the ATM90E32AS three-phase metering IC on SPI, fed by the grid model.

From the M90E32AS datasheet (46003B) and application note (46103A), as summarised in
reference/chips.md §2:

- SPI [DS §4, Table-18]: one register per CS-low frame of 32 SCLKs, MSB first: R/W bit
  (1 = read), 15-bit address (low 10 bits decoded), 16 data bits. A write commits on CS
  rising only after exactly 32 clocks. A read updates LastSPIData (0x78) when its 32 clocks
  complete, and only then clears a read-clear register; reading 0x78 leaves it alone.
  Modes 0 and 3 (SDI sampled on the rising edge), SCLK <= 1.5 MHz [I].
- Power-up and SoftReset [DS §6.4]: nothing answers for T1 (16 ms typ. after power-up; 5 ms
  after SoftReset 0x70 <- 0x789A, which restores every default).
- CfgRegAccEn 0x7F: 0x55AA opens the configuration registers 0x00-0x6F; any other value
  closes them (writes then complete on the bus, LastSPIData shows them, but the register
  keeps its value [I]) and latches CRCDigest over 0x00-0x6F.
- MeterEn 0x00: metering runs while any bit is set.
- PLconstH/L (0x31/0x32) = 450 000 000 000 / MC. Energy registers 0x80-0x8F (forward /
  reverse active, forward / reverse reactive; total, A, B, C) and 0x90-0x93 (apparent) are
  16-bit read-clear counters of 0.01 CF: 1 LSB = 10 Wh / MC = PL x 80 nJ (3.125 mWh at
  MC = 3200). Forward and reverse net inside each 0.01 CF bucket [DS §3.5]: an internal
  signed accumulator in (-1, +1) LSB emits forward counts upwards and reverse counts
  downwards. Registers wrap at 16 bits [I: saturate vs wrap is unspecified].
- Scaling [DS Tables 13/17]: Urms 0.01 V (+UrmsLSB fraction in bits 15:8), Irms 0.001 A
  (+IrmsLSB), Pmean/Qmean/Smean 32-bit H:L two's complement x 0.32 mW, PFmean x0.001,
  Freq 0.01 Hz, PAngle 0.1 deg, Temp deg C.
- Gains: Ugain/Igain scale RMS by gain / 0x8000 (the virtual board's unity is 0x8000 and is
  also its reset value); PQGain scales power and energy by (0x8000 + signed gain) / 0x8000.
  (On the virtual part Ugain/Igain act on RMS only, PQGain on power and energy only [I].)
- Front-end error (`set_frontend_error`, per phase) and its correction, as on a real board:
  the chip sees V x (1 + ev), I x (1 + ei), a current lagging by an extra angle, a current
  noise floor `noise_ma` and a watt offset `offset_mw` (while the supply is on). Then
      angle  lag' = lag + error + PhiX x 360 f / 2.048 MHz  (Phi signed 16-bit, positive
             delays the current: the AN's G = 1 / (sqrt3 x 2 pi f x 0.488 us) [I])
      P', Q' = S' cos / sin(lag'), S' = S (1 + ev)(1 + ei); + noise offset and PoffsetX /
             QoffsetX (1 LSB = one Pmean LSB, 0.32 mW [I]); x PQGain; energy likewise (net
             active / reactive per sync interval)
      Irms   ((I' + noise) x 2^16 + IoffsetX x 2^7) x Igain / 0x8000, in 2^-16 mA (the AN's
             offset is the 32-bit RMS >> 7, two's complement)
      Urms   V' x Ugain / 0x8000
  With no error injected and Phi / offsets at 0 every path is the exact ideal one.
- EMMState1 [DS §5]: PhaseLoss A/B/C (bits 10-8) when a phase is below PhaseLossTh, Sag
  A/B/C (bits 14-12) below SagTh (threshold units: V x 100 x sqrt2 / (2 x Ugain / 32768)),
  FreqHi/FreqLo (15/11) against FreqHiTh/FreqLoTh (0.01 Hz), P/Q energy sign bits 3-0/7-4
  (T, A, B, C; 1 = reverse). EMMState0 bits 3/2 CF1Rev/CF2Rev. EMMIntState0/1 latch rising
  bits (write 1 to clear); IRQ0 is driven high while EMMIntState0 & EMMIntEn0 != 0 [I].

The model syncs to the grid at every grid segment boundary (constant power inside one), so
the bucket netting is exactly what continuous integration would give. `truth_counts(p)`
gives the ideal per-quadrant counts since metering was enabled, for single-sign checks.
"""

import math

from hal.sim.ade7953_model import ROT_ONE, rotation
from hal.sim.grid import isqrt, trunc_div

POWERUP_US = 16_000
SOFTRESET_US = 5_000
UNITY_UGAIN = 0x8000

_SOFTRESET = 0x70
_LASTSPI = 0x78
_CFGACC = 0x7F
_OPEN = 0x55AA

_DEFAULTS = {
    0x00: 0x0000,  # MeterEn
    0x01: 0x0210,  # ChannelMapI [I]
    0x02: 0x0654,  # ChannelMapU [I]
    0x05: 0x143F,  # SagPeakDetCfg
    0x06: 0xC000,  # OVth [I]
    0x07: 0x0001,  # ZXConfig [I]
    0x08: 0x1000,  # SagTh [I]
    0x09: 0x0400,  # PhaseLossTh [I]
    0x0A: 0xFFFF,  # INWarnTh [I]
    0x0B: 0xC000,  # OIth [I]
    0x0C: 0x0000,  # FreqLoTh [I]
    0x0D: 0xFFFF,  # FreqHiTh [I]
    0x31: 0x0861,  # PLconstH
    0x32: 0xC468,  # PLconstL
    0x33: 0x0087,  # MMode0
    0x34: 0x0000,  # MMode1
    0x71: 0,
    0x72: 0,
    0x73: 0,
    0x74: 0,
    0x75: 0,
    0x76: 0,
    0x79: 0,
    0x7A: 0,
    0x7F: 0,
}
for _a in range(0x35, 0x6F):
    _DEFAULTS.setdefault(_a, 0)
for _a in (0x61, 0x62, 0x65, 0x66, 0x69, 0x6A):  # Ugain/Igain A-C: virtual-board unity
    _DEFAULTS[_a] = UNITY_UGAIN

_POFFSET = (0x41, 0x43, 0x45)
_QOFFSET = (0x42, 0x44, 0x46)
_PHI = (0x48, 0x4A, 0x4C)
_IOFFSET = (0x64, 0x68, 0x6C)
_PQGAIN = (0x47, 0x49, 0x4B)
_UGAIN = (0x61, 0x65, 0x69)
_IGAIN = (0x62, 0x66, 0x6A)


def _s16(v):
    return v - 0x10000 if v & 0x8000 else v


def threshold_units(v_mv, ugain=UNITY_UGAIN):
    """SagTh / PhaseLossTh register value for a voltage (chips.md §2.5 formula)."""
    return isqrt(2 * v_mv * v_mv) * 100 * 32768 // (2 * ugain * 1000)


class ATM90E32Model:
    """The chip: plug into hal/sim/machine.SPI with `spi.attach(cs_pin, model)`."""

    spi_modes = ((0, 0), (1, 1))
    spi_max_hz = 1_500_000

    def __init__(self, sim_time, grid, irq0_pin=None):
        if grid.phases != 3:
            raise ValueError("the ATM90E32 needs a 3-phase grid")
        self._time = sim_time
        self._grid = grid
        self._irq0 = irq0_pin
        self.trace = None  # set to a list to record each frame's MOSI bytes
        # per phase: v ppm, i ppm, phase (mdeg extra current lag), noise mA, offset mW
        self.frontend_error = [(0, 0, 0, 0, 0)] * 3
        self.powered = True
        self.softresets = 0
        self._watch_handle = None
        grid.subscribe(self._grid_changed)
        self._reset(POWERUP_US)

    # ---- reset / power ---------------------------------------------------------------
    def _reset(self, busy_us):
        self._regs = dict(_DEFAULTS)
        self._last_spi = 0
        # accumulators, per phase 0-2 and total 3: active, reactive (signed), apparent
        self._acc = [[0, 0, 0] for _ in range(4)]
        # energy registers by address 0x80-0x93
        self._energy = {}
        for a in range(0x80, 0x94):
            self._energy[a] = 0
        self._prev = [self._grid.energy_nj(p) for p in range(3)]
        self._sync_us = self._time.now_us()
        self._base = self._prev
        self._synced_us = self._time.now_us()  # _prev is the grid's energy at this instant
        self._live0 = 0
        self._live1 = 0
        self._busy_until = self._time.now_us() + busy_us
        self._frame_reset()
        self._schedule_watch()

    def power_down(self):
        self.powered = False
        if self._watch_handle is not None:
            self._time.cancel(self._watch_handle)
            self._watch_handle = None
        self._drive_irq(0)

    def power_up(self):
        self.powered = True
        self._reset(POWERUP_US)
        self._drive_irq(0)

    def _ready(self):
        return self.powered and self._time.now_us() >= self._busy_until

    # ---- grid tracking ---------------------------------------------------------------
    def _schedule_watch(self):
        if self._watch_handle is not None:
            self._time.cancel(self._watch_handle)
            self._watch_handle = None
        nxt = self._grid.next_change_us()
        if nxt is not None and self.powered:
            self._watch_handle = self._time.call_at(nxt, self._on_boundary)

    def restore_schedule(self):
        """After a Ctrl-C cut one of this model's events short (SimTime.interrupted): watch
        the grid's next change again if the cut lost that event."""
        if self.powered and self._watch_handle is None:
            self._schedule_watch()

    def _on_boundary(self, now):
        self._watch_handle = None
        self._sync()
        self._latch_states()
        self._schedule_watch()

    def _grid_changed(self):
        self._sync()  # the old program's energy is complete up to now
        self._latch_states()
        self._schedule_watch()

    def _pl(self):
        return (self._regs[0x31] << 16) | self._regs[0x32]

    def _lsb_div(self):
        """Accumulator units per energy LSB: nJ x (0x8000 + PQGain) per 0.01 CF."""
        return self._pl() * 80 * 0x8000

    def _sync(self):
        """Bring the energy accumulators up to now (constant power since the last sync)."""
        now = self._time.now_us()
        if now == self._synced_us:
            # The grid's energy is a function of time: no time, no energy, nothing to do
            # (12 energy reads a tick would otherwise rebuild the same lists 12 times).
            return
        self._synced_us = now
        cur = [self._grid.energy_nj(p) for p in range(3)]
        prev = self._prev
        self._prev = cur
        now = self._time.now_us()
        dt = now - self._sync_us
        self._sync_us = now
        if not self._regs[0x00] or not self.powered:
            return
        div = self._lsb_div()
        if div <= 0:
            return
        tot = [0, 0, 0]
        absolute_p = self._regs[0x33] & 0x08
        absolute_q = self._regs[0x33] & 0x10
        for p in range(3):
            c, o = cur[p], prev[p]
            g = 0x8000 + _s16(self._regs[_PQGAIN[p]])
            act = (c[0] - o[0]) - (c[1] - o[1])
            react = (c[2] - o[2]) - (c[3] - o[3])
            app = c[4] - o[4]
            if not self._ideal(p):
                act, react, app = self._front(p, act, react, app)
                if self._grid.frequency_mhz() > 0 and dt > 0:
                    offs = self._offsets_x25(p)
                    act += trunc_div(offs[0] * dt, 25)
                    react += trunc_div(offs[1] * dt, 25)
            act *= g
            react *= g
            app *= g
            tot[0] += abs(act) if absolute_p else act
            tot[1] += abs(react) if absolute_q else react
            tot[2] += app
            self._bucket(p, act, react, app, div)
        self._bucket(3, tot[0], tot[1], tot[2], div)

    def _bucket(self, idx, act, react, app, div):
        acc = self._acc[idx]
        # register addresses: T=0, A=1, B=2, C=3 offsets
        off = 0 if idx == 3 else idx + 1
        for k, d, fwd, rev in ((0, act, 0x80, 0x84), (1, react, 0x88, 0x8C)):
            if not d:
                continue
            a = acc[k] + d
            if a >= div:
                q = a // div
                self._energy[fwd + off] = (self._energy[fwd + off] + q) & 0xFFFF
                a -= q * div
            elif a <= -div:
                q = (-a) // div
                self._energy[rev + off] = (self._energy[rev + off] + q) & 0xFFFF
                a += q * div
            acc[k] = a
        if app:
            a = acc[2] + app
            q = a // div
            self._energy[0x90 + off] = (self._energy[0x90 + off] + q) & 0xFFFF
            acc[2] = a - q * div

    # ---- front-end error and its correction ------------------------------------------
    def set_frontend_error(
        self, v_ppm=0, i_ppm=0, phase_mdeg=0, noise_ma=0, offset_mw=0, phase=None
    ):
        """Make one phase (or all, phase=None) see an uncalibrated board (module docstring).
        Phase error: extra current lag in millidegrees (negative: the current leads)."""
        if not (-500_000 < v_ppm < 500_000 and -500_000 < i_ppm < 500_000):
            raise ValueError("gain error beyond +-50 %")
        if not -7_000 <= phase_mdeg <= 7_000:
            raise ValueError("phase error")
        if noise_ma < 0:
            raise ValueError("noise")
        self._sync()  # energy so far was measured with the old front end
        err = (v_ppm, i_ppm, phase_mdeg, noise_ma, offset_mw)
        for p in range(3) if phase is None else (phase,):
            self.frontend_error[p] = err

    def _ideal(self, p):
        r = self._regs
        return (
            self.frontend_error[p] == (0, 0, 0, 0, 0)
            and not r[_PHI[p]]
            and not r[_POFFSET[p]]
            and not r[_QOFFSET[p]]
        )

    def _front(self, p, act, react, app):
        """(P', Q', S') for true P, Q, S of phase p (any unit): gains and phase, no offsets."""
        ev, ei, ph = self.frontend_error[p][0:3]
        k = (1_000_000 + ev) * (1_000_000 + ei)
        udeg = ph * 1000 + trunc_div(_s16(self._regs[_PHI[p]]) * self._f_mhz() * 45, 256)
        c, sn = rotation(udeg)
        d = ROT_ONE * 1_000_000_000_000
        return (
            trunc_div((act * c - react * sn) * k, d),
            trunc_div((react * c + act * sn) * k, d),
            trunc_div(app * k, 1_000_000_000_000),
        )

    def _f_mhz(self):
        f = self._grid.frequency_mhz()
        return f if f > 0 else 50_000

    def _offsets_x25(self, p):
        """Watt / var offsets of phase p in 1/25 mW (a Pmean LSB is 8 of them)."""
        r = self._regs
        return (
            self.frontend_error[p][4] * 25 + _s16(r[_POFFSET[p]]) * 8,
            _s16(r[_QOFFSET[p]]) * 8,
        )

    def truth_counts(self, phase):
        """Ideal [fwd active, rev active, fwd reactive, rev reactive] counts for `phase` since
        metering was (re)enabled, at the present PL constant and PQGain (no netting)."""
        cur = self._grid.energy_nj(phase)
        base = self._base[phase]
        g = 0x8000 + _s16(self._regs[_PQGAIN[phase]])
        div = self._lsb_div()
        return [(cur[k] - base[k]) * g // div for k in range(4)]

    # ---- live measurements ---------------------------------------------------------
    def _phase(self, p):
        return self._grid.state(p)

    def _power_raw(self, which, p):
        """32-bit Pmean/Qmean/Smean (0.32 mW LSB) of phase p, or the total when p == 3."""
        if p == 3:
            return sum(self._power_raw(which, k) for k in range(3))
        v, i, pw, q, f = self._phase(p)
        g = 0x8000 + _s16(self._regs[_PQGAIN[p]])
        s = isqrt(pw * pw + q * q)
        if not self._ideal(p):
            raw25 = self._front(p, pw, q, s)[which] * 25
            if v > 0 and which < 2:
                raw25 += self._offsets_x25(p)[which]
            return trunc_div(raw25 * g, 8 * 0x8000)
        raw = (pw, q, s)[which]
        return trunc_div(raw * 25 * g, 8 * 0x8000)

    def _states_live(self):
        regs = self._regs
        st0 = 0
        st1 = 0
        ptot = 0
        qtot = 0
        for p in range(3):
            v, i, pw, q, f = self._phase(p)
            ptot += pw
            qtot += q
            units = threshold_units(v, regs[_UGAIN[p]]) if v else 0
            if units < regs[0x09]:
                st1 |= 1 << (10 - p)
            if units < regs[0x08]:
                st1 |= 1 << (14 - p)
            if pw < 0:
                st1 |= 1 << (2 - p)
            if q < 0:
                st1 |= 1 << (6 - p)
        if ptot < 0:
            st1 |= 1 << 3
            st0 |= 1 << 3
        if qtot < 0:
            st1 |= 1 << 7
            st0 |= 1 << 2
        f_cHz = self._grid.frequency_mhz() // 10
        if f_cHz > regs[0x0D]:
            st1 |= 1 << 15
        if f_cHz < regs[0x0C]:
            st1 |= 1 << 11
        return st0, st1

    def _latch_states(self):
        if not self.powered:
            return
        st0, st1 = self._states_live()
        regs = self._regs
        regs[0x73] |= st0 & ~self._live0
        regs[0x74] |= st1 & ~self._live1
        self._live0, self._live1 = st0, st1
        self._update_irq()

    def _drive_irq(self, level):
        if self._irq0 is not None:
            self._irq0.drive(level)

    def _update_irq(self):
        self._drive_irq(1 if self._regs[0x73] & self._regs[0x75] else 0)

    def _crc16(self):
        crc = 0xFFFF
        for a in range(0x70):
            v = self._regs.get(a, 0)
            for byte in (v >> 8, v & 0xFF):
                crc ^= byte << 8
                for _ in range(8):
                    crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        return crc

    def _read_value(self, a):
        """Value of register `a` (0-0x3FF) for a read; read-clear happens at frame end."""
        regs = self._regs
        if a == _LASTSPI:
            return self._last_spi
        if 0x80 <= a <= 0x93:
            self._sync()
            return self._energy[a]
        if a in (0x71, 0x72):
            st = self._states_live()
            return st[a - 0x71]
        if 0xB0 <= a <= 0xBB or 0xC0 <= a <= 0xCB:
            idx = (a - 0xB0) if a < 0xC0 else (a - 0xC0)
            which, p = idx >> 2, idx & 3
            p = 3 if p == 0 else p - 1
            raw = self._power_raw(which, p) & 0xFFFFFFFF
            return raw >> 16 if a < 0xC0 else raw & 0xFFFF
        if 0xBC <= a <= 0xBF:
            p = 3 if a == 0xBC else a - 0xBD
            pw = self._power_raw(0, p)
            s = self._power_raw(2, p)
            return (trunc_div(pw * 1000, s) if s else 0) & 0xFFFF
        if 0xD9 <= a <= 0xDB or 0xE9 <= a <= 0xEB:
            p = (a - 0xD9) if a < 0xE9 else (a - 0xE9)
            ev = self.frontend_error[p][0]
            x256 = (
                self._phase(p)[0]
                * 256
                * (1_000_000 + ev)
                * regs[_UGAIN[p]]
                // (10 * 0x8000 * 1_000_000)
            )
            return x256 >> 8 if a < 0xE9 else (x256 & 0xFF) << 8
        if 0xDD <= a <= 0xDF or 0xED <= a <= 0xEF:
            p = (a - 0xDD) if a < 0xED else (a - 0xED)
            v, i = self._phase(p)[0:2]
            ei, noise = self.frontend_error[p][1], self.frontend_error[p][3]
            x16 = i * 65536 * (1_000_000 + ei) // 1_000_000 + _s16(regs[_IOFFSET[p]]) * 128
            if v > 0:
                x16 += noise * 65536
            x256 = (x16 if x16 > 0 else 0) * regs[_IGAIN[p]] // (0x8000 * 256)
            return min(x256 >> 8, 0xFFFF) if a < 0xED else (x256 & 0xFF) << 8
        if a == 0xF8:
            return self._grid.frequency_mhz() // 10
        if 0xF9 <= a <= 0xFB:
            v, i, pw, q, f = self._phase(a - 0xF9)
            if not (pw or q):
                return 0
            deg10 = int(math.floor(math.atan2(q, pw) * 1800 / math.pi + 0.5))
            return deg10 & 0xFFFF
        if a == 0xFC:
            return 25
        if 0xFD <= a <= 0xFF:
            return (0, 1200, 2400)[a - 0xFD] if self._phase(a - 0xFD)[0] else 0
        return regs.get(a, 0)

    def _write(self, a, value):
        regs = self._regs
        if a == _SOFTRESET:
            if value == 0x789A:
                self.softresets += 1
                self._reset(SOFTRESET_US)
                return True
            return False
        if a == _CFGACC:
            if regs[_CFGACC] == _OPEN and value != _OPEN:
                regs[0x7A] = self._crc16()  # golden CRC latched on close
            regs[_CFGACC] = value
            return True
        if a in (0x73, 0x74):  # write 1 to clear
            regs[a] &= ~value & 0xFFFF
            self._update_irq()
            return True
        if a in (0x75, 0x76):
            regs[a] = value
            self._update_irq()
            return True
        if a <= 0x6F:
            if regs[_CFGACC] != _OPEN or a not in regs:
                return False
            if a in (0x00, 0x31, 0x32, 0x33) or a in _PQGAIN or a in _PHI:
                self._sync()  # old settings apply up to now
            elif a in _POFFSET or a in _QOFFSET:
                self._sync()  # old settings apply up to now
            if a == 0x00 and value and not regs[0x00]:
                self._base = [self._grid.energy_nj(p) for p in range(3)]
            regs[a] = value
            return True
        return False

    # ---- SPI device protocol -------------------------------------------------------
    def _frame_reset(self):
        self._n = 0
        self._hdr = 0
        self._data = 0
        self._out = 0
        self._mosi = bytearray() if self.trace is not None else None

    def spi_begin(self):
        self._frame_reset()

    def spi_byte(self, b):
        if self._mosi is not None:
            self._mosi.append(b)
        n = self._n
        self._n = n + 1
        if not self._ready():
            return 0
        if n < 2:
            self._hdr = (self._hdr << 8) | b
            if n == 1 and self._hdr & 0x8000:
                self._out = self._read_value(self._hdr & 0x3FF)
            return 0
        if n < 4:
            self._data = (self._data << 8) | b
            if self._hdr & 0x8000:
                return (self._out >> (8 if n == 2 else 0)) & 0xFF
        return 0

    def spi_transfer(self, w, r):
        """Bulk path for write_readinto(): one whole 32-clock frame in one call, with exactly
        the effect of spi_byte() per byte; any other shape goes byte by byte."""
        if self._n == 0 and len(w) == 4 and self._mosi is None and self._ready():
            self._n = 4
            hdr = (w[0] << 8) | w[1]
            self._hdr = hdr
            r[0] = 0
            r[1] = 0
            if hdr & 0x8000:
                out = self._read_value(hdr & 0x3FF)
                self._out = out
                r[2] = (out >> 8) & 0xFF
                r[3] = out & 0xFF
            else:
                r[2] = 0
                r[3] = 0
            self._data = (w[2] << 8) | w[3]
            return
        for i in range(len(w)):
            r[i] = self.spi_byte(w[i]) & 0xFF

    def spi_end(self):
        if self.trace is not None and self._mosi is not None:
            self.trace.append(bytes(self._mosi))
        if self._n == 4 and self._ready():
            a = self._hdr & 0x3FF
            if self._hdr & 0x8000:
                if a != _LASTSPI:
                    self._last_spi = self._out
                    if 0x80 <= a <= 0x93:
                        self._energy[a] = 0  # read-clear, only after LastSPIData updated
            else:
                self._write(a, self._data)
                if a != _SOFTRESET:
                    self._last_spi = self._data
        self._frame_reset()
