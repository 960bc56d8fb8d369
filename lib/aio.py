"""asyncio pieces that differ between the boards, the MicroPython unix port and CPython.

- `ThreadSafeFlag`: on ESP32/RP2040 MicroPython's own, which a hard ISR may set. On the unix
  port (the virtual board) and under CPython an Event-based flag with the same auto-clearing
  `wait()`. Two reasons: CPython has no ThreadSafeFlag, and on the unix port a task waiting on
  the real ThreadSafeFlag makes every scheduler pass cost ~1.2 ms (its stream is polled with
  1 ms sleeps: 4,000 yields took 4.8 s against 19 ms without it), which would make a simulated
  day take hours. The virtual board's "interrupts" run in the loop's own thread, so an Event
  is exact there.
- `sleep_ms`: MicroPython's, or an equivalent under CPython.
"""

import asyncio
import sys

try:
    from asyncio import sleep_ms
except ImportError:  # CPython

    def sleep_ms(ms):
        return asyncio.sleep(ms / 1000)


class EventFlag:
    """ThreadSafeFlag semantics over asyncio.Event, for single-threaded hosts."""

    def __init__(self):
        self._event = asyncio.Event()

    def set(self):
        self._event.set()

    def clear(self):
        self._event.clear()

    async def wait(self):
        await self._event.wait()
        self._event.clear()


if sys.platform in ("esp32", "rp2"):
    from asyncio import ThreadSafeFlag
else:
    ThreadSafeFlag = EventFlag
