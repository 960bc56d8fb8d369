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
    load         "london" (the household profile in data/, default), "constant" (2 kW) or
                 "varied" (a daily cycle of import, export, reactive both ways, low load,
                 no load, an outage and, on 3 phases, a phase loss)
    safe_mode    true: the safe-mode key is held at power-on
    display      "terminal" (default when live) or "none"
    dlms_port    TCP port of the DLMS/COSEM wrapper (IEC 62056-47) on 127.0.0.1; 0 = off
    hdlc_port    TCP port of HDLC over TCP (IEC 62056-46) on 127.0.0.1; 0 = off
    history_days run this many simulated days at full speed first, then at `speed`, so a
                 client finds populated profiles and logs
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
    "dlms_port": 4059,
    "hdlc_port": 4061,
    "history_days": 0,
}
_PROFILE_CSV = "data/london-household-MAC000060-hh.csv"
# Bound on scheduler passes after one event (flag -> metering task -> UI task needs two).
_MAX_YIELDS_PER_EVENT = 16
# At full speed the engine hands the scheduler one pass per this many events (socket I/O).
_EVENTS_PER_IO_POLL = 64


try:
    from asyncio import core as _mp_core  # MicroPython's scheduler internals
except ImportError:  # CPython
    _mp_core = None


def _tasks_ready():
    """Whether any asyncio task is queued to run now (each scheduler pass costs ~65 us on the
    unix port, so the engine only yields when the firmware has something to do)."""
    core = _mp_core
    if core is None:  # CPython: ready callbacks only (sleepers are in _scheduled)
        import asyncio

        return bool(asyncio.get_running_loop()._ready)
    task = core._task_queue.peek()
    # The queue also holds sleeping tasks (the UART poll, ...): only due ones count.
    return task is not None and core.ticks_diff(task.ph_key, core.ticks()) <= 0


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
    if opts["load"] not in ("london", "constant", "varied"):
        raise ValueError("load must be 'london', 'constant' or 'varied', not %r" % (opts["load"],))
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


def reset():
    """The virtual board's MCU reset: the process ends with a distinct status, which
    tools/sim.py reports as a reset and tools/vboard.py answers by powering on again."""
    raise SystemExit(3)


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


def varied_program(phases):
    """One simulated day, repeated: every quadrant, low and no load, an outage, a phase loss.

    Load changes sign only across a 5-minute no-load gap, so no metering window (up to 300 s)
    holds both import and export: the ADE7953's signed energy register nets inside a window,
    and this keeps the exactness check one of registering, not of chip netting.
    """
    from hal.sim.grid import Constant, Outage, PhaseLoss, Sequence

    minute = 60_000

    def load(p_mw, q_mvar):
        return Constant(p_mw=p_mw, q_mvar=q_mvar, phases=phases)

    idle = load(0, 0)
    evening = load(1_500_000, 493_000)
    if phases == 3:
        evening = Sequence([(60 * minute, PhaseLoss(evening, 1)), (1, evening)])
    steps = [
        (360 * minute, load(800_000, 387_000)),  # night import, inductive (QI)
        (5 * minute, idle),
        (355 * minute, load(-2_500_000, -300_000)),  # PV export, capacitive (QIII)
        (5 * minute, idle),
        (115 * minute, load(4_000_000, -1_200_000)),  # import, capacitive (QIV)
        (30 * minute, Outage(phases)),
        (210 * minute, load(30_000, 9_000)),  # low load: 130 mA, above the starting current
        (5 * minute, idle),  # no load: nothing may register
        (115 * minute, load(-1_000_000, 250_000)),  # export, inductive (QII)
        (5 * minute, idle),
        (235 * minute, evening),  # import; on 3 phases L2 is lost for the first hour
    ]
    return Sequence(steps, loop=True)


