"""ATM90E32AS three-phase metering front end on SPI (M90E32AS datasheet 46003B, application
note 46103A; chips.md §2).

The board owns the bus: SPI mode 3 (polarity 1, phase 1; mode 0 also works), SCLK <= 1 MHz
(the timing table allows ~1.5 MHz [I]), CS an output idling high. The chip has no line-cycle
interrupt, so a machine.Timer paces the reads (`afe_irq` is None on this board).

    spi = machine.SPI(2, baudrate=1_000_000, polarity=1, phase=1, sck=.., mosi=.., miso=..)
    afe = ATM90E32(spi, Pin(15, Pin.OUT, value=1), meter_constant=3200)
    afe.begin()
    counts = array("l", [0] * 12)
    ok = afe.read_energy_into(counts)   # per phase A, B, C: [import, export, r_imp, r_exp]

Frames [DS §4]: 32 SCLKs per CS-low, R/W bit (1 = read) + 15-bit address, then 16 data bits;
a write takes effect only after exactly 32 clocks. After every transfer LastSPIData (0x78)
holds the data moved, so each read and write is verified by reading 0x78 once.

Start-up [DS §6.4]: wait T1 (40 ms max) after power-on, SoftReset (0x70 <- 0x789A), check
MMode0 holds its reset value 0x0087 (the chip is there and the mode is right), open the
configuration (CfgRegAccEn 0x7F <- 0x55AA), MeterEn, PLconstH/L for the meter constant,
MMode0 (50/60 Hz), MMode1 (PGA), the sag / phase-loss / frequency thresholds, close
(0x0000: the chip latches its configuration CRC), and read the key registers back (a write
that completed on the bus but hit a closed configuration would show only there). MeterEn is
written while the configuration is still open, so it takes effect whichever way the part
treats 0x00 after closing.

Energy [DS §3.5; AN §4.2.2]: the forward/reverse active/reactive registers (0x81-0x8F per
phase) are 16-bit read-clear counters of 0.01 CF, 1 CF = 1 kWh / MC, so one count is
10 Wh / MC (3.125 mWh at MC = 3200): `count_uwh` = (10 000 000, MC) reduced. Each is read
exactly once per tick and checked against LastSPIData; the chip clears it only after
LastSPIData updated. A mismatch is never retried (the counts are gone): that count is 0 and
read_energy_into returns False so the period is flagged. At 3200 imp/kWh one read holds at
most 204.8 Wh per phase: poll at least every 10 s.
"""

import errno

from micropython import const

from lib.ticks import sleep_ms as _sleep_ms

# Registers [DS §5; chips.md §2.3]
_METEREN = const(0x00)
_SAGTH = const(0x08)
_PHASELOSSTH = const(0x09)
_FREQLOTH = const(0x0C)
_FREQHITH = const(0x0D)
_PLCONSTH = const(0x31)
_PLCONSTL = const(0x32)
_MMODE0 = const(0x33)
_MMODE1 = const(0x34)
_SOFTRESET = const(0x70)
_EMMSTATE0 = const(0x71)
_EMMSTATE1 = const(0x72)
_LASTSPIDATA = const(0x78)
_CFGREGACCEN = const(0x7F)
_APENERGYA = const(0x81)  # + 4k + phase: AP (fwd act), AN (rev act), RP (fwd var), RN
_PMEANA = const(0xB1)
_QMEANA = const(0xB5)
_SMEANA = const(0xB9)
_PFMEANA = const(0xBD)
_PMEANALSB = const(0xC1)
_QMEANALSB = const(0xC5)
_SMEANALSB = const(0xC9)
_URMSA = const(0xD9)
_IRMSA = const(0xDD)
_URMSALSB = const(0xE9)
_FREQ = const(0xF8)

_READ = const(0x8000)
_RESET_KEY = const(0x789A)
_CFG_OPEN = const(0x55AA)
_CFG_CLOSE = const(0x0000)
_MMODE0_RESET = const(0x0087)
_FREQ60 = const(0x1000)

_T1_MS = const(40)  # power-on to ready, max [DS §6.4]
_RESET_MS = const(10)  # after SoftReset (ESPHome waits 6 ms)

FIGURES = 7  # measure_into: mV, mA, mW, mvar, mVA, PF x1000, mHz (per phase)
PHASE_EMMSTATE1_LOSS = (1 << 10, 1 << 9, 1 << 8)  # PhaseLossA/B/C in EMMState1

# write_calibration keys -> register (chips.md §2.3)
_CAL = {
    "poffset_a": 0x41,
    "qoffset_a": 0x42,
    "poffset_b": 0x43,
    "qoffset_b": 0x44,
    "poffset_c": 0x45,
    "qoffset_c": 0x46,
    "pqgain_a": 0x47,
    "phi_a": 0x48,
    "pqgain_b": 0x49,
    "phi_b": 0x4A,
    "pqgain_c": 0x4B,
    "phi_c": 0x4C,
    "ugain_a": 0x61,
    "igain_a": 0x62,
    "uoffset_a": 0x63,
    "ioffset_a": 0x64,
    "ugain_b": 0x65,
    "igain_b": 0x66,
    "uoffset_b": 0x67,
    "ioffset_b": 0x68,
    "ugain_c": 0x69,
    "igain_c": 0x6A,
    "uoffset_c": 0x6B,
    "ioffset_c": 0x6C,
}


