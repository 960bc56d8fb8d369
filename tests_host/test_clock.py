"""firmware/clock.py: RTC boot and validity, tick-carried time, COSEM time sync, holdover.

Every scenario runs under CPython and the MicroPython unix port (tests_host/mpy.py). Times
are meter seconds (since 2000-01-01T00:00:00Z); expected values are written out here.
"""

import datetime

import pytest

from mpy import run_scenario

UTC = datetime.timezone.utc
EPOCH = datetime.datetime(2000, 1, 1, tzinfo=UTC)
T0 = 771_164_400  # the scenarios' start time

# firmware/codes.py values, written out so a renumbering is a visible test change.
LOG_EVENT, LOG_SECURITY = 0, 1
ADJUSTED, NOT_WINDOW, NOT_10S = 0x8145, 0x81C6, 0x8F0C
TIME_CHANGED, PERIOD_ADJUSTED, INVALID, VALID = 0xF010, 0xF011, 0xF012, 0xF013
PRESET, SHIFT, SET = 0, 1, 2


def test_t0_is_what_the_scenarios_say():
    assert T0 == int((datetime.datetime(2024, 6, 8, 12, 20, tzinfo=UTC) - EPOCH).total_seconds())
    assert datetime.date(2024, 6, 8).isoweekday() == 6  # Saturday: RTC weekday 5


def test_codes(interp):
    assert run_scenario(interp, "sc_clock", "codes_table") == [
        0,
        1,
        2,
        ADJUSTED,
        NOT_WINDOW,
        NOT_10S,
        TIME_CHANGED,
        PERIOD_ADJUSTED,
        INVALID,
        VALID,
    ]


# ---- boot and validity -----------------------------------------------------------------


def test_boot_cases(interp):
    r = run_scenario(interp, "sc_clock", "boot_cases")
    assert r["reasons"] == [1, 2, 4, 8]
    assert r["valid"] == [True, True, T0, T0, []]
    # Lost flag: invalid, alarm with reason LOST and no timestamp; now() still counts (from
    # the RTC's reading, there being no hint) so the firmware can pace itself.
    assert r["lost"] == [False, 1, T0 + 7200, None, [[LOG_EVENT, INVALID, 1, None]]]
    # With a hint (last persisted time) an invalid clock counts on from the hint.
    assert r["lost_hint"] == [T0 - 86400 + 1, None, [[LOG_EVENT, INVALID, 1, None]]]
    assert r["range"] == [False, 2, [[LOG_EVENT, INVALID, 2, None]]]
    # The RTC reads earlier than the meter's last persisted time: time went backwards.
    assert r["behind"] == [False, 4, T0 + 10, [[LOG_EVENT, INVALID, 4, None]]]
    assert r["fault"] == [False, 8, 0, [[LOG_EVENT, INVALID, 8, None]]]


# ---- synchronisation -------------------------------------------------------------------


def _applied(kind, old, new, code, *, was_valid=True, periods=0, events=None, boot_events=()):
    delta = new - old
    ev = list(boot_events)
    if code:
        ev.append([LOG_EVENT, code, delta, new])
    big = not was_valid or abs(delta) > 10
    ev.append([LOG_SECURITY if big else LOG_EVENT, TIME_CHANGED, delta, new])
    if was_valid and delta:
        ev.append([LOG_EVENT, PERIOD_ADJUSTED, delta, new])
    if not was_valid:
        ev.append([LOG_EVENT, VALID, 0, new])
    return {
        "adj": [kind, old, new, delta, True, code, periods, bool(was_valid and delta)],
        "events": ev if events is None else events,
        "now": new,
        "now_2s": new + 2,
        "rtc_now": new + 2,
        "rtc_clears": 1,
        "valid": True,
    }


def _refused(kind, old, new, code, log, stamp=T0, boot_events=(), valid=True):
    return {
        "adj": [kind, old, new, new - old, False, code, 0, False],
        "events": list(boot_events) + [[log, code, new - old, stamp]],
        "now": old,
        "now_2s": old + 2,
        "rtc_now": old + 2,
        "rtc_writes": [],
        "rtc_clears": 0,
        "valid": valid,
    }


