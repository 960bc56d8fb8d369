"""Hardware-in-the-loop set-up: a board reached only through mpremote.

    pytest tests_hil                              a virtual board (tools/vboard.py) in a temp flash
    pytest tests_hil --port /dev/ttyUSB0          a real ESP32 (add --board pico for a Pico)

The session fixture `board` builds the deploy set (tools/deploy.py), copies it with mpremote,
powers the board on (it runs boot.py and main.py, like any reset) and waits for the meter.
`board.query(code)` interrupts the meter (mpremote's Ctrl-C), runs `code`, returns the JSON it
printed, and resumes the meter with `firmware.app.resume()`. Every mpremote call runs under a
subprocess timeout, so a wedged board fails a test instead of hanging the suite.

On the device, `code` has `emit(obj)` to print a result; otherwise the last line printed is
parsed as JSON.
"""

import json
import os
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools import deploy  # noqa: E402
from tools.mpenv import INSTALL_HINT, micropython_binary, venv_tool  # noqa: E402
from tools.vboard import VirtualBoard  # noqa: E402

MARK = "@@HIL@@"
_PRELUDE = "import json\ndef emit(o):\n    print(%r + json.dumps(o))\n" % MARK
RESUME = "import firmware.app as app\napp.resume()"
STATUS = "import firmware.app as app\nemit(app.status())"
# Board names reported by status() for each deploy target (docs/interfaces.md).
STATUS_NAME = {"sim": "sim", "esp32": "esp32_devkit", "pico": "pico"}
# Options for the virtual board's meter: 20 simulated seconds per wall second (fast ticks,
# and the engine sleeps between events, so its sockets are served promptly), starting two
# minutes before midnight UTC on 2023-12-31, so the first half hour closes 6 s after power-on
# and the local-port tests find a populated HH profile.
SIM_OPTIONS = {"speed": 20, "display": "none", "start_utc": 757382400 - 120}

MPREMOTE_TIMEOUT_S = 30
DEPLOY_TIMEOUT_S = 300


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pytest_addoption(parser):
    group = parser.getgroup("hil", "hardware in the loop")
    group.addoption("--port", default=None, help="serial port of a real board (default: virtual)")
    group.addoption(
        "--board",
        default="esp32",
        choices=("esp32", "pico"),
        help="real board type with --port (default esp32)",
    )
    group.addoption(
        "--boot-wait",
        type=float,
        default=None,
        help="seconds from power-on to the first query (default 3 virtual, 8 real)",
    )


class HilError(AssertionError):
    pass


