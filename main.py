"""Board entry point: pick the board, build its hardware, run the meter.

- Safe mode: if the safe-mode key (button A) is held at reset, the meter does not start and
  the REPL stays reachable (no watchdog is running yet).
- An exception escaping the meter, or raised while building the board's drivers, is printed
  and saved to `crash.log`, then the board resets instead of hanging.
- A keyboard interrupt (Ctrl-C from mpremote) only stops the loop and opens a bounded service
  session: the REPL has `firmware.app.resume()` and `firmware.app.status()`, and the watchdog
  (which cannot be stopped) is fed for firmware.app.SERVICE_HOLD_MS, after which it resets the
  board back into metering.
"""

import board
from lib.log import log, print_exception


def _record_crash(exc):
    print_exception(exc)
    try:
        with open("crash.log", "a") as f:
            print_exception(exc, f)
    except OSError:
        pass


def run():
    try:
        if board.safe_mode_requested():
            log("safe mode: key held at reset, meter not started; REPL available")
            return None
        hw = board.build()
        from firmware import app
    except Exception as exc:  # noqa: BLE001 - a driver that cannot start: log it, then reset
        _record_crash(exc)
        board.reset()
        return None

    meter = None
    while hw is not None:
        try:
            meter = app.main(hw)
        except KeyboardInterrupt:
            held_ms = app.service_hold_left_ms()
            note = ""
            if held_ms > 0:
                note = " (or the watchdog resets the board in %d min)" % (held_ms // 60000)
            log("meter stopped by keyboard interrupt; firmware.app.resume() restarts it" + note)
            return None
        except Exception as exc:  # noqa: BLE001 - any escape is a crash: log it, then reset
            _record_crash(exc)
            hw.reset()
        # Real boards never get here; the virtual board does after a simulated power cut
        # (it powers up again with the same chips) and at the end of a --days run (None).
        hw = hw.next_boot()
    return meter


run()