class SimBoard:
    """Simulated time, the grid, the buses and every chip model: the board's hardware.

    The models live as long as the SimBoard; the drivers and the firmware are built anew at
    every power-up (`hardware()`), exactly as a real board reboots with its FRAM and RTC
    contents intact. The engine coroutine drives time while the firmware runs.
    """

    def __init__(self, opts):
        from hal.sim.fram_model import MB85RSModel
        from hal.sim.grid import Constant, GridModel, ProfileCsv
        from hal.sim.keypad_model import KeypadModel
        from hal.sim.lcd_model import ST7567Model
        from hal.sim.relay_model import LatchingRelayModel
        from hal.sim.rtc_model import RV3032Model
        from hal.sim.supply_model import CoverSwitch, PowerFailComparator

        self.opts = opts
        self.time = SimTime()
        machine.Timer.sim_time = self.time
        machine.WDT.sim_time = self.time
        self.three_phase = opts["afe"] == "atm90e32"
        phases = 3 if self.three_phase else 1
        profile = _find_profile() if opts["load"] == "london" else None
        if opts["load"] == "varied":
            program = varied_program(phases)
        elif profile is not None:
            program = ProfileCsv(profile, start=_profile_start(opts["start_utc"]), phases=phases)
        else:
            # 2 kW import at PF 0.95 lagging (657 var) on every phase.
            program = Constant(p_mw=2_000_000, q_mvar=657_361, phases=phases)
        self.grid = GridModel(self.time, phases=phases, program=program)
        self.start_utc = opts["start_utc"]
        days = opts["days"]
        self.end_us = None if days is None else int(days * 86400) * 1_000_000
        self.watchdog_reset = False
        self.power_lost = False
        self.boots = 0
        self.outages = 0
        self.energy_reads = 0  # windows the AFE driver has read (see count_reads)
        self._reads_at_end = None
        self.truth_at_last_read = None
        self._truth_before = None  # AFE truth counts of earlier power-ups (the model restarts)
        self.lost_at_cuts = [[0, 0, 0, 0] for _ in range(phases)]  # unread at power cuts
        self._lcd_frames_shown = 0
        self._status_row = 0  # terminal row of the "sim time" line under the frame
        self._status_shown_s = -1
        self.heap_mark = 0
        self.last_app = None
        Pin = machine.Pin

        # ---- buses, pins and chip models (the board's hardware) ---------------------------
        # Mode 3 suits every device on the bus (the ATM90E32 needs it; the ADE7953, MB85RS and
        # ST7567 accept modes 0 and 3), so one bus set-up serves both front ends.
        self.spi = machine.SPI(2, baudrate=1_000_000, polarity=1, phase=1)
        self.i2c = machine.I2C(0, freq=400_000)
        self.cs_afe = Pin("GPIO5", Pin.OUT, value=1)
        self.afe_irq = None
        if self.three_phase:
            from hal.sim.atm90e32_model import ATM90E32Model

            self.afe_model = ATM90E32Model(self.time, self.grid)
        else:
            from hal.sim.ade7953_model import ADE7953Model

            self.afe_irq = Pin("GPIO34", Pin.IN)
            self.afe_model = ADE7953Model(self.time, self.grid, self.afe_irq)
        self.spi.attach(self.cs_afe, self.afe_model)

        self.cs_fram = Pin("GPIO15", Pin.OUT, value=1)
        self.fram_model = MB85RSModel("MB85RS2MT", path=opts["fram_image"])
        self.spi.attach(self.cs_fram, self.fram_model)

        self.rtc_model = RV3032Model(self.time, start_utc=opts["start_utc"])
        self.i2c.attach(0x51, self.rtc_model)

        self.cs_lcd = Pin("GPIO4", Pin.OUT, value=1)
        self.lcd_dc = Pin("GPIO2", Pin.OUT, value=0)
        self.lcd_model = ST7567Model(self.lcd_dc)
        self.spi.attach(self.cs_lcd, self.lcd_model)

        # On the real boards the keypad sits behind a PCF8574; here on direct pins.
        self.rows = [Pin("KP_R%d" % i, Pin.OUT, value=1) for i in range(4)]
        self.cols = [Pin("KP_C%d" % i, Pin.IN, Pin.PULL_UP) for i in range(3)]
        self.buttons = [Pin("BTN_A", Pin.IN, Pin.PULL_UP), Pin("BTN_B", Pin.IN, Pin.PULL_UP)]
        self.keypad_model = KeypadModel(self.rows, self.cols, self.buttons)

        self.set_coil = Pin("GPIO25", Pin.OUT, value=0)
        self.reset_coil = Pin("GPIO26", Pin.OUT, value=0)
        self.feedback = Pin("GPIO27", Pin.IN)
        self.relay_model = LatchingRelayModel(
            self.time, self.set_coil, self.reset_coil, self.feedback
        )
        self.aux_load = Pin("GPIO32", Pin.OUT, value=0)
        self.power_fail = Pin("GPIO35", Pin.IN, value=1)
        self.supply = PowerFailComparator(self.power_fail, self.time)
        self.terminal = Pin("GPIO36", Pin.IN)
        self.case = Pin("GPIO39", Pin.IN)
        self.cover_models = (
            CoverSwitch(self.terminal, "terminal"),
            CoverSwitch(self.case, "case"),
        )
        self.uart = machine.UART(2, baudrate=9600)

    # ---- the firmware's view: drivers over the models, built at every power-up ------------
    def hardware(self):
        """Build the drivers (exactly what board/real.py builds on an ESP32) -> Hardware."""
        import gc

        gc.collect()
        self.heap_mark = gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0
        from hal.fram import MB85RS
        from hal.keypad import Keypad
        from hal.relay import LatchingRelay
        from hal.rv3032 import RV3032
        from hal.st7567 import ST7567

        opts = self.opts
        self.boots += 1
        self.power_lost = False
        hw = Hardware("sim")
        hw.sim = self
        hw.ticks_ms = self.time.ticks_ms
        hw.sleep_ms = self.sleep_ms
        hw.tick_ms = opts["tick_s"] * 1000
        if self.three_phase:
            from hal.atm90e32 import ATM90E32

            hw.afe = ATM90E32(self.spi, self.cs_afe, sleep_ms=self.sleep_ms)
        else:
            from hal.ade7953 import ADE7953

            # LINECYC counts half line cycles: 100 per second at 50 Hz.
            hw.afe = ADE7953(
                self.spi,
                self.cs_afe,
                irq=self.afe_irq,
                sleep_ms=self.sleep_ms,
                linecyc=100 * opts["tick_s"],
            )
            hw.afe_irq = self.afe_irq
        self.count_reads(hw.afe)
        hw.fram = MB85RS(self.spi, self.cs_fram)
        hw.rtc = RV3032(self.i2c, sleep_ms=self.sleep_ms)
        # Level switching + trickle charge for the supercap; writes the EEPROM only if needed.
        hw.rtc.configure_backup()
        hw.lcd = ST7567(self.spi, self.cs_lcd, self.lcd_dc, sleep_ms=self.sleep_ms)
        hw.keypad = Keypad(self.rows, self.cols, (("A", self.buttons[0]), ("B", self.buttons[1])))
        hw.relay = LatchingRelay(
            self.set_coil, self.reset_coil, self.feedback, sleep_ms=self.sleep_ms
        )
        hw.aux_load = self.aux_load
        hw.power_fail = self.power_fail
        hw.covers = (("terminal", self.terminal), ("case", self.case))
        # The virtual board's local port is TCP (dlms_tcp below): nothing is wired to its UART,
        # so no HDLC task polls it (that poll cost ~14 % of a full-speed run).
        hw.uart = None
        hw.dlms_tcp = tuple(
            ("127.0.0.1", opts[key], kind)
            for key, kind in (("dlms_port", "wrapper"), ("hdlc_port", "hdlc"))
            if opts[key]
        )
        hw.new_timer = lambda period_ms, cb, timer_id=0: machine.Timer(
            timer_id, mode=machine.Timer.PERIODIC, period=period_ms, callback=cb
        )
        hw.new_wdt = lambda timeout_ms: machine.WDT(0, timeout=timeout_ms)
        hw.services = lambda: (self.engine(),)
        hw.finish = self.finish
        hw.next_boot = self.next_boot

        hw.reset = reset
        return hw

    def now_s(self):
        return self.time.now_us() // 1_000_000

    def sleep_ms(self, ms):
        """Blocking delay as seen by drivers: simulated time passes, events fire."""
        self.time.advance(ms * 1000)

    # ---- ground truth ------------------------------------------------------------------
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

    def _afe_truth_counts(self):
        """The AFE model's exact counts per phase and quadrant since the sim began."""
        model = self.afe_model
        if self.grid.phases == 1:
            counts = [list(model.truth_counts())]
        else:
            counts = [list(model.truth_counts(p)) for p in range(self.grid.phases)]
        before = self._truth_before
        if before is not None:
            for p in range(len(counts)):
                for q in range(4):
                    counts[p][q] += before[p][q]
        return counts

    def _truth_now(self):
        return {
            "energy_uj": [list(self.grid.energy_uj(p)) for p in range(self.grid.phases)],
            "afe_counts": self._afe_truth_counts(),
        }

    def truth(self):
        """The grid model's exact energy (µJ per phase and quadrant) and the AFE model's exact
        counts, both at the instant the last metering window was read. `afe_counts` is what
        the chip delivered to the meter; `afe_counts_lost_at_power_cuts` is what it had
        measured but not yet handed over when the supply failed (at most one window a cut)."""
        if self.truth_at_last_read is None:
            return {"at_us": None}
        at_us, truth = self.truth_at_last_read
        truth["at_us"] = at_us
        truth["windows_read"] = self.energy_reads
        truth["outages"] = self.outages
        truth["afe_counts_lost_at_power_cuts"] = self.lost_at_cuts
        return truth

    # ---- the engine -----------------------------------------------------------------------
    def _final_read_done(self):
        """The run ends with the first metering window read at or after the end time, so the
        registers and the ground truth written beside them cover exactly the same energy."""
        if self._reads_at_end is None:
            self._reads_at_end = self.energy_reads
        return self.energy_reads > self._reads_at_end

    def _ended(self):
        return self.end_us is not None and self.time.now_us() >= self.end_us

    async def engine(self):
        """Advance simulated time event by event, yielding to the firmware after each. Returns
        when the run is over, when the watchdog would reset the board, or when the mains goes
        and the hold-up time has run out (the MCU dies: see next_boot)."""
        from lib.aio import sleep_ms

        t = self.time
        grid = self.grid
        speed = self.opts["speed"]
        history_end_us = int(self.opts["history_days"] * 86400) * 1_000_000
        show = self.opts["display"] or ("none" if speed == "max" else "terminal")
        passes = 0
        if t.interrupted:
            # Resumed after a Ctrl-C that landed inside a model's event: restore the chips'
            # own schedules, or a lost CYCEND would leave the meter waiting for a tick forever.
            t.interrupted = False
            self.afe_model.restore_schedule()
            machine.Timer.restore_schedules()
        while True:
            now = t.now_us()
            live = speed != "max" and now >= history_end_us
            if self._ended() and self._final_read_done():
                return
            if not grid.supply_on():
                if self._supply_lost():
                    return
            elif not self.supply.supply_on:
                self.supply.supply(True)  # a dip shorter than the hold-up time: MCU survived
            due = t.next_due_us()
            if due is None or (live and due > now + 1_000_000):
                # Live runs advance at least once a second (the terminal clock); at full speed
                # time jumps straight to the next event (the watchdog is always scheduled).
                due = now + 1_000_000
            change = grid.next_change_us()
            if change is not None and now < change < due:
                due = change
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
            passes += 1
            if passes >= _EVENTS_PER_IO_POLL:
                # Even at full speed give the scheduler a pass now and then: it polls the
                # sockets then, so DLMS clients are served while the history runs.
                passes = 0
                await sleep_ms(0)
            if show == "terminal" and live:
                self._render_terminal()

    def _supply_lost(self):
        """Mains gone: the comparator warns, the hold-up capacitor keeps the MCU alive for a
        few ms, then everything without a backup supply stops. True once the MCU is dead."""
        self.supply.supply(False)
        if self.supply.rail_ok:
            return False  # still inside the hold-up time: the firmware keeps running
        self.power_lost = True
        self.outages += 1
        machine.power_off_timers()
        # The chip dies with the energy of its unfinished window (measured since the last
        # read, never readable now: in line-cycle mode the registers only update at CYCEND).
        # The model restarts its count at power-up, so the truth carried forward is what the
        # meter could read, and the unread part is reported as lost at this cut.
        at_cut = self._afe_truth_counts()
        last = self.truth_at_last_read
        read = at_cut if last is None else last[1]["afe_counts"]
        lost = self.lost_at_cuts
        for p in range(len(at_cut)):
            for q in range(4):
                lost[p][q] += at_cut[p][q] - read[p][q]
        self._truth_before = [list(phase) for phase in read]
        self.afe_model.power_down()
        self.fram_model.power_off()
        self.rtc_model.power_off()
        return True

    def next_boot(self):
        """After the firmware stopped: ride out an outage and power the board up again (a new
        Hardware with fresh drivers over the same chips), or finish the run (None)."""
        if not self.power_lost:
            return None
        t = self.time
        grid = self.grid
        while not grid.supply_on():
            if self._ended():
                self._write_outputs(self.last_app)
                return None
            due = grid.next_change_us()
            if due is None:
                due = t.now_us() + 3_600_000_000
            if self.end_us is not None and t.now_us() < self.end_us < due:
                due = self.end_us
            t.advance_to(due)
        self.supply.supply(True)
        self.rtc_model.power_on()
        self.fram_model.power_on()
        self.afe_model.power_up()
        return self.hardware()

    def finish(self, app):
        """Called when the meter loop ends; outputs are written only when the run is over."""
        self.last_app = app
        if not self.power_lost:
            self._write_outputs(app)

    def _render_terminal(self):
        model = self.lcd_model
        if model is None:
            return
        now_s = self.now_s()
        status = "sim time %d s  (Ctrl-C to stop)" % now_s
        if model.bytes_in != self._lcd_frames_shown:
            self._lcd_frames_shown = model.bytes_in
            from hal.sim.render import to_terminal

            # Cursor home + the frame: the display redraws in place.
            frame = to_terminal(model.pixels())
            self._status_row = frame.count("\n") + 2
            print("\x1b[H\x1b[2J" + frame)
            print(status)
        elif now_s != self._status_shown_s and self._status_row:
            # The LCD only gets bytes when a line of it changes (the screen redraws what
            # changed): keep the time line below it going every simulated second anyway.
            print("\x1b[%d;1H%s\x1b[K" % (self._status_row, status))
        self._status_shown_s = now_s

    def _write_outputs(self, app):
        if self.opts["fram_image"]:
            self.fram_model.save()  # the part keeps its contents for the next run
        out = self.opts["out"]
        if not out or app is None:
            return
        _makedirs(out)
        status = app.status()
        status["watchdog_reset"] = self.watchdog_reset
        status["afe"] = self.opts["afe"]
        status["start_utc"] = self.start_utc
        status["boots"] = self.boots
        status["outages"] = self.outages
        with open(out + "/registers.json", "w") as f:
            json.dump(status, f)
        with open(out + "/truth.json", "w") as f:
            json.dump(self.truth(), f)
        self.fram_model.save(out + "/fram.img")
        from hal.sim.render import to_pbm

        with open(out + "/display.pbm", "wb") as f:
            f.write(to_pbm(self.lcd_model.pixels()))


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
    """The virtual board's Hardware bundle, wired like the ESP32 DevKitC (board/real.py)."""
    return SimBoard(load_options(overrides)).hardware()
