"""Scenarios for the real boards' bundles and the PCF8574 keypad (CPython and MicroPython).

board/esp32_devkit.py and board/pico.py build their Hardware through board/real.py, which
imports `machine` and creates every bus and pin itself. Here `machine` is a wiring harness
(`_Wiring`, put in sys.modules for the duration of the build) over the fake buses of
hal/sim/machine.py: `Pin(n)`, `SPI(id)`, `I2C(id)` and `UART(id)` hand out the fake objects
that the chip models were attached to, at exactly the numbers the board file declares
(`PINS`, `SPI_ID`, `I2C_ID`, `UART_ID`, `keypad_addr`), and a bus id nobody wired is an
error. So a wrong number in a board file makes a driver miss its chip, and the build fails.

board/real.py's `time` (ticks_ms, sleep_ms) is pointed at simulated time for the build, so
the drivers' start-up waits move the models' clocks as on the board.
"""

import sys

from board import esp32_devkit, pico, real
from hal.pcf8574 import PCF8574
from hal.sim import machine as fake
from hal.sim.grid import Constant, GridModel
from hal.sim.pcf8574_model import PCF8574Model
from hal.sim.simtime import SimTime

BOARDS = {"esp32_devkit": esp32_devkit, "pico": pico}
KEYS = "123456789*0#AB"  # every key the UI knows (board/real.py KEYMAP_4X4 less the unfitted)
START_UTC = 8766 * 86400  # 2024-01-01T00:00:00Z, a Monday
KW = 1_000_000  # mW


class _PinFactory:
    """machine.Pin for board/real.py: Pin(n, ...) is the one fake Pin of GPIO n."""

    IN = fake.Pin.IN
    OUT = fake.Pin.OUT
    OPEN_DRAIN = fake.Pin.OPEN_DRAIN
    PULL_UP = fake.Pin.PULL_UP
    PULL_DOWN = fake.Pin.PULL_DOWN
    IRQ_FALLING = fake.Pin.IRQ_FALLING
    IRQ_RISING = fake.Pin.IRQ_RISING

    def __init__(self, pins):
        self.pins = pins  # GPIO number -> fake Pin (the ones the models are wired to)
        self.calls = {}  # GPIO number -> [mode, pull] the board configured last

    def __call__(self, id, mode=-1, pull=-1, value=None):
        if not isinstance(id, int):
            raise ValueError("pin ids on these boards are GPIO numbers, not %r" % (id,))
        pin = self.pins.get(id)
        if pin is None:
            pin = fake.Pin(id, mode, pull, value)
            self.pins[id] = pin
        else:
            pin.init(mode, pull, value)
        if mode != -1 or id not in self.calls:
            self.calls[id] = [mode, pull]
        return pin


class _BusFactory:
    """machine.SPI / I2C / UART: the pre-wired fake bus of that id, re-initialised."""

    PIN_KEYS = ("sck", "mosi", "miso", "scl", "sda", "tx", "rx")

    def __init__(self, kind, buses):
        self.kind = kind
        self.buses = buses
        self.calls = []

    def __call__(self, id, **kw):
        bus = self.buses.get(id)
        if bus is None:
            raise ValueError("%s(%r): no such bus is wired on this board" % (self.kind, id))
        pins = {}
        settings = {}
        for key, value in kw.items():
            if key in self.PIN_KEYS:
                pins[key] = value.id
            else:
                settings[key] = value
        self.calls.append([id, pins, settings])
        if self.kind == "I2C":
            # machine.I2C's default clock is 400 kHz on ESP32 and RP2040.
            bus.init(freq=settings.get("freq", 400_000))
        else:
            bus.init(**settings)
        return bus


class _Wiring:
    """Stands in for the `machine` module while board/real.py builds."""

    def __init__(self, pins, spis, i2cs, uarts):
        self.Pin = _PinFactory(pins)
        self.SPI = _BusFactory("SPI", spis)
        self.I2C = _BusFactory("I2C", i2cs)
        self.UART = _BusFactory("UART", uarts)
        self.Timer = fake.Timer
        self.WDT = fake.WDT
        self.resets = 0

    def reset(self):
        self.resets += 1


