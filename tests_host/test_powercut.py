"""Power-cut tests in the littlefs/SQLite style (reliability.md §1, T1-T3, T14).

The workload (sc_store.step) ticks every 300 s with a register commit, closes a half hour
every six ticks, appends to the logs, toggles a tamper alarm and rewrites a config record.
The FRAM is hal/fram.py over the fake SPI bus against hal/sim/fram_model.py, cut after every
data byte. After each cut the meter reboots and sc_store._check demands: every register
exactly its old or new value, the profile equal to the uncut run with no period missing or
duplicated, stored + open energy == register energy exactly (loss <= the cut tick), logs
intact and in order, alarm and config state old or new.
"""

from mpy import run_scenario


def test_exhaustive_single_cut_with_garbage_tail(interp):
    # CPython: every byte of 96 steps (> 5000 cut points, 21 half-hour closes), 16 garbage
    # bytes clocked after the cut (T1 mode c at the interrupted address). A register commit
    # rewrites only the bytes of its copy that changed, so a step writes ~57 bytes: the
    # window is long enough to keep more than 5,000 cut points. MicroPython: a subset.
    if interp == "cpython":
        r = run_scenario(interp, "sc_store", "powercut_window", 30, 96, 1, 16)
        assert r["cuts"] == r["bytes"] == 5443  # every data byte of the window
        assert r["closes"] == 21
    else:
        r = run_scenario(interp, "sc_store", "powercut_window", 30, 14, 29, 16, 4, False)
        assert r["bytes"] == 769
        assert r["cuts"] == r["expected_cuts"] == 35
        assert r["closes"] == 7
    assert r["fails"] == []
    assert r["partial"] > 0  # some cuts landed between a step's log/config writes and its tick


def test_exhaustive_single_cut_prefix_only_and_one_garbage_byte(interp):
    # T1 modes (a) and (b): prefix new / rest old, and one corrupted byte in flight.
    stride = 3 if interp == "cpython" else 41
    for garbage in (0, 1):
        r = run_scenario(interp, "sc_store", "powercut_window", 30, 8, stride, garbage)
        assert r["fails"] == []
        assert r["bytes"] == 413
        assert r["cuts"] == r["expected_cuts"] == (140 if stride == 3 else 13)


def test_random_cuts_with_garbage(interp):
    n = 400 if interp == "cpython" else 40
    r = run_scenario(interp, "sc_store", "random_cuts", n, 11, 16, False)
    assert r == {"runs": n, "fails": [], "nfails": 0, "detected": 0}


def test_random_cuts_garbage_at_random_address(interp):
    # T1 mode (c): the junk may land anywhere, even on a live record. Damage must be
    # detected (NVM error, records missing) and never turn into wrong or zeroed values.
    n = 300 if interp == "cpython" else 30
    r = run_scenario(interp, "sc_store", "random_cuts", n, 5, 16, True)
    assert r["runs"] == n
    assert r["fails"] == []


def test_double_cut_during_recovery(interp):
    # T2: a cut in step 25 (its 54 bytes: log entries and the register commit), then a cut
    # at every byte of the recovery writes (boot + power_up + register commit).
    k1 = [5, 30, 53] if interp == "cpython" else [30]
    stride = 1 if interp == "cpython" else 3
    r = run_scenario(interp, "sc_store", "double_cut", k1, stride)
    assert r["fails"] == []
    assert r["runs"] == (48 if interp == "cpython" else 3)


def test_alarm_logged_exactly_once_under_cuts(interp):
    # T14: cut at every byte of an alarm transition (state commit + Security Log append).
    stride = 1 if interp == "cpython" else 7
    r = run_scenario(interp, "sc_store", "alarms_exactly_once", stride)
    assert r["cost"] == 106  # 90-byte state copy + 16-byte entry
    assert r["runs"] == len(range(0, 106, stride))
    assert r["bad"] == []
