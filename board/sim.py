"""The virtual board: the same Hardware bundle as board/esp32_devkit.py, over hal/sim models.

Every chip sits behind the fake buses of hal/sim/machine.py and talks bytes, so the drivers
that run here are the drivers that run on the ESP32. The SimBoard engine owns simulated time:
it advances to the next scheduled event (the ADE7953 line-cycle interrupt, a Timer, the
watchdog), lets the firmware's tasks run, and repeats, either as fast as it can
(`speed: "max"`) or paced to the wall clock (`speed: 1` is real time, 60 is a minute a second).

Options come from keyword arguments, else from the JSON file named by the OPENESME_SIM
environment variable, else from `sim.json` in the working directory:

    afe          "ade7953" (1 phase, default) or "atm90e32" (3 phase)
    speed        "max" or a number (simulated seconds per wall second), default 1
    days         stop after this many simulated days (default: run until interrupted)
    out          directory for the outputs when the run ends (registers.json, truth.json,
                 fram.img, display.pbm)
    fram_image   file backing the FRAM (kept across runs, like the real part)
    start_utc    simulated start, seconds since 2000-01-01T00:00:00Z (default 2024-01-01)
    load         "london" (the household profile in data/, default) or "constant"
    safe_mode    true: the safe-mode key is held at power-on
    display      "terminal" (default when live) or "none"
    tick_s       metering window in seconds (1 by default; long runs such as 400 days use 60:
                 the ADE7953 line-cycle window is LINECYC half cycles, at most 655 s, and a
                 60 s window of the household load stays far below the energy registers'
                 capacity)

This file runs under the MicroPython unix port (`make sim`, the HIL suite) and under CPython
(host tests); it is never deployed to a real board.
"""

import json
import os

from board.bundle import Hardware
from hal.sim import machine
from hal.sim.simtime import SimTime

# 2024-01-01T00:00:00Z in seconds since 2000-01-01T00:00:00Z (8766 days).
DEFAULT_START_UTC = 8766 * 86400
_DEFAULTS = {
    "afe": "ade7953",
    "speed": 1,
    "days": None,
    "out": None,
    "fram_image": None,
    "start_utc": DEFAULT_START_UTC,
    "load": "london",
    "safe_mode": False,
    "display": None,
    "tick_s": 1,
}
_PROFILE_CSV = "data/london-household-MAC000060-hh.csv"
# Bound on scheduler passes after one event (flag -> metering task -> UI task needs two).
_MAX_YIELDS_PER_EVENT = 16


def _tasks_ready():
    """Whether any asyncio task is queued to run now (each scheduler pass costs ~65 us on the
    unix port, so the engine only yields when the firmware has something to do)."""
    try:
        from asyncio import core  # MicroPython

        return core._task_queue.peek() is not None
    except ImportError:  # CPython
        import asyncio

        return bool(asyncio.get_running_loop()._ready)


def load_options(overrides=None):
    """Defaults, then the JSON options file, then keyword overrides. Unknown keys are errors."""
    opts = dict(_DEFAULTS)
    path = os.getenv("OPENESME_SIM") or "sim.json"
    try:
        with open(path) as f:
            opts.update(json.load(f))
    except OSError:
        pass
    if overrides:
        opts.update(overrides)
    for key in opts:
        if key not in _DEFAULTS:
            raise ValueError("unknown sim option %r; known: %s" % (key, ", ".join(_DEFAULTS)))
    if opts["afe"] not in ("ade7953", "atm90e32"):
        raise ValueError("afe must be 'ade7953' or 'atm90e32', not %r" % (opts["afe"],))
    tick = opts["tick_s"]
    if not (isinstance(tick, int) and 1 <= tick <= 300):
        raise ValueError(
            "tick_s must be a whole number of seconds from 1 to 300, not %r" % (tick,)
        )
    speed = opts["speed"]
    if speed != "max" and not (isinstance(speed, (int, float)) and speed > 0):
        raise ValueError("speed must be 'max' or a positive number, not %r" % (speed,))
    return opts


def safe_mode_requested():
    return bool(load_options()["safe_mode"])


