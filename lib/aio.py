"""asyncio pieces that exist on MicroPython but not on CPython (for the host shim).

On MicroPython this module just re-exports `asyncio.ThreadSafeFlag` and `asyncio.sleep_ms`.
Under CPython it supplies equivalents so the same firmware code runs in pytest. The CPython
ThreadSafeFlag is set from the same thread as the loop (the simulated ISRs run there), so an
Event is enough; like MicroPython's it is auto-clearing on `wait()`.
"""

import asyncio

try:
    from asyncio import ThreadSafeFlag, sleep_ms  # MicroPython
except ImportError:  # CPython host shim

    def sleep_ms(ms):
        return asyncio.sleep(ms / 1000)

    class ThreadSafeFlag:
        """Single-waiter flag; `set()` may be called before or during `wait()`."""

        def __init__(self):
            self._state = False
            self._event = None

        def set(self):
            self._state = True
            if self._event is not None:
                self._event.set()

        def clear(self):
            self._state = False
            if self._event is not None:
                self._event.clear()

        async def wait(self):
            if not self._state:
                if self._event is None:
                    self._event = asyncio.Event()
                self._event.clear()
                await self._event.wait()
            self._state = False
