"""Driver for the Micro Crystal RV-3032-C7 DTCXO real-time clock (I2C address 0x51).

Register facts (RV-3032-C7 Application Manual rev. 1.2, §3 "Register organization"; they
agree with the Linux rtc-rv3032 and Zephyr rv3032 drivers):
- 0x01..0x07 seconds, minutes, hours (24 h), weekday (0-6), date, month, year: BCD.
- 0x0D Status: PORF bit 1 (power-on reset: time invalid), VLF bit 0 (voltage low: data may
  be invalid). Flags clear by writing 0; writing 1 leaves them.
- 0x0E Temperature LSBs: TEMP[3:0] bits 7:4, EEF bit 3 (EEPROM write failed), EEbusy bit 2,
  CLKF bit 1, BSF bit 0 (a switchover to the backup supply happened).
- 0x0F Temperature MSBs: TEMP[11:4]; temperature = signed 12-bit / 16 °C.
- 0x10 Control 1: EERD bit 3 disables the automatic EEPROM refresh; EEPROM commands need it.
- 0x3D EEADDR, 0x3E EEDATA, 0x3F EECMD (0x21 write one byte, 0x22 read one byte).
- 0xC0 PMU (RAM mirror of configuration EEPROM 0xC0): NCLKE bit 6, BSM bits 5:4 (0 switchover
  disabled - the FACTORY DEFAULT -, 1 direct, 2 level switching), TCR bits 3:2 (trickle
  resistor), TCM bits 1:0 (0 off, 1 charge toward VDD, 2 3.0 V pump, 3 4.4 V pump).

`configure_backup()` must run once on a new board (it is idempotent and only writes the
EEPROM when the stored value differs): with the factory PMU = 0x00 the clock stops at every
power cut. Level switching mode suits a supercap charged to VDD through the trickle charger
(direct switching cannot choose between two almost equal voltages).

Fields are [year - 2000, month, day, hour, minute, second, weekday] with weekday 0-6
(0 = Monday, as time.localtime); the chip only counts the weekday, it never derives it.
`read_into` and `write` allocate nothing themselves (a preallocated 7-byte buffer and
readfrom_mem_into/writeto_mem).

    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=400_000)
    rtc = RV3032(i2c)
    rtc.configure_backup()
    if rtc.time_lost(): ...          # PORF or VLF: mark time invalid until a sync
"""

import errno

from micropython import const

from hal.i2c_rtc import I2CRegisters, bcd, unbcd
from lib.ticks import sleep_ms as _default_sleep_ms

_HUNDREDTHS = const(0x00)
_SECONDS = const(0x01)
_STATUS = const(0x0D)
_TEMP_LSB = const(0x0E)
_CONTROL1 = const(0x10)
_EEADDR = const(0x3D)
_EEDATA = const(0x3E)
_EECMD = const(0x3F)
_PMU = const(0xC0)

_ST_VLF = const(0x01)
_ST_PORF = const(0x02)
_TL_BSF = const(0x01)
_TL_EEBUSY = const(0x04)
_TL_EEF = const(0x08)
_C1_EERD = const(0x08)
_EE_WRITE = const(0x21)
_EE_READ = const(0x22)
_EE_TIMEOUT_MS = const(100)  # an EEPROM byte write takes ~10 ms (Linux driver waits 10-100)

_DAYS = b"\x1f\x1d\x1f\x1e\x1f\x1e\x1f\x1f\x1e\x1f\x1e\x1f"  # Feb as 29; checked below


def check_fields(fields):
    """ValueError unless fields hold a valid 2000-2099 date and time (shared with DS3231)."""
    if len(fields) < 7:
        raise ValueError("fields need 7 entries")
    y = fields[0]
    mo = fields[1]
    d = fields[2]
    h = fields[3]
    mi = fields[4]
    s = fields[5]
    wd = fields[6]
    if not (0 <= y <= 99 and 1 <= mo <= 12 and 0 <= h <= 23 and 0 <= mi <= 59):
        raise ValueError("date/time out of range")
    if not (0 <= s <= 59 and 0 <= wd <= 6):
        raise ValueError("date/time out of range")
    last = _DAYS[mo - 1]
    if mo == 2 and y % 4:
        last = 28
    if not 1 <= d <= last:
        raise ValueError("day out of range")


