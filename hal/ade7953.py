"""ADE7953 single-phase metering front end on SPI (ADE7953 datasheet Rev. C; chips.md §1).

The board owns the bus: SPI mode 0 (polarity 0, phase 0; mode 3 also works), SCLK <= 2 MHz
(the part allows 5 MHz [DS p.51]), CS an output idling high, IRQ an input with pull-up.

    spi = machine.SPI(1, baudrate=2_000_000, polarity=0, phase=0, sck=.., mosi=.., miso=..)
    afe = ADE7953(spi, Pin(5, Pin.OUT, value=1), irq=Pin(4, Pin.IN, Pin.PULL_UP))
    afe.begin()
    counts = array("l", [0] * 4)
    # on every IRQ falling edge (CYCEND, one window of LINECYC half cycles = 1 s at 50 Hz):
    ok = afe.read_energy_into(counts)   # [import, export, r_import, r_export] counts
    # energy = counts x afe.count_uwh[0] / afe.count_uwh[1] uWh

Start-up [DS p.18]: wait for the RESET interrupt (IRQSTATA bit 20, IRQ low) or 100 ms, lock
the interface to SPI (CONFIG = 0x0004), write the key 0xAD to 0xFE and at once 0x0030 to
0x120 (required after every power-up), check the version register, then set up accumulation.

Accumulation [DS p.19-26]. With an IRQ pin the driver uses line-cycle mode (LCYCMODE bits
0-5) with RSTREAD (bit 6) and the CYCEND interrupt: the chip latches each window's energy at
CYCEND and the first read clears it, so a window can never be counted twice. The caller must
read within one window of each CYCEND (a window left unread is overwritten by the next).
Without an IRQ pin a timer paces the reads, so the registers accumulate continuously with
read-with-reset instead: a late or early read then just moves counts between windows.

Every read of a read-with-reset register happens exactly once per window and is checked
through LAST_OP / LAST_ADD / LAST_RWDATA [DS Table 13]; a transfer that does not verify is
never repeated (the counts are already cleared): its counts are reported as 0 and
`read_energy_into` returns False so the period is flagged. A RESET seen in the status
means the chip restarted and lost its configuration: `chip_reset` is set and the call
returns False; call `begin()` again.

AENERGYA is signed: positive windows are import, negative ones export (the chip nets the two
inside one window; the grid can only change sign once per segment). RENERGYA likewise gives
reactive import (R+, Q > 0) and export (R-).

The energy-to-uWh ratio `count_uwh` and the RMS/power `scales` belong to the board's
analogue front end; the defaults are those of the virtual board (hal/sim/ade7953_model.py):
one count = 150 000 uJ = 125/3 uWh at gain 0x400000.
"""

import errno

from micropython import const

from lib.ticks import sleep_ms as _sleep_ms

# Registers [DS Tables 13-15]; 0x3xx are the 32-bit aliases of the 24-bit registers.
_LCYCMODE = const(0x004)
_LAST_OP = const(0x0FD)
_LAST_RWDATA8 = const(0x0FF)
_UNLOCK = const(0x0FE)
_LINECYC = const(0x101)
_CONFIG = const(0x102)
_PHCALA = const(0x108)
_PHCALB = const(0x109)
_PFA = const(0x10A)
_PERIOD = const(0x10E)
_RESERVED_120 = const(0x120)
_LAST_ADD = const(0x1FE)
_LAST_RWDATA16 = const(0x1FF)
_LAST_RWDATA24 = const(0x2FF)
_AVA = const(0x310)
_AWATT = const(0x312)
_AVAR = const(0x314)
_IRMSA = const(0x31A)
_IRMSB = const(0x31B)
_VRMS = const(0x31C)
_AENERGYA = const(0x31E)
_RENERGYA = const(0x320)
_IRQENA = const(0x32C)
_RSTIRQSTATA = const(0x32E)
_VERSION = const(0x702)

_OP_READ = const(0x35)
_OP_WRITE = const(0xCA)
_CMD_READ = const(0x80)
_CMD_WRITE = const(0x00)

