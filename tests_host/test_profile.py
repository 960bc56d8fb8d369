"""firmware/profile.py: exact carry, outage fill, clock jumps, recovery, retention, read API."""

from mpy import run_scenario

BASE = 444444  # T0 // 1800 in sc_store


def test_carry_is_exact_on_every_channel(interp):
    r = run_scenario(interp, "sc_store", "profile_carry")
    assert r["periods"] == [0, 1, 2, 3, 4, 5, 6]  # 2000 ticks of 7 s: every index once
    assert r["exact"] == [True, True, True, True]  # stored * ratio + open == fed, exactly
    assert r["reboot_same"] == [True, True, True, True]
    assert r["fed0"] == 3007347


def test_outage_is_zero_filled_and_flagged(interp):
    r = run_scenario(interp, "sc_store", "profile_outage")
    # Period 0 had 10 ticks of 2 500 Wh then the supply failed; 1-3 were dark; power came
    # back in 4. All flagged POWER_DOWN (0x04); no index skipped.
    assert r["recs"] == [
        [0, True, 4, 25000],
        [1, True, 4, 0],
        [2, True, 4, 0],
        [3, True, 4, 0],
        [4, True, 4, 0],
    ]
    assert r["open"] == 5
    assert r["open_status"] == 0


def test_clock_jumps_never_lose_energy_or_duplicate(interp):
    r = run_scenario(interp, "sc_store", "profile_clock")
    assert r["after_forward"] == [3, 2]
    assert r["no_close_while_behind"] is True
    # 0 truncated (1 000 Wh), 1 and 2 skipped (zero), 3 extended by the backward jump and
    # holding everything measured while the clock was behind: 2 000 + 3 000 + 4 000 Wh.
    assert r["recs"] == [[0, 2, 1000], [1, 2, 0], [2, 2, 0], [3, 2, 9000]]
    assert r["open"] == [4, 2, 5000]  # backward within period 4: flagged CLOCK_ADJUSTED
    assert r["written"] == 4  # one record per index, never two


def test_close_cut_before_commit_and_corrupt_record(interp):
    r = run_scenario(interp, "sc_store", "profile_recovery")
    # The ring already held the period: recovered, not duplicated; 567 fine units carried
    # (the cut tick's 10 are the lost quantum).
    assert r["first"] == [1, 1, 0, 567]
    assert r["rewritten"] == 1
    assert r["record"] == [True, 1234]
    assert r["recovered_again"] == 0


def test_read_api(interp):
    r = run_scenario(interp, "sc_store", "profile_read_api")
    assert r["newest"] == [True, [BASE + 4, 0, 5, 0, 0, 0]]
    assert r["second"] == [True, [BASE + 3, 0, 4, 0, 0, 0]]
    assert r["range"] == [
        [BASE + 1, 0, 2, 0, 0, 0],
        [BASE + 2, 0, 3, 0, 0, 0],
        [BASE + 3, 0, 4, 0, 0, 0],
    ]
    assert r["tuples"] == [[BASE + 3, 0, [4, 0, 0, 0]], [BASE + 4, 0, [5, 0, 0, 0]]]
    assert r["missing"] == [False, False, False]


def test_400_days_keep_13_months_import_and_3_months_of_the_rest(interp):
    r = run_scenario(interp, "sc_store", "profile_days", 400)
    assert r["newest"] == 400 * 48 - 1
    assert r["import_kept"] == 397 * 48  # the longest 13 calendar months
    assert r["all4_kept"] == 93 * 48  # any 3 calendar months
    o1 = 400 * 48 - 397 * 48
    o4 = 400 * 48 - 93 * 48
    assert r["checks"] == [
        [o1 - 1, False, -1, -1, -1],  # older than 397 days: gone
        [o1, True, 0x80, 145, None],  # import-ring record (IMPORT_ONLY)
        [o4 - 1, True, 0x80, 736, None],
        [o4, True, 0, 737, 0],  # four channels from here
        [400 * 48 - 1, True, 0, 200, 0],
    ]
    assert r["count"] == 397 * 48
    assert r["bad"] == 0
    assert r["reboot"] == [400 * 48 - 1, 0, 0]
