"""Driver for the Maxim/Analog Devices DS3231 TCXO real-time clock (I2C address 0x68).

Same interface as hal/rv3032.py, so board/ can fit either part. Register facts (DS3231
datasheet, "Timekeeping Registers", "Control Register (0Eh)", "Status Register (0Fh)"):
- 0x00..0x06 seconds, minutes, hours, day (1-7), date, month (bit 7 = century), year: BCD.
  Hours bit 6 selects 12-hour mode (bit 5 = PM); this driver writes 24-hour mode and reads
  either.
- 0x0E Control: EOSC bit 7 (1 = oscillator STOPS when running from VBAT), BBSQW bit 6,
  CONV 5, RS2:RS1 4:3, INTCN 2, A2IE 1, A1IE 0.
- 0x0F Status: OSF bit 7 (oscillator stopped: time invalid; set at first power-up, when
  VBAT is missing or too low, or when EOSC stopped it), EN32kHz bit 3, BSY 2, A2F 1, A1F 0.
  OSF, A2F and A1F only clear by writing 0.
- 0x11/0x12 temperature: MSB signed °C, LSB bits 7:6 in 0.25 °C.

Fields: [year - 2000, month, day, hour, minute, second, weekday 0-6 (0 = Monday)]; the chip
stores the weekday as 1-7. DS3231 backup: automatic VBAT switchover, nothing to configure
except keeping the oscillator and the 32 kHz output from draining the cell
(`configure_backup`).

    rtc = DS3231(i2c)
    rtc.configure_backup()
    if rtc.time_lost(): ...
"""

import errno

from micropython import const

from hal.i2c_rtc import I2CRegisters, bcd, unbcd
from hal.rv3032 import check_fields

_SECONDS = const(0x00)
_CONTROL = const(0x0E)
_STATUS = const(0x0F)
_TEMP_MSB = const(0x11)

_CTRL_EOSC = const(0x80)
_CTRL_BBSQW = const(0x40)
_ST_OSF = const(0x80)
_ST_EN32KHZ = const(0x08)


class DS3231(I2CRegisters):
    """DS3231 over an injected machine.I2C."""

    def __init__(self, i2c, address=0x68):
        super().__init__(i2c, address)
        self._probe()

    def _probe(self):
        regs = self._read_block(_SECONDS, 19, "DS3231")
        # Bits that always read 0: seconds/minutes bit 7, hours bit 7, day 7:3, date 7:6,
        # month 6:5, status 6:4, temperature LSB 5:0; the day is 1-7.
        ok = (
            not regs[0] & 0x80
            and not regs[1] & 0x80
            and not regs[2] & 0x80
            and 1 <= regs[3] <= 7
            and not regs[4] & 0xC0
            and not regs[5] & 0x60
            and not regs[0x0F] & 0x70
            and not regs[0x12] & 0x3F
        )
        if not ok:
            raise OSError(errno.ENODEV, "device at 0x%02x is not a DS3231" % self._addr)

    def read_into(self, fields):
        """Fill fields[0:7] = [year-2000, month, day, hour, minute, second, weekday]."""
        b = self._buf
        self._i2c.readfrom_mem_into(self._addr, _SECONDS, b)
        hr = b[2]
        if hr & 0x40:  # 12-hour mode: bit 5 = PM, 12 AM is 0 h
            h = unbcd(hr & 0x1F) % 12 + (12 if hr & 0x20 else 0)
        else:
            h = unbcd(hr & 0x3F)
        s = unbcd(b[0] & 0x7F)
        mi = unbcd(b[1] & 0x7F)
        day = b[3] & 0x07
        d = unbcd(b[4] & 0x3F)
        mo = unbcd(b[5] & 0x1F)
        if s > 59 or mi > 59 or h > 23 or not (1 <= day <= 7 and 1 <= d <= 31 and 1 <= mo <= 12):
            raise OSError(errno.EIO)
        fields[0] = unbcd(b[6])
        fields[1] = mo
        fields[2] = d
        fields[3] = h
        fields[4] = mi
        fields[5] = s
        fields[6] = day - 1

    def write(self, fields):
        """Set the clock in 24-hour mode (writing seconds resets the countdown chain)."""
        check_fields(fields)
        b = self._buf
        b[0] = bcd(fields[5])
        b[1] = bcd(fields[4])
        b[2] = bcd(fields[3])
        b[3] = fields[6] + 1
        b[4] = bcd(fields[2])
        b[5] = bcd(fields[1])  # century bit 0: 2000-2099
        b[6] = bcd(fields[0])
        self._i2c.writeto_mem(self._addr, _SECONDS, b)

    def time_lost(self):
        """True while OSF is set: the oscillator stopped at some point, time is invalid."""
        return bool(self._read(_STATUS) & _ST_OSF)

    def clear_lost(self):
        """Clear OSF; A1F/A2F are written 1 (unchanged), EN32kHz keeps its value."""
        self._write(_STATUS, self._read(_STATUS) & ~_ST_OSF & 0xFF)

    def temperature_c(self):
        """Die temperature in °C (a float, 0.25 °C steps; display and logs only)."""
        t = self._two
        self._i2c.readfrom_mem_into(self._addr, _TEMP_MSB, t)
        msb = t[0] - 256 if t[0] & 0x80 else t[0]
        return msb + (t[1] >> 6) / 4

    def configure_backup(self):
        """Keep the oscillator running on VBAT (EOSC = 0), no square wave or 32 kHz output
        on battery (BBSQW = 0, EN32kHz = 0). Returns (control, status)."""
        ctrl = self._read(_CONTROL)
        want = ctrl & ~(_CTRL_EOSC | _CTRL_BBSQW) & 0xFF
        if want != ctrl:
            self._write(_CONTROL, want)
        status = self._read(_STATUS)
        if status & _ST_EN32KHZ:
            # Flags are written back as read, so OSF/A1F/A2F keep their state.
            status &= ~_ST_EN32KHZ & 0xFF
            self._write(_STATUS, status)
        return want, status
