"""Models of the power-fail comparator and the cover (breach) switches.

PowerFailComparator: a comparator on the DC rail ahead of the regulator (chips.md section 6)
pulls the MCU's power-fail input low as soon as the rail starts to fail. The regulator keeps
the MCU running for the hold-up time (bulk capacitance / load current, e.g. 470 uF from 5.0 to
3.6 V at 80 mA is about 8 ms) and then the rail collapses. The model:

    pf = PowerFailComparator(pin, sim_time, hold_up_ms=8, on_rail_down=board.brown_out)
    pf.supply(False)   # pin falls now (firmware IRQ), on_rail_down(now_us) after hold-up
    pf.supply(True)    # pin rises; a pending rail drop is cancelled (a short dip)

`on_rail_down(now_us)` is where the board sim cuts the virtual MCU (stops the firmware, cuts
FRAM writes). Without a sim_time the hold-up cannot be timed and the callback runs at once.

CoverSwitch: a terminal-cover or case switch; the pin reads high while the cover is open
(requirements.md section 13, events 0x8F74/0x8F76 and their clears).

    cover = CoverSwitch(pin, "terminal")
    cover.open()       # rising edge -> firmware IRQ
    cover.close()      # falling edge
"""


class PowerFailComparator:
    """DC rail supervisor driving the (active low) power-fail input."""

    def __init__(self, pin, sim_time=None, hold_up_ms=8, on_rail_down=None):
        if hold_up_ms < 0:
            raise ValueError("hold_up_ms >= 0")
        self._pin = pin
        self._time = sim_time
        self.hold_up_us = hold_up_ms * 1000
        self.on_rail_down = on_rail_down
        self.supply_on = True
        self.rail_ok = True
        self.failures = 0
        self.dips = 0  # failures that recovered within the hold-up time
        self.fail_at_us = None
        self.rail_down_at_us = None
        self._pending = None
        pin.drive(1)

    def supply(self, on):
        """Mains present (True) or lost (False)."""
        on = bool(on)
        if on == self.supply_on:
            return
        self.supply_on = on
        if on:
            if self._pending is not None:
                self._time.cancel(self._pending)
                self._pending = None
                self.dips += 1
            self.rail_ok = True
            self._pin.drive(1)
            return
        self.failures += 1
        now = self._time.now_us() if self._time is not None else 0
        self.fail_at_us = now
        self._pin.drive(0)
        if self._time is None:
            self._rail_down(now)
        else:
            self._pending = self._time.call_at(now + self.hold_up_us, self._rail_down)

    def _rail_down(self, now_us):
        self._pending = None
        self.rail_ok = False
        self.rail_down_at_us = now_us
        if self.on_rail_down is not None:
            self.on_rail_down(now_us)


class CoverSwitch:
    """A cover switch: pin high while open."""

    def __init__(self, pin, name, opened=False):
        self.pin = pin
        self.name = name
        self.operations = 0
        pin.drive(1 if opened else 0)

    def is_open(self):
        return self.pin.value() == 1

    def open(self):
        if not self.is_open():
            self.operations += 1
        self.pin.drive(1)

    def close(self):
        if self.is_open():
            self.operations += 1
        self.pin.drive(0)