_CONFIG_LOCKED = const(0x0004)  # COMM_LOCK (bit 15) cleared, HPFEN kept
_UNLOCK_KEY = const(0xAD)
_SETTING_120 = const(0x0030)
_RSTREAD = const(0x40)
_LCYC_ALL = const(0x3F)  # watt, var and VA of both channels in line-cycle mode
_BIT_CYCEND = const(1 << 18)
_BIT_RESET = const(1 << 20)

_RESET_WAIT_MS = const(150)  # power-up is 26 ms + ~40 ms [DS p.18]
_PERIOD_CLOCK = const(223_750_000)  # f = 223 750 / (Period + 1) Hz, in mHz

# Virtual board front end (hal/sim/ade7953_model.py): one count is 150 000 uJ.
COUNT_UWH = (125, 3)
# (num, den) ratios: mV per VRMS LSB, mA per IRMS LSB, mW per AWATT/AVAR/AVA LSB.
SCALES = ((1, 20), (1, 128), (32, 5))

FIGURES = 7  # measure_into: mV, mA, mW, mvar, mVA, PF x1000, mHz (per phase)

# write_calibration keys -> (register, kind): kind g = gain, o = signed offset, p = PHCAL.
_CAL = {
    "aigain": (0x380, "g"),
    "avgain": (0x381, "g"),
    "awgain": (0x382, "g"),
    "avargain": (0x383, "g"),
    "avagain": (0x384, "g"),
    "airmsos": (0x386, "o"),
    "vrmsos": (0x388, "o"),
    "awattos": (0x389, "o"),
    "avaros": (0x38A, "o"),
    "avaos": (0x38B, "o"),
    "bigain": (0x38C, "g"),
    "bwgain": (0x38E, "g"),
    "bvargain": (0x38F, "g"),
    "bvagain": (0x390, "g"),
    "birmsos": (0x392, "o"),
    "bwattos": (0x395, "o"),
    "bvaros": (0x396, "o"),
    "bvaos": (0x397, "o"),
    "phcala": (_PHCALA, "p"),
    "phcalb": (_PHCALB, "p"),
}


# ---- pure helpers (integer maths, tested against chips.md §8.2) -------------------------


def ratio(value, r):
    """value x num / den, truncated toward zero."""
    q = abs(value) * r[0] // r[1]
    return -q if value < 0 else q


def _round_div(a, b):
    """a / b rounded half away from zero (b > 0)."""
    q = (abs(a) * 2 + b) // (2 * b)
    return -q if a < 0 else q


