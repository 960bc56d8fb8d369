"""firmware/civil.py: UTC calendar on the meter epoch and GMT/BST for display.

Expected values come from CPython's datetime (and zoneinfo Europe/London where the host has
the tz database), never from civil.py itself.
"""

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import civil
from mpy import run_scenario

UTC = datetime.timezone.utc
EPOCH = datetime.datetime(2000, 1, 1, tzinfo=UTC)
SEC_MAX = int((datetime.datetime(2100, 1, 1, tzinfo=UTC) - EPOCH).total_seconds()) - 1

try:
    from zoneinfo import ZoneInfo

    LONDON = ZoneInfo("Europe/London")
except Exception:  # no tz database on this host: fall back to the statutory rule
    LONDON = None


def meter_seconds(dt):
    return int((dt - EPOCH).total_seconds())


def expected_fields(sec):
    d = EPOCH + datetime.timedelta(seconds=sec)
    return [d.year, d.month, d.day, d.hour, d.minute, d.second, d.isoweekday()]


def _offset_changes(year, month):
    """UTC instants (meter s) in `month` where London's UTC offset changes, hour by hour."""
    out = []
    t = datetime.datetime(year, month, 1, tzinfo=UTC)
    prev = t.astimezone(LONDON).utcoffset()
    while t.month == month:
        t2 = t + datetime.timedelta(hours=1)
        off = t2.astimezone(LONDON).utcoffset()
        if off != prev:
            # Pin the change to the second: offset at t2 - 1 s must still be the old one.
            assert (t2 - datetime.timedelta(seconds=1)).astimezone(LONDON).utcoffset() == prev
            out.append(meter_seconds(t2))
        prev = off
        t = t2
    return out


def _rule_bound(year, month):
    # Independent statutory rule: 01:00 UTC on the last Sunday of the month.
    d = datetime.date(year, month + 1, 1) - datetime.timedelta(days=1)
    while d.isoweekday() != 7:
        d -= datetime.timedelta(days=1)
    return meter_seconds(datetime.datetime(d.year, d.month, d.day, 1, tzinfo=UTC)), d.day


def expected_bst(year):
    start, sun_mar = _rule_bound(year, 3)
    end, sun_oct = _rule_bound(year, 10)
    if LONDON is not None:
        assert _offset_changes(year, 3) == [start]
        assert _offset_changes(year, 10) == [end]
    return [year, start, end, sun_mar, sun_oct]


def test_bst_bounds_every_year_2000_2099(interp):
    got = run_scenario(interp, "sc_clock", "bst_all_years")
    assert got == [expected_bst(y) for y in range(2000, 2100)]


def test_bst_bounds_match_zoneinfo_when_available():
    if LONDON is None:
        pytest.skip("no tz database: bounds were checked against the statutory rule only")
    for y in (2000, 2024, 2037, 2099):
        assert _offset_changes(y, 3) == [civil.bst_start(y)]
        assert _offset_changes(y, 10) == [civil.bst_end(y)]


def test_is_bst_either_side_of_every_bound(interp):
    got = run_scenario(interp, "sc_clock", "bst_sweep", list(range(2000, 2100)))
    assert got == [[False, True, True, False]] * 100


def test_2024_bst_edges(interp):
    got = run_scenario(interp, "sc_clock", "bst_edges_2024")
    mar = meter_seconds(datetime.datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC))
    octo = meter_seconds(datetime.datetime(2024, 10, 27, 0, 59, 59, tzinfo=UTC))
    assert got == [
        [mar, False, "2024-03-31 00:59:59", "2024-03-31 00:59:59 GMT"],
        [mar + 1, True, "2024-03-31 01:00:00", "2024-03-31 02:00:00 BST"],
        [octo, True, "2024-10-27 00:59:59", "2024-10-27 01:59:59 BST"],
        [octo + 1, False, "2024-10-27 01:00:00", "2024-10-27 01:00:00 GMT"],
    ]