class Board:
    """A deployed board. Attributes: device, name, virtual (VirtualBoard or None), listing
    ({path: [size, sha256]} of the deploy set), status_name (what status() must report)."""

    STATUS = STATUS
    SIM_OPTIONS = SIM_OPTIONS

    def __init__(self, device, name, virtual, listing, build_dir, boot_wait, work):
        self.device = device
        self.work = work  # a host temp directory for files the tests put on the board
        self.name = name
        self.virtual = virtual
        self.listing = listing
        self.build_dir = build_dir
        self.boot_wait = boot_wait
        self.mpremote_bin = venv_tool("mpremote")
        self.status_name = STATUS_NAME[name]

    # -- raw mpremote -------------------------------------------------------------------------
    def mpremote(self, *args, timeout=MPREMOTE_TIMEOUT_S, check=True):
        """Run `mpremote connect <device> resume <args...>`; returns the CompletedProcess."""
        cmd = [self.mpremote_bin, "connect", self.device, "resume"] + list(args)
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise HilError(
                "mpremote %s timed out after %d s%s" % (args[:2], timeout, self.console_tail())
            ) from None
        if check and proc.returncode != 0:
            raise HilError(
                "mpremote %s failed (rc=%d):\n%s%s%s"
                % (args[:2], proc.returncode, proc.stdout, proc.stderr, self.console_tail())
            )
        return proc

    def console_tail(self, n=3000):
        if self.virtual is None:
            return ""
        return "\n--- virtual board %s, console (tail) ---\n%s" % (
            self.virtual.diagnostics(),
            self.virtual.console_text()[-n:],
        )

    @staticmethod
    def parse(stdout):
        values = [ln[len(MARK) :] for ln in stdout.splitlines() if ln.startswith(MARK)]
        if not values:
            values = [ln for ln in stdout.splitlines() if ln.strip()][-1:]
        if not values:
            raise HilError("the board printed nothing to parse")
        try:
            return json.loads(values[-1])
        except ValueError:
            raise HilError("not JSON from the board: %r" % values[-1]) from None

    # -- the helpers tests use ------------------------------------------------------------------
    def query(self, code, resume=True, timeout=MPREMOTE_TIMEOUT_S):
        """Interrupt the meter, run `code`, resume the meter; returns the JSON `code` printed."""
        args = ["exec", _PRELUDE + code]
        if resume:
            args += ["+", "exec", "--no-follow", RESUME]
        proc = self.mpremote(*args, timeout=timeout, check=False)
        if proc.returncode != 0:
            if resume:  # the chain stopped at `code`: do not leave the meter stopped
                self.mpremote("exec", "--no-follow", RESUME, check=False)
            raise HilError(
                "code failed on the board (rc=%d):\n%s\n%s%s"
                % (proc.returncode, proc.stdout, proc.stderr, self.console_tail())
            )
        return self.parse(proc.stdout)

    def status(self, resume=True):
        return self.query(STATUS, resume=resume)

    def status_after(self, ticks, timeout=30):
        """The status once the meter has counted past `ticks`, waiting 1, 2, 4 ... s between
        looks (each look stops the meter briefly, so looks must not come faster than it
        restarts on a loaded machine). Returns the last status even if it never got there."""
        wait = 1.0
        deadline = time.monotonic() + timeout
        while True:
            time.sleep(wait)
            status = self.status()
            if status.get("ticks", 0) > ticks or time.monotonic() >= deadline:
                return status
            wait = min(wait * 2, 8.0)

    def resume(self):
        self.mpremote("exec", "--no-follow", RESUME)

    def read_local_port(self, transport, port):
        """One tools/read.py session (the PyPI dlms-cosem client) -> its JSON output."""
        import subprocess
        import sys

        proc = subprocess.run(
            [
                sys.executable,
                "tools/read.py",
                "--port",
                str(port),
                "--transport",
                transport,
                "--json",
                "--timeout",
                "60",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def put(self, local, remote):
        """Copy a host file onto the board's flash."""
        self.mpremote("fs", "cp", local, ":" + remote)

    def power_cycle(self):
        """Reset the board: it boots again through boot.py and main.py."""
        if self.virtual is not None:
            self.virtual.power_cycle()
        else:
            # machine.reset(); the USB serial may drop and come back, so errors are expected.
            self.mpremote("exec", "--no-follow", "import machine\nmachine.reset()", check=False)

    def wait_running(self, attempts=3):
        """After power-on: wait, then check the meter ticks; if the query came too early (the
        meter not started yet), power-cycle and wait twice as long. Returns the status."""
        wait = self.boot_wait
        last = None
        for _ in range(attempts):
            time.sleep(wait)
            try:
                last = self.status()
                if last.get("ticks", 0) > 0:
                    return last
            except HilError as e:
                last = e
            self.power_cycle()
            wait *= 2
        raise HilError("the meter never started ticking: %r%s" % (last, self.console_tail()))


@pytest.fixture(scope="session")
def board(request, tmp_path_factory):
    if venv_tool("mpremote") is None:
        pytest.skip(deploy.MPREMOTE_HINT)
    port = request.config.getoption("--port")
    boot_wait = request.config.getoption("--boot-wait")
    work = tmp_path_factory.mktemp("hil")
    virtual = None
    if port:
        name = request.config.getoption("--board")
        device = port
    else:
        if micropython_binary() is None:
            pytest.skip(INSTALL_HINT)
        name = "sim"
        virtual = VirtualBoard(str(work / "flash"), log_path=str(work / "console.log"))
        device = virtual.start()
    try:
        build_dir = str(work / "deploy" / name)
        _out, listing = deploy.build(name, out_dir=build_dir)
        extra = []
        if virtual is not None:
            options = work / "sim.json"
            # The virtual board's local port: the DLMS wrapper on a free port of 127.0.0.1.
            dlms_port = _free_port()
            hdlc_port = _free_port()
            sim_options = dict(SIM_OPTIONS, dlms_port=dlms_port, hdlc_port=hdlc_port)
            options.write_text(json.dumps(sim_options))
            extra.append((str(options), "sim.json"))
        deploy.upload(
            build_dir, device, resume=virtual is not None, extra=extra, timeout=DEPLOY_TIMEOUT_S
        )
        b = Board(
            device,
            name,
            virtual,
            listing,
            build_dir,
            boot_wait if boot_wait is not None else (3.0 if virtual else 8.0),
            work,
        )
        if virtual is not None:
            b.SIM_OPTIONS = sim_options  # tests that rewrite sim.json keep the ports
        b.dlms_port = dlms_port if virtual is not None else None
        b.hdlc_port = hdlc_port if virtual is not None else None
        b.power_cycle()
        b.wait_running()
        request.config._hil_board = "%s board %s at %s" % (
            "virtual" if virtual else "real",
            name,
            device,
        )
        yield b
    finally:
        if virtual is not None:
            virtual.stop()


def pytest_terminal_summary(terminalreporter, config):
    where = getattr(config, "_hil_board", None)
    terminalreporter.write_sep("=", "HIL")
    terminalreporter.write_line(
        "HIL suite ran against the %s" % where if where else "HIL suite did not reach a board"
    )
