"""Power-fail comparator and cover switch models firing the firmware's pin IRQs."""

from mpy import run_scenario


def test_power_fail_edges_and_hold_up(interp):
    r = run_scenario(interp, "sc_ui_hw", "power_fail_edges")
    # Fall at 1 ms, rail down 8 ms later, rise at 14 ms; a 3 ms dip at 15..18 ms does not
    # reach the rail.
    assert r["events"] == [[1000, 0], [14000, 1], [15000, 0], [18000, 1]]
    assert r["mid"] == [True, []]  # 7.999 ms into the hold-up: rail still up
    assert r["end"] == [False, [9000]]
    assert r["downs"] == [9000]
    assert r["failures"] == 2
    assert r["dips"] == 1
    assert r["irq_count"] == 4
    assert r["falls"] == [0]  # IRQ_FALLING only: the recovery edge is not delivered
    assert r["rail2"] == 0  # without a SimTime the rail drops at once


def test_cover_switch_edges(interp):
    r = run_scenario(interp, "sc_ui_hw", "cover_edges")
    assert r == {
        "seen": [["terminal", 1], ["case", 1], ["terminal", 0], ["case", 0]],
        "levels": [0, 0],
        "ops": [2, 2],
        "open_now": [False, False],
    }
