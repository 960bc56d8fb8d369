"""Run the meter on the virtual board: real MicroPython (unix port) executing main.py.

    make sim                                   live, display in the terminal, Ctrl-C to stop
    make sim ARGS="--days 3 --speed max --out DIR"
                                               3 simulated days as fast as possible; DIR gets
                                               registers.json, truth.json, fram.img,
                                               display.pbm and display.png

The meter code that runs is exactly main.py -> board/sim.py -> firmware/, inside the
`micropython` command from .venv. This program only prepares the options file, starts it,
and afterwards turns the display dump into a PNG and prints a summary.
"""

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tools.mpenv import INSTALL_HINT, ROOT, micropython_binary  # noqa: E402

_EPOCH_2000_DAYS_FROM_1970 = 10957


def parse_date(text):
    """'2024-01-15' -> seconds since 2000-01-01T00:00:00Z (UTC midnight)."""
    import datetime

    try:
        d = datetime.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("dates are YYYY-MM-DD: %s" % exc) from None
    if not 2000 <= d.year <= 2099:
        raise argparse.ArgumentTypeError("the meter's calendar covers 2000-2099")
    days = (d - datetime.date(2000, 1, 1)).days
    return days * 86400


def _number(text, what):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%s is a number, not %r" % (what, text)) from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError("%s must be finite, not %r" % (what, text))
    return value


def parse_speed(text):
    if text == "max":
        return "max"
    try:
        value = _number(text, "speed")
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            "speed is 'max' or a positive number (1 = real time), not %r" % text
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError("speed must be positive, not %r" % text)
    return value


def parse_days(text):
    value = _number(text, "days")
    if value <= 0:
        raise argparse.ArgumentTypeError("days must be positive, not %r" % text)
    return value


def parse_history_days(text):
    value = _number(text, "history days")
    if value < 0:
        raise argparse.ArgumentTypeError("history days must be >= 0, not %r" % text)
    return value


def parse_tick_s(text):
    # board/sim.py accepts 1..300 s: the ADE7953's LINECYC window and the ATM90E32's 16-bit
    # energy registers bound it (see options_from_args).
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "tick is a whole number of seconds, not %r" % text
        ) from None
    if not 1 <= value <= 300:
        raise argparse.ArgumentTypeError("tick must be 1..300 s, not %r" % text)
    return value


def parse_port(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a TCP port is a number, not %r" % text) from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a TCP port is 0..65535 (0 = off), not %r" % text)
    return value


LOAD_HELP = (
    "london: the household's half-hourly profile in data/ (default)\n"
    "constant: 2 kW at PF 0.95 lagging\n"
    "varied: a repeating day of import, export, reactive both ways,\n"
    "  low load, no load, a 30-minute outage and, on the ATM90E32,\n"
    "  a phase loss (board/sim.py varied_program)"
)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--days", type=parse_days, help="stop after this many simulated days")
    p.add_argument("--speed", type=parse_speed, default=1, help="'max' or sim seconds per second")
    p.add_argument("--out", help="directory for the outputs when the run ends")
    p.add_argument("--afe", choices=("ade7953", "atm90e32"), default="ade7953")
    p.add_argument(
        "--load", choices=("london", "constant", "varied"), default="london", help=LOAD_HELP
    )
    p.add_argument("--start", type=parse_date, help="simulated start date (UTC), YYYY-MM-DD")
    p.add_argument("--fram-image", help="FRAM image file kept across runs (default: in --out)")
    p.add_argument("--display", choices=("terminal", "none"), help="where the LCD is shown")
    p.add_argument(
        "--dlms-port", type=parse_port, default=4059, help="DLMS wrapper port (0 = off)"
    )
    p.add_argument(
        "--hdlc-port", type=parse_port, default=4061, help="HDLC-over-TCP port (0 = off)"
    )
    p.add_argument(
        "--history-days",
        type=parse_history_days,
        default=0,
        help="first run this many simulated days at full speed\n(populated profiles and logs)",
    )
    p.add_argument(
        "--tick-s",
        type=parse_tick_s,
        help="metering window in s, 1..300 (default 1; for --speed max runs\n"
        "longer than 7 days 300 on the ADE7953, 60 on the ATM90E32)",
    )
    return p


