"""Tick arithmetic with the 2**30 period of the 32-bit MicroPython ports.

ESP32 and RP2040 wrap `time.ticks_ms()` at 2**30 (MICROPY_PY_TIME_TICKS_PERIOD =
MP_SMALL_INT_POSITIVE_MASK + 1, docs `library/time.rst`): about 12.4 days in ms. The
unix port wraps at 2**62, so host tests would never see a wrap. The firmware therefore
never uses `time.ticks_diff` directly: every counter it is given is reduced to 2**30 and
compared here, identically on every port and under CPython. All values stay small ints,
so these functions allocate nothing (safe in an ISR and in the metering tick).

`sleep_ms` is the blocking delay drivers fall back on when the board injects none
(`time.sleep_ms` on MicroPython, an equivalent under CPython).
"""

from micropython import const

try:
    from time import sleep_ms
except ImportError:  # CPython host shim: the same blocking delay

    def sleep_ms(ms):
        import time

        time.sleep(ms / 1000)


TICKS_PERIOD = const(0x40000000)  # 2**30; stored as a constant, never used in arithmetic
TICKS_MAX = const(0x3FFFFFFF)
_HALF = const(0x20000000)


def ticks_add(ticks, delta):
    """`ticks + delta` on the 2**30 circle (delta may be negative, |delta| < 2**29)."""
    return (ticks + delta) & TICKS_MAX


def ticks_diff(newer, older):
    """Signed distance newer - older, valid while |distance| < 2**29 (about 6.2 days in ms)."""
    d = (newer - older) & TICKS_MAX
    if d >= _HALF:
        # d - 2**30 without materialising 2**30, which is a big int on 32-bit ports.
        d = d - TICKS_MAX - 1
    return d
