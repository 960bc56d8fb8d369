"""Calibration: chip formulas (chips.md §8 A6, A7, phase, PHCAL), the record, the procedure end
to end on the virtual board for both front ends, reboot, the CoP 10 event and corrupt records.

Deterministic checks run under CPython and MicroPython (tests_host/scenarios/sc_calibration.py).
"""

import json
import os
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from mpy import ROOT, run_scenario

DATA_CHANGED_BY_PORT = 0xF041  # shared with the comms block (cosem/security.py)
CALIBRATION_FAULT = 0xF050
CALIBRATION_FAULT_CLEARED = 0xF051
NVM_ERROR = 0x81AE
STORE_FORMATTED = 0xF031


def test_vectors(interp):
    r = run_scenario(interp, "sc_calibration", "vectors")
    assert r["a6"] == r["a6_driver"] == 0xE41B  # A6: 58395, rounded like the app note
    assert r["a7"] == r["a7_driver"] == 0x1475  # A7: 5237, truncated
    assert r["a7_after_gain"] == 5233  # (2^15 + 5237) x 10000 / 10001 - 2^15, truncated
    assert r["phi_example"] == 0x24  # +0.95 % x 3763.739 = 35.76
    assert r["phi_60hz"] == 30  # x 3136.449 = 29.80
    assert r["phcal"] == [0x20A, 0x0C8, 0x37F]
    # 1 deg lag: e = -3.0384 % -> -50 steps (a 1.005 deg advance); 1 deg lead: +49 steps
    assert r["phcal_1deg"] == -50
    assert r["phcal_lead_1deg"] == 49
    assert r["wgain"] == [4072140, 4072140]  # 0x400000 / 1.03, the driver's helper agrees


def test_record(interp):
    r = run_scenario(interp, "sc_calibration", "record")
    chip, same, utc, flags, head = r["ade"]
    assert (chip, same, utc, flags) == (1, True, 123456, 1)
    # version 1, ADE7953, 8 values, verified, UTC 123456 LE, avgain 0x400000, aigain 0x400000
    assert head == [1, 1, 8, 1, 0x40, 0xE2, 0x01, 0, 0, 0, 0x40, 0, 0, 0x40, 0, 0]
    assert r["atm"] == [2, True, None, 0, 18]
    assert r["errors"] == ["ValueError"] * 5
    assert r["pack_bad"] == "ValueError"


def _check_end_to_end(r, phases):
    for p in range(phases):
        assert r["before"]["pf1"][p] > 20_000  # > 2 % uncalibrated
        assert r["before"]["pf0.5"][p] > 20_000
        for when in (r["after"], r["after_reboot"]["energy"]):
            assert abs(when["pf1"][p]) < 1000  # < 0.1 %
            assert abs(when["pf0.5"][p]) < 1000
    assert r["verified"] is True
    assert r["verify"]["worst_ppm"] < 1000
    assert r["stored_at_start"] == "blank"
    assert r["after_reboot"]["apply"] == "applied"
    assert r["record_values"] == r["values"]
    # Event Log: the blank FRAM was formatted, then the CoP 10 "data changed by port" entry
    assert r["events"] == [[STORE_FORMATTED, 256], [DATA_CHANGED_BY_PORT, 0]]
    assert r["after_reboot"]["events"] == r["events"]  # nothing more at boot: no fault


def test_end_to_end_ade7953(interp):
    r = run_scenario(interp, "sc_calibration", "end_to_end", "ade7953")
    _check_end_to_end(r, 1)
    # Exact: 1.01 x 1.02 x cos(1 deg) - 1 at PF 1; x cos(59)/cos(60) at PF 0.5
    assert r["before"] == {"pf1": [30310], "pf0.5": [61720]}
    assert r["after"] == {"pf1": [3], "pf0.5": [-155]}  # PHCAL steps are 0.0201 deg
    assert r["values"] == {
        "avgain": 4152794,
        "aigain": 4112329,
        "awgain": 4071352,
        "avargain": 4071136,
        "avagain": 4071352,
        "airmsos": -3686400,  # -(15 mA x 128 LSB/mA)^2
        "awattos": -64000,  # -800 mW x 80
        "phcala": 50,  # a 1.005 deg delay undoes the 1 deg lead
    }