class RV3032(I2CRegisters):
    """RV-3032-C7 over an injected machine.I2C."""

    BSM_DISABLED = 0
    BSM_DIRECT = 1
    BSM_LEVEL = 2
    TCM_OFF = 0
    TCM_VDD = 1
    TCM_3V0 = 2
    TCM_4V4 = 3
    TCR_1K = 0  # ~0.6-1 kOhm (sources differ)
    TCR_2K = 1
    TCR_7K = 2
    TCR_11K = 3  # ~11-12 kOhm

    def __init__(self, i2c, address=0x51, sleep_ms=None):
        super().__init__(i2c, address)
        self._sleep_ms = sleep_ms or _default_sleep_ms
        self._probe()

    def _probe(self):
        regs = self._read_block(_HUNDREDTHS, 16, "RV-3032")
        # Bits the RV-3032 always reads as 0 in the time registers, and valid BCD digits.
        fixed_zero = (0x00, 0x80, 0x80, 0xC0, 0xF8, 0xC0, 0xE0, 0x00)
        for i in range(8):
            b = regs[i]
            if b & fixed_zero[i] or (i != 4 and ((b & 0x0F) > 9 or (b >> 4) > 9)):
                raise OSError(
                    errno.ENODEV,
                    "device at 0x%02x is not an RV-3032 (reg 0x%02x = 0x%02x)"
                    % (self._addr, i, b),
                )

    # ---- time --------------------------------------------------------------------------
    def read_into(self, fields):
        """Fill fields[0:7] = [year-2000, month, day, hour, minute, second, weekday]."""
        b = self._buf
        self._i2c.readfrom_mem_into(self._addr, _SECONDS, b)
        s = unbcd(b[0] & 0x7F)
        mi = unbcd(b[1] & 0x7F)
        h = unbcd(b[2] & 0x3F)
        wd = b[3] & 0x07
        d = unbcd(b[4] & 0x3F)
        mo = unbcd(b[5] & 0x1F)
        if s > 59 or mi > 59 or h > 23 or wd > 6 or not (1 <= d <= 31 and 1 <= mo <= 12):
            raise OSError(errno.EIO)
        fields[0] = unbcd(b[6])
        fields[1] = mo
        fields[2] = d
        fields[3] = h
        fields[4] = mi
        fields[5] = s
        fields[6] = wd

    def write(self, fields):
        """Set the clock (writing the seconds also zeroes the 100ths and the prescaler)."""
        check_fields(fields)
        b = self._buf
        b[0] = bcd(fields[5])
        b[1] = bcd(fields[4])
        b[2] = bcd(fields[3])
        b[3] = fields[6]
        b[4] = bcd(fields[2])
        b[5] = bcd(fields[1])
        b[6] = bcd(fields[0])
        self._i2c.writeto_mem(self._addr, _SECONDS, b)

    def time_lost(self):
        """True after a power-on reset (PORF) or a supply too low for valid data (VLF)."""
        return bool(self._read(_STATUS) & (_ST_PORF | _ST_VLF))

    def clear_lost(self):
        """Clear PORF and VLF only (other status flags are written 1 = unchanged)."""
        self._write(_STATUS, 0xFF & ~(_ST_PORF | _ST_VLF))

    def backup_switched(self):
        """True if the RTC ran from its backup supply since the flag was last cleared (BSF)."""
        return bool(self._read(_TEMP_LSB) & _TL_BSF)

    def clear_backup_switched(self):
        self._write(_TEMP_LSB, 0xFF & ~_TL_BSF)

    def temperature_c(self):
        """Die temperature in °C (a float, in 1/16 °C steps; for display and logs only)."""
        t = self._two
        self._i2c.readfrom_mem_into(self._addr, _TEMP_LSB, t)
        raw = (t[1] << 4) | (t[0] >> 4)
        if raw & 0x800:
            raw -= 0x1000
        return raw / 16

    # ---- backup supply configuration (EEPROM) ------------------------------------------
    def _wait_eeprom(self):
        for _ in range(_EE_TIMEOUT_MS):
            if not self._read(_TEMP_LSB) & _TL_EEBUSY:
                return
            self._sleep_ms(1)
        raise OSError(errno.ETIMEDOUT, "RV-3032 EEPROM busy")

    def configure_backup(self, bsm=BSM_LEVEL, tcm=TCM_VDD, tcr=TCR_2K):
        """Set BSM/TCM/TCR in the PMU register and its EEPROM copy; returns the PMU value.

        Procedure (manual §"EEPROM memory access"): set EERD, wait for EEbusy to clear,
        write the RAM mirror (effective at once), read the EEPROM byte and, only if it
        differs, write it with EECMD 0x21 and wait; EEF set means the write failed (EIO).
        EERD is restored even on failure.
        """
        if bsm not in (0, 1, 2) or tcm not in (0, 1, 2, 3) or tcr not in (0, 1, 2, 3):
            raise ValueError("bsm 0-2, tcm 0-3, tcr 0-3")
        ctrl1 = self._read(_CONTROL1)
        self._write(_CONTROL1, ctrl1 | _C1_EERD)
        try:
            self._wait_eeprom()
            self._write(_TEMP_LSB, 0xFF & ~_TL_EEF)  # clear a stale failure flag
            pmu = self._read(_PMU)
            new = (pmu & 0xC0) | (bsm << 4) | (tcr << 2) | tcm
            if pmu != new:
                self._write(_PMU, new)
            self._write(_EEADDR, _PMU)
            self._write(_EECMD, _EE_READ)
            self._wait_eeprom()
            if self._read(_EEDATA) != new:
                self._two[0] = _PMU
                self._two[1] = new
                self._i2c.writeto_mem(self._addr, _EEADDR, self._two)
                self._write(_EECMD, _EE_WRITE)
                self._wait_eeprom()
                if self._read(_TEMP_LSB) & _TL_EEF:
                    raise OSError(errno.EIO, "RV-3032 EEPROM write failed")
        finally:
            self._write(_CONTROL1, ctrl1 & ~_C1_EERD)
        return new