def _check(r, exp):
    writes = r.pop("rtc_writes")
    if "rtc_writes" in exp:
        assert writes == exp.pop("rtc_writes")
    else:
        assert len(writes) == 1
    assert r == exp


def test_preset_inside_window_within_tolerance(interp):
    r = run_scenario(interp, "sc_clock", "sync_preset", T0 + 5, None, T0 + 65)
    exp = _applied(PRESET, T0, T0 + 5, ADJUSTED)
    assert exp["events"] == [
        [LOG_EVENT, ADJUSTED, 5, T0 + 5],
        [LOG_EVENT, TIME_CHANGED, 5, T0 + 5],
        [LOG_EVENT, PERIOD_ADJUSTED, 5, T0 + 5],
    ]
    # RTC written as [year-2000, month, day, hour, minute, second, weekday 0-6 from Monday]
    exp["rtc_writes"] = [[24, 6, 8, 12, 20, 5, 5]]
    _check(r, exp)


def test_preset_backwards_inside_a_two_sided_window(interp):
    r = run_scenario(interp, "sc_clock", "sync_preset", T0 - 3, T0 - 60, T0 + 60)
    _check(r, _applied(PRESET, T0, T0 - 3, ADJUSTED))


def test_preset_before_the_validity_window_is_not_applied(interp):
    r = run_scenario(interp, "sc_clock", "sync_preset", T0 + 5, T0 + 10, T0 + 70)
    _check(r, _refused(PRESET, T0, T0 + 5, NOT_WINDOW, LOG_EVENT))


def test_preset_after_the_validity_window_is_not_applied(interp):
    # ECS70: validity_end = preset + 60 s; the meter is 120 s ahead, so it is outside.
    r = run_scenario(interp, "sc_clock", "sync_preset", T0 - 120, None, T0 - 60)
    _check(r, _refused(PRESET, T0, T0 - 120, NOT_WINDOW, LOG_EVENT))


def test_preset_over_10_s_is_refused_with_8f0c_in_the_security_log(interp):
    r = run_scenario(interp, "sc_clock", "sync_preset", T0 + 30, None, T0 + 90)
    _check(r, _refused(PRESET, T0, T0 + 30, NOT_10S, LOG_SECURITY))


@pytest.mark.parametrize("s", [5, -5, 10, -10])
def test_shift_within_tolerance(interp, s):
    r = run_scenario(interp, "sc_clock", "sync_shift", s)
    exp = _applied(SHIFT, T0, T0 + s, ADJUSTED)
    # +s truncates the current demand period, -s extends it: flagged either way.
    assert exp["adj"][7] is True
    assert [PERIOD_ADJUSTED, s] in [e[1:3] for e in exp["events"]]
    _check(r, exp)


@pytest.mark.parametrize("s", [30, 11, -11, -900, 900])
def test_shift_over_10_s_is_refused(interp, s):
    r = run_scenario(interp, "sc_clock", "sync_shift", s)
    _check(r, _refused(SHIFT, T0, T0 + s, NOT_10S, LOG_SECURITY))


def test_shift_forward_across_a_half_hour_boundary(interp):
    start = T0 + 598  # 12:29:58
    r = run_scenario(interp, "sc_clock", "sync_shift", 5, start)
    _check(r, _applied(SHIFT, start, start + 5, ADJUSTED, periods=1))


def test_shift_backward_across_a_half_hour_boundary(interp):
    start = T0 + 602  # 12:30:02 -> 12:29:57: the 12:00 period repeats its last 3 s
    r = run_scenario(interp, "sc_clock", "sync_shift", -5, start)
    _check(r, _applied(SHIFT, start, start - 5, ADJUSTED, periods=-1))


def test_set_time_applies_a_large_step_and_logs_it_in_the_security_log(interp):
    r = run_scenario(interp, "sc_clock", "sync_set", T0 + 6000)  # 12:20:00 -> 14:00:00
    exp = _applied(SET, T0, T0 + 6000, 0, periods=4)
    assert exp["events"] == [
        [LOG_SECURITY, TIME_CHANGED, 6000, T0 + 6000],
        [LOG_EVENT, PERIOD_ADJUSTED, 6000, T0 + 6000],
    ]
    exp["rtc_writes"] = [[24, 6, 8, 14, 0, 0, 5]]
    _check(r, exp)


