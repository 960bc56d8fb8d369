"""Scenarios for lib/: tick wrap arithmetic and CRCs (run under CPython and MicroPython)."""

from lib import crc, ticks


def tick_wrap():
    near = ticks.TICKS_MAX - 5
    after = ticks.ticks_add(near, 10)
    return {
        "after": after,
        "diff_forward": ticks.ticks_diff(after, near),
        "diff_back": ticks.ticks_diff(near, after),
        "add_negative": ticks.ticks_add(3, -5),
    }


def crc_checks():
    data = b"123456789"
    return {"x25": crc.crc16_x25(data), "crc32": crc.crc32(data)}


def tick_diff_allocates_nothing():
    import micropython

    a = ticks.TICKS_MAX - 1
    micropython.heap_lock()
    try:
        for i in range(1000):
            ticks.ticks_diff(ticks.ticks_add(a, i), a)
        ok = True
    except MemoryError:
        ok = False
    micropython.heap_unlock()
    return ok
