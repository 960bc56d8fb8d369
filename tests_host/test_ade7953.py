"""hal/ade7953.py against hal/sim/ade7953_model.py over the fake SPI bus (both interpreters)."""

from hal import ade7953 as ade
from mpy import run_scenario


def test_begin_sequence_and_frames(interp):
    r = run_scenario(interp, "sc_afe", "ade_begin")
    assert r["t_us"] == 66000  # gated on the RESET interrupt (26 + 40 ms), not a fixed wait
    assert r["version"] == 0x80
    assert r["optimum"] is True and r["locked"] is True
    assert r["irq_after"] == 1  # RESET acknowledged, IRQ released
    f = r["frames"]
    assert f[:3] == ["07028000", "032e8000000000", "0102000004"]  # version, RSTIRQSTATA, lock
    # key then, with nothing between, the required setting (chips.md §1.1 frames)
    assert f[6:8] == ["00fe00ad", "0120000030"]
    assert f[3:6] == ["00fd8000", "01fe800000", "01ff800000"]  # LAST_OP/ADD/RWDATA checks
    assert "0101000064" in f  # LINECYC = 100 half cycles = 1 s at 50 Hz
    assert r["lcycmode"] == 0x7F and r["linecyc"] == 100
    assert r["irqena"] == (1 << 18) | (1 << 20)  # CYCEND + RESET
    assert r["line_cycle"] is True
    assert r["count_uwh"] == [125, 3] and r["phases"] == 1


def test_each_window_read_once_and_second_read_is_zero(interp):
    r = run_scenario(interp, "sc_afe", "ade_read_once")
    assert r["first"] == [6667, 0, 0, 1333]  # 1 kW, -200 var for one second
    assert r["again"] == [True, [0, 0, 0, 0]]
    assert r["raw"] == [6667, 0]
    # one window: RSTIRQSTATA first, then AENERGYA (`03 1E 80`), RENERGYA, each verified once
    assert r["window_frames"] == [
        "032e8000000000", "00fd8000", "01fe800000", "02ff80000000",
        "031e8000000000", "00fd8000", "01fe800000", "02ff80000000",
        "03208000000000", "00fd8000", "01fe800000", "02ff80000000",
    ]  # fmt: skip


def test_hour_import_then_export_equals_ground_truth(interp):
    r = run_scenario(interp, "sc_afe", "ade_hour_import_export")
    assert r["served"] == 3600 and r["fails"] == []
    # 1 kW / 300 var for 30 min, then -500 W / -200 var: counts of 150 000 uJ
    assert r["totals"] == [12000000, 6000000, 3600000, 2400000]
    assert r["truth"] == r["totals"]
    assert r["grid_uj"] == [c * 150000 for c in r["totals"]]
    assert r["uwh"] == [500000000, 250000000, 150000000, 100000000]


def test_profile_with_pv_nets_exactly(interp):
    r = run_scenario(interp, "sc_afe", "ade_profile_hour")
    assert r["net_read"] == r["net_truth"] == [689300, 994069]
    assert r["totals"] == [1031938, 342638, 994069, 0]  # import and export kept apart


def test_d4_one_kwh_exact(interp):
    r = run_scenario(interp, "sc_afe", "ade_one_kw_hour")
    assert r == {"counts": 24000000, "uwh": 1000000000, "rem": 0, "e5kwh": 100000}


def test_wrong_spi_mode_or_absent_chip_raises(interp):
    # modes 2 and 1 -> ENODEV; mode 3 works (version 0x80); nothing on the bus -> ENODEV
    assert run_scenario(interp, "sc_afe", "ade_wrong_mode") == [True, True, 0x80, True]


def test_timer_paced_board_uses_continuous_read_with_reset(interp):
    r = run_scenario(interp, "sc_afe", "ade_no_irq")
    assert r["lcycmode"] == 0x40 and r["irqena"] == 1 << 20
    assert r["totals"] == r["truth"] == [36674, 0, 3668, 0]


def test_outage_stops_windows_and_keeps_energy(interp):
    r = run_scenario(interp, "sc_afe", "ade_outage")
    assert r["first"] == [[1066, 6666], [2066, 6667]]
    # 9066..10066 ms ended in the outage: its counts arrive with the first window after it
    assert r["around"] == [[9066, 6667], [21066, 13333], [22066, 6667], [23066, 6666]]
    assert r["windows"] == r["cycends"] == 19


