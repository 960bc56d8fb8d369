"""Scenarios for hal/rv3032.py, hal/ds3231.py and their models (CPython and MicroPython)."""

from hal.ds3231 import DS3231
from hal.rv3032 import RV3032
from hal.sim import machine
from hal.sim.ds3231_model import DS3231Model
from hal.sim.rtc_model import RV3032Model
from hal.sim.simtime import SimTime

DAY_US = 86400 * 1_000_000


def _err(fn):
    try:
        fn()
    except OSError as e:
        return e.errno
    except ValueError:
        return "ValueError"
    return None


def _rv(**kw):
    t = SimTime()
    model = RV3032Model(t, **kw)
    i2c = machine.I2C(0, freq=400_000)
    i2c.attach(0x51, model)
    rtc = RV3032(i2c, sleep_ms=lambda ms: t.advance(ms * 1000))
    return t, model, i2c, rtc


def _read(rtc):
    f = [0] * 7
    rtc.read_into(f)
    return f


def bcd_round_trip():
    t, model, i2c, rtc = _rv()
    r = {}
    rtc.write([24, 12, 31, 23, 59, 58, 1])
    r["regs"] = list(i2c.readfrom_mem(0x51, 0x01, 7))
    r["back"] = _read(rtc)
    t.advance(3_000_000)
    r["new_year"] = _read(rtc)
    rtc.write([24, 2, 28, 23, 59, 59, 2])
    t.advance(1_000_000)
    r["leap_day"] = _read(rtc)
    rtc.write([23, 2, 28, 23, 59, 59, 1])
    t.advance(1_000_000)
    r["not_leap"] = _read(rtc)
    into = bytearray(7)
    rtc.write([99, 9, 9, 9, 9, 9, 6])
    rtc.read_into(into)
    r["bytearray"] = list(into)
    r["hundredths_after_write"] = i2c.readfrom_mem(0x51, 0x00, 1)[0]
    t.advance(250_000)
    r["hundredths_later"] = i2c.readfrom_mem(0x51, 0x00, 1)[0]
    r["bad"] = [
        _err(lambda: rtc.write([24, 13, 1, 0, 0, 0, 0])),
        _err(lambda: rtc.write([23, 2, 29, 0, 0, 0, 0])),
        _err(lambda: rtc.write([24, 4, 31, 0, 0, 0, 0])),
        _err(lambda: rtc.write([24, 1, 1, 24, 0, 0, 0])),
        _err(lambda: rtc.write([24, 1, 1, 0, 60, 0, 0])),
        _err(lambda: rtc.write([24, 1, 1, 0, 0, 0, 7])),
        _err(lambda: rtc.write([100, 1, 1, 0, 0, 0, 0])),
        _err(lambda: rtc.write([24, 1, 1, 0, 0, 0])),
        _err(lambda: rtc.write([24, 2, 29, 0, 0, 0, 3])),
    ]
    return r


def start_state():
    """A board fresh from the factory: time set, flags clear, backup NOT configured."""
    t, model, i2c, rtc = _rv()
    return {
        "fields": _read(rtc),
        "lost": rtc.time_lost(),
        "pmu": model.pmu(),
        "true_utc": model.true_utc_seconds(),
        "holdover_s": model.holdover_seconds(),
    }


def holdover(days, temperature_c):
    """Configure the backup, cut the power for `days`, then boot and look."""
    t, model, i2c, rtc = _rv()
    pmu = rtc.configure_backup()
    model.set_temperature_c(temperature_c)
    r = {"pmu": pmu, "holdover_s": model.holdover_seconds(), "v_start": model.cap_voltage_mv()}
    model.power_off()
    t.advance(days * DAY_US)
    r["v_end"] = model.cap_voltage_mv()
    model.power_on()
    r["elapsed_us"] = t.now_us()
    r["lost"] = rtc.time_lost()
    r["bsf"] = rtc.backup_switched()
    r["error_us"] = model.error_us()
    r["fields"] = _read(rtc)
    r["pmu_after"] = model.pmu()
    r["true_utc"] = model.true_utc_seconds()
    rtc.clear_backup_switched()
    r["bsf_cleared"] = rtc.backup_switched()
    if r["lost"]:
        rtc.clear_lost()
        r["lost_after_clear"] = rtc.time_lost()
        # The trickle charger refills the cap: 5 RC = 5 * 2 kOhm * 1.5 F = 15 000 s.
        t.advance(15_000 * 1_000_000)
        r["v_recharged"] = model.cap_voltage_mv()
        r["holdover_recharged_s"] = model.holdover_seconds()
    return r