def test_end_to_end_atm90e32(interp):
    r = run_scenario(interp, "sc_calibration", "end_to_end", "atm90e32")
    _check_end_to_end(r, 3)
    assert r["before"] == {"pf1": [30313, 28500, 33113], "pf0.5": [61725, 90500, 48725]}
    v = r["values"]
    assert [v["phi_a"], v["phi_b"], v["phi_c"]] == [114, 228, 57]  # 8.79 mdeg per LSB
    assert [v["ioffset_a"], v["ioffset_b"], v["ioffset_c"]] == [-7680, -20480, 0]
    assert [v["poffset_a"], v["poffset_b"], v["poffset_c"]] == [-2500, 1875, 0]


def _check_corrupt(r):
    assert r["state"] == 3  # INVALID: both copies bad
    assert r["apply"] == "invalid"
    assert r["nvm_error"] is True
    assert r["fault_active"] is True
    assert r["foreign"] == "invalid"
    assert r["fault_after_save"] is False
    assert r["apply_after_save"] == "applied"
    assert r["events"] == [
        [DATA_CHANGED_BY_PORT, 0],  # the first calibration
        [NVM_ERROR, 1],  # the store's own mount report
        [CALIBRATION_FAULT, 1],  # FAULT_CORRUPT; the foreign record finds it already on
        [DATA_CHANGED_BY_PORT, 0],  # recalibrated
        [CALIBRATION_FAULT_CLEARED, 0],
    ]


def test_corrupt_record_ade7953(interp):
    r = run_scenario(interp, "sc_calibration", "corrupt", "ade7953")
    _check_corrupt(r)
    assert r["defaults"] == [0x400000, 0x400000, 0]  # AWGAIN, AIGAIN, PHCALA untouched
    assert r["energy"] == {"pf1": [30310], "pf0.5": [61720]}  # uncalibrated again


def test_corrupt_record_atm90e32(interp):
    r = run_scenario(interp, "sc_calibration", "corrupt", "atm90e32")
    _check_corrupt(r)
    assert r["defaults"] == [0, 0x8000, 0]  # PQGainA, IgainA, PhiA
    assert r["energy"]["pf1"] == [30313, 30313, 30313]


def test_uncalibrated_board_boots_quietly(interp):
    for afe in ("ade7953", "atm90e32"):
        r = run_scenario(interp, "sc_calibration", "boot_without_record", afe)
        assert r == ["blank", [[STORE_FORMATTED, 256]]]


# ---- CPython only ------------------------------------------------------------------------
def _cal():
    for p in (ROOT, os.path.join(ROOT, "hal", "sim", "cpython")):
        if p not in sys.path:
            sys.path.append(p)
    from firmware import calibration

    return calibration


@given(
    st.integers(0x200000, 0x600000),
    st.integers(-383, 383),
    st.integers(-0x800000, 0x7FFFFF),
    st.one_of(st.none(), st.integers(0, 0xFFFFFFFE)),
)
def test_record_round_trip(gain, phcal, offset, utc):
    cal = _cal()
    vals = cal.defaults(cal.CHIP_ADE7953)
    vals["awgain"] = gain
    vals["phcala"] = phcal
    vals["awattos"] = offset
    buf = cal.pack_into(bytearray(64), cal.CHIP_ADE7953, vals, utc)
    assert cal.unpack(buf) == (cal.CHIP_ADE7953, vals, utc, 0)


@given(st.integers(1, 0xFFFF), st.integers(1, 10**7), st.integers(1, 10**7))
def test_scale_gain_rounds_to_nearest(old, ref, meas):
    cal = _cal()
    g = cal.scale_gain(old, ref, meas)
    assert abs(g * meas - old * ref) * 2 <= meas


def test_tool_writes_the_fram_image(tmp_path):
    img = str(tmp_path / "fram.img")
    cmd = [sys.executable, os.path.join(ROOT, "tools", "calibrate.py"), "--fram-image", img]
    first = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    assert os.path.getsize(img) == 262144
    assert first["stored_at_start"] == "blank"
    assert first["after"]["pf1"][0] == 3
    again = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    assert again["stored_at_start"] == "applied"  # the image kept the record
    assert again["values"] == first["values"]