def options_from_args(args):
    tick_s = args.tick_s
    if tick_s is None:
        # A 1 s window is the meter's normal rhythm; a 400-day run at 1 s would be 34.6 M
        # ticks, so long fast runs use longer windows: 300 s on the ADE7953 (LINECYC allows
        # 655 s; its 24-bit energy register holds 349 Wh, 4.19 kW over 300 s, above the
        # household's 4.07 kW peak half hour) and 60 s on the ATM90E32 (its 16-bit registers
        # hold 204.8 Wh per phase per read, chips.md §2.4).
        long_fast = args.speed == "max" and args.days is not None and args.days > 7
        tick_s = (300 if args.afe == "ade7953" else 60) if long_fast else 1
    opts = {
        "afe": args.afe,
        "speed": args.speed,
        "load": args.load,
        "tick_s": tick_s,
        "dlms_port": args.dlms_port,
        "hdlc_port": args.hdlc_port,
        "history_days": args.history_days,
    }
    if args.days is not None:
        opts["days"] = args.days
    if args.start is not None:
        opts["start_utc"] = args.start
    if args.out:
        opts["out"] = os.path.abspath(args.out)
    if args.fram_image:
        opts["fram_image"] = os.path.abspath(args.fram_image)
    if args.display:
        opts["display"] = args.display
    return opts


def convert_display(out_dir):
    pbm = os.path.join(out_dir, "display.pbm")
    if not os.path.exists(pbm):
        return None
    from PIL import Image

    png = os.path.join(out_dir, "display.png")
    img = Image.open(pbm).convert("L")
    img.resize((img.width * 4, img.height * 4), Image.NEAREST).save(png)
    return png


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.days is None and args.speed == "max":
        parser.error("--speed max needs --days (otherwise it never stops)")
    opts = options_from_args(args)
    binary = micropython_binary()
    if binary is None:
        raise SystemExit(INSTALL_HINT)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(opts, f)
        opts_path = f.name
    env = dict(os.environ, OPENESME_SIM=opts_path, OPENESME_ROOT=ROOT)
    cmd = [binary, "-X", "heapsize=4M", "main.py"]
    if args.history_days:
        print("running %g simulated days at full speed first..." % args.history_days)
    if args.dlms_port or args.hdlc_port:
        print(
            "DLMS/COSEM on 127.0.0.1: TCP wrapper port %s, HDLC over TCP port %s "
            "(client 16 = public, 17 = LLS, 1 and 2 = HLS-GMAC; server logical address 1)"
            % (args.dlms_port or "off", args.hdlc_port or "off")
        )
    if args.days is None:
        print("OpenESME virtual board (MicroPython unix port). Ctrl-C stops it.")
    else:
        print(
            "OpenESME virtual board: %g simulated days, speed %s, %d s metering window"
            % (args.days, args.speed, opts["tick_s"])
        )
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)

    def stop_board(_signum, _frame):
        # The board goes with its host: a terminated tools/sim.py must not leave MicroPython
        # running (metering on, holding its TCP ports) with nobody to stop it.
        proc.terminate()

    signal.signal(signal.SIGTERM, stop_board)
    signal.signal(signal.SIGHUP, stop_board)
    try:
        rc = proc.wait()
    except KeyboardInterrupt:
        # Ctrl-C went to the whole foreground group: the board stops by itself; wait for it.
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        rc = 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.unlink(opts_path)
    if args.out:
        png = convert_display(args.out)
        summary(args.out, png)
    return rc


def summary(out_dir, png):
    path = os.path.join(out_dir, "registers.json")
    if not os.path.exists(path):
        print("no outputs were written to", out_dir)
        return
    with open(path) as f:
        regs = json.load(f)
    print(
        "simulated %s s, %s ticks, read errors %s"
        % (regs.get("sim_time_s"), regs.get("ticks"), regs.get("read_errors"))
    )
    for name, value in sorted(regs.get("registers_wh", {}).items()):
        print("  %-16s %12d Wh" % (name, value))
    print("outputs in %s%s" % (out_dir, " (display: %s)" % png if png else ""))


if __name__ == "__main__":
    sys.exit(main())
