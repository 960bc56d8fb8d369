"""The imperative shell: asyncio tasks that feed the meter's functional core from the hardware.

Data flow of one tick (DESIGN.md "How data flows"):

    AFE IRQ (line-cycle end) or machine.Timer
      -> hard ISR `_on_tick_irq`: sets a ThreadSafeFlag, nothing else (allocates nothing)
      -> metering task: afe.read_energy_into(preallocated counts), exactly once per window,
         and afe.read_vi_into(figures): the voltages and currents the core checks
      -> the Meter core accumulates and marks itself healthy
      -> the UI task redraws when told to
    comms: DLMS/COSEM over HDLC on the local-port UART (and TCP on the virtual board)
    watchdog: fed from the metering task only after a complete tick *and* only while the UI
    task has also made progress recently, so a hung task or a dead AFE interrupt resets the
    board instead of leaving a meter that silently stops registering.

`main.py` calls `main(hw)`. On the virtual board the loop ends after the requested simulated
days and `hw.finish(app)` writes the outputs; on a real board it runs until reset. A keyboard
interrupt (mpremote) stops the loop with all state kept: `resume()` restarts it, `status()`
reports it and `figures()` reads the display and quality figures (all used by the HIL suite
through the REPL).

The REPL after a keyboard interrupt is a bounded service session. The watchdog cannot be
stopped once started (ESP32, RP2040), so `hold_for_service()` feeds it from a timer for
SERVICE_HOLD_MS; then feeding stops and the watchdog resets the board, which boots back into
metering. A meter an engineer forgot at the REPL therefore stops registering for at most that
long. `resume()` ends the session; `hold_for_service()` again extends it.
"""

import asyncio
import gc
from array import array

from firmware import calibration, comms
from firmware.cosem.server import CosemServer
from firmware.meter import Meter
from firmware.screen import Screen
from lib.aio import ThreadSafeFlag
from lib.ticks import ticks_diff

# The watchdog period: at least three metering windows, so one slow tick never resets it.
_WDT_TIMEOUT_MS = 8000
# The UI task must have run within this many metering ticks for the watchdog to be fed.
_UI_STALL_TICKS = 5
# A REPL session after Ctrl-C keeps the board up this long before the watchdog resets it.
SERVICE_HOLD_MS = 15 * 60 * 1000
_SERVICE_FEED_MS = 1000  # well inside the watchdog period
# Timer slots (board bundle new_timer): 0 paces the ticks on boards without an AFE IRQ.
_SERVICE_TIMER = 1


