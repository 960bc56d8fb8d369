"""Byte-level model of the Micro Crystal RV-3032-C7 RTC (I2C 0x51) with supercap holdover.

Register map (RV-3032-C7 Application Manual rev. 1.2, §3 "Register organization"; the
addresses and bits agree with the Linux rtc-rv3032 and Zephyr rv3032 drivers):

    0x00 100th seconds (BCD, read-only)  0x01 seconds  0x02 minutes  0x03 hours (24 h)
    0x04 weekday (0-6)  0x05 date  0x06 month  0x07 year (00-99)          -- all BCD
    0x08-0x0A alarm  0x0B-0x0C timer value
    0x0D Status: THF 7, TLF 6, UF 5, TF 4, AF 3, EVF 2, PORF 1, VLF 0 (write 0 to clear)
    0x0E Temperature LSBs: TEMP[3:0] 7:4 (1/16 °C), EEF 3, EEbusy 2, CLKF 1, BSF 0
    0x0F Temperature MSBs: TEMP[11:4], two's complement °C
    0x10 Control 1 (EERD bit 3: disables the automatic EEPROM refresh; set it before any
         EEPROM command)   0x11 Control 2   0x12 Control 3
    0x3D EEADDR  0x3E EEDATA  0x3F EECMD (0x11 update all config EEPROM from RAM,
         0x12 refresh RAM from EEPROM, 0x21 write one byte, 0x22 read one byte)
    0x40-0x4F user RAM
    0xC0 PMU (RAM mirror of the configuration EEPROM): NCLKE 6, BSM 5:4 (00 switchover
         disabled, 01 direct, 10 level switching), TCR 3:2 (trickle resistor), TCM 1:0
         (00 off, 01 charge toward VDD, 10 3.0 V charge pump, 11 4.4 V charge pump)
    0xC1 offset ... 0xCA: the rest of the configuration RAM mirror.

The RAM mirror 0xC0-0xCA is loaded from EEPROM at power-on reset: a PMU value written only
to RAM is lost the first time the backup supply runs flat. The factory EEPROM holds PMU =
0x00, i.e. backup switchover DISABLED: a board must configure BSM (hal/rv3032.py
`configure_backup`) or every power cut loses the time. Model strictness [I]: an EEPROM
command issued while EERD = 0 or while EEbusy is set is refused and sets EEF.

EEbusy lasts `EE_BUSY_MS` per command in simulated time. Drivers that wait with a real
sleep (simulated time does not move) are not stuck: each read of 0x0E while busy counts as
one millisecond of polling, so a 1 ms poll loop sees the same number of busy reads.

Time keeping: the RTC runs on its own timeline, advanced from SimTime with a frequency error
in ppb taken from a settable temperature curve (`DEFAULT_CURVE`: an invented DTCXO residual
within ±1.5 ppm over -40..85 °C, not a measured part). All arithmetic is integer, so
CPython and MicroPython agree to the microsecond.

Supercap holdover (chips.md §4-5): while VDD is off and BSM != 0, the RTC runs from the
supercap, which falls linearly: dV = (I_rtc + I_leak) * t / C (constant current at its
full-voltage worst case). Above `v_min_mv` for the whole outage: time kept (with drift), BSF
set. Otherwise the clock dies at the crossing and, at the next power-on, a power-on reset
loads the reset values (2000-01-01 00:00:00), sets PORF and VLF, and counts from there.
With BSM = 0 the time is lost at every power-off. The trickle charger (TCM != 0, BSM != 0)
recharges the cap while powered, modelled as a linear ramp to the target voltage over five
RC time constants.

Defaults (a realistic board; all are constructor keywords):
    cap_mf=1500       1.5 F, 5.5 V coin supercap (2.6x the 20-day need, chips.md §5 margin)
    v_start_mv=3300   charged to VDD by the trickle charger (TCM = 01)
    v_min_mv=1300     lowest backup voltage that keeps the clock [R: manual §"Electrical
                      characteristics", VBACKUP time-keeping minimum; verify]
    i_rtc_na=160      RV-3032 backup current at 3 V [R: typical; verify]
    i_leak_na=500     supercap self-discharge + board leakage (chips.md §5 column)
    -> holdover = (3300 - 1300) mV * 1.5 F / 660 nA = 4 545 454 s = 52.6 days.
"""

