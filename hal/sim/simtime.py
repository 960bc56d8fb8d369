"""Simulated time for the virtual board.

Every model reads `now_us()` from one SimTime; nothing in hal/sim looks at the wall clock.
The engine (board/sim.py) advances time in steps and fires scheduled events (fake Timers,
the AFE line-cycle interrupt, the watchdog check) in order. `ticks_ms()` / `ticks_us()` are
what the firmware sees: they start near the 2**30 wrap point on purpose, so every run
crosses a wrap within the first minute, as an ESP32 does after 12.4 days.

This module runs under the MicroPython unix port (64-bit small ints), so microsecond
totals of years are fine here; on-board code never sees them.
"""

import heapq

_TICKS_MASK = 0x3FFFFFFF

# The firmware's tick counters start this far before the 2**30 wrap (30 s).
DEFAULT_TICKS_MS_START = 0x40000000 - 30_000


class SimTime:
    """Monotonic simulated time in microseconds plus an ordered event schedule.

    The schedule is a binary heap of [due_us, seq, callback]; `seq` makes the order of events
    due at the same instant the order they were scheduled in, and keeps the heap from ever
    comparing callbacks. Cancelling only blanks the callback (the watchdog is re-armed every
    tick: removing from the middle of a list each time was the engine's biggest cost).
    """

    def __init__(self, ticks_ms_start=DEFAULT_TICKS_MS_START):
        self._now_us = 0
        self._ticks_ms0 = ticks_ms_start
        self._events = []  # heap of [due_us, seq, callback or None when cancelled]
        self._seq = 0
        # Set when a KeyboardInterrupt (Ctrl-C at the virtual board's REPL) cut an event's
        # callback short: a periodic model may then have lost its next event, and the engine
        # asks the models to restore their schedules before time moves on (board/sim.py).
        self.interrupted = False

    def now_us(self):
        return self._now_us

    def now_ms(self):
        return self._now_us // 1000

    def ticks_ms(self):
        return (self._ticks_ms0 + self._now_us // 1000) & _TICKS_MASK

    def ticks_us(self):
        return (self._ticks_ms0 * 1000 + self._now_us) & _TICKS_MASK

    def call_at(self, due_us, callback):
        """Run callback(now_us) when time reaches due_us. Returns a handle for cancel()."""
        self._seq += 1
        ev = [due_us, self._seq, callback]
        heapq.heappush(self._events, ev)
        return ev

    def cancel(self, handle):
        handle[2] = None

    def _drop_cancelled(self):
        events = self._events
        while events and events[0][2] is None:
            heapq.heappop(events)

    def next_due_us(self):
        self._drop_cancelled()
        return self._events[0][0] if self._events else None

    def advance_to(self, target_us):
        """Move time forward to target_us, firing every event due on the way, in order."""
        if target_us < self._now_us:
            raise ValueError("simulated time cannot go backwards")
        events = self._events
        while events and events[0][0] <= target_us:
            ev = heapq.heappop(events)
            callback = ev[2]
            if callback is None:
                continue
            self._now_us = max(self._now_us, ev[0])
            try:
                callback(self._now_us)
            except KeyboardInterrupt:
                self.interrupted = True
                raise
        self._now_us = target_us

    def advance(self, delta_us):
        self.advance_to(self._now_us + delta_us)
