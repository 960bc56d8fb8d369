"""The Hardware bundle: every driver and pin the firmware may use, built by one board module.

The firmware receives this object and never imports `machine`, `hal` or `board`, so the same
firmware runs on the ESP32 DevKitC, the Raspberry Pi Pico and the virtual board. The attribute
list and units are documented in docs/interfaces.md.
"""


class Hardware:
    """Plain attribute bag; a board module fills in what it has and leaves the rest None."""

    def __init__(self, name):
        self.name = name
        self.afe = None  # metering front end (hal/ade7953.py or hal/atm90e32.py)
        self.afe_irq = None  # Pin: line-cycle-end IRQ, active low; None -> timer-paced ticks
        self.fram = None  # hal/fram.py MB85RS
        self.rtc = None  # hal/rv3032.py (or hal/ds3231.py)
        self.lcd = None  # hal/st7567.py (framebuf.FrameBuffer + show())
        self.keypad = None  # hal/keypad.py
        self.relay = None  # hal/relay.py LatchingRelay
        self.aux_load = None  # Pin: auxiliary load relay drive
        self.power_fail = None  # Pin: low while the DC rail is failing
        self.covers = ()  # ((name, Pin), ...): high = cover open
        self.uart = None  # local port (DLMS/COSEM HDLC)
        self.dlms_tcp = ()  # ((host, port, "wrapper"|"hdlc"), ...): virtual board only
        self.tick_ms = 1000  # metering window
        self.ticks_ms = None  # callable: 2**30-periodic millisecond counter
        self.sleep_ms = None  # callable: blocking delay used by drivers at start-up
        self.sim = None  # the SimBoard engine on the virtual board

    # Board modules override these by assigning callables; the defaults say what is missing.
    def new_timer(self, period_ms, callback, timer_id=0):
        """A periodic timer calling callback(timer). Slot 0 paces the metering ticks on boards
        without an AFE interrupt; slot 1 feeds the watchdog during a REPL service session."""
        raise OSError("board %s has no timer" % self.name)

    def new_wdt(self, timeout_ms):
        raise OSError("board %s has no watchdog" % self.name)

    def reset(self):
        raise OSError("board %s cannot reset" % self.name)

    def services(self):
        """Coroutines the board needs running beside the meter (the sim engine); usually none."""
        return ()

    def finish(self, app):
        """Called if the meter loop ends (only the virtual board ends: after --days)."""
        return None

    def next_boot(self):
        """The Hardware to boot next after the meter loop ended, or None. Only the virtual
        board returns one: after a simulated power cut it powers up again."""
        return None