def test_leap_days_and_invalid_dates(interp):
    r = run_scenario(interp, "sc_clock", "leap_days")
    assert r == {
        "2000-02-29": [2000, 2, 29, 12, 0, 0, 2],
        "2024-02-29": [2024, 2, 29, 23, 59, 59, 4],
        "2024-03-01": 2 * 86400,
        "2023-03-01": 86400,
        "2023-02-29": "ValueError",
        "2024-02-30": "ValueError",
        "2024-04-31": "ValueError",
        "1999-12-31": "ValueError",
        "2100-01-01": "ValueError",
        "24:00": "ValueError",
        "60 s": "ValueError",
        "month 0": "ValueError",
        "days_in_year_2024": 366,
        "days_in_year_2023": 365,
        "epoch": [2000, 1, 1, 0, 0, 0, 6],
        "max": [2099, 12, 31, 23, 59, 59, 4],
        "civil_from_days_59": [2000, 2, 29],
        "civil_from_days_60": [2000, 3, 1],
        "dow_2024_03_31": 7,
    }
    # Cross-check the weekday numbers against datetime.
    assert datetime.date(2000, 2, 29).isoweekday() == 2
    assert datetime.date(2099, 12, 31).isoweekday() == 4


def test_deterministic_round_trip_sample(interp):
    r = run_scenario(interp, "sc_clock", "round_trip", 3000, 20240331)
    assert r["bad"] == 0
    assert len(r["rows"]) == 3000
    years = set()
    for row in r["rows"]:
        assert row[1:] == expected_fields(row[0])
        years.add(row[1])
    assert len(years) > 90  # the sample really spans the century


def test_format_helpers(interp):
    assert run_scenario(interp, "sc_clock", "formats") == [
        "2024-03-31 01:59:59",
        "2024-03-31",
        "01:59:59",
        "2024-07-04 09:05:03",
        "2024-07-05 00:30:00 BST",
        "2024-12-31 23:30:00 GMT",
        [2024, 12, 31, 23, 30, 0, 2],
        [2024, 7, 1, 0, 30, 0, 1],
    ]


def test_field_conversion_allocates_nothing(interp):
    # 2031-12-31 23:59:59 + 499 * 3607 s = 2032-01-21 20:59:52 (a Wednesday: RTC weekday 3)
    ok, buf = run_scenario(interp, "sc_clock", "to_fields_allocates_nothing")
    assert ok is True
    last = meter_seconds(datetime.datetime(2031, 12, 31, 23, 59, 59, tzinfo=UTC)) + 499 * 3607
    f = expected_fields(last)
    assert buf == [f[0] - 2000] + f[1:]


# ---- CPython property tests ------------------------------------------------------------


@settings(max_examples=3000, deadline=None)
@given(st.integers(min_value=0, max_value=SEC_MAX))
def test_round_trip_matches_datetime(sec):
    f = civil.to_fields(sec)
    assert list(f) == expected_fields(sec)
    assert civil.from_fields(*f[:6]) == sec
    buf = [0] * 7
    assert civil.to_fields(sec, buf) is buf and buf == list(f)


@settings(max_examples=1500, deadline=None)
@given(st.integers(min_value=0, max_value=SEC_MAX))
def test_local_time_matches_london(sec):
    if LONDON is None:
        pytest.skip("no tz database")
    d = (EPOCH + datetime.timedelta(seconds=sec)).astimezone(LONDON)
    bst = d.utcoffset() == datetime.timedelta(hours=1)
    assert civil.is_bst(sec) is bst
    assert list(civil.local_fields(sec)) == [
        d.year,
        d.month,
        d.day,
        d.hour,
        d.minute,
        d.second,
        d.isoweekday(),
    ]


@settings(max_examples=2000, deadline=None)
@given(st.dates(min_value=datetime.date(2000, 1, 1), max_value=datetime.date(2099, 12, 31)))
def test_days_and_weekday_match_datetime(d):
    days = (d - datetime.date(2000, 1, 1)).days
    assert civil.days_from_civil(d.year, d.month, d.day) == days
    assert civil.civil_from_days(days) == (d.year, d.month, d.day)
    assert civil.day_of_week(d.year, d.month, d.day) == d.isoweekday()


def test_every_day_of_the_century_round_trips():
    d = datetime.date(2000, 1, 1)
    for days in range(36525):
        assert civil.civil_from_days(days) == (d.year, d.month, d.day)
        d += datetime.timedelta(days=1)


def test_from_fields_rejects_every_impossible_day():
    for y in range(2000, 2100):
        for m in range(1, 13):
            last = (datetime.date(y + (m == 12), m % 12 + 1, 1) - datetime.timedelta(days=1)).day
            assert civil.days_in_month(y, m) == last
            civil.from_fields(y, m, last, 0, 0, 0)
            with pytest.raises(ValueError):
                civil.from_fields(y, m, last + 1, 0, 0, 0)