class _Clock:
    """board/real.py's `time` during the build: ticks and delays in simulated time."""

    def __init__(self, sim_time):
        self._t = sim_time
        self.ticks_ms = sim_time.ticks_ms

    def sleep_ms(self, ms):
        self._t.advance(ms * 1000)


class _Rig:
    """The chip models of one board, wired at the numbers its board file declares."""

    def __init__(self, module, afe, with_expander=True):
        from hal.sim.fram_model import MB85RSModel
        from hal.sim.lcd_model import ST7567Model
        from hal.sim.relay_model import LatchingRelayModel
        from hal.sim.rtc_model import RV3032Model
        from hal.sim.supply_model import CoverSwitch, PowerFailComparator

        P = module.PINS
        self.module = module
        self.t = t = SimTime()
        fake.Timer.sim_time = t
        fake.WDT.sim_time = t
        phases = 3 if afe == "atm90e32" else 1
        # 1 kW at 300 var on every phase.
        self.grid = GridModel(t, phases, Constant(KW, 300_000, phases=phases))
        self.pins = pins = {}

        def pin(name, mode, value=None):
            p = fake.Pin(P[name], mode, -1, value)
            pins[P[name]] = p
            return p

        # An unconfigured SPI controller idles in mode 0: the board must set its own mode.
        self.spi = fake.SPI(module.SPI_ID, baudrate=500_000, polarity=0, phase=0)
        self.i2c = fake.I2C(module.I2C_ID, freq=400_000)
        self.uart = fake.UART(module.UART_ID)
        cs_afe = pin("cs_afe", fake.Pin.OUT, 1)
        self.afe_irq = None
        if afe == "atm90e32":
            from hal.sim.atm90e32_model import ATM90E32Model

            self.afe_model = ATM90E32Model(t, self.grid)
        else:
            from hal.sim.ade7953_model import ADE7953Model

            self.afe_irq = pin("afe_irq", fake.Pin.IN, 1)
            self.afe_model = ADE7953Model(t, self.grid, self.afe_irq)
        self.spi.attach(cs_afe, self.afe_model)
        self.fram_model = MB85RSModel("MB85RS2MT")
        self.spi.attach(pin("cs_fram", fake.Pin.OUT, 1), self.fram_model)
        self.lcd_model = ST7567Model(pin("lcd_dc", fake.Pin.OUT, 0))
        self.spi.attach(pin("cs_lcd", fake.Pin.OUT, 1), self.lcd_model)
        self.rtc_model = RV3032Model(t, start_utc=START_UTC)
        self.i2c.attach(0x51, self.rtc_model)
        addr = P["keypad_addr"]
        self.expander = PCF8574Model(
            (addr >> 2) & 1, (addr >> 1) & 1, addr & 1, int_pin=pin("keypad_int", fake.Pin.IN)
        )
        if with_expander:
            self.i2c.attach(self.expander.address, self.expander)
        self.keypad_model = self.expander.keypad(real.KEYMAP_4X4)
        self.relay_model = LatchingRelayModel(
            t,
            pin("relay_set", fake.Pin.OUT, 0),
            pin("relay_reset", fake.Pin.OUT, 0),
            pin("relay_feedback", fake.Pin.IN),
        )
        self.supply = PowerFailComparator(pin("power_fail", fake.Pin.IN, 1), t)
        self.covers = (
            CoverSwitch(pin("cover_terminal", fake.Pin.IN), "terminal"),
            CoverSwitch(pin("cover_case", fake.Pin.IN), "case"),
        )
        self.machine = _Wiring(
            pins,
            {module.SPI_ID: self.spi},
            {module.I2C_ID: self.i2c},
            {module.UART_ID: self.uart},
        )

    def run(self, fn, *args):
        """fn(*args) with `machine` = the wiring harness and real.time = simulated time."""
        saved_machine = sys.modules.get("machine")
        saved_time = real.time
        sys.modules["machine"] = self.machine
        real.time = _Clock(self.t)
        try:
            return fn(*args)
        finally:
            real.time = saved_time
            if saved_machine is None:
                del sys.modules["machine"]
            else:
                sys.modules["machine"] = saved_machine


_FUNCTION_TYPES = ("function", "closure", "method", "bound_method", "builtin_function_or_method")


