"""hal/rv3032.py and hal/ds3231.py against their byte-level models, under both interpreters.

Default board supercap (hal/sim/rtc_model.py): 1.5 F charged to 3.3 V, RV-3032 backup
160 nA + 500 nA leakage, 1.3 V minimum -> (3.3 - 1.3) V * 1.5 F / 660 nA = 4 545 454 s
(52.6 days) of holdover. DTCXO residual at 25 °C: +0.2 ppm -> 0.35 s in 20 days.
"""

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpy import run_scenario

ENODEV, EIO, ETIMEDOUT = 19, 5, 110
DAY_US = 86400 * 1_000_000
HOLDOVER_S = 4_545_454


def test_bcd_round_trip_and_rollover(interp):
    r = run_scenario(interp, "sc_rtc", "bcd_round_trip")
    # 2024-12-31 23:59:58, weekday 1, as BCD registers 0x01..0x07.
    assert r["regs"] == [0x58, 0x59, 0x23, 0x01, 0x31, 0x12, 0x24]
    assert r["back"] == [24, 12, 31, 23, 59, 58, 1]
    assert r["new_year"] == [25, 1, 1, 0, 0, 1, 2]
    assert r["leap_day"] == [24, 2, 29, 0, 0, 0, 3]
    assert r["not_leap"] == [23, 3, 1, 0, 0, 0, 2]
    assert r["bytearray"] == [99, 9, 9, 9, 9, 9, 6]
    assert r["hundredths_after_write"] == 0x00  # writing seconds clears the 100ths
    assert r["hundredths_later"] == 0x25  # 250 ms later, BCD
    assert r["bad"] == ["ValueError"] * 8 + [None]


def test_factory_state(interp):
    r = run_scenario(interp, "sc_rtc", "start_state")
    assert r == {
        "fields": [24, 1, 1, 0, 0, 0, 0],  # 2024-01-01 was a Monday (weekday 0)
        "lost": False,
        "pmu": 0x00,  # factory EEPROM: backup switchover disabled
        "true_utc": 8766 * 86400,
        "holdover_s": HOLDOVER_S,
    }


def test_twenty_days_unpowered_at_25c_keeps_time(interp):
    r = run_scenario(interp, "sc_rtc", "holdover", 20, 25)
    assert r["pmu"] == 0x25  # BSM level switching, TCR 2 kOhm, TCM toward VDD
    assert r["holdover_s"] == HOLDOVER_S
    assert r["v_start"] == 3300
    # 660 nA for 1 728 000 s from 1.5 F: 760.32 mV.
    assert r["v_end"] == 2540
    assert r["lost"] is False
    assert r["bsf"] is True and r["bsf_cleared"] is False
    # +200 ppb over the whole run (configure took 11 ms of simulated EEPROM time).
    assert r["elapsed_us"] == 20 * DAY_US + 11_000
    assert r["error_us"] == r["elapsed_us"] * 200 // 10**9 == 345_600
    assert abs(r["error_us"]) <= 20_000_000  # CoP 10: within 20 s after 20 days
    assert r["fields"] == [24, 1, 21, 0, 0, 0, 6]
    assert r["pmu_after"] == 0x25


def test_holdover_at_85c_still_inside_capacity(interp):
    r = run_scenario(interp, "sc_rtc", "holdover", 52, 85)
    assert r["lost"] is False
    assert r["v_end"] == 1324
    assert r["error_us"] == 52 * DAY_US * 1500 // 10**9  # +1.5 ppm at 85 °C


def test_outage_beyond_the_supercap_loses_time(interp):
    r = run_scenario(interp, "sc_rtc", "holdover", 60, 25)
    assert 60 * 86400 > HOLDOVER_S
    assert r["lost"] is True  # PORF/VLF -> the driver reports time_lost()
    assert r["bsf"] is False  # a power-on reset cleared everything
    assert r["fields"] == [0, 1, 1, 0, 0, 0, 0]  # reset value 2000-01-01 00:00:00
    assert r["v_end"] == 1300
    assert r["pmu_after"] == 0x25  # configure_backup wrote the EEPROM, so it survives POR
    assert r["lost_after_clear"] is False
    assert r["v_recharged"] == 3300
    assert r["holdover_recharged_s"] == HOLDOVER_S


def test_factory_default_pmu_loses_time_on_any_outage(interp):
    r = run_scenario(interp, "sc_rtc", "factory_default_loses_time")
    assert r == {
        "lost": True,
        "fields": [0, 1, 1, 0, 0, 2, 0],
        "resets": 2,
        "pmu_ram": 0x25,
        "pmu_after_por": 0x00,  # a RAM-only PMU write does not survive a POR
    }