EPOCH_YEAR = 2000
DEFAULT_START_UTC = 8766 * 86400  # 2024-01-01T00:00:00Z, seconds since 2000-01-01
_US = 1_000_000
_PPB = 1_000_000_000

# (temperature in m°C, frequency error in ppb); linear between points, flat outside.
DEFAULT_CURVE = (
    (-40000, 1400),
    (-20000, 600),
    (0, -300),
    (25000, 200),
    (50000, -500),
    (70000, 400),
    (85000, 1500),
)

# Status 0x0D
ST_VLF = 0x01
ST_PORF = 0x02
# Temperature LSBs 0x0E
TL_BSF = 0x01
TL_CLKF = 0x02
TL_EEBUSY = 0x04
TL_EEF = 0x08
# Control 1
C1_EERD = 0x08

_EE_UPDATE = 0x11
_EE_REFRESH = 0x12
_EE_WRITE = 0x21
_EE_READ = 0x22
EE_BUSY_MS = {_EE_UPDATE: 46, _EE_REFRESH: 2, _EE_WRITE: 10, _EE_READ: 1}

# Trickle-charger series resistance per TCR (ohms). Sources differ slightly (Linux binding
# 1k/2k/7k/11k, Zephyr 0.6k/2k/7k/12k); only the charge time depends on it here.
TCR_OHMS = (1000, 2000, 7000, 11000)

_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


# ---- calendar (2000-2099: every 4th year is a leap year, as the chip counts) -------------
def days_from_date(year, month, day):
    y = year - EPOCH_YEAR
    days = y * 365 + (y + 3) // 4
    for m in range(1, month):
        days += _DAYS_IN_MONTH[m - 1]
        if m == 2 and year % 4 == 0:
            days += 1
    return days + day - 1


def date_from_days(days):
    y = EPOCH_YEAR
    while True:
        n = 366 if y % 4 == 0 else 365
        if days < n:
            break
        days -= n
        y += 1
    m = 1
    while True:
        n = _DAYS_IN_MONTH[m - 1] + (1 if m == 2 and y % 4 == 0 else 0)
        if days < n:
            break
        days -= n
        m += 1
    return y, m, days + 1