def factory_default_loses_time():
    """PMU = 0x00 (switchover disabled): even a 1 s outage is a power-on reset."""
    t, model, i2c, rtc = _rv()
    t.advance(10 * 1_000_000)
    model.power_off()
    t.advance(1_000_000)
    model.power_on()
    t.advance(2_500_000)
    r = {"lost": rtc.time_lost(), "fields": _read(rtc), "resets": model.power_on_resets}
    # A PMU written to RAM only (no EEPROM) works until the first POR, then is gone.
    i2c.writeto_mem(0x51, 0xC0, b"\x25")
    r["pmu_ram"] = model.pmu()
    model.power_off()
    t.advance(100 * DAY_US)
    model.power_on()
    r["pmu_after_por"] = model.pmu()
    return r


def drift(temps):
    """Clock error after one powered day at each temperature (fresh model each time)."""
    out = []
    for temp in temps:
        t, model, i2c, rtc = _rv()
        model.set_temperature_c(temp)
        t.advance(DAY_US)
        out.append([model.error_us(), rtc.temperature_c()])
    return out


def temperature_change_mid_outage():
    """Half a day at -40 °C then half a day at 85 °C while on the supercap."""
    t, model, i2c, rtc = _rv()
    rtc.configure_backup()
    model.set_temperature_c(-40)
    base = model.error_us()
    model.power_off()
    t.advance(DAY_US // 2)
    model.set_temperature_c(85)
    t.advance(DAY_US // 2)
    model.power_on()
    return {"drift_us": model.error_us() - base, "lost": rtc.time_lost()}


class _Spy:
    def __init__(self, model):
        self.model = model
        self.i2c_max_hz = model.i2c_max_hz
        self.log = []

    def i2c_write(self, data):
        self.log.append(["w"] + list(data))
        self.model.i2c_write(data)

    def i2c_read(self, n):
        data = self.model.i2c_read(n)
        self.log.append(["r"] + list(data))
        return data


def eeprom_procedure():
    t = SimTime()
    model = RV3032Model(t)
    spy = _Spy(model)
    i2c = machine.I2C(0)
    i2c.attach(0x51, spy)
    polls = []

    def sleep(ms):
        polls.append(ms)  # no simulated time passes: the model's poll counter applies

    rtc = RV3032(i2c, sleep_ms=sleep)
    spy.log.clear()
    first = rtc.configure_backup(RV3032.BSM_LEVEL, RV3032.TCM_VDD, RV3032.TCR_2K)
    r = {
        "first": first,
        "ee_commands": [list(c) for c in model.ee_commands],
        "eeprom_pmu": model.eeprom[0xC0],
        "ctrl1": model.regs[0x10],
        "polls": len(polls),
        "writes": [x[1:] for x in spy.log if x[0] == "w" and len(x) > 2],
    }
    model.ee_commands.clear()
    r["second"] = rtc.configure_backup(RV3032.BSM_LEVEL, RV3032.TCM_VDD, RV3032.TCR_2K)
    r["second_commands"] = [list(c) for c in model.ee_commands]
    r["direct_3v"] = rtc.configure_backup(RV3032.BSM_DIRECT, RV3032.TCM_3V0, RV3032.TCR_7K)
    r["bad_args"] = [
        _err(lambda: rtc.configure_backup(3, 0, 0)),
        _err(lambda: rtc.configure_backup(2, 4, 0)),
        _err(lambda: rtc.configure_backup(2, 1, -1)),
    ]
    return r


class _StuckModel(RV3032Model):
    def _ee_busy(self):
        return True


class _FailingModel(RV3032Model):
    def _ee_command(self, cmd):
        RV3032Model._ee_command(self, cmd)
        if cmd == 0x21:
            self.regs[0x0E] |= 0x08  # EEF: write failed


def eeprom_faults():
    r = {}
    for name, cls in (("stuck", _StuckModel), ("failing", _FailingModel)):
        t = SimTime()
        model = cls(t)
        i2c = machine.I2C(0)
        i2c.attach(0x51, model)
        rtc = RV3032(i2c, sleep_ms=lambda ms, t=t: t.advance(ms * 1000))
        r[name] = [_err(rtc.configure_backup), model.regs[0x10] & 0x08]
    return r


class _Floating:
    """Something at the address that answers 0xFF to everything."""

    i2c_max_hz = 1_000_000

    def i2c_write(self, data):
        pass

    def i2c_read(self, n):
        return b"\xff" * n


def absent():
    i2c = machine.I2C(0)
    r = {"rv3032_none": _err(lambda: RV3032(i2c)), "ds3231_none": _err(lambda: DS3231(i2c))}
    i2c.attach(0x51, _Floating())
    i2c.attach(0x68, _Floating())
    r["rv3032_wrong"] = _err(lambda: RV3032(i2c))
    r["ds3231_wrong"] = _err(lambda: DS3231(i2c))
    fast = machine.I2C(0, freq=1_000_000)
    fast.attach(0x51, RV3032Model(SimTime()))
    r["rv3032_too_fast"] = _err(lambda: RV3032(fast))
    t = SimTime()
    model = RV3032Model(t)
    ok = machine.I2C(0)
    ok.attach(0x51, model)
    rtc = RV3032(ok)
    model.power_off()
    r["read_while_unpowered"] = _err(lambda: rtc.read_into([0] * 7))
    return r


class _RegI2C:
    """A register bank with the machine.I2C memory API that allocates nothing."""

    def __init__(self, regs):
        self.regs = regs

    def readfrom_mem_into(self, addr, reg, buf):
        for i in range(len(buf)):
            buf[i] = self.regs[reg + i]

    def writeto_mem(self, addr, reg, buf):
        for i in range(len(buf)):
            self.regs[reg + i] = buf[i]


def heap_lock():
    import micropython

    regs = bytearray(256)
    regs[0x01:0x08] = b"\x58\x59\x23\x01\x31\x12\x24"
    rv = RV3032(_RegI2C(regs))
    ds_regs = bytearray(256)
    ds_regs[0x00:0x07] = b"\x58\x59\x23\x02\x31\x12\x24"
    ds = DS3231(_RegI2C(ds_regs))
    as_list = [0] * 7
    as_bytes = bytearray(7)
    micropython.heap_lock()
    try:
        for _ in range(10):
            rv.read_into(as_list)
            rv.read_into(as_bytes)
            ds.read_into(as_list)
            rv.write(as_list)
        ok = True
    except MemoryError:
        ok = False
    micropython.heap_unlock()
    return {"ok": ok, "list": as_list, "bytes": list(as_bytes)}


# ---- DS3231 ------------------------------------------------------------------------------
def _ds(**kw):
    t = SimTime()
    model = DS3231Model(t, **kw)
    i2c = machine.I2C(0)
    i2c.attach(0x68, model)
    return t, model, i2c, DS3231(i2c)


def ds3231_behaviour():
    r = {}
    t, model, i2c, rtc = _ds(set_at_start=False)
    r["por"] = {
        "lost": rtc.time_lost(),
        "fields": _read(rtc),
        "control": model.regs[0x0E],
        "status": model.regs[0x0F],
    }
    r["configure"] = list(rtc.configure_backup())
    rtc.clear_lost()
    r["lost_after_clear"] = rtc.time_lost()
    rtc.write([24, 12, 31, 23, 59, 58, 6])
    r["regs"] = list(i2c.readfrom_mem(0x68, 0x00, 7))
    t.advance(2_000_000)
    r["rollover"] = _read(rtc)
    # 12-hour mode written by someone else: 0x40 | PM 0x20 | 11 -> 23 h.
    i2c.writeto_mem(0x68, 0x02, b"\x71")
    r["pm_hour"] = [_read(rtc)[3], i2c.readfrom_mem(0x68, 0x02, 1)[0]]
    i2c.writeto_mem(0x68, 0x02, b"\x52")  # 12 AM -> 0 h
    r["am12_hour"] = _read(rtc)[3]
    rtc.write([25, 1, 1, 13, 0, 0, 0])  # the driver goes back to 24-hour mode
    r["h24_again"] = i2c.readfrom_mem(0x68, 0x02, 1)[0]

    # Factory-set clock on a cell: 30 days off at 25 °C keeps time (+300 ppb drift).
    t, model, i2c, rtc = _ds()
    rtc.configure_backup()
    model.power_off()
    t.advance(30 * DAY_US)
    model.power_on()
    r["battery_30d"] = {
        "lost": rtc.time_lost(),
        "error_us": model.error_us(),
        "elapsed_us": t.now_us(),
        "holdover_days": model.holdover_seconds() // 86400,
    }
    # No cell: OSF and the power-on reset values.
    model.remove_battery()
    model.power_off()
    t.advance(1_000_000)
    model.power_on()
    r["no_battery"] = {"lost": rtc.time_lost(), "fields": _read(rtc)}

    # EOSC = 1: the oscillator stops on battery, the registers keep their values.
    t, model, i2c, rtc = _ds()
    before = _read(rtc)
    i2c.writeto_mem(0x68, 0x0E, b"\x9c")
    model.power_off()
    t.advance(3600 * 1_000_000)
    model.power_on()
    r["eosc"] = {"lost": rtc.time_lost(), "before": before, "after": _read(rtc)}
    r["eosc_error_s"] = model.error_us() // 1_000_000

    t, model, i2c, rtc = _ds(temperature_c=-7.6)
    r["temperature"] = rtc.temperature_c()
    model.set_temperature_c(31.3)
    r["temperature2"] = rtc.temperature_c()
    return r
