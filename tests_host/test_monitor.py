"""firmware/monitor.py: reverse running and phase failure, exact event sequences.

Events are [log_id, code, value, now] with now = -1 for "clock invalid" (the scenario's sink
records None as -1). Codes: requirements.md Appendix A; logs: firmware/codes.py.
"""

from mpy import run_scenario

EVENT_LOG = 0
POWER_LOG = 2
REVERSE = 0x81BB
REVERSE_CLEARED = 0xF020
INTERRUPTED = {"all": 0x8F57, 1: 0x8F58, 2: 0x8F59, 3: 0x8F5A}
RESTORED = {"all": 0x8F35, 1: 0x8F37, 2: 0x8F39, 3: 0x8F3B}  # +1 = outage >= 3 min


def test_code_table(interp):
    r = run_scenario(interp, "sc_energy", "code_table")
    assert r == {
        "interrupted": [0x8F57, 0x8F58, 0x8F59, 0x8F5A],
        "short": [0x8F35, 0x8F37, 0x8F39, 0x8F3B],
        "long": [0x8F36, 0x8F38, 0x8F3A, 0x8F3C],
        "logs": [POWER_LOG, EVENT_LOG],
    }


def test_phase_failure_three_phase_sequence(interp):
    r = run_scenario(interp, "sc_energy", "phase_failure_3p")
    t0 = 1000
    assert r["windows"] == 522
    assert r["events"] == [
        # L2 lost at t 10, confirmed after 3 windows; back at t 110: a 100 s outage.
        [EVENT_LOG, INTERRUPTED[2], 0, t0 + 12],
        [EVENT_LOG, RESTORED[2], 100, t0 + 112],
        # A 2-window dip on L1 (t 200-201) logs nothing. L1, L2, L3 lost at t 205, 206, 207:
        [EVENT_LOG, INTERRUPTED[1], 0, t0 + 207],
        [EVENT_LOG, INTERRUPTED[2], 0, t0 + 208],
        [EVENT_LOG, INTERRUPTED[3], 0, t0 + 209],
        [EVENT_LOG, INTERRUPTED["all"], 0, t0 + 209],  # after the last phase's own entry
        # L1 back at t 505, confirmed at 507 while the clock is invalid. Total outage from the
        # last phase lost (207) to the first back (505): 298 s, long; L1: 300 s, long. The 50
        # unverified windows inside the outage still count as time.
        [EVENT_LOG, RESTORED["all"] + 1, 298, -1],
        [EVENT_LOG, RESTORED[1] + 1, 300, -1],
        # L2 at 59.99 % Un at t 508 is still failed; at exactly 60 % (t 509) it is back.
        [EVENT_LOG, RESTORED[2] + 1, 303, t0 + 511],
        [EVENT_LOG, RESTORED[3] + 1, 303, t0 + 512],
        # L2 below 50 % for 2 windows then exactly 50 %: no failure.
    ]
    assert r["failed"] == [0, 0, 0]
    assert r["all_failed"] is False
    # Alert payload times (0x8F36 carries start and end): total, L1, L2, L3. A pending low
    # that never became a failure (L2 at t 516) does not overwrite the last outage start.
    assert r["outage_start"] == [t0 + 207, t0 + 205, t0 + 206, t0 + 207]
    assert r["outage_end"] == [-1, -1, t0 + 509, t0 + 510]


def test_phase_failure_single_phase_uses_total_codes(interp):
    r = run_scenario(interp, "sc_energy", "phase_failure_1p")
    assert r == [
        [EVENT_LOG, INTERRUPTED["all"], 0, 1007],  # debounce 2.5 s rounds up to 3 windows
        [EVENT_LOG, RESTORED["all"], 179, 1186],  # 179 s: short
        [EVENT_LOG, INTERRUPTED["all"], 50_000, 1189],  # value: the voltage at confirmation
        [EVENT_LOG, RESTORED["all"] + 1, 180, 1369],  # exactly 3 min: long
    ]


def test_reverse_running_single_phase(interp):
    r = run_scenario(interp, "sc_energy", "reverse_1p")
    assert r["windows"] == 17_331
    assert r["events"] == [
        # 10 000 windows of 4.5 W export never trip (below the 5 W minimum); unverified
        # windows are ignored; 500 W trips on the 15th window: 15 x 3333 - 500 >= 48 000.
        [POWER_LOG, REVERSE, 1, 1000 + 10_039],
        # Off after 60 consecutive windows without export; one count of export at t 10 070
        # restarted the count.
        [POWER_LOG, REVERSE_CLEARED, 1, 1000 + 10_130],
        # 6 W: (40 - 33 1/3) x 7200 = 48 000 fine units, exactly the 2 Wh trip energy.
        [POWER_LOG, REVERSE, 1, 1000 + 17_330],
    ]
    assert r["reverse"] == [1]


def test_reverse_running_three_phase_per_phase(interp):
    # L2 and L3 export 100 counts (312.5 mWh) per window: 2 Wh after 7 windows; stop at t 10;
    # clear time 10 s. export_mask: bit 2 lets L3 export (microgeneration).
    r = run_scenario(interp, "sc_energy", "reverse_3p", 0)
    assert r["events"] == [
        [POWER_LOG, REVERSE, 2, 1006],
        [POWER_LOG, REVERSE, 3, 1006],
        [POWER_LOG, REVERSE_CLEARED, 2, 1019],
        [POWER_LOG, REVERSE_CLEARED, 3, 1019],
    ]
    r = run_scenario(interp, "sc_energy", "reverse_3p", 4)
    assert r["events"] == [[POWER_LOG, REVERSE, 2, 1006], [POWER_LOG, REVERSE_CLEARED, 2, 1019]]
    r = run_scenario(interp, "sc_energy", "reverse_3p", 6)
    assert r["events"] == []
    assert r["reverse"] == [0, 0, 0]


def test_monitor_allocates_nothing(interp):
    r = run_scenario(interp, "sc_energy", "monitor_heap")
    assert r["ok"] is True
    assert r["events"] == [
        [POWER_LOG, REVERSE, 1, 21],
        [POWER_LOG, REVERSE_CLEARED, 1, 42],
        [EVENT_LOG, INTERRUPTED[1], 0, 102],
        [EVENT_LOG, INTERRUPTED[3], 0, 122],
        [EVENT_LOG, INTERRUPTED[2], 0, 152],
        [EVENT_LOG, INTERRUPTED["all"], 0, 152],
        [EVENT_LOG, RESTORED["all"], 50, 202],
        [EVENT_LOG, RESTORED[1], 100, 202],
        [EVENT_LOG, RESTORED[3], 100, 222],
        [EVENT_LOG, RESTORED[2], 100, 252],
    ]


def test_monitor_bad_arguments(interp):
    assert run_scenario(interp, "sc_energy", "monitor_bad_args") == [True] * 5
