"""Byte-level model of the DS3231 TCXO RTC (I2C 0x68) for hal/ds3231.py tests.

Registers (DS3231 datasheet, "Timekeeping Registers", "Control Register (0Eh)", "Status
Register (0Fh)", "Temperature Registers (11h-12h)"):
- 0x00-0x06 BCD time; hours bit 6 = 12-hour mode with bit 5 = PM, as last written.
- 0x07-0x0D alarms (storage only); 0x0E control (POR 0x1C; EOSC bit 7).
- 0x0F status (POR 0x88: OSF bit 7 and EN32kHz bit 3; OSF/A2F/A1F clear only by writing 0).
- 0x10 aging; 0x11/0x12 temperature (0.25 °C). The register pointer wraps after 0x12.
Writing the seconds resets the sub-second countdown chain.

Backup: a coin cell (default CR2032, 225 mAh) with a flat voltage until it is exhausted at an
average draw of `i_bat_na` (3 µA including temperature conversions, chips.md §4 [R]). At
power-off the time is lost (OSF set, registers reset to 01/01/00, day 1, 00:00:00 at the
next power-on) when there is no cell, the cell is below `v_min_mv` (2.3 V [R]) or it runs
flat during the outage. With EOSC = 1 the oscillator stops on battery: registers keep their
values, the time stands still and OSF is set.

Drift: DriftClock from rtc_model with `DS3231_CURVE`, an invented TCXO residual inside the
datasheet band (±2 ppm at 0..40 °C, ±3.5 ppm at -40..85 °C).
"""

from hal.sim.rtc_model import (
    DEFAULT_START_UTC,
    EPOCH_YEAR,
    DriftClock,
    _mc,
    bcd,
    date_from_days,
    days_from_date,
    unbcd,
)

_US = 1_000_000

DS3231_CURVE = (
    (-40000, 3000),
    (0, 1500),
    (25000, 300),
    (40000, -1200),
    (85000, -3200),
)

_CTRL_EOSC = 0x80
_ST_OSF = 0x80
_ST_FLAGS = 0x83  # OSF, A2F, A1F: write 0 to clear
_ST_EN32KHZ = 0x08