def test_ctrl_c_inside_a_chip_event_does_not_stop_the_windows(interp):
    # The HIL suite interrupts the virtual board at random moments; a cut inside CYCEND lost
    # the next one and the meter waited for a tick forever (the sim watchdog then fired).
    r = run_scenario(interp, "sc_afe", "ade_ctrl_c_in_cycend")
    assert r[:4] == [True, True, True, 3]
    assert 2000 <= r[4] <= 3000  # three 1 s windows, the first due at once
    assert r[5] == 2 + 3  # the cut CYCEND never counted; no event was doubled


def test_a_lost_chip_select_edge_does_not_float_the_bus(interp):
    # Seen in the HIL suite: after such a cut every AFE and FRAM read returned 0xFF
    # (figures() gave 838,860 mV, VRMS 0xFFFFFF), the bus counting two devices selected.
    assert run_scenario(interp, "sc_afe", "spi_lost_cs_edge") == ["1234", 0x80]


def test_ctrl_c_inside_a_timer_expiry_re_arms_the_timer(interp):
    before, after = run_scenario(interp, "sc_afe", "timer_ctrl_c_in_callback")
    # Cut at 3 s, silent until restored at 6 s, then once a period again (7 s, 8 s).
    assert before == [1000, 2000]
    assert after == [7000, 8000]


def test_unverified_read_is_flagged_not_retried(interp):
    r = run_scenario(interp, "sc_afe", "ade_flipped_read")
    ok, counts, failed, reads = r[0:4]
    assert ok is False and counts == [0, 0, 0, 0] and failed == 1
    assert reads == 1  # never re-read: the register was already cleared
    assert r[4:] == [True, [6667, 0, 0, 0]]


def test_chip_reset_is_reported_and_begin_recovers(interp):
    assert run_scenario(interp, "sc_afe", "ade_chip_reset") == [False, True, False, True, True]


def test_calibration_writes_and_gain_scales_counts(interp):
    r = run_scenario(interp, "sc_afe", "ade_calibration")
    assert r["regs"] == [0x200000, 0x20A, 0x0C8, 0xFFFFFB]
    assert r["half_counts"] == 3333  # AWGAIN 0x200000: half of 6666.7
    assert r["errors"] == ["ValueError"] * 4


def test_neutral_channel_for_tamper(interp):
    assert run_scenario(interp, "sc_afe", "ade_tamper") == [[4347, 4347], [4347, 0]]


def test_measure_figures(interp):
    r = run_scenario(interp, "sc_afe", "ade_measure")
    assert r[0] == [241500, 4323, 1000000, 300000, 1044025, 958, 49955]
    assert r[1] == [230000, 8963, -2000000, -500000, 2061548, -970, 50000]
    # The per-tick read: the same V and I, nothing else written.
    assert r[2] == [230000, 8963, -1, -1, -1, -1, -1]


def test_vectors_d1_d2_d3_and_phcal(interp):
    r = run_scenario(interp, "sc_afe", "ade_vectors")
    assert r["d1"] == [100000, 230000, 1000, 50000, 1000, -1000]  # 100 W, 230 V, 1 A, 50 Hz
    assert r["d2"] == 10000033  # 10 000.03 W
    assert r["d3"] == 10000003  # 10 000.00 W
    assert r["phcal"] == [0x20A, 0x0C8, 0x37F, -10]
    assert r["gains"] == [4152776, 4279902]


def test_read_energy_into_allocates_nothing(interp):
    r = run_scenario(interp, "sc_afe", "heap_locked_reads")
    assert r[0] == "no allocation"
    assert r[1:3] == [True, [6667, 0, 0, 2000]]


def test_bad_arguments():
    for kw in ({"count_uwh": (0, 1)}, {"linecyc": 0}):
        try:
            ade.ADE7953(None, lambda v=None: None, **kw)
            raise AssertionError("accepted %r" % kw)
        except ValueError:
            pass
    try:
        ade.phcal(384)
        raise AssertionError("accepted")
    except ValueError:
        pass