def _kind(value):
    if value is None:
        return "None"
    name = type(value).__name__
    return "callable" if name in _FUNCTION_TYPES else name


def bundle_kinds(hw):
    """Every public attribute of a Hardware bundle -> what it holds (type name/callable)."""
    names = {}
    for name in hw.__dict__:
        names[name] = 1
    for name in type(hw).__dict__:
        names[name] = 1
    out = {}
    for name in names:
        if not name.startswith("_"):
            out[name] = _kind(getattr(hw, name))
    return out


def _sim_bundle(afe):
    from board import sim

    return sim.build(
        afe=afe, load="constant", dlms_port=0, hdlc_port=0, display="none", speed="max"
    )


def _scan3(keypad):
    return [keypad.scan(), keypad.scan(), keypad.scan()]


def real_bundle(board_name, afe):
    """Build board_name's bundle over the models; drive every part through its driver."""
    from array import array

    module = BOARDS[board_name]
    sim_kinds = bundle_kinds(_sim_bundle(afe))  # first: SimBoard resets Timer.sim_time
    rig = _Rig(module, afe)
    t = rig.t
    hw = rig.run(module.build, afe)
    out = {"name": hw.name, "kinds": bundle_kinds(hw), "sim_kinds": sim_kinds}
    out["spi_calls"] = rig.machine.SPI.calls
    out["i2c_calls"] = rig.machine.I2C.calls
    out["uart_calls"] = rig.machine.UART.calls
    out["pin_modes"] = {str(k): v for k, v in rig.machine.Pin.calls.items()}
    out["spi_mode"] = [rig.spi.polarity, rig.spi.phase, rig.spi.baudrate]
    out["i2c_hz"] = rig.i2c.freq

    # Metering front end: the version register (ADE7953) / MMode0 check (ATM90E32) in begin(),
    # then one metering window read through the bundle.
    hw.afe.begin()
    out["afe"] = type(hw.afe).__name__
    out["afe_version"] = getattr(hw.afe, "version", None)
    out["afe_irq_is_wired_pin"] = hw.afe_irq is rig.afe_irq
    counts = array("l", [0] * (4 * hw.afe.phases))
    windows = []
    for _ in range(2):  # the first window started at begin(); the second is a whole second
        if rig.afe_irq is not None:
            t.advance_to(t.next_due_us())
            while rig.afe_irq.value() == 1:
                t.advance_to(t.next_due_us())
        else:
            t.advance(1_000_000)
        windows.append([hw.afe.read_energy_into(counts), list(counts)])
    out["afe_windows"] = windows
    out["afe_truth"] = (
        list(rig.afe_model.truth_counts())
        if rig.afe_irq is not None
        else [list(rig.afe_model.truth_counts(p)) for p in range(3)]
    )

    # FRAM: size from RDID, a write/read round trip at the top of the array.
    fram = hw.fram
    data = b"OpenESME-fram-rt"
    fram.write(fram.size - 16, data)
    back = bytearray(16)
    fram.readinto(fram.size - 16, back)
    out["fram"] = [
        fram.size,
        bytes(back) == data,
        bytes(rig.fram_model.image[fram.size - 16 :]) == data,
    ]

    # RTC: the models' clock through the driver; backup configured by the build.
    fields = bytearray(7)
    hw.rtc.read_into(fields)
    out["rtc"] = list(fields)
    out["rtc_pmu"] = [rig.rtc_model.pmu(), rig.rtc_model.eeprom[0xC0]]

    # LCD: the init flow reached the glass; a drawn frame arrives pixel for pixel.
    lcd = hw.lcd
    out["lcd_init"] = [rig.lcd_model.init_ok(), rig.lcd_model.visible()]
    lcd.fill(0)
    lcd.text("OpenESME", 0, 0, 1)
    lcd.rect(0, 16, 128, 48, 1)
    lcd.show()
    px = rig.lcd_model.pixels()
    same = True
    dark = 0
    for y in range(64):
        for x in range(128):
            if px[y][x] != lcd.pixel(x, y):
                same = False
            dark += px[y][x]
    out["lcd_frame"] = [same, dark]

    # Keypad through the PCF8574: every key, one press edge each; nothing held: nothing.
    keys = []
    km = rig.keypad_model
    for k in KEYS:
        km.press(k)
        keys.append(_scan3(hw.keypad))
        km.release(k)
        _scan3(hw.keypad)
    out["keys"] = keys
    out["no_key"] = _scan3(hw.keypad)
    out["expander_latch_idle"] = rig.expander.latch

    # Relay, aux load, power fail, covers, UART: the bundle's objects are the wired ones.
    hw.relay.open()
    opened = [rig.relay_model.state, hw.relay.is_closed()]
    hw.relay.close()
    out["relay"] = opened + [rig.relay_model.state, hw.relay.is_closed()]
    hw.aux_load.value(1)
    out["aux_load"] = [hw.aux_load is rig.pins[module.PINS["aux_load"]], hw.aux_load.value()]
    pf = [hw.power_fail.value()]
    rig.supply.supply(False)
    pf.append(hw.power_fail.value())
    rig.supply.supply(True)
    out["power_fail"] = pf
    cover = []
    for i in range(2):
        rig.covers[i].open()
        cover.append([hw.covers[i][0], hw.covers[i][1].value()])
        rig.covers[i].close()
        cover[i].append(hw.covers[i][1].value())
    out["covers"] = cover
    hw.uart.write(b"\x7e\xa0")
    out["uart"] = [hw.uart is rig.uart, rig.uart.peer_read().hex(), hw.uart.baudrate]

    # Timer slots, watchdog and reset come from the harness's machine.
    fired = []
    tim = hw.new_timer(250, lambda timer: fired.append(t.now_us()))
    t0 = t.now_us()
    t.advance(1_000_000)
    tim.deinit()
    out["timer"] = [type(tim).__name__, tim.id, [f - t0 for f in fired]]
    slot1 = hw.new_timer(100, lambda timer: None, 1)
    out["timer_slot1_id"] = slot1.id
    slot1.deinit()
    wdt = hw.new_wdt(5000)
    out["wdt"] = [type(wdt).__name__, wdt.timeout_us]
    fake.power_off_timers()
    hw.reset()
    out["resets"] = rig.machine.resets
    return out