class App:
    """Owns the meter core and the tasks; one instance per boot."""

    def __init__(self, hw):
        self.hw = hw
        self.meter = Meter(
            hw.afe.phases, hw.afe.count_uwh, hw.fram, hw.rtc, hw.ticks_ms, tick_ms=hw.tick_ms
        )
        self.screen = Screen(hw.lcd) if hw.lcd is not None else None
        self.tick_flag = ThreadSafeFlag()
        self.ui_flag = ThreadSafeFlag()
        self._on_tick_irq_ref = self._on_tick_irq  # bound once: binding allocates
        self._timer = None
        self.wdt = None
        self._service_timer = None
        self._service_left_ms = 0
        self._service_feed_ref = self._service_feed  # bound once: the timer calls it in an ISR
        self.ui_runs = 0
        self.keypad_errors = 0
        self._ui_seen_at_tick = 0
        self.started_ms = hw.ticks_ms()
        self.first_tick_ms = None
        self.running = False
        self.cosem = None  # the DLMS/COSEM server, built once the meter has booted
        self._display_figures = array("l", [0] * len(self.meter.figures))

    # ---- interrupt side -------------------------------------------------------------
    def _on_tick_irq(self, _source):
        # Hard ISR: no allocation, no SPI. The metering task does the work.
        self.tick_flag.set()

    def _start_tick_source(self):
        hw = self.hw
        if hw.afe_irq is not None:
            pin = hw.afe_irq
            try:
                pin.irq(handler=self._on_tick_irq_ref, trigger=pin.IRQ_FALLING, hard=True)
            except TypeError:  # ports without hard IRQs
                pin.irq(handler=self._on_tick_irq_ref, trigger=pin.IRQ_FALLING)
            if pin.value() == 0:
                # The line is level-held until the window is read: an edge that came before
                # this loop started (boot, or a resume after Ctrl-C) would otherwise never
                # come again, and the meter would wait forever.
                self.tick_flag.set()
        elif self._timer is None:
            self._timer = hw.new_timer(hw.tick_ms, self._on_tick_irq_ref)

    # ---- tasks ------------------------------------------------------------------------
    async def metering_task(self):
        hw = self.hw
        afe = hw.afe
        meter = self.meter
        counts = meter.counts
        figures = meter.figures
        while True:
            await self.tick_flag.wait()
            # Read-clear registers: exactly one read per window, never retried (DESIGN rule 7).
            try:
                ok = afe.read_energy_into(counts)
            except OSError:
                ok = False
            try:
                # V and I only: the creep gate and the phase-failure monitor need them every
                # window; the display and quality figures are read on demand (figures()).
                afe.read_vi_into(figures)
            except OSError:
                ok = False  # no figures: the creep gate and monitor cannot vouch for the window
            meter.on_tick(counts, ok, figures)
            if self.first_tick_ms is None:
                self.first_tick_ms = ticks_diff(hw.ticks_ms(), self.started_ms)
            self._feed_watchdog_if_healthy()
            self.ui_flag.set()

    async def ui_task(self):
        hw = self.hw
        while True:
            await self.ui_flag.wait()
            self.ui_runs += 1
            self._ui_seen_at_tick = self.meter.ticks
            if hw.keypad is not None:
                try:
                    key = hw.keypad.scan()
                except OSError:
                    # The keypad sits behind an I2C expander on the real boards: a loose
                    # cable must cost the keys, not the meter (an escape here would crash
                    # the loop and reset-loop the board). Counted for status().
                    key = None
                    self.keypad_errors += 1
                if key is not None and self.screen is not None:
                    self.screen.on_key(key)
            if self.screen is not None:
                self.screen.draw(self.meter)

    # ---- service session after Ctrl-C ------------------------------------------------------
    def hold_for_service(self, ms):
        """Feed the watchdog for `ms` from a timer while the meter loop is stopped (module
        docstring). Nothing to do if the loop never started the watchdog."""
        if self.wdt is None or ms <= 0:
            return
        self._service_left_ms = ms
        if self._service_timer is None:
            self._service_timer = self.hw.new_timer(
                _SERVICE_FEED_MS, self._service_feed_ref, _SERVICE_TIMER
            )

    def end_service_hold(self):
        self._service_left_ms = 0
        if self._service_timer is not None:
            self._service_timer.deinit()
            self._service_timer = None

    def _service_feed(self, _timer):
        # Timer callback (an ISR on some ports): integer arithmetic and a feed, no allocation.
        if self._service_left_ms <= 0:
            return  # the session is over: let the watchdog reset the board into metering
        self._service_left_ms -= _SERVICE_FEED_MS
        self.wdt.feed()

    def _feed_watchdog_if_healthy(self):
        if self.wdt is None:
            return
        if self.meter.ticks - self._ui_seen_at_tick > _UI_STALL_TICKS:
            return  # the UI task is stuck: let the watchdog reset the board
        self.wdt.feed()

    async def _service(self, coro, stop):
        try:
            await coro
        finally:
            stop.set()

    async def run_async(self):
        hw = self.hw
        # Fresh flags for this loop: under CPython an Event belongs to the loop that first
        # awaited it, and resume() runs a new loop. The ISR reads self.tick_flag at call time.
        self.tick_flag = ThreadSafeFlag()
        self.ui_flag = ThreadSafeFlag()
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(self.metering_task()),
            asyncio.create_task(self.ui_task()),
        ]
        for coro in hw.services():
            tasks.append(asyncio.create_task(self._service(coro, stop)))
        # DLMS/COSEM: HDLC on the local-port UART; on the virtual board also TCP (127.0.0.1).
        if self.cosem is not None:
            if hw.uart is not None:
                tasks.append(asyncio.create_task(comms.serve_uart(hw.uart, self.cosem)))
            for host, port, kind in hw.dlms_tcp:
                tasks.append(asyncio.create_task(comms.serve_tcp(host, port, kind, self.cosem)))
        self._start_tick_source()
        if self.wdt is None:
            self.wdt = hw.new_wdt(max(_WDT_TIMEOUT_MS, 3 * hw.tick_ms))
        self.running = True
        try:
            await stop.wait()
        finally:
            self.running = False
            for t in tasks:
                t.cancel()

    # ---- queries (never mutate: DESIGN rule 6) ------------------------------------------
    def figures(self):
        """The display and quality figures, read from the front end now (issue 4 deliverable 7:
        on demand, not every tick): per phase mV, mA, mW, mvar, mVA, PF x1000, f mHz, in
        firmware/monitor.py's FIG_* order. None if the front end does not answer.

        Reads only instantaneous registers (never the read-clear energy registers), into a
        buffer of its own, so the metering window in progress is untouched."""
        try:
            self.hw.afe.measure_into(self._display_figures)
        except OSError:
            return None
        return self._display_figures

    def status(self):
        gc.collect()
        hw = self.hw
        out = {
            "board": hw.name,
            "ticks": self.meter.ticks,
            "read_errors": self.meter.read_errors,
            "keypad_errors": self.keypad_errors,
            "running": self.running,
            "first_tick_ms": self.first_tick_ms,
            # MicroPython only (None under CPython, which has no gc.mem_free/mem_alloc).
            "heap_free": gc.mem_free() if hasattr(gc, "mem_free") else None,
            "heap_used": gc.mem_alloc() if hasattr(gc, "mem_alloc") else None,
            "registers_wh": self.meter.registers_wh(),
            "phase_registers_wh": self.meter.phase_registers_wh(),
            "clock_valid": self.meter.clock.valid,
            "utc": self.meter.clock.timestamp_or_none(),
            "store": self.meter.boot_report,
        }
        if hw.sim is not None:
            out["sim_time_s"] = hw.sim.now_s()
        return out