def _find_profile():
    # Works from the repo root (make sim) and from a deployed flash dir (data/ copied beside).
    for base in (".", os.getenv("OPENESME_ROOT") or "."):
        path = base + "/" + _PROFILE_CSV
        try:
            os.stat(path)
            return path
        except OSError:
            pass
    return None


def _profile_start(start_utc):
    """The household data covers 2011-12 to 2014-02: replay the same day of the year in 2013
    (or December 2012), so a January start gets January load."""
    from hal.sim.rtc_model import date_from_days

    _, month, day = date_from_days(start_utc // 86400)
    year = 2012 if month == 12 else 2013
    if month == 2 and day == 29:
        day = 28
    return "%04d-%02d-%02d 00:00" % (year, month, day)


class SimBoard:
    """Simulated time, the grid and every chip model; the engine coroutine drives them."""

    def __init__(self, opts):
        from hal.sim.grid import Constant, GridModel, ProfileCsv

        self.opts = opts
        self.time = SimTime()
        machine.Timer.sim_time = self.time
        machine.WDT.sim_time = self.time
        phases = 3 if opts["afe"] == "atm90e32" else 1
        profile = _find_profile() if opts["load"] == "london" else None
        if profile is not None:
            program = ProfileCsv(profile, start=_profile_start(opts["start_utc"]), phases=phases)
        else:
            # 2 kW import at PF 0.95 lagging (658 var) on every phase.
            program = Constant(p_mw=2_000_000, q_mvar=657_361, phases=phases)
        self.program = program
        self.grid = GridModel(self.time, phases=phases, program=self.program)
        self.start_utc = opts["start_utc"]
        days = opts["days"]
        self.end_us = None if days is None else int(days * 86400) * 1_000_000
        self.watchdog_reset = False
        self.energy_reads = 0  # windows the AFE driver has read (see _count_reads)
        self._reads_at_end = None
        self.truth_at_last_read = None
        self.afe_model = None
        self.fram_model = None
        self.rtc_model = None
        self.lcd_model = None
        self.keypad_model = None
        self.relay_model = None
        self.supply = None
        self.cover_models = ()
        self._lcd_frames_shown = 0

    def _final_read_done(self):
        """The run ends with the first metering window read at or after the end time, so the
        registers and the ground truth written beside them cover exactly the same energy."""
        if self._reads_at_end is None:
            self._reads_at_end = self.energy_reads
        return self.energy_reads > self._reads_at_end

    def count_reads(self, afe):
        """Wrap the driver's read so the engine knows when a window was read and can take the
        ground truth at that instant (sim only; the driver itself is untouched)."""
        read = afe.read_energy_into

        def read_and_note(counts):
            ok = read(counts)
            self.energy_reads += 1
            self.truth_at_last_read = (self.time.now_us(), self._truth_now())
            return ok

        afe.read_energy_into = read_and_note

    def _truth_now(self):
        out = {"energy_uj": [list(self.grid.energy_uj(p)) for p in range(self.grid.phases)]}
        model = self.afe_model
        if self.grid.phases == 1:
            out["afe_counts"] = [list(model.truth_counts())]
        else:
            out["afe_counts"] = [list(model.truth_counts(p)) for p in range(self.grid.phases)]
        return out

    def now_s(self):
        return self.time.now_us() // 1_000_000

    def sleep_ms(self, ms):
        """Blocking delay as seen by drivers: simulated time passes, events fire."""
        self.time.advance(ms * 1000)

    async def engine(self):
        """Advance simulated time event by event, yielding to the firmware after each."""
        from lib.aio import sleep_ms

        t = self.time
        speed = self.opts["speed"]
        live = speed != "max"
        show = self.opts["display"] or ("terminal" if live else "none")
        while True:
            now = t.now_us()
            if self.end_us is not None and now >= self.end_us and self._final_read_done():
                return
            due = t.next_due_us()
            if due is None or due > now + 1_000_000:
                due = now + 1_000_000
            if self.end_us is not None and now < self.end_us < due:
                due = self.end_us
            if live:
                await sleep_ms(int((due - now) / 1000 / speed))
            try:
                t.advance_to(due)
            except machine.WatchdogReset as exc:
                print("[sim] %s: the board would reset here" % exc)
                self.watchdog_reset = True
                return
            # Let the firmware run what the event woke (ISR flag -> metering task -> UI task)
            # before time moves on: a real MCU services its interrupt within microseconds,
            # so simulated seconds must not pass while a woken task is still queued.
            for _ in range(_MAX_YIELDS_PER_EVENT):
                if not _tasks_ready():
                    break
                await sleep_ms(0)
            if show == "terminal":
                self._render_terminal()

    def _render_terminal(self):
        model = self.lcd_model
        if model is None or model.bytes_in == self._lcd_frames_shown:
            return
        self._lcd_frames_shown = model.bytes_in
        from hal.sim.render import to_terminal

        # Cursor home + the frame: the display redraws in place.
        print("\x1b[H\x1b[2J" + to_terminal(model.pixels()))
        print("sim time %d s  (Ctrl-C to stop)" % self.now_s())

    def write_outputs(self, app):
        if self.opts["fram_image"] and self.fram_model is not None:
            self.fram_model.save()  # the part keeps its contents for the next run
        out = self.opts["out"]
        if not out:
            return
        _makedirs(out)
        status = app.status()
        status["watchdog_reset"] = self.watchdog_reset
        status["afe"] = self.opts["afe"]
        status["start_utc"] = self.start_utc
        with open(out + "/registers.json", "w") as f:
            json.dump(status, f)
        with open(out + "/truth.json", "w") as f:
            json.dump(self.truth(), f)
        if self.fram_model is not None:
            self.fram_model.save(out + "/fram.img")
        if self.lcd_model is not None:
            from hal.sim.render import to_pbm

            with open(out + "/display.pbm", "wb") as f:
                f.write(to_pbm(self.lcd_model.pixels()))

    def truth(self):
        """The grid model's exact energy (µJ per phase and quadrant) and the AFE model's exact
        counts, both at the instant the last metering window was read."""
        if self.truth_at_last_read is None:
            return {"at_us": None}
        at_us, truth = self.truth_at_last_read
        truth["at_us"] = at_us
        truth["windows_read"] = self.energy_reads
        return truth


def _makedirs(path):
    cur = "/" if path.startswith("/") else ""
    for part in path.split("/"):
        if not part:
            continue
        cur += part
        try:
            os.mkdir(cur)
        except OSError:
            pass  # already there
        cur += "/"


def build(**overrides):
    """Wire the virtual board exactly like the ESP32 DevKitC (board/esp32_devkit.py).

    The models are built first and the heap is marked (`sim.heap_mark`) before any driver or
    firmware module is imported, so the bench can report the heap the firmware itself uses.
    """
    import gc

    from hal.sim.fram_model import MB85RSModel
    from hal.sim.keypad_model import KeypadModel
    from hal.sim.lcd_model import ST7567Model
    from hal.sim.relay_model import LatchingRelayModel
    from hal.sim.rtc_model import RV3032Model
    from hal.sim.supply_model import CoverSwitch, PowerFailComparator

    opts = load_options(overrides)
    sim = SimBoard(opts)
    Pin = machine.Pin
    three_phase = opts["afe"] == "atm90e32"

    # ---- buses, pins and chip models (the board's hardware) ----------------------------
    # Mode 3 suits every device on the bus (ATM90E32 needs it; the ADE7953, MB85RS and ST7567
    # accept modes 0 and 3), so one bus set-up serves both front ends.
    spi = machine.SPI(2, baudrate=1_000_000, polarity=1, phase=1)
    i2c = machine.I2C(0, freq=400_000)
    cs_afe = Pin("GPIO5", Pin.OUT, value=1)
    afe_irq = None
    if three_phase:
        from hal.sim.atm90e32_model import ATM90E32Model

        sim.afe_model = ATM90E32Model(sim.time, sim.grid)
    else:
        from hal.sim.ade7953_model import ADE7953Model

        afe_irq = Pin("GPIO34", Pin.IN)
        sim.afe_model = ADE7953Model(sim.time, sim.grid, afe_irq)
    spi.attach(cs_afe, sim.afe_model)

    cs_fram = Pin("GPIO15", Pin.OUT, value=1)
    sim.fram_model = MB85RSModel("MB85RS2MT", path=opts["fram_image"])
    spi.attach(cs_fram, sim.fram_model)

    sim.rtc_model = RV3032Model(sim.time, start_utc=opts["start_utc"])
    i2c.attach(0x51, sim.rtc_model)

    cs_lcd = Pin("GPIO4", Pin.OUT, value=1)
    lcd_dc = Pin("GPIO2", Pin.OUT, value=0)
    sim.lcd_model = ST7567Model(lcd_dc)
    spi.attach(cs_lcd, sim.lcd_model)

    # On the real boards the keypad sits behind a PCF8574; here on direct pins.
    rows = [Pin("KP_R%d" % i, Pin.OUT, value=1) for i in range(4)]
    cols = [Pin("KP_C%d" % i, Pin.IN, Pin.PULL_UP) for i in range(3)]
    buttons = [Pin("BTN_A", Pin.IN, Pin.PULL_UP), Pin("BTN_B", Pin.IN, Pin.PULL_UP)]
    sim.keypad_model = KeypadModel(rows, cols, buttons)

    set_coil = Pin("GPIO25", Pin.OUT, value=0)
    reset_coil = Pin("GPIO26", Pin.OUT, value=0)
    feedback = Pin("GPIO27", Pin.IN)
    sim.relay_model = LatchingRelayModel(sim.time, set_coil, reset_coil, feedback)
    power_fail = Pin("GPIO35", Pin.IN, value=1)
    sim.supply = PowerFailComparator(power_fail)
    terminal = Pin("GPIO36", Pin.IN)
    case = Pin("GPIO39", Pin.IN)
    sim.cover_models = (CoverSwitch(terminal, "terminal"), CoverSwitch(case, "case"))
    uart = machine.UART(2, baudrate=9600)

    gc.collect()
    sim.heap_mark = gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0

    # ---- drivers: exactly what board/real.py builds on an ESP32 -----------------------
    from hal.fram import MB85RS
    from hal.keypad import Keypad
    from hal.relay import LatchingRelay
    from hal.rv3032 import RV3032
    from hal.st7567 import ST7567

    hw = Hardware("sim")
    hw.sim = sim
    hw.ticks_ms = sim.time.ticks_ms
    hw.sleep_ms = sim.sleep_ms
    hw.tick_ms = opts["tick_s"] * 1000
    if three_phase:
        from hal.atm90e32 import ATM90E32

        hw.afe = ATM90E32(spi, cs_afe, sleep_ms=sim.sleep_ms)
        hw.new_timer = lambda period_ms, cb: machine.Timer(
            0, mode=machine.Timer.PERIODIC, period=period_ms, callback=cb
        )
    else:
        from hal.ade7953 import ADE7953

        # LINECYC counts half line cycles: 100 per second at 50 Hz.
        hw.afe = ADE7953(
            spi, cs_afe, irq=afe_irq, sleep_ms=sim.sleep_ms, linecyc=100 * opts["tick_s"]
        )
        hw.afe_irq = afe_irq
    sim.count_reads(hw.afe)
    hw.fram = MB85RS(spi, cs_fram)
    hw.rtc = RV3032(i2c, sleep_ms=sim.sleep_ms)
    # Level switching + trickle charge for the supercap; writes the EEPROM only if it differs.
    hw.rtc.configure_backup()
    hw.lcd = ST7567(spi, cs_lcd, lcd_dc, sleep_ms=sim.sleep_ms)
    hw.keypad = Keypad(rows, cols, (("A", buttons[0]), ("B", buttons[1])))
    hw.relay = LatchingRelay(set_coil, reset_coil, feedback, sleep_ms=sim.sleep_ms)
    hw.aux_load = Pin("GPIO32", Pin.OUT, value=0)
    hw.power_fail = power_fail
    hw.covers = (("terminal", terminal), ("case", case))
    hw.uart = uart
    hw.new_wdt = lambda timeout_ms: machine.WDT(0, timeout=timeout_ms)
    hw.services = lambda: (sim.engine(),)
    hw.finish = sim.write_outputs

    def reset():
        # The process ends with a distinct status; tools/sim.py reports it as a reset.
        raise SystemExit(3)

    hw.reset = reset
    return hw