def safe_mode(board_name):
    """real.safe_mode_requested over the models: key A held, not held, no expander."""
    module = BOARDS[board_name]
    out = []
    for held, wired in (("A", True), (None, True), ("5", True), ("A", False)):
        rig = _Rig(module, "ade7953", with_expander=wired)
        if held is not None:
            rig.keypad_model.press(held)
        out.append(rig.run(module.safe_mode_requested))
        out.append(rig.machine.I2C.calls[-1][2].get("freq"))
    return out


# ---- the PCF8574 on its own ---------------------------------------------------------------


def _expander_rig(address=0x20, freq=100_000):
    from hal.keypad import Keypad

    i2c = fake.I2C(0, freq=freq)
    int_pin = fake.Pin(33, fake.Pin.IN)
    model = PCF8574Model((address >> 2) & 1, (address >> 1) & 1, address & 1, int_pin=int_pin)
    i2c.attach(model.address, model)
    km = model.keypad(real.KEYMAP_4X4)
    port = PCF8574(i2c, address)
    kp = Keypad(
        [port.pin(i) for i in range(4)],
        [port.pin(4 + i) for i in range(4)],
        keymap=real.KEYMAP_4X4,
    )
    return i2c, model, km, port, kp, int_pin


def expander_every_key():
    """Each fitted position of the 4x4 matrix (rows P0-P3, columns P4-P7) scans as its key."""
    i2c, model, km, port, kp, int_pin = _expander_rig()
    out = []
    for key in real.KEYMAP_4X4:
        if key == " ":
            continue
        km.press(key)
        before = i2c.transactions
        first = kp.scan()
        cost = i2c.transactions - before
        out.append([key, [first, kp.scan(), kp.scan()], kp.pressed(), cost])
        km.release(key)
        kp.scan()
        kp.scan()
    before = i2c.transactions
    idle = [kp.scan(), kp.scan(), kp.pressed()]
    return {
        "keys": out,
        "idle": idle,
        "idle_scan_transactions": (i2c.transactions - before) // 2,
        "latch_after": model.latch,
        "levels_after": model.levels(),
    }