def test_set_time_backwards_over_periods(interp):
    r = run_scenario(interp, "sc_clock", "sync_set", T0 - 3600)
    _check(r, _applied(SET, T0, T0 - 3600, 0, periods=-2))


def test_set_time_to_the_same_second_is_still_a_port_time_change(interp):
    r = run_scenario(interp, "sc_clock", "sync_set", T0)
    exp = _applied(SET, T0, T0, 0)
    assert exp["events"] == [[LOG_EVENT, TIME_CHANGED, 0, T0]]
    _check(r, exp)


BOOT_LOST = ([LOG_EVENT, INVALID, 1, None],)


def test_invalid_clock_accepts_a_preset_outside_window_and_limit(interp):
    r = run_scenario(interp, "sc_clock", "sync_preset", T0 + 500, T0 + 1000, T0 + 2000, T0, True)
    exp = _applied(PRESET, T0, T0 + 500, ADJUSTED, was_valid=False, boot_events=BOOT_LOST)
    assert exp["events"] == [
        [LOG_EVENT, INVALID, 1, None],
        [LOG_EVENT, ADJUSTED, 500, T0 + 500],
        [LOG_SECURITY, TIME_CHANGED, 500, T0 + 500],
        [LOG_EVENT, VALID, 0, T0 + 500],
    ]
    _check(r, exp)


def test_invalid_clock_refuses_a_shift(interp):
    r = run_scenario(interp, "sc_clock", "sync_shift", 5, T0, True)
    exp = _refused(SHIFT, T0, T0 + 5, NOT_WINDOW, LOG_EVENT, None, BOOT_LOST, valid=False)
    _check(r, exp)


def test_invalid_clock_made_valid_by_set_time(interp):
    r = run_scenario(interp, "sc_clock", "sync_set", T0 + 77, T0, True)
    _check(r, _applied(SET, T0, T0 + 77, 0, was_valid=False, boot_events=BOOT_LOST))


def test_sync_argument_errors_and_failed_rtc_write(interp):
    assert run_scenario(interp, "sc_clock", "sync_errors") == [
        "ValueError",  # adjust without a preset
        "ValueError",  # shift 901
        "ValueError",  # shift -901
        "ValueError",  # before 2000
        "ValueError",  # 2100
        "ValueError",  # validity end before start
        "ValueError",  # the preset was used once
        "OSError",  # RTC write failed ...
        [T0 + 1, 0],  # ... and nothing changed, nothing was logged
    ]


# ---- time keeping ----------------------------------------------------------------------


def test_now_is_exact_across_a_ticks_wrap(interp):
    # Ticks start 65 536 ms before the 2**30 wrap; now() every 250 ms for 1 h 23 min.
    r = run_scenario(interp, "sc_clock", "ticks_wrap_exact", 0x3FFF0000, 250, 20000)
    assert r == {"bad": 0, "wraps": 1, "end": T0 + 5000, "rtc_reads": 2}


def test_now_is_exact_over_days_of_wraps_with_sparse_calls(interp):
    # now() every 5 h 33 min for 20 days: several 2**30 wraps, an RTC re-read on each call.
    r = run_scenario(interp, "sc_clock", "ticks_wrap_exact", 0x3FFFFF00, 19_980_000, 87)
    assert r["bad"] == 0
    # Start 256 ms before the wrap, then 87 * 19 980 000 ms = 1.74e9 ms: wraps at 2**30 and
    # again at 2 * 2**30.
    assert r["wraps"] == 2
    assert r["end"] == T0 + 87 * 19_980
    assert r["rtc_reads"] == 88


def test_now_recovers_from_a_call_gap_beyond_the_ticks_horizon(interp):
    # 7 days without a call: the tick distance is ambiguous (> 2**29 ms); the RTC fixes it.
    assert run_scenario(interp, "sc_clock", "long_gap", 7 * 86_400_000) == [
        T0 + 7 * 86400,
        T0 + 7 * 86400,
    ]


