"""Bistable (latching) load relay with two coil drives and an auxiliary feedback contact.

A dual-coil latching relay holds its contact with no coil current. A pulse on the SET coil
closes the main contact (supply connected), a pulse on the RESET coil opens it. The coil data
of typical 60-100 A meter relays asks for a pulse of some tens of ms (operate time); energising
both coils together is a short of opposing fluxes that moves nothing and stresses the driver,
so this driver always switches the other coil off before pulsing one. The auxiliary contact
follows the main contact mechanically and tells us whether the switch really moved.

Supply-state rules this implements (requirements.md section 7, reliability.md T15):
- construction never drives a coil: a boot or watchdog reset must not toggle the supply; the
  coil pins are only forced to their safe low level;
- close()/open() raise OSError(EIO) when the feedback contact did not reach the commanded
  position, so the caller logs a connect (0x81BD) or disconnect (0x81C0) failure.

    relay = LatchingRelay(Pin(16, Pin.OUT, value=0), Pin(17, Pin.OUT, value=0),
                          Pin(34, Pin.IN), pulse_ms=50, sleep_ms=time.sleep_ms)
    relay.close()   # blocks for pulse_ms + settle_ms; call from a task that may block that long

`sleep_ms` is injected: time.sleep_ms on a board, a simulated-time advance on the virtual board.
"""

import errno

from micropython import const

_MAX_PULSE_MS = const(1000)  # a stuck-on coil overheats: refuse absurd pulse lengths


class LatchingRelay:
    """Two-coil latching relay: close(), open(), is_closed() from the feedback contact."""

    def __init__(
        self,
        set_pin,
        reset_pin,
        feedback_pin,
        pulse_ms=50,
        sleep_ms=None,
        settle_ms=5,
        feedback_closed=1,
    ):
        if not 1 <= pulse_ms <= _MAX_PULSE_MS:
            raise ValueError("pulse_ms 1..1000")
        if not 0 <= settle_ms <= 100:
            raise ValueError("settle_ms 0..100")
        if feedback_closed not in (0, 1):
            raise ValueError("feedback_closed is 0 or 1")
        if sleep_ms is None:
            import time

            sleep_ms = time.sleep_ms
        self._set = set_pin
        self._reset = reset_pin
        self._fb = feedback_pin
        self._pulse_ms = pulse_ms
        self._settle_ms = settle_ms
        self._closed_level = feedback_closed
        self._sleep_ms = sleep_ms
        self.pulses = 0
        # Both coils off: the safe idle level. This never moves the contact.
        set_pin.value(0)
        reset_pin.value(0)

    def is_closed(self):
        """True while the feedback contact says the main contact is closed."""
        return self._fb.value() == self._closed_level

    def close(self):
        """Pulse the SET coil; OSError(EIO) if the feedback does not then read closed."""
        self._pulse(self._set, self._reset)
        if not self.is_closed():
            raise OSError(errno.EIO, "relay did not close")

    def open(self):
        """Pulse the RESET coil; OSError(EIO) if the feedback does not then read open."""
        self._pulse(self._reset, self._set)
        if self.is_closed():
            raise OSError(errno.EIO, "relay did not open")

    def _pulse(self, coil, other):
        other.value(0)  # never both coils at once
        self.pulses += 1
        coil.value(1)
        try:
            self._sleep_ms(self._pulse_ms)
        finally:
            coil.value(0)
        if self._settle_ms:
            # Let the auxiliary contact stop bouncing before it is read.
            self._sleep_ms(self._settle_ms)