def expander_two_keys():
    """Two keys down: the first in scan order wins (rows top down, then columns left-right)."""
    i2c, model, km, port, kp, int_pin = _expander_rig()
    out = []
    for a, b in (("5", "A"), ("2", "1"), ("#", "7"), ("0", "*"), ("B", "9")):
        km.press(a)
        km.press(b)
        out.append([a, b, _scan3(kp)])
        km.release_all()
        _scan3(kp)
    # Rollover: 5 held, then 9 added (5 still wins), then 5 released (9 becomes the key).
    km.press("5")
    seq = _scan3(kp)
    km.press("9")
    seq += _scan3(kp)
    km.release("5")
    seq += _scan3(kp)
    return {"pairs": out, "rollover": seq}


def expander_port():
    """The quasi-bidirectional port and INT, byte by byte (no keypad driver)."""
    i2c = fake.I2C(0, freq=100_000)
    int_pin = fake.Pin(12, fake.Pin.IN)
    model = PCF8574Model(1, 0, 1, int_pin=int_pin)
    i2c.attach(model.address, model)
    km = model.keypad(real.KEYMAP_4X4)
    out = {"address": model.address, "por": [model.latch, i2c.readfrom(0x25, 1)[0]]}
    # Rows idle high (what hal/keypad.py leaves): a key press changes no pin, so no INT.
    km.press("5")
    out["press_rows_high"] = [model.levels(), int_pin.value()]
    km.release("5")
    # Rows latched low, columns inputs: a press pulls its column low and INT falls.
    i2c.writeto(0x25, b"\xf0")
    out["rows_low"] = [model.levels(), int_pin.value()]
    km.press("6")  # row 1, column 2 -> P6 low
    out["press_rows_low"] = [model.levels(), int_pin.value()]
    out["read"] = [i2c.readfrom(0x25, 1)[0], int_pin.value()]  # the read releases INT
    km.release("6")
    out["release"] = [model.levels(), int_pin.value()]
    km.press("6")
    out["back_to_read_state"] = int_pin.value()  # inputs as at the last read: released
    km.release("6")
    # A pin latched 0 reads 0 whatever is outside; a 1 pulled low outside reads 0.
    i2c.writeto(0x25, b"\x7f")  # P7 an output, low
    out["latched_low"] = i2c.readfrom(0x25, 1)[0]
    # Several data bytes in one write: each is latched in turn, the last one stays.
    i2c.writeto(0x25, b"\x00\x0f\xfe")
    out["multi_write"] = [model.latch, model.levels(), model.writes]
    return out


def expander_errors():
    """Absent part, wrong address, a part that stops answering, a bus clock too fast."""
    out = []
    i2c = fake.I2C(0, freq=100_000)
    try:
        PCF8574(i2c, 0x20)  # nothing on the bus
        out.append("no error")
    except OSError as e:
        out.append([e.args[0], e.args[1]])
    i2c.attach(0x21, PCF8574Model(0, 0, 1))
    try:
        PCF8574(i2c, 0x22)  # a part strapped elsewhere
        out.append("no error")
    except OSError as e:
        out.append([e.args[0], e.args[1]])
    try:
        PCF8574(i2c, 0x40)
        out.append("no error")
    except ValueError as e:
        out.append(str(e))
    i2c, model, km, port, kp, int_pin = _expander_rig()
    model.nack = True  # cable pulled after start-up
    for action in (kp.scan, port.pin(6).value):
        try:
            action()
            out.append("no error")
        except OSError as e:
            out.append([e.args[0], e.args[1]])
    fast = fake.I2C(0, freq=400_000)
    fast.attach(0x20, PCF8574Model())
    try:
        PCF8574(fast, 0x20)
        out.append("no error")
    except OSError as e:
        out.append([e.args[0], e.args[1]])
    for bad in ((2, 0, 0), (0, 0, 0, "PCF8575")):
        try:
            if len(bad) == 3:
                PCF8574Model(*bad)
            else:
                PCF8574Model(bad[0], bad[1], bad[2], bad[3])
            out.append("no error")
        except ValueError as e:
            out.append(str(e))
    out.append(PCF8574Model(1, 1, 1, variant="PCF8574A").address)
    return out