def test_drift_follows_the_temperature_curve(interp):
    temps = [-40, -30, -12.3, 0, 10, 25, 60, 85, 100]
    r = run_scenario(interp, "sc_rtc", "drift", temps)
    # ppb from the curve (linear between points, flat outside), times 86.4 us per ppb-day.
    ppb = [1400, 1000, 253, -300, -100, 200, -50, 1500, 1500]
    assert [e for e, _ in r] == [86_400 * p // 1000 for p in ppb]
    assert [t for _, t in r] == [-40.0, -30.0, -12.3125, 0.0, 10.0, 25.0, 60.0, 85.0, 100.0]


def test_temperature_change_during_outage(interp):
    r = run_scenario(interp, "sc_rtc", "temperature_change_mid_outage")
    assert r == {"drift_us": 43_200 * 1400 // 1000 + 43_200 * 1500 // 1000, "lost": False}


def test_eeprom_procedure(interp):
    r = run_scenario(interp, "sc_rtc", "eeprom_procedure")
    assert r["first"] == 0x25
    # Read the EEPROM copy first; write it only because it differs.
    assert r["ee_commands"] == [[0x22, 0xC0, 0x00], [0x21, 0xC0, 0x25]]
    assert r["eeprom_pmu"] == 0x25
    assert r["ctrl1"] == 0x00  # EERD restored
    assert r["polls"] == 11  # 1 ms read + 10 ms write, polled at 1 ms
    assert r["writes"] == [
        [0x10, 0x08],  # EERD on
        [0x0E, 0xF7],  # clear a stale EEF
        [0xC0, 0x25],  # RAM mirror
        [0x3D, 0xC0],  # EEADDR
        [0x3F, 0x22],  # read one byte
        [0x3D, 0xC0, 0x25],  # EEADDR, EEDATA
        [0x3F, 0x21],  # write one byte
        [0x10, 0x00],  # EERD off
    ]
    assert r["second"] == 0x25
    assert r["second_commands"] == [[0x22, 0xC0, 0x25]]  # idempotent: no EEPROM write
    assert r["direct_3v"] == 0x1A  # BSM 01, TCR 10, TCM 10
    assert r["bad_args"] == ["ValueError"] * 3


def test_eeprom_faults(interp):
    r = run_scenario(interp, "sc_rtc", "eeprom_faults")
    assert r == {"stuck": [ETIMEDOUT, 0], "failing": [EIO, 0]}


def test_absent_devices(interp):
    r = run_scenario(interp, "sc_rtc", "absent")
    assert r == {
        "rv3032_none": ENODEV,
        "ds3231_none": ENODEV,
        "rv3032_wrong": ENODEV,
        "ds3231_wrong": ENODEV,
        "rv3032_too_fast": ENODEV,
        "read_while_unpowered": ENODEV,
    }


def test_read_into_allocates_nothing(interp):
    r = run_scenario(interp, "sc_rtc", "heap_lock")
    assert r == {
        "ok": True,
        "list": [24, 12, 31, 23, 59, 58, 1],
        "bytes": [24, 12, 31, 23, 59, 58, 1],
    }


def test_ds3231(interp):
    r = run_scenario(interp, "sc_rtc", "ds3231_behaviour")
    assert r["por"] == {
        "lost": True,  # OSF set at first power-up
        "fields": [0, 1, 1, 0, 0, 0, 0],
        "control": 0x1C,
        "status": 0x88,
    }
    assert r["configure"] == [0x1C, 0x80]  # EOSC/BBSQW off; EN32kHz cleared, OSF kept
    assert r["lost_after_clear"] is False
    assert r["regs"] == [0x58, 0x59, 0x23, 0x07, 0x31, 0x12, 0x24]  # day register 1-7
    assert r["rollover"] == [25, 1, 1, 0, 0, 0, 0]
    assert r["pm_hour"] == [23, 0x71]
    assert r["am12_hour"] == 0
    assert r["h24_again"] == 0x13
    assert r["battery_30d"] == {
        "lost": False,
        "error_us": 30 * 86_400 * 300 // 1000,  # +0.3 ppm at 25 °C
        "elapsed_us": 30 * DAY_US,
        "holdover_days": 3095,  # 225 mAh / 3 uA
    }
    assert r["no_battery"] == {"lost": True, "fields": [0, 1, 1, 0, 0, 0, 0]}
    assert r["eosc"] == {
        "lost": True,
        "before": [24, 1, 1, 0, 0, 0, 0],
        "after": [24, 1, 1, 0, 0, 0, 0],
    }
    assert r["eosc_error_s"] == -3600
    assert r["temperature"] == -7.75
    assert r["temperature2"] == 31.25


# ---- CPython-only checks ---------------------------------------------------------------
def test_default_curve_is_within_the_dtcxo_band():
    from hal.sim.rtc_model import DEFAULT_CURVE, curve_ppb

    worst = max(abs(curve_ppb(DEFAULT_CURVE, mc)) for mc in range(-40000, 85001, 250))
    assert worst == 1500  # within ±1.5 ppm over -40..85 °C


def test_holdover_days_figure():
    from hal.sim.rtc_model import Supercap

    cap = Supercap(1500, 3300, 1300, 160, 500)
    assert cap.holdover_us() // 1_000_000 == HOLDOVER_S
    assert HOLDOVER_S / 86400 == pytest.approx(52.61, abs=0.01)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 36524))
def test_calendar_matches_datetime(days):
    from hal.sim.rtc_model import date_from_days, days_from_date

    d = datetime.date(2000, 1, 1) + datetime.timedelta(days=days)
    assert date_from_days(days) == (d.year, d.month, d.day)
    assert days_from_date(d.year, d.month, d.day) == days


@settings(max_examples=100, deadline=None)
@given(st.datetimes(datetime.datetime(2000, 1, 1), datetime.datetime(2099, 12, 31, 23, 59, 59)))
def test_driver_round_trip_any_datetime(dt):
    from hal.ds3231 import DS3231
    from hal.rv3032 import RV3032
    from hal.sim import machine
    from hal.sim.ds3231_model import DS3231Model
    from hal.sim.rtc_model import RV3032Model
    from hal.sim.simtime import SimTime

    fields = [dt.year - 2000, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.weekday()]
    t = SimTime()
    i2c = machine.I2C(0)
    i2c.attach(0x51, RV3032Model(t))
    i2c.attach(0x68, DS3231Model(t))
    for rtc in (RV3032(i2c), DS3231(i2c)):
        rtc.write(fields)
        back = [0] * 7
        rtc.read_into(back)
        assert back == fields