# ---- pure helpers (chips.md §8.1 vectors A1-A7) ----------------------------------------


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def _round_div(a, b):
    q = (abs(a) * 2 + b) // (2 * b)
    return -q if a < 0 else q


def _trunc_div(a, b):
    q = abs(a) // b
    return -q if a < 0 else q


def pl_constant(mc):
    """PL_constant = 450 000 000 000 / MC split into (PLconstH, PLconstL) [AN §4.2.2]."""
    if mc <= 0:
        raise ValueError("meter constant")
    pl = 450_000_000_000 // mc
    if pl > 0xFFFFFFFF:
        raise ValueError("meter constant too small")
    return pl >> 16, pl & 0xFFFF


def count_uwh(mc):
    """uWh per energy-register count: 0.01 CF = 10 Wh / MC, as a reduced (num, den)."""
    g = _gcd(10_000_000, mc)
    return 10_000_000 // g, mc // g


def pmean_mw(high, low):
    """Pmean/Qmean/Smean H:L as 32-bit two's complement x 0.32 mW -> mW (toward zero).

    raw * 8 / 25 is computed from the signed high word s and the low word without forming
    raw (up to 2**31, a heap int on ESP32/RP2040): raw * 8 = 25 * (20971 * s) + 13 * s + 8 * low
    (8 * 65536 = 25 * 20971 + 13), and every term stays below 2**30."""
    s = high - 0x10000 if high & 0x8000 else high
    r = 13 * s + 8 * low
    q = 20971 * s + r // 25  # floor of raw * 8 / 25 ...
    if s < 0 and r % 25:
        q += 1  # ... made toward zero: raw < 0 exactly when s < 0
    return q


def rms_gain(old_gain, rms, rms_lsb, reference):
    """Ugain/Igain for a reference reading [AN §4.2.6], rounded as the app note does.

    `rms` and `reference` are in register units (0.01 V or 0.001 A); `rms_lsb` is the
    UrmsLSB/IrmsLSB register, whose high byte is the 1/256 fraction."""
    measured = rms * 256 + (rms_lsb >> 8)
    if measured <= 0:
        raise ValueError("no reading")
    g = _round_div(old_gain * reference * 256, measured)
    if not 0 < g <= 0xFFFF:
        raise ValueError("gain out of the 16-bit range")
    return g


def pq_gain(err_num, err_den):
    """PQGain for a measured energy error e = err_num/err_den: -e/(1+e) x 2^15 [AN §4.2.7]."""
    return _trunc_div(-err_num * 32768, err_den + err_num) & 0xFFFF


def phi_gain(err_num, err_den, hz=50):
    """PhiX for a phase error e = err_num/err_den: e x G, G = 3763.739 (50 Hz) / 3136.449."""
    g = 3763739 if hz == 50 else 3136449
    return _round_div(err_num * g, err_den * 1000) & 0xFFFF