def bcd(v):
    return ((v // 10) << 4) | (v % 10)


def unbcd(b):
    return (b >> 4) * 10 + (b & 0x0F)


def curve_ppb(curve, mc):
    """Frequency error (ppb) at `mc` m°C, linear between the curve's points, integer only."""
    if mc <= curve[0][0]:
        return curve[0][1]
    for i in range(1, len(curve)):
        t1, p1 = curve[i]
        if mc <= t1:
            t0, p0 = curve[i - 1]
            return p0 + (p1 - p0) * (mc - t0) // (t1 - t0)
    return curve[-1][1]


class DriftClock:
    """An oscillator-driven counter of microseconds since 2000-01-01 on its own timeline."""

    def __init__(self, sim_time, curve=DEFAULT_CURVE, temperature_mc=25000):
        self.sim_time = sim_time
        self.curve = curve
        self.temperature_mc = temperature_mc
        self.rtc_us = 0
        self._frac = 0  # remainder in 1e-9 us
        self._last_us = sim_time.now_us()
        self.running = True

    def ppb(self):
        return curve_ppb(self.curve, self.temperature_mc)

    def advance_to(self, t_us):
        dt = t_us - self._last_us
        if dt <= 0:
            return
        self._last_us = t_us
        if not self.running:
            return
        num = dt * (_PPB + self.ppb()) + self._frac
        self.rtc_us += num // _PPB
        self._frac = num % _PPB

    def set_us(self, rtc_us):
        self.rtc_us = rtc_us
        self._frac = 0

    def set_temperature_mc(self, mc, t_us):
        self.advance_to(t_us)
        self.temperature_mc = mc


class Supercap:
    """Backup store: linear discharge at constant current, linear trickle recharge."""

    def __init__(self, cap_mf, v_start_mv, v_min_mv, i_rtc_na, i_leak_na):
        self.cap_mf = cap_mf
        self.v_mv = v_start_mv
        self.v_min_mv = v_min_mv
        self.i_rtc_na = i_rtc_na
        self.i_leak_na = i_leak_na
        self._rem = 0

    def current_na(self):
        return self.i_rtc_na + self.i_leak_na

    def holdover_us(self):
        """How long the clock lasts from the present voltage (0 if already below minimum)."""
        span = self.v_mv - self.v_min_mv
        if span <= 0:
            return 0
        # t = C * dV / I ; mF * mV / nA = 1e3 s -> *1e9 us
        return span * self.cap_mf * 1_000_000_000 // self.current_na()

    def discharge(self, dt_us):
        # Remainder carried so many short steps drain exactly as much as one long one.
        num = self.current_na() * dt_us + self._rem
        den = self.cap_mf * 1_000_000_000
        self._rem = num % den
        self.v_mv = max(0, self.v_mv - num // den)

    def charge(self, dt_us, target_mv, r_ohm):
        if self.v_mv >= target_mv:
            return
        # Linear stand-in for the RC curve: full after 5*R*C.
        tau5_us = 5 * r_ohm * self.cap_mf * 1000  # ohm * mF = ms -> us
        rise = (target_mv * dt_us) // max(1, tau5_us)
        self.v_mv = min(target_mv, self.v_mv + rise)


class RV3032Model:
    """The RV-3032-C7 on the fake I2C bus (address 0x51)."""

    i2c_max_hz = 400_000

    def __init__(
        self,
        sim_time,
        start_utc=DEFAULT_START_UTC,
        set_at_start=True,
        pmu=0x00,
        curve=DEFAULT_CURVE,
        temperature_c=25,
        cap_mf=1500,
        v_start_mv=3300,
        v_min_mv=1300,
        i_rtc_na=160,
        i_leak_na=500,
        vdd_mv=3300,
    ):
        self.sim_time = sim_time
        self.start_utc = start_utc
        self._t0_us = sim_time.now_us()
        self.clock = DriftClock(sim_time, curve, _mc(temperature_c))
        self.cap = Supercap(cap_mf, v_start_mv, v_min_mv, i_rtc_na, i_leak_na)
        self.vdd_mv = vdd_mv
        self.eeprom = bytearray(256)  # configuration EEPROM 0xC0-0xCA, user EEPROM 0xCB-0xEA
        self.eeprom[0xC0] = pmu
        self.regs = bytearray(256)
        self.powered = True
        self.power_on_resets = 0
        self.ee_commands = []  # (command, address, data) log for tests
        self._off_at_us = None
        self._dead_at_us = None
        self._charge_at_us = sim_time.now_us()
        self._ptr = 0
        self._busy_until_us = 0
        self._busy_polls = 0
        self._por()
        if set_at_start:
            # A board that left the factory with the time set and the flags cleared.
            self.clock.set_us(self.true_utc_us())
            self._wd_off = 5  # 2000-01-01 was a Saturday; weekday 0 = Monday
            self.regs[0x0D] = 0

    # ---- helpers for tests and the board ---------------------------------------------
    def true_utc_us(self):
        return self.start_utc * _US + self.sim_time.now_us() - self._t0_us

    def true_utc_seconds(self):
        return self.true_utc_us() // _US

    def rtc_us(self):
        self._sync()
        return self.clock.rtc_us

    def error_us(self):
        """RTC minus true UTC, in microseconds (positive: the RTC is ahead)."""
        return self.rtc_us() - self.true_utc_us()

    def error_seconds(self):
        return self.error_us() / _US

    def set_temperature_c(self, t):
        self._sync()
        self.clock.set_temperature_mc(_mc(t), self.sim_time.now_us())

    def set_curve(self, curve):
        self._sync()
        self.clock.curve = tuple(curve)

    def holdover_seconds(self):
        """How long the supercap keeps the clock from its present charge (BSM permitting)."""
        self._sync()
        return self.cap.holdover_us() // _US

    def cap_voltage_mv(self):
        self._sync()
        return self.cap.v_mv

    def pmu(self):
        return self.regs[0xC0]

    def backup_enabled(self):
        return (self.regs[0xC0] >> 4) & 3 != 0

    # ---- power -------------------------------------------------------------------------
    def power_off(self):
        if not self.powered:
            return
        self._sync()
        now = self.sim_time.now_us()
        self.powered = False
        self._off_at_us = now
        if self.backup_enabled():
            self._dead_at_us = now + self.cap.holdover_us()
        else:
            self._dead_at_us = now  # no switchover: VDD gone, clock gone
        self._sync()

    def power_on(self):
        if self.powered:
            return
        self._sync()
        now = self.sim_time.now_us()
        lost = self._dead_at_us is not None and self._dead_at_us <= now
        self.powered = True
        self._off_at_us = None
        self._dead_at_us = None
        self._charge_at_us = now
        if lost:
            self._por()
        else:
            self.regs[0x0E] |= TL_BSF

    def _por(self):
        """Power-on reset: reset values, config RAM from EEPROM, PORF and VLF set."""
        regs = self.regs
        for i in range(256):
            regs[i] = 0
        regs[0xC0:0xCB] = self.eeprom[0xC0:0xCB]
        regs[0x0D] = ST_PORF | ST_VLF
        self._wd_off = 0  # weekday register resets to 0 on 2000-01-01 [R]
        self.clock.set_us(0)
        self.clock.running = True
        self.clock._last_us = self.sim_time.now_us()
        self.power_on_resets += 1

    def _sync(self):
        now = self.sim_time.now_us()
        if self.powered:
            dt = now - self._charge_at_us
            self._charge_at_us = now
            tcm = self.regs[0xC0] & 3
            if tcm and self.backup_enabled() and dt > 0:
                target = (0, self.vdd_mv, 3000, 4400)[tcm]
                r = TCR_OHMS[(self.regs[0xC0] >> 2) & 3]
                self.cap.charge(dt, target, r)
            self.clock.advance_to(now)
            return
        off_since = self._off_at_us
        dead = self._dead_at_us
        if now >= dead:
            if self.clock.running:
                # The supercap crossed the minimum at `dead`: the oscillator stops there.
                self.clock.advance_to(dead)
                self.clock.running = False
                if dead > off_since:
                    self.cap.discharge(dead - off_since)
                self.cap.v_mv = min(self.cap.v_mv, self.cap.v_min_mv)
                self._off_at_us = dead
            self.clock.advance_to(now)
            return
        self.clock.advance_to(now)
        self.cap.discharge(now - off_since)
        self._off_at_us = now

    # ---- time registers ----------------------------------------------------------------
    def _fields(self):
        us = self.clock.rtc_us
        secs = us // _US
        days = secs // 86400
        sod = secs % 86400
        y, mo, d = date_from_days(days)
        return (
            (us % _US) // 10_000,
            sod % 60,
            (sod // 60) % 60,
            sod // 3600,
            (days + self._wd_off) % 7,
            d,
            mo,
            y - EPOCH_YEAR,
        )

    def _time_bytes(self):
        f = self._fields()
        out = bytearray(8)
        for i in range(8):
            out[i] = f[i] if i == 4 else bcd(f[i])
        return out

    def _set_time(self, new, seconds_written):
        # new: 8 register bytes 0x00-0x07 after the write
        sec = unbcd(new[1] & 0x7F)
        mi = unbcd(new[2] & 0x7F)
        hr = unbcd(new[3] & 0x3F)
        d = unbcd(new[5] & 0x3F)
        mo = unbcd(new[6] & 0x1F)
        yr = unbcd(new[7])
        mo = min(max(mo, 1), 12)
        d = max(d, 1)
        days = days_from_date(EPOCH_YEAR + yr, mo, d)
        sub_us = 0 if seconds_written else self.clock.rtc_us % _US
        self.clock.set_us((days * 86400 + hr * 3600 + mi * 60 + sec) * _US + sub_us)
        self._wd_off = ((new[4] & 7) - days) % 7

    # ---- EEPROM ------------------------------------------------------------------------
    def _ee_busy(self):
        return self.sim_time.now_us() < self._busy_until_us and self._busy_polls > 0

    def _ee_command(self, cmd):
        regs = self.regs
        if cmd not in EE_BUSY_MS:
            return
        if not regs[0x10] & C1_EERD or self._ee_busy():
            regs[0x0E] |= TL_EEF
            return
        addr = regs[0x3D]
        self.ee_commands.append((cmd, addr, regs[0x3E]))
        if cmd == _EE_UPDATE:
            self.eeprom[0xC0:0xCB] = regs[0xC0:0xCB]
        elif cmd == _EE_REFRESH:
            regs[0xC0:0xCB] = self.eeprom[0xC0:0xCB]
        elif cmd == _EE_WRITE:
            if 0xC0 <= addr <= 0xEA:
                self.eeprom[addr] = regs[0x3E]
            else:
                regs[0x0E] |= TL_EEF
        elif cmd == _EE_READ:
            regs[0x3E] = self.eeprom[addr] if 0xC0 <= addr <= 0xEA else 0
        ms = EE_BUSY_MS[cmd]
        self._busy_until_us = self.sim_time.now_us() + ms * 1000
        self._busy_polls = ms

    def _read_reg(self, reg, time_bytes):
        if reg <= 0x07:
            return time_bytes[reg]
        if reg == 0x0E:
            value = self.regs[0x0E] & ~TL_EEBUSY & 0x0F
            if self._ee_busy():
                value |= TL_EEBUSY
                self._busy_polls -= 1
            raw = (self.clock.temperature_mc * 16) // 1000
            return value | ((raw & 0x0F) << 4)
        if reg == 0x0F:
            raw = (self.clock.temperature_mc * 16) // 1000
            return (raw >> 4) & 0xFF
        if 0x39 <= reg <= 0x3C or 0xCB <= reg:
            return 0  # password registers are write-only; user EEPROM only via EEDATA
        return self.regs[reg]

    # ---- I2C device protocol -----------------------------------------------------------
    def _check_powered(self):
        if not self.powered:
            raise OSError(19, "RV-3032 unpowered: no ACK")  # ENODEV

    def i2c_write(self, data):
        self._check_powered()
        self._sync()
        if not data:
            return
        reg = data[0]
        regs = self.regs
        time_new = None
        seconds_written = False
        for b in data[1:]:
            if reg <= 0x07:
                if time_new is None:
                    time_new = self._time_bytes()
                if reg != 0x00:  # 100th seconds is read-only
                    time_new[reg] = b
                    seconds_written = seconds_written or reg == 0x01
            elif reg in (0x0D, 0x0E):
                # Flags: writing 0 clears, writing 1 leaves them; the rest is read-only.
                mask = 0xFF if reg == 0x0D else (TL_BSF | TL_CLKF | TL_EEF)
                regs[reg] &= b | ~mask
            elif reg == 0x0F or 0x18 <= reg <= 0x2F:
                pass  # read-only: temperature MSBs, time stamps
            elif reg == 0x3F:
                regs[reg] = b
                self._ee_command(b)
            elif reg < 0xCB:
                regs[reg] = b
            reg = (reg + 1) & 0xFF
        if time_new is not None:
            self._set_time(time_new, seconds_written)
        self._ptr = data[0] if len(data) == 1 else reg

    def i2c_read(self, n):
        self._check_powered()
        self._sync()
        time_bytes = self._time_bytes()  # the chip latches the time at the read start
        out = bytearray(n)
        reg = self._ptr
        for i in range(n):
            out[i] = self._read_reg(reg, time_bytes)
            reg = (reg + 1) & 0xFF
        self._ptr = reg
        return bytes(out)


def _mc(t):
    """°C (int or float) to integer m°C."""
    if isinstance(t, int):
        return t * 1000
    return int(round(t * 1000))