_app = None


def main(hw):
    """Build the App on `hw` and run it (returns only on the virtual board or on Ctrl-C)."""
    global _app
    _app = App(hw)
    hw.afe.begin()
    _app.meter.boot()
    # begin() leaves the chip at its reset calibration: apply the stored record (or keep the
    # defaults and raise the fault if the record is corrupt).
    calibration.apply_stored(_app.meter, hw.afe)
    _app.cosem = CosemServer(_app.meter)
    return resume()


def hold_for_service(ms=SERVICE_HOLD_MS):
    """After Ctrl-C: keep the board up at the REPL for `ms` (module docstring)."""
    if _app is not None:
        _app.hold_for_service(ms)


def service_hold_left_ms():
    """How long the watchdog is still fed at the REPL (0: not held, or it never started)."""
    return _app._service_left_ms if _app is not None else 0


def resume():
    """Restart the meter loop with its state intact (after a keyboard interrupt)."""
    _app.end_service_hold()
    asyncio.new_event_loop()
    try:
        asyncio.run(_app.run_async())
    except KeyboardInterrupt:
        # Every Ctrl-C (at boot through main.py, or after a resume() typed at the REPL) opens
        # a bounded service session (module docstring).
        _app.hold_for_service(SERVICE_HOLD_MS)
        raise
    _app.hw.finish(_app)
    return _app


def status():
    return _app.status() if _app is not None else {"running": False}


def figures():
    """The display and quality figures read now (App.figures()) as a list, for the REPL."""
    figs = _app.figures() if _app is not None else None
    return None if figs is None else list(figs)
