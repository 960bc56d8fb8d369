"""UTC calendar arithmetic on the meter's own epoch, and GMT/BST for the display.

"Meter seconds" count from 2000-01-01T00:00:00Z. The firmware never calls
time.localtime()/mktime(): the unix port counts from 1970, ESP32 and RP2040 from 2000, so
the meter owns its conversion (DESIGN.md rule 8). The meter runs on UTC only (CoP 10,
requirements.md §3); local time (UTC+1 during British Summer Time) exists for display only.

Range: years 2000-2099 (the RTC stores a two-digit year). Meter seconds stay below 2**30 (a
small int on 32-bit ports) until 2034-01-10; later dates are still exact, they just live in
heap ints. The half-hour demand period index is `sec // HALF_HOUR`.

BST (Summer Time Order 2002 and the EU rule it follows): from 01:00 UTC on the last Sunday
of March to 01:00 UTC on the last Sunday of October.

Integer arithmetic only. Functions used by the clock's hot path (`days_to_year`, the field
conversion into a caller buffer) allocate nothing.
"""

from micropython import const

HALF_HOUR = const(1800)
DAY = const(86400)
YEAR_MIN = const(2000)
YEAR_MAX = const(2099)
# 2000-01-01 was a Saturday: weekday 6 with Monday = 1.
_WEEKDAY_OF_EPOCH = const(6)
_BST_HOUR_UTC = const(1)

# Days before the first of each month in a common year.
_CUM_DAYS = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def is_leap(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year, month):
    if month == 2 and is_leap(year):
        return 29
    return _MONTH_DAYS[month - 1]


def _days_before_year(year):
    # Whole days from 2000-01-01 to January 1st of `year`: 365 per year plus one per leap
    # year in [2000, year), counting the Gregorian 100/400 rule (2000 is leap, 2100 is not).
    n = year - YEAR_MIN
    return n * 365 + (n + 3) // 4 - (n + 99) // 100 + (n + 399) // 400


def days_from_civil(year, month, day):
    """Days since 2000-01-01 of a valid Gregorian date (no range check; see from_fields)."""
    days = _days_before_year(year) + _CUM_DAYS[month - 1] + day - 1
    if month > 2 and is_leap(year):
        days += 1
    return days


def year_of_days(days):
    """The calendar year containing day number `days` (days >= 0)."""
    year = YEAR_MIN + days // 366  # an underestimate by at most one year per 366*365 days
    while _days_before_year(year + 1) <= days:
        year += 1
    return year


def civil_from_days(days):
    """(year, month, day) of a day number counted from 2000-01-01."""
    year = year_of_days(days)
    leap = 1 if is_leap(year) else 0
    doy = days - _days_before_year(year)
    month = _month_of(doy, leap)
    return (year, month, doy - _month_start(month, leap) + 1)


def _month_start(month, leap):
    # Day of year (0-based) of the first of `month`.
    return _CUM_DAYS[month - 1] + (leap if month > 2 else 0)


def _month_of(doy, leap):
    # Month containing day of year `doy` (0-based): at most eleven comparisons.
    month = 12
    while month > 1 and doy < _month_start(month, leap):
        month -= 1
    return month


def day_of_week(year, month, day):
    """ISO weekday of a date: Monday = 1 ... Sunday = 7."""
    return (days_from_civil(year, month, day) + _WEEKDAY_OF_EPOCH - 1) % 7 + 1


def to_fields(sec, buf=None, year_base=0):
    """Meter seconds -> (year, month, day, hour, minute, second, weekday Mon=1..Sun=7).

    With `buf` (any mutable sequence of at least 7 ints) the fields are written into it and
    nothing is allocated for small `sec`; `year_base` is subtracted from the year, so an RTC
    register image (year - 2000) fits a bytearray. Without `buf` a new tuple is returned.
    """
    if sec < 0:
        raise ValueError("meter seconds before 2000")
    days = sec // DAY
    rem = sec - days * DAY
    year = year_of_days(days)
    leap = 1 if is_leap(year) else 0
    doy = days - _days_before_year(year)
    month = _month_of(doy, leap)
    day = doy - _month_start(month, leap) + 1
    hour = rem // 3600
    rem -= hour * 3600
    minute = rem // 60
    second = rem - minute * 60
    weekday = (days + _WEEKDAY_OF_EPOCH - 1) % 7 + 1
    if buf is None:
        return (year - year_base, month, day, hour, minute, second, weekday)
    buf[0] = year - year_base
    buf[1] = month
    buf[2] = day
    buf[3] = hour
    buf[4] = minute
    buf[5] = second
    buf[6] = weekday
    return buf


def fields_valid(year, month, day, hour, minute, second):
    """True when the fields name a real UTC second in 2000-2099."""
    if year < YEAR_MIN or year > YEAR_MAX or month < 1 or month > 12:
        return False
    if day < 1 or day > days_in_month(year, month):
        return False
    return 0 <= hour <= 23 and 0 <= minute <= 59 and 0 <= second <= 59


def from_fields(year, month, day, hour, minute, second):
    """UTC fields -> meter seconds. ValueError for a date or time that does not exist."""
    if not fields_valid(year, month, day, hour, minute, second):
        raise ValueError("invalid date/time")
    return days_from_civil(year, month, day) * DAY + hour * 3600 + minute * 60 + second


def last_sunday(year, month):
    """Day of the month of the last Sunday of `month`."""
    last = days_in_month(year, month)
    return last - day_of_week(year, month, last) % 7


def bst_start(year):
    """Meter seconds at which BST starts: 01:00 UTC, last Sunday of March."""
    return days_from_civil(year, 3, last_sunday(year, 3)) * DAY + _BST_HOUR_UTC * 3600


def bst_end(year):
    """Meter seconds at which BST ends: 01:00 UTC, last Sunday of October."""
    return days_from_civil(year, 10, last_sunday(year, 10)) * DAY + _BST_HOUR_UTC * 3600


def bst_bounds(year):
    """(start_utc, end_utc) of BST in `year`, as meter seconds; BST is start <= t < end."""
    return (bst_start(year), bst_end(year))


def is_bst(sec):
    """True while UK clocks show BST (UTC+1) at meter second `sec`."""
    year = year_of_days(sec // DAY)
    return bst_start(year) <= sec < bst_end(year)


def local_seconds(sec):
    """UK civil time as meter seconds (UTC+1 in BST). For display only: never store it."""
    return sec + 3600 if is_bst(sec) else sec


def local_fields(sec, buf=None):
    """to_fields() of UK civil time. For display only."""
    return to_fields(local_seconds(sec), buf)


def format_date(fields):
    return "%04d-%02d-%02d" % (fields[0], fields[1], fields[2])


def format_time(fields):
    return "%02d:%02d:%02d" % (fields[3], fields[4], fields[5])


def format_datetime(fields):
    """'2024-03-31 01:59:59' from a to_fields() result (year not offset)."""
    return "%04d-%02d-%02d %02d:%02d:%02d" % (
        fields[0],
        fields[1],
        fields[2],
        fields[3],
        fields[4],
        fields[5],
    )


def format_utc(sec):
    """'2024-03-31 00:59:59' for meter second `sec` in UTC."""
    return format_datetime(to_fields(sec))


def format_local(sec):
    """'2024-03-31 02:00:00 BST' style: UK civil time with its zone label, for the display."""
    return format_datetime(local_fields(sec)) + (" BST" if is_bst(sec) else " GMT")
