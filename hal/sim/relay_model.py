"""Model of a dual-coil latching load relay with an auxiliary feedback contact.

Mechanics modelled:
- The contact moves only after one coil has been energised, alone, for `min_pulse_ms` of
  simulated time (the operate time in the relay's coil data). The move is scheduled on the
  SimTime event queue when a coil is switched on, so it happens during the pulse as it would
  on the bench, and is cancelled if the coil drops early.
- Both coils energised at once cancel each other: no movement, and `overlaps` counts it.
- Pulsing the coil for the position the contact already has does nothing (no operation).
- `stick()` welds the contact (a real failure after switching a heavy fault current): pulses
  are accepted but it no longer moves. `unstick()` frees it.
- The feedback input mirrors the contact: high = closed.

    relay_model = LatchingRelayModel(sim_time, set_pin, reset_pin, feedback_pin, closed=True)

Counters for tests: `operations` (times the contact actually moved), `set_pulses`,
`reset_pulses`, `overlaps`, `short_pulses` (coil released before the operate time).
"""


class LatchingRelayModel:
    """Coil pins in, feedback pin out, contact position in `state` (True = closed)."""

    def __init__(self, sim_time, set_pin, reset_pin, feedback_pin, min_pulse_ms=20, closed=True):
        if min_pulse_ms < 1:
            raise ValueError("min_pulse_ms >= 1")
        self._time = sim_time
        self._set = set_pin
        self._reset = reset_pin
        self._fb = feedback_pin
        self.min_pulse_us = min_pulse_ms * 1000
        self.state = bool(closed)
        self.stuck = False
        self.operations = 0
        self.set_pulses = 0
        self.reset_pulses = 0
        self.overlaps = 0
        self.short_pulses = 0
        self._coil_set = set_pin.value()
        self._coil_reset = reset_pin.value()
        self._pending = None
        self._energised_at = 0
        set_pin.watch(self._on_set)
        reset_pin.watch(self._on_reset)
        self._drive_feedback()
        self._reschedule()

    # ---- fault injection -----------------------------------------------------------------
    def stick(self):
        """Weld the contact where it is."""
        self.stuck = True

    def unstick(self):
        self.stuck = False

    # ---- coil watchers ----------------------------------------------------------------------
    def _on_set(self, level):
        self._coil_set = level
        if level:
            self.set_pulses += 1
        self._coil_changed(level)

    def _on_reset(self, level):
        self._coil_reset = level
        if level:
            self.reset_pulses += 1
        self._coil_changed(level)

    def _coil_changed(self, level):
        if not level and self._pending is not None:
            if self._time.now_us() - self._energised_at < self.min_pulse_us:
                self.short_pulses += 1
        if self._coil_set and self._coil_reset:
            self.overlaps += 1
        self._reschedule()

    def _reschedule(self):
        if self._pending is not None:
            self._time.cancel(self._pending)
            self._pending = None
        if self._coil_set == self._coil_reset:
            return  # both off, or both on (opposing fluxes): nothing moves
        now = self._time.now_us()
        self._energised_at = now
        self._pending = self._time.call_at(now + self.min_pulse_us, self._operate)

    def _operate(self, now_us):
        self._pending = None
        target = bool(self._coil_set)
        if self.stuck or target == self.state:
            return
        self.state = target
        self.operations += 1
        self._drive_feedback()

    def _drive_feedback(self):
        self._fb.drive(1 if self.state else 0)
