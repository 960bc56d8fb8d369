"""Calibration (firmware/calibration.py, tools/calibrate.py): deterministic scenarios that run
under CPython and the MicroPython unix port."""

from firmware import calibration as cal
from firmware import codes
from hal import ade7953 as ade
from hal import atm90e32 as atm
from tools import calibrate


def vectors():
    """chips.md §8: A6, A7, the phase example and the PHCAL cases, through the module."""
    return {
        # A6: UgainA 32768, Urms 12345 + 67/256 (x 0.01 V), reference 220.00 V -> 0xE41B
        "a6": cal.scale_gain(32768, 22_000 * 256, 12_345 * 256 + 67),
        "a6_driver": atm.rms_gain(32768, 12345, 67 << 8, 22000),
        # A7: e = -13.78 % at PF 1 -> 5237 = 0x1475 (measured 86.22 for a reference of 100)
        "a7": cal.pq_gain_for(0, 10_000, 8_622),
        "a7_driver": atm.pq_gain(-1378, 10_000),
        "a7_after_gain": cal.pq_gain_for(5237, 10_000, 10_001),
        "phi_example": cal.atm_phi(95, 10_000, 50_000),  # +0.95 % -> 35.76 -> 0x24
        "phi_60hz": cal.atm_phi(95, 10_000, 60_000),
        "phcal": [ade.phcal(-10), ade.phcal(200), ade.phcal(-383)],
        # 1 deg of extra lag at PF 0.5: e = cos 61 / cos 60 - 1 = -3.0384 %
        "phcal_1deg": cal.ade_phcal_steps(-30_384, 1_000_000, 50_000),
        "phcal_lead_1deg": cal.ade_phcal_steps(30_077, 1_000_000, 50_000),
        "wgain": [cal.scale_gain(0x400000, 100, 103), ade.gain_for_error(3, 100)],
    }


def record():
    out = {}
    buf = bytearray(64)
    ade_vals = cal.defaults(cal.CHIP_ADE7953)
    ade_vals["phcala"] = -383
    ade_vals["awattos"] = -64000
    ade_vals["awgain"] = 0x3F0000
    cal.pack_into(buf, cal.CHIP_ADE7953, ade_vals, 123456, cal.FLAG_VERIFIED)
    chip, vals, utc, flags = cal.unpack(buf)
    out["ade"] = [chip, vals == ade_vals, utc, flags, list(buf[0:16])]
    atm_vals = cal.defaults(cal.CHIP_ATM90E32)
    atm_vals["pqgain_c"] = -961
    atm_vals["ugain_b"] = 0xE41B
    cal.pack_into(buf, cal.CHIP_ATM90E32, atm_vals)
    chip, vals, utc, flags = cal.unpack(buf)
    out["atm"] = [chip, vals == atm_vals, utc, flags, buf[2]]
    errors = []
    for mutate in (0, 1, 2, 3, 4):
        b = bytearray(buf)
        if mutate == 0:
            b[0] = 2  # a version this firmware does not know
        elif mutate == 1:
            b[1] = 7  # unknown chip
        elif mutate == 2:
            b[2] = 5  # wrong count
        elif mutate == 3:
            b[8] = b[9] = b[10] = 0  # ugain_a = 0: out of range
        else:
            b[8 + 3 * 6 + 2] = 0x80  # ugain_b negative
        try:
            cal.unpack(b)
            errors.append("accepted")
        except ValueError:
            errors.append("ValueError")
    out["errors"] = errors
    try:
        bad = dict(ade_vals)
        bad["awgain"] = 0x100000
        cal.pack_into(buf, cal.CHIP_ADE7953, bad)
        out["pack_bad"] = "accepted"
    except ValueError:
        out["pack_bad"] = "ValueError"
    return out


ATM_ERRORS = [
    {"v_ppm": 10_000, "i_ppm": 20_000, "phase_mdeg": -1000, "noise_ma": 15, "offset_mw": 800},
    {"v_ppm": -15_000, "i_ppm": 45_000, "phase_mdeg": -2000, "noise_ma": 40, "offset_mw": -600},
    {"v_ppm": 5_000, "i_ppm": 28_000, "phase_mdeg": -500, "noise_ma": 0, "offset_mw": 0},
]


def end_to_end(afe):
    error = calibrate.DEFAULT_ERROR if afe == "ade7953" else ATM_ERRORS
    windows = 20 if afe == "ade7953" else 300
    return calibrate.virtual_calibration(afe, error, None, 4, windows)


def _saved_board(afe):
    sim = calibrate.build_sim(afe)
    hw, meter = calibrate._boot(sim)
    sim.afe_model.set_frontend_error(**calibrate.DEFAULT_ERROR)
    proc = cal.Procedure(hw.afe, sim.sleep_ms)
    proc.run(lambda step: calibrate._set_load(sim, step))
    proc.save(meter)
    return sim, proc


def corrupt(afe):
    """A record with both copies damaged is not applied; the fault is logged on; a record for
    the other chip likewise; a new calibration clears the fault."""
    sim, proc = _saved_board(afe)
    hw, meter = calibrate._power_cycle(sim)
    rec = meter.store.config(cal.RECORD)
    for addr in (rec.addr_a, rec.addr_b):
        hw.fram.write(addr + 6 + 9, b"\x5a")  # one payload byte in each copy
    hw, meter = calibrate._power_cycle(sim)
    out = {"state": meter.store.config(cal.RECORD).state}
    out["apply"] = cal.apply_stored(meter, hw.afe)
    out["nvm_error"] = meter.store.nvm_error
    out["fault_active"] = meter.alarms.is_active(codes.CALIBRATION_FAULT)
    regs = (0x282, 0x280, 0x108) if afe == "ade7953" else (0x47, 0x62, 0x48)
    out["defaults"] = [sim.afe_model._regs[a] for a in regs]
    out["energy"] = calibrate._energy_errors(sim, hw.afe, 20 if afe == "ade7953" else 300)
    # A well-formed record for the other chip (valid CRC) is refused on content.
    other = cal.CHIP_ATM90E32 if afe == "ade7953" else cal.CHIP_ADE7953
    buf = bytearray(64)
    cal.pack_into(buf, other, cal.defaults(other))
    meter.store.config(cal.RECORD).commit(buf)
    hw, meter = calibrate._power_cycle(sim)
    out["foreign"] = cal.apply_stored(meter, hw.afe)
    # Calibrate again: saved, fault cleared.
    proc = cal.Procedure(hw.afe, sim.sleep_ms)
    proc.run(lambda step: calibrate._set_load(sim, step))
    proc.save(meter)
    out["fault_after_save"] = meter.alarms.is_active(codes.CALIBRATION_FAULT)
    hw, meter = calibrate._power_cycle(sim)
    out["apply_after_save"] = cal.apply_stored(meter, hw.afe)
    out["events"] = [
        e for e in calibrate.event_codes(meter) if e[0] in (0xF041, 0xF050, 0xF051, 0x81AE)
    ]
    return out


def boot_without_record(afe):
    """A board never calibrated: nothing applied, nothing logged, chip defaults."""
    sim = calibrate.build_sim(afe)
    hw, meter = calibrate._boot(sim)
    return [cal.apply_stored(meter, hw.afe), calibrate.event_codes(meter)]