def threshold(v_mv, ugain=0x8000):
    """SagTh / PhaseLossTh for a voltage: V x 100 x sqrt2 / (2 x Ugain / 32768) [AN]."""
    n = 2 * v_mv * v_mv
    x = n
    y = (x + 1) // 2
    while y < x:  # integer square root
        x = y
        y = (x + n // x) // 2
    return x * 100 * 32768 // (2 * ugain * 1000)


class ATM90E32:
    """One ATM90E32AS on an injected SPI bus. `phases` = 3."""

    phases = 3

    def __init__(
        self,
        spi,
        cs,
        sleep_ms=None,
        meter_constant=3200,
        hz=50,
        pga=0x00,
        sag_mv=184_000,
        phase_loss_mv=46_000,
    ):
        if hz not in (50, 60):
            raise ValueError("hz")
        if not 0 <= pga <= 0x3F:
            raise ValueError("pga")
        self._pl = pl_constant(meter_constant)
        self._spi = spi
        self._cs = cs
        self._sleep = sleep_ms if sleep_ms is not None else _sleep_ms
        self.meter_constant = meter_constant
        self.count_uwh = count_uwh(meter_constant)
        self._mmode0 = _MMODE0_RESET | (_FREQ60 if hz == 60 else 0)
        self._hz = hz
        self._pga = pga
        self._sag = threshold(sag_mv)
        self._loss = threshold(phase_loss_mv)
        self._tx = bytearray(4)
        self._rx = bytearray(4)
        self.failed_reads = 0
        cs(1)

    # ---- transport -----------------------------------------------------------------
    def _xfer(self, word, value):
        tx = self._tx
        rx = self._rx
        tx[0] = word >> 8
        tx[1] = word & 0xFF
        tx[2] = value >> 8
        tx[3] = value & 0xFF
        cs = self._cs
        cs(0)
        try:
            self._spi.write_readinto(tx, rx)
        finally:
            cs(1)
        return (rx[2] << 8) | rx[3]

    def _read(self, addr):
        return self._xfer(_READ | addr, 0)

    def _last(self):
        return self._read(_LASTSPIDATA)

    def _write(self, addr, value):
        self._xfer(addr, value)
        if self._last() != value:
            raise OSError(errno.EIO)

    # ---- start-up ------------------------------------------------------------------
    def begin(self):
        """Reset and configure; OSError(ENODEV) if the chip does not answer, EIO on a bad write."""
        self._sleep(_T1_MS)
        self._xfer(_SOFTRESET, _RESET_KEY)  # resets LastSPIData too: nothing to verify
        self._sleep(_RESET_MS)
        if self._read(_MMODE0) != _MMODE0_RESET:
            raise OSError(errno.ENODEV)
        self._write(_CFGREGACCEN, _CFG_OPEN)
        self._write(_METEREN, 0x0001)
        self._write(_PLCONSTH, self._pl[0])
        self._write(_PLCONSTL, self._pl[1])
        self._write(_MMODE0, self._mmode0)
        self._write(_MMODE1, self._pga)
        self._write(_SAGTH, self._sag)
        self._write(_PHASELOSSTH, self._loss)
        nominal = 6000 if self._hz == 60 else 5000  # 0.01 Hz
        self._write(_FREQLOTH, nominal - 250)
        self._write(_FREQHITH, nominal + 250)
        self._write(_CFGREGACCEN, _CFG_CLOSE)
        if (
            self._read(_PLCONSTH) != self._pl[0]
            or self._read(_PLCONSTL) != self._pl[1]
            or self._read(_MMODE0) != self._mmode0
            or self._read(_METEREN) != 0x0001
        ):
            raise OSError(errno.EIO)

    # ---- the metering tick (no allocation) -----------------------------------------
    def read_energy_into(self, counts):
        """counts[4p:4p+4] = [import, export, r_import, r_export] of phase p (A, B, C)."""
        ok = True
        for p in range(3):
            for k in range(4):
                v = self._read(_APENERGYA + 4 * k + p)
                if self._last() != v:
                    v = 0
                    ok = False
                    self.failed_reads += 1
                counts[4 * p + k] = v
        return ok

    def phase_loss(self):
        """EMMState1 PhaseLoss bits as a 3-bit mask (bit 0 = A)."""
        st = self._read(_EMMSTATE1)
        return ((st >> 10) & 1) | ((st >> 8) & 1) << 2 | ((st >> 9) & 1) << 1

    # ---- display figures -----------------------------------------------------------
    def read_vi_into(self, figures):
        """figures[7p] = mV and figures[7p+1] = mA of phases A, B, C: what the meter core needs
        every window (the creep gate the currents, the phase-failure monitor the voltages).
        The same values measure_into gives; the other figures are left as they are."""
        for p in range(3):
            self._read_vi(figures, p)

    def _read_vi(self, figures, p):
        o = 7 * p
        urms = self._read(_URMSA + p)
        frac = self._read(_URMSALSB + p) >> 8
        figures[o] = urms * 10 + (frac * 10 >> 8)
        figures[o + 1] = self._read(_IRMSA + p)

    def measure_into(self, figures):
        """figures[7p:7p+7] = mV, mA, mW, mvar, mVA, PF x1000, f mHz for phases A, B, C.

        Display and quality figures, read on demand (issue 4 deliverable 7), not every tick."""
        f_mhz = self._read(_FREQ) * 10
        for p in range(3):
            o = 7 * p
            self._read_vi(figures, p)
            figures[o + 2] = pmean_mw(self._read(_PMEANA + p), self._read(_PMEANALSB + p))
            figures[o + 3] = pmean_mw(self._read(_QMEANA + p), self._read(_QMEANALSB + p))
            figures[o + 4] = pmean_mw(self._read(_SMEANA + p), self._read(_SMEANALSB + p))
            pf = self._read(_PFMEANA + p)
            figures[o + 5] = pf - 0x10000 if pf & 0x8000 else pf
            figures[o + 6] = f_mhz

    # ---- calibration ---------------------------------------------------------------
    def write_calibration(self, record):
        """Write gains / offsets from a dict such as {"ugain_a": 0xE41B, "pqgain_a": 0x1475}.

        Values are register contents (0..0xFFFF) or signed (-32768..-1, stored as two's
        complement). Everything is checked first; then the configuration is opened, each
        write verified, and closed again."""
        for key in record:
            if key not in _CAL:
                raise ValueError("unknown calibration key")
            if not -0x8000 <= record[key] <= 0xFFFF:
                raise ValueError("calibration value out of range")
        self._write(_CFGREGACCEN, _CFG_OPEN)
        try:
            for key in sorted(record):
                self._write(_CAL[key], record[key] & 0xFFFF)
        finally:
            self._xfer(_CFGREGACCEN, _CFG_CLOSE)
        for key in record:
            if self._read(_CAL[key]) != record[key] & 0xFFFF:
                raise OSError(errno.EIO)