class DS3231Model:
    i2c_max_hz = 400_000

    def __init__(
        self,
        sim_time,
        start_utc=DEFAULT_START_UTC,
        set_at_start=True,
        curve=DS3231_CURVE,
        temperature_c=25,
        battery=True,
        battery_uah=225_000,
        i_bat_na=3000,
        v_bat_mv=3000,
        v_min_mv=2300,
    ):
        self.sim_time = sim_time
        self.start_utc = start_utc
        self._t0_us = sim_time.now_us()
        self.clock = DriftClock(sim_time, curve, _mc(temperature_c))
        self.battery = battery
        self.charge_nah = battery_uah * 1000  # nA·h left
        self.i_bat_na = i_bat_na
        self.v_bat_mv = v_bat_mv
        self.v_min_mv = v_min_mv
        self.regs = bytearray(0x13)
        self.powered = True
        self.power_on_resets = 0
        self._off_at_us = None
        self._dead_at_us = None
        self._ptr = 0
        self._h12 = False
        self._por()
        if set_at_start:
            self.clock.set_us(self.true_utc_us())
            self._wd_off = 5  # 2000-01-01 was a Saturday; weekday 0 = Monday
            self.regs[0x0F] = 0x00

    # ---- helpers for tests -------------------------------------------------------------
    def true_utc_us(self):
        return self.start_utc * _US + self.sim_time.now_us() - self._t0_us

    def error_us(self):
        self._sync()
        return self.clock.rtc_us - self.true_utc_us()

    def set_temperature_c(self, t):
        self._sync()
        self.clock.set_temperature_mc(_mc(t), self.sim_time.now_us())

    def holdover_seconds(self):
        if not self.battery or self.v_bat_mv < self.v_min_mv:
            return 0
        return self.charge_nah * 3600 // self.i_bat_na

    def remove_battery(self):
        self.battery = False

    # ---- power -------------------------------------------------------------------------
    def power_off(self):
        if not self.powered:
            return
        self._sync()
        now = self.sim_time.now_us()
        self.powered = False
        self._off_at_us = now
        self._dead_at_us = now + self.holdover_seconds() * _US
        if self.regs[0x0E] & _CTRL_EOSC and self.holdover_seconds():
            self.clock.running = False  # EOSC: oscillator stopped on battery, registers kept
            self.regs[0x0F] |= _ST_OSF

    def power_on(self):
        if self.powered:
            return
        self._sync()
        now = self.sim_time.now_us()
        lost = self._dead_at_us <= now
        used = min(now, self._dead_at_us) - self._off_at_us
        self.charge_nah = max(0, self.charge_nah - self.i_bat_na * used // (3600 * _US))
        self.powered = True
        self._off_at_us = None
        self._dead_at_us = None
        self.clock.running = True
        self.clock._last_us = now
        if lost:
            self._por()

    def _por(self):
        for i in range(len(self.regs)):
            self.regs[i] = 0
        self.regs[0x0E] = 0x1C
        self.regs[0x0F] = 0x88
        self._h12 = False
        self._wd_off = 0  # day register 1 (weekday 0) on 01/01/00
        self.clock.set_us(0)
        self.clock.running = True
        self.clock._last_us = self.sim_time.now_us()
        self.power_on_resets += 1

    def _sync(self):
        now = self.sim_time.now_us()
        if not self.powered and self._dead_at_us <= now and self.clock.running:
            self.clock.advance_to(self._dead_at_us)
            self.clock.running = False
        self.clock.advance_to(now)

    # ---- registers ---------------------------------------------------------------------
    def _time_bytes(self):
        us = self.clock.rtc_us
        secs = us // _US
        days = secs // 86400
        sod = secs % 86400
        y, mo, d = date_from_days(days)
        h = sod // 3600
        if self._h12:
            hours = 0x40 | (0x20 if h >= 12 else 0) | bcd(h % 12 or 12)
        else:
            hours = bcd(h)
        return bytes(
            (
                bcd(sod % 60),
                bcd((sod // 60) % 60),
                hours,
                (days + self._wd_off) % 7 + 1,
                bcd(d),
                bcd(mo),
                bcd(y - EPOCH_YEAR),
            )
        )

    def _set_time(self, t, seconds_written):
        days = days_from_date(
            EPOCH_YEAR + unbcd(t[6]), max(1, unbcd(t[5] & 0x1F)), max(1, unbcd(t[4] & 0x3F))
        )
        hr = t[2]
        self._h12 = bool(hr & 0x40)
        if self._h12:
            h = unbcd(hr & 0x1F) % 12 + (12 if hr & 0x20 else 0)
        else:
            h = unbcd(hr & 0x3F)
        sod = h * 3600 + unbcd(t[1] & 0x7F) * 60 + unbcd(t[0] & 0x7F)
        sub = 0 if seconds_written else self.clock.rtc_us % _US
        self.clock.set_us((days * 86400 + sod) * _US + sub)
        self._wd_off = ((t[3] & 7) - 1 - days) % 7

    def _temp(self):
        q = (self.clock.temperature_mc * 4) // 1000  # 0.25 °C steps
        return (q >> 2) & 0xFF, (q & 3) << 6

    def i2c_write(self, data):
        if not self.powered:
            raise OSError(19, "DS3231 unpowered: no ACK")  # ENODEV
        self._sync()
        if not data:
            return
        reg = data[0]
        t = None
        seconds_written = False
        for b in data[1:]:
            if reg <= 0x06:
                if t is None:
                    t = bytearray(self._time_bytes())
                t[reg] = b
                seconds_written = seconds_written or reg == 0
            elif reg == 0x0F:
                keep = self.regs[0x0F] & _ST_FLAGS
                self.regs[0x0F] = (keep & b) | (b & _ST_EN32KHZ)
            elif reg <= 0x10:
                self.regs[reg] = b
            reg = (reg + 1) % 0x13
        if t is not None:
            self._set_time(t, seconds_written)
        self._ptr = data[0] if len(data) == 1 else reg

    def i2c_read(self, n):
        if not self.powered:
            raise OSError(19, "DS3231 unpowered: no ACK")  # ENODEV
        self._sync()
        tb = self._time_bytes()
        msb, lsb = self._temp()
        out = bytearray(n)
        reg = self._ptr
        for i in range(n):
            if reg <= 0x06:
                out[i] = tb[reg]
            elif reg == 0x11:
                out[i] = msb
            elif reg == 0x12:
                out[i] = lsb
            else:
                out[i] = self.regs[reg]
            reg = (reg + 1) % 0x13
        self._ptr = reg
        return bytes(out)