@pytest.mark.parametrize(
    "tick_ppm,rtc_ppm,exp",
    [
        # The tick oscillator gains 0.72 s/h at +200 ppm: now() may lead the RTC's whole
        # second by one just before the hourly read snaps it back, never more, never backwards.
        # reads: the boot read plus one per tick-hour (a slow tick counter reaches its
        # sixth hour after 6 h of true time).
        (200, 0, {"ahead": 1, "behind": 0, "reads": 7}),
        (-200, 0, {"ahead": 0, "behind": -1, "reads": 6}),
        (20, 0, {"ahead": 0, "behind": 0, "reads": 7}),
        (0, 5, {"ahead": 0, "behind": 0, "reads": 7}),
    ],
)
def test_hourly_rtc_reads_discipline_the_ticks(interp, tick_ppm, rtc_ppm, exp):
    r = run_scenario(interp, "sc_clock", "drift_discipline", tick_ppm, rtc_ppm, 6)
    exp = dict(exp, backwards=0, faults=0)
    assert r == exp


def test_rtc_glitch_is_ignored_and_counted(interp):
    # A read a minute off is not believed; a failed read keeps the tick time.
    assert run_scenario(interp, "sc_clock", "rtc_glitch") == [3600, 7200, 2, True]


def test_now_allocates_nothing(interp):
    # 8000 s of now() under heap_lock, including two hourly RTC re-reads and a tick wrap.
    # The ticks run 150 ppm fast, so after the second re-read snapped to R.999 now() leads
    # true time by just under a second: 8001 at 8000.0 s (bounded by one second).
    assert run_scenario(interp, "sc_clock", "now_allocates_nothing") == [True, 2, 8001]


# ---- holdover on the RV-3032 model (T13) -----------------------------------------------


def test_20_days_unpowered_keeps_time_within_20_s(interp):
    # Temperature cycles -40 / -20 / 85 degC every 6 h: the model's worst DTCXO residuals.
    r = run_scenario(interp, "sc_clock", "holdover", 20, [-40, -20, 85])
    assert r["boot0"] is True
    assert r["valid"] is True
    assert r["reason"] == 0
    assert r["events"] == []
    assert r["stamp_is_none"] is False
    # Mean residual (1400 + 600 + 1500) / 3 ppb over 20 days = 2.02 s: visible, and well
    # inside the CoP 10 budget of 20 s.
    assert r["error_s"] == 2
    assert r["error_s"] == r["rtc_error_s"]  # the clock reports exactly what the RTC kept
    assert r["cap_mv"] > 1300
    assert r["after_2h_stamp_is_none"] is False
    assert r["after_2h_error_s"] == r["error_s"]


def test_an_uncompensated_crystal_would_break_the_budget(interp):
    # The same 20 days with a plain tuning-fork crystal at -10 degC (-43 ppm, chips.md §4):
    # -74 s. The clock cannot detect drift, so the part choice (a DTCXO) is what meets T13.
    curve = [[-10000, -43000], [25000, 0]]
    r = run_scenario(interp, "sc_clock", "holdover", 20, [-10], True, curve)
    assert r["valid"] is True
    assert r["error_s"] == r["rtc_error_s"] == -75  # floor of -74.3 s
    assert abs(r["error_s"]) > 20


def test_60_days_unpowered_invalidates_the_clock_until_a_sync(interp):
    r = run_scenario(interp, "sc_clock", "holdover", 60, [25])
    assert r["boot0"] is True
    assert r["valid"] is False
    assert r["reason"] == 1 | 4  # PORF/VLF set, and the RTC restarted before the hint
    assert r["events"] == [[LOG_EVENT, INVALID, 5, None]]
    assert r["stamp_is_none"] is True
    assert r["after_2h_stamp_is_none"] is True  # hourly RTC reads do not revive it
    assert r["cap_mv"] == 1300
    assert r["sync"][1:] == [True, 0]  # applied, no GBCS clock alert for a set
    assert r["sync_events"] == [[LOG_SECURITY, TIME_CHANGED], [LOG_EVENT, VALID]]
    assert r["after_sync"] == [True, True, False]  # valid, stamped, RTC lost flag cleared
    assert r["after_sync_10h_error_s"] == 0