def freq_mhz(period):
    """Line frequency in mHz from the Period register (0xFFFF/0: no zero crossings)."""
    if period <= 0 or period >= 0xFFFF:
        return 0
    return (_PERIOD_CLOCK + (period + 1) // 2) // (period + 1)


def pf_x1000(raw):
    """PFA/PFB (16-bit, 0x7FFF = +1, 0x8000 = -1) -> power factor x1000."""
    if raw & 0x8000:
        raw -= 0x10000
    return _round_div(raw * 1000, 0x8000)


def power_mw(counts, dt_ms, count_uwh):
    """Mean power (mW) of `counts` collected over `dt_ms` (accumulated-energy mode)."""
    return ratio(counts * 3600, (count_uwh[0], count_uwh[1] * dt_ms))


def phcal(lsb):
    """PHCALx encoding of a phase correction in 1.117 us steps [DS p.34-35].

    10-bit sign-magnitude: bit 9 set means a time advance (negative value)."""
    if not -383 <= lsb <= 383:
        raise ValueError("PHCAL out of range (|v| <= 383)")
    return -lsb | 0x200 if lsb < 0 else lsb


def phcal_value(reg):
    """Inverse of phcal()."""
    mag = reg & 0x1FF
    return -mag if reg & 0x200 else mag


def gain_for_error(err_num, err_den):
    """xWGAIN correcting a measured relative error err_num/err_den: 0x400000 / (1 + e)."""
    g = _round_div(0x400000 * err_den, err_den + err_num)
    if not 0x200000 <= g <= 0x600000:
        raise ValueError("gain correction beyond +-50 %")
    return g


class ADE7953:
    """One ADE7953 on an injected SPI bus. `phases` = 1."""

    phases = 1

    def __init__(
        self,
        spi,
        cs,
        irq=None,
        sleep_ms=None,
        count_uwh=COUNT_UWH,
        scales=SCALES,
        linecyc=100,
        line_cycle=None,
    ):
        if count_uwh[0] <= 0 or count_uwh[1] <= 0:
            raise ValueError("count_uwh")
        if not 0 < linecyc <= 0xFFFF:
            raise ValueError("linecyc")
        self._spi = spi
        self._cs = cs
        self._irq = irq
        self._sleep = sleep_ms if sleep_ms is not None else _sleep_ms
        self.count_uwh = (count_uwh[0], count_uwh[1])
        self._scales = scales
        self._linecyc = linecyc
        self.line_cycle = (irq is not None) if line_cycle is None else bool(line_cycle)
        # One (tx, rx) pair per data width: 3 header bytes + 1..4 data bytes.
        self._tx = (bytearray(4), bytearray(5), bytearray(6), bytearray(7))
        self._rx = (bytearray(4), bytearray(5), bytearray(6), bytearray(7))
        self._ok = True
        self.chip_reset = False
        self.version = None
        self.failed_reads = 0
        cs(1)

    # ---- transport -----------------------------------------------------------------
    def _xfer(self, addr, cmd, width, value):
        """One frame; returns the low 24 bits of the data clocked out (no big ints)."""
        tx = self._tx[width - 1]
        rx = self._rx[width - 1]
        tx[0] = addr >> 8
        tx[1] = addr & 0xFF
        tx[2] = cmd
        for k in range(width):
            tx[3 + k] = (value >> (8 * (width - 1 - k))) & 0xFF
        cs = self._cs
        cs(0)
        try:
            self._spi.write_readinto(tx, rx)
        finally:
            cs(1)
        v = 0
        start = 4 if width == 4 else 3  # 32-bit aliases: the top byte is only sign
        for k in range(start, 3 + width):
            v = (v << 8) | rx[k]
        return v

    @staticmethod
    def _width(addr):
        if addr in (_VERSION, 0x800):
            return 1
        return (addr >> 8) + 1

    def _read(self, addr):
        return self._xfer(addr, _CMD_READ, self._width(addr), 0)

    def _verified(self, addr, op, data):
        """LAST_OP / LAST_ADD / LAST_RWDATA show a complete transfer of `data` at `addr`."""
        width = self._width(addr)
        if self._xfer(_LAST_OP, _CMD_READ, 1, 0) != op:
            return False
        if self._xfer(_LAST_ADD, _CMD_READ, 2, 0) != addr:
            return False
        if width == 1:
            last = self._xfer(_LAST_RWDATA8, _CMD_READ, 1, 0)
        elif width == 2:
            last = self._xfer(_LAST_RWDATA16, _CMD_READ, 2, 0)
        else:
            last = self._xfer(_LAST_RWDATA24, _CMD_READ, 3, 0)
        return last == data

    def _read_once(self, addr):
        """Read a read-with-reset register once; 0 and self._ok = False if unverified."""
        value = self._read(addr)
        if self._verified(addr, _OP_READ, value):
            return value
        self._ok = False
        self.failed_reads += 1
        return 0

    def _write(self, addr, value):
        """Write and verify; OSError(EIO) if the chip did not take it."""
        width = self._width(addr)
        self._xfer(addr, _CMD_WRITE, width, value)
        if not self._verified(addr, _OP_WRITE, value & 0xFFFFFF):
            raise OSError(errno.EIO)

    @staticmethod
    def _s24(v):
        return v - 0x1000000 if v & 0x800000 else v

    # ---- start-up ------------------------------------------------------------------
    def begin(self):
        """Bring the chip up; OSError(ENODEV) if it does not answer, EIO if a write fails."""
        irq = self._irq
        if irq is not None:
            for _ in range(_RESET_WAIT_MS):
                if not irq.value():
                    break
                self._sleep(1)
            # No RESET edge within the bound: a warm restart (already acknowledged); go on.
        else:
            self._sleep(100)
        version = self._read(_VERSION)
        if version in (0x00, 0xFF):
            raise OSError(errno.ENODEV)
        self.version = version
        self._read(_RSTIRQSTATA)  # acknowledge RESET, release IRQ
        self._write(_CONFIG, _CONFIG_LOCKED)
        # The key must immediately precede the 0x120 write: verify only afterwards.
        self._xfer(_UNLOCK, _CMD_WRITE, 1, _UNLOCK_KEY)
        self._write(_RESERVED_120, _SETTING_120)
        if self._read(_RESERVED_120) != _SETTING_120:
            raise OSError(errno.EIO)
        if self.line_cycle:
            self._write(_LINECYC, self._linecyc)
            self._write(_LCYCMODE, _RSTREAD | _LCYC_ALL)
            self._write(_IRQENA, _BIT_CYCEND | _BIT_RESET)
        else:
            self._write(_LCYCMODE, _RSTREAD)
            self._write(_IRQENA, _BIT_RESET)
        self._read(_RSTIRQSTATA)
        self.chip_reset = False

    # ---- the metering tick (no allocation) -----------------------------------------
    def read_energy_into(self, counts):
        """Fill counts[0:4] = [import, export, r_import, r_export]; False = flag the period."""
        self._ok = True
        status = self._read_once(_RSTIRQSTATA)
        if status & _BIT_RESET:
            self.chip_reset = True
            self._ok = False
        a = self._s24(self._read_once(_AENERGYA))
        r = self._s24(self._read_once(_RENERGYA))
        counts[0] = a if a > 0 else 0
        counts[1] = -a if a < 0 else 0
        counts[2] = r if r > 0 else 0
        counts[3] = -r if r < 0 else 0
        return self._ok

    # ---- display figures -----------------------------------------------------------
    def read_vi_into(self, figures):
        """figures[0:2] = mV, mA: what the meter core needs every window (the creep gate the
        current, the phase-failure monitor the voltage). The same values measure_into gives;
        the other figures are left as they are."""
        sv, si, _ = self._scales
        figures[0] = ratio(self._read(_VRMS), sv)
        figures[1] = ratio(self._read(_IRMSA), si)

    def measure_into(self, figures):
        """figures[0:7] = mV, mA, mW, mvar, mVA, PF x1000, f mHz (instantaneous registers).

        Display and quality figures, read on demand (issue 4 deliverable 7), not every tick."""
        sv, si, sp = self._scales
        figures[0] = ratio(self._read(_VRMS), sv)
        figures[1] = ratio(self._read(_IRMSA), si)
        figures[2] = ratio(self._s24(self._read(_AWATT)), sp)
        figures[3] = ratio(self._s24(self._read(_AVAR)), sp)
        figures[4] = ratio(self._s24(self._read(_AVA)), sp)
        figures[5] = pf_x1000(self._read(_PFA))
        figures[6] = freq_mhz(self._read(_PERIOD))

    def neutral_ma(self):
        """Channel B (neutral) RMS current in mA, for tamper checks against figures[1]."""
        return ratio(self._read(_IRMSB), self._scales[1])

    # ---- calibration ---------------------------------------------------------------
    def write_calibration(self, record):
        """Write gains / offsets / PHCAL from a dict such as {"awgain": 0x3F0000, "phcala": -10}.

        Gains are raw register values (0x200000..0x600000), offsets signed 24-bit, PHCAL a
        signed step count (encoded here). Everything is checked before the first write.
        """
        for key in record:
            if key not in _CAL:
                raise ValueError("unknown calibration key")
            value = record[key]
            kind = _CAL[key][1]
            if kind == "g" and not 0x200000 <= value <= 0x600000:
                raise ValueError("gain out of range")
            if kind == "o" and not -0x800000 <= value <= 0x7FFFFF:
                raise ValueError("offset out of range")
            if kind == "p":
                phcal(value)
        for key in sorted(record):
            addr, kind = _CAL[key]
            value = record[key]
            if kind == "p":
                value = phcal(value)
            elif kind == "o":
                value &= 0xFFFFFF
            self._write(addr, value)
