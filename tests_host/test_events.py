"""firmware/events.py: the three logs, overflow, clearing, head recovery, alarms."""

from mpy import run_scenario


def test_logs_append_and_read_back(interp):
    r = run_scenario(interp, "sc_store", "events_basic")
    assert r == {
        "seqs": [0, 1, 0, 0],
        "bad": "ValueError",
        "heads": [2, 1, 1],  # found by probing: no register commit since the appends
        "event": [[0, 1000, 0x8145, 12], [1, None, 0x81AE, -5]],  # invalid clock -> None
        "security": [[0, 2000, 0x8F74, 1]],
        "power": [[0, 3000, 0x81BB, 2]],
        "newest": [True, [1, None, 0x81AE, -5]],
    }


def test_overflow_clear_and_scan(interp):
    r = run_scenario(interp, "sc_store", "events_overflow")
    assert r["cap"] == 512
    assert r["count"] == 511  # slots - 1 guaranteed: the oldest are overwritten
    assert r["first_last"] == [11, 11, 521]
    assert r["refused"] == "ValueError"  # the Security Log has no delete path
    # Event Log cleared: only the 0x8F52 entry and what came after it are reported.
    assert r["event"] == [[5, 999, 0x8F52, 0], [6, 1000, 0x8200, 0]]
    assert r["scan_heads"] == [7, 522, 0]  # register record lost: full scan finds the heads
    assert r["scan_event"] == r["event"]


def test_alarms_log_transitions_once_and_survive_reboot(interp):
    r = run_scenario(interp, "sc_store", "alarms_basic")
    assert r["changed"] == [True, False, True, False, True, True]
    assert r["active_after_reboot"] == [0x8F74, 0x81AE]
    assert r["active_end"] == []
    assert r["security"] == [[0, 100, 0x8F74, 1]]  # tamper on -> Security Log
    # NVM error on (Event Log), tamper off (0x81B9 -> Event Log); NVM off has no code.
    assert r["event"] == [[0, None, 0x81AE, 2], [1, 130, 0x81B9, 1]]
