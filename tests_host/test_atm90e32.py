"""hal/atm90e32.py against hal/sim/atm90e32_model.py over the fake SPI bus (both interpreters)."""

from hal import atm90e32 as atm
from mpy import run_scenario


def test_begin_frames_and_configuration(interp):
    r = run_scenario(interp, "sc_afe", "atm_begin")
    f = r["frames"]
    assert f[0] == "0070789a"  # SoftReset
    assert f[1] == "80330000"  # MMode0 still at reset value: the chip is there
    assert f[2:4] == ["007f55aa", "80780000"]  # open, verified via LastSPIData
    assert f[6] == "00310861" and f[8] == "0032c468"  # PLconst for MC = 3200 (A1)
    assert f[22:24] == ["007f0000", "80780000"]  # closed
    assert f[24:] == ["80310000", "80320000", "80330000", "80000000"]  # read back
    assert r["measure_first"][1] == "80d90000"  # UrmsA read frame
    assert r["regs"] == [1, 0x0861, 0xC468, 0x0087, 0, 13010, 3252, 4750, 5250, 0]
    assert r["count_uwh"] == [3125, 1] and r["phases"] == 3
    assert r["figures"] == [
        230000, 4369, 1000000, 100000, 1004986, 995, 50000,
        230000, 2173, -500000, 0, 500000, -1000, 50000,
        230000, 869, 0, -200000, 200000, 0, 50000,
    ]  # fmt: skip
    # The per-tick read: per phase Urms, UrmsLSB and Irms (9 frames, not measure_into's 31),
    # the same V and I, and nothing else written.
    assert r["frames_per_read"] == [31, 9]
    unread = [-1] * 5
    assert r["vi"] == [230000, 4369] + unread + [230000, 2173] + unread + [230000, 869] + unread


def test_hour_per_phase_quadrants_equal_truth(interp):
    r = run_scenario(interp, "sc_afe", "atm_hour")
    # A: 1 kWh import + 0.1 kvarh R+; B: 0.5 kWh export; C: 0.2 kvarh R-; 3.125 mWh per count
    assert r["totals"] == [320000, 0, 32000, 0, 0, 160000, 0, 0, 0, 0, 0, 64000]
    assert r["truth"] == r["totals"]
    assert r["oks"] == 360


def test_read_clear_only_after_full_frame(interp):
    first, last, second, cfg = run_scenario(interp, "sc_afe", "atm_read_once")
    assert first == 5333  # 60 s of 1 kW, the aborted 16-clock frame cleared nothing
    assert last == first and second == 0
    assert cfg == 0  # a 24-clock write is not committed


def test_forward_and_reverse_net_inside_a_bucket(interp):
    counts, truth = run_scenario(interp, "sc_afe", "atm_netting")
    # +1.5, -1.2, +0.5 LSB: the chip shows one forward count, the quadrants 2 and 1
    assert counts == [1, 0, 0, 0]
    assert truth == [2, 1, 0, 0]


def test_wrong_spi_mode_or_clock_raises(interp):
    assert run_scenario(interp, "sc_afe", "atm_wrong_mode") == [True, True, 1, True]


def test_phase_loss_and_sag_status(interp):
    r = run_scenario(interp, "sc_afe", "atm_events")
    assert r[0] == [0, 0, 0]
    assert r[1] == [0b100, 0x1100, 0x1100]  # phase C: PhaseLossC (bit 8) + SagC (bit 12)
    assert r[2] == [0, 0, 0x1100]  # live clear, latched stays
    assert r[3] == [0, 0x7000, 0x7100]  # 70 % sag on all phases
    assert r[4] == 0  # write-1-to-clear


def test_calibration(interp):
    r = run_scenario(interp, "sc_afe", "atm_calibration")
    assert r["regs"] == [0x1475, 0xE41B, 0xFFDC, 0]
    # PQGain +15.98 % on A; PhiC = -36 (-0.316 deg) on C, which the model applies since the
    # front-end error work: 3200 x cos(0.316 deg) = 3199.95 counts, the fraction carried.
    assert r["counts"] == [3711, 3200, 3199]
    assert r["fig"] == [230000, 4347, 1159820, 0, 1159820, 1000, 50000, 409876]
    assert r["errors"] == ["ValueError", "ValueError"]


def test_vectors_a1_to_a7(interp):
    r = run_scenario(interp, "sc_afe", "atm_vectors")
    assert r["a1"] == [0x0861, 0xC468]
    assert r["a2"] == [0x1AD2, 0x7480]
    assert r["a3_uwh"] == 1000000  # 320 counts = 1.000 Wh
    assert r["a4"] == 32000 and r["a5"] == -32000
    assert r["a6"] == 0xE41B
    assert r["a7"] == 0x1475
    assert r["phi"] == 0x24
    assert r["count_uwh_1000"] == [10000, 1]
    assert r["sag_th"] == 13435


def test_read_energy_into_allocates_nothing(interp):
    r = run_scenario(interp, "sc_afe", "heap_locked_reads")
    assert r[0] == "no allocation"
    assert r[3] is True
    assert r[4] == [(0x81 + 4 * k + p) * 7 for p in range(3) for k in range(4)]


def test_bad_arguments():
    for kw in ({"meter_constant": 0}, {"hz": 55}, {"pga": 0x40}):
        try:
            atm.ATM90E32(None, lambda v=None: None, **kw)
            raise AssertionError("accepted %r" % kw)
        except ValueError:
            pass
