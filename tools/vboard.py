"""Virtual board: the MicroPython unix port behind a serial-like pty that mpremote can drive.

A real board is a MicroPython REPL on a serial port that runs boot.py then main.py from its
flash at every reset. This module gives the host the same thing:

- "flash" is a directory; the unix port runs with it as the working directory, so
  `mpremote ... resume fs cp` writes into it and `import firmware.app` reads from it;
- "power on" starts `micropython -i -c <power-on code>` that runs boot.py and main.py (if
  present) exactly as a board does, and leaves the REPL behind when main.py ends or is
  interrupted with Ctrl-C;
- Ctrl-C works as on a board, where the UART driver swallows the interrupt character while
  code runs and schedules KeyboardInterrupt, raised at the VM's next safe point. The unix
  port's own SIGINT handler raises it asynchronously instead (MICROPY_ASYNC_KBD_INTR), from
  inside whatever C code was running: interrupted mid-allocation it leaves the heap locked
  ("MemoryError: heap is locked") or the GC mutex held (a deadlock), which we hit within a
  few dozen interrupts. So the board never gets SIGINT: MicroPython runs in a launcher that
  installs the port's own `mp_sched_keyboard_interrupt()` as the SIGUSR2 handler (it only
  sets the pending exception, so it is signal-safe), and the bridge turns a Ctrl-C byte into
  SIGUSR2 whenever the interrupt character is armed (the port arms it by catching SIGINT
  while code runs), else passes it to the REPL as a byte;
- mpremote talks to a second pty (the "device path"); a bridge thread copies bytes between
  the two masters. While no client has the device open, console output is kept in a ring
  buffer (and an optional log file) instead of piling up in the tty and stalling the board;
- the process ending (sys.exit() as the sim board's reset, a watchdog expiry, Ctrl-D at the
  friendly REPL) is a reset: the board boots again, as a real one would. A crash loop
  (too many resets in a short time) stops the restarts and leaves the device path open.

The unix port has no soft reset: drive it with `mpremote connect <path> resume ...`.

Library use:  b = VirtualBoard(flash_dir); dev = b.start(); ...; b.power_cycle(); b.stop()
Command line: python tools/vboard.py --flash DIR   (prints the device path, runs until killed)
"""

import argparse
import collections
import ctypes
import errno
import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import threading
import time
import tty

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tools.mpenv import INSTALL_HINT, ROOT, micropython_binary  # noqa: E402

# Runs inside MicroPython at every power-on, in __main__ like a board's pyexec_file().
# SystemExit is the board's reset (board/sim.py reset()): the process must end so the bridge
# powers the board on again. With -i the unix port would open the REPL after a SystemExit
# instead, so the process ends itself with SIGTERM (exit status -15 as the bridge sees it).
POWER_ON_CODE = """\
import os, sys
def _vboard_run(f):
    try:
        os.stat(f)
    except OSError:
        return
    try:
        execfile(f)
    except KeyboardInterrupt as e:
        sys.print_exception(e)
    except SystemExit as e:
        print("[vboard: reset by the firmware: SystemExit%s]" % (e.args,))
        os.system("kill -TERM $PPID")
        raise
    except Exception as e:
        sys.print_exception(e)
_vboard_run("boot.py")
_vboard_run("main.py")
del _vboard_run
"""

_PR_SET_PDEATHSIG = 1
_CONSOLE_KEEP = 256 * 1024  # bytes of console history kept for diagnostics
_CRASH_WINDOW_S = 10.0  # this many resets within the window stop the restarts ...
_CRASH_LIMIT = 5  # ... so a crash loop cannot spin forever


# Runs in the Python that hosts the unix port (the `micropython` command is a console script
# over the micropython_run extension): SIGUSR2 -> mp_sched_keyboard_interrupt(), then main.
LAUNCHER_CODE = """\
import ctypes, signal, sys
import micropython_run
port = ctypes.CDLL(micropython_run.__file__)
libc = ctypes.CDLL(None)
libc.signal.restype = ctypes.c_void_p
libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
handler = ctypes.cast(port.mp_sched_keyboard_interrupt, ctypes.c_void_p).value
libc.signal(signal.SIGUSR2, handler)
libc.siginterrupt(signal.SIGUSR2, 1)  # interrupt blocking calls, so sleeps end promptly
sys.exit(micropython_run.run_main(["micropython"] + sys.argv[1:]))
"""


def _launcher_python(binary):
    """The Python behind a `micropython` console script, if it can host the launcher."""
    try:
        with open(binary, "rb") as f:
            first = f.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!") or b"python" not in first:
        return None  # a native micropython binary
    interp = first[2:].decode(errors="replace").strip().split()[0]
    try:
        ok = subprocess.run(
            [interp, "-c", "import ctypes, micropython_run; micropython_run.run_main"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return interp if ok.returncode == 0 else None


def _raw_pty():
    """A pty pair, slave in raw mode: no echo, no CR/LF mapping, no signals from the tty."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    return master, slave


def _child_setup():
    # Its own session (so stop() can kill the whole group) with the console as controlling
    # terminal, like a process on a serial console; the tty itself raises no signals (raw).
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    # Die with the thread that spawned us, even if the host side is killed with SIGKILL.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class VirtualBoardError(RuntimeError):
    pass


class VirtualBoard:
    """A MicroPython unix-port board with its flash in `flash_dir`, reachable over a pty.

    VirtualBoard(flash_dir, micropython=None, heapsize="8M", log_path=None, link=None,
                 auto_restart=True, env=None)
      env: extra environment for MicroPython. OPENESME_ROOT defaults to this repo, so
      board/sim.py finds data/ (the load profile) from a flash dir elsewhere.
      start(timeout=10) -> device path for `mpremote connect <path> resume ...`
      stop(timeout=5)           power off and release everything (idempotent)
      power_cycle(timeout=10)   cut power (SIGKILL) and power on again; same device path
      device                    the device path (None before start)
      resets                    list of (reason, exit code) for every power-on after the first
      console_text()            recent console output (what the board printed)
      wait_for_output(text, timeout)  True once `text` appears in console output
    """

    def __init__(
        self,
        flash_dir,
        micropython=None,
        heapsize="8M",
        log_path=None,
        link=None,
        auto_restart=True,
        env=None,
    ):
        self.flash_dir = os.path.abspath(flash_dir)
        self.micropython = micropython or micropython_binary()
        self.heapsize = heapsize
        self.log_path = log_path
        self.link = link
        self.auto_restart = auto_restart
        self.env = dict(env or {})
        self.device = None
        self.resets = []
        self._client_master = None  # master of the pty that mpremote opens
        self._board_master = None  # master of the pty MicroPython runs on
        self._proc = None
        self._thread = None
        self._stop = threading.Event()
        self._requests = collections.deque()  # ("power_cycle", done_event)
        self._started = threading.Event()
        self._start_error = None
        self._bridge_error = None
        self._launcher = None
        self.interrupt_signal = None
        self.interrupts = 0  # Ctrl-C bytes turned into KeyboardInterrupt
        self._console = bytearray()
        self._console_total = 0
        self._console_lock = threading.Lock()
        self._log = None
        self._power_on_times = collections.deque(maxlen=_CRASH_LIMIT)
        self.crash_looped = False

    # -- public API -------------------------------------------------------------------------

    def start(self, timeout=10):
        if self._thread is not None:
            return self.device
        if not self.micropython:
            raise VirtualBoardError(INSTALL_HINT)
        os.makedirs(self.flash_dir, exist_ok=True)
        if self.log_path:
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._client_master, client_slave = _raw_pty()
        self.device = os.ttyname(client_slave)
        # Closed at once: a client's open/close is then visible as POLLHUP on the master, so
        # output is buffered here (not in the tty) while nobody listens.
        os.close(client_slave)
        os.set_blocking(self._client_master, False)
        if self.link:
            if os.path.lexists(self.link):
                os.unlink(self.link)
            os.symlink(self.device, self.link)
        self._stop.clear()
        self._started.clear()
        self._thread = threading.Thread(target=self._run, name="vboard-bridge", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            self.stop()
            raise VirtualBoardError("virtual board did not power on within %s s" % timeout)
        if self._start_error is not None:
            err = self._start_error
            self.stop()
            raise VirtualBoardError("virtual board failed to power on: %s" % err)
        return self.link or self.device

    def power_cycle(self, timeout=10):
        """Cut power and power on again (boot.py, main.py); the device path stays the same."""
        if self._thread is None or not self._thread.is_alive():
            raise VirtualBoardError("virtual board is not running")
        done = threading.Event()
        self._requests.append(("power_cycle", done))
        if not done.wait(timeout):
            raise VirtualBoardError("power cycle did not complete within %s s" % timeout)
        return self.link or self.device

    def stop(self, timeout=5):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():  # should not happen: every wait in it is bounded
                self._kill_board()
            self._thread = None
        self._kill_board()
        if self._client_master is not None:
            os.close(self._client_master)
            self._client_master = None
        if self.link and os.path.islink(self.link):
            os.unlink(self.link)
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def running(self):
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self):
        return self._proc.pid if self._proc is not None else None

    def diagnostics(self):
        """A one-line picture of the board's state, for error messages."""
        info = {
            "bridge_alive": self._thread is not None and self._thread.is_alive(),
            "pid": self.pid,
            "resets": self.resets,
            "crash_looped": self.crash_looped,
            "interrupts": self.interrupts,
            "interrupt_signal": self.interrupt_signal
            and signal.Signals(self.interrupt_signal).name,
        }
        if self.running:
            try:
                with open("/proc/%d/stat" % self._proc.pid) as f:
                    info["state"] = f.read().split(")")[-1].split()[0]
                with open("/proc/%d/wchan" % self._proc.pid) as f:
                    info["wchan"] = f.read()
                info["interrupt_armed"] = self._interrupt_char_armed()
            except OSError:
                pass
        if self._bridge_error is not None:
            info["bridge_error"] = repr(self._bridge_error)
        return info

    def console_text(self):
        with self._console_lock:
            return bytes(self._console).decode("utf-8", "replace")

    def console_mark(self):
        """A position in the console stream, for wait_for_output(since=...)."""
        with self._console_lock:
            return self._console_total

    def wait_for_output(self, text, timeout=10, since=0):
        """Wait until `text` has been printed (after console position `since`)."""
        needle = text.encode() if isinstance(text, str) else text
        deadline = time.monotonic() + timeout
        while True:
            with self._console_lock:
                skip = max(0, len(self._console) - (self._console_total - since))
                if needle in self._console[skip:]:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- the bridge thread owns the process and the board-side pty ---------------------------

    def _power_on(self):
        master, slave = _raw_pty()
        env = dict(os.environ)
        # The board's options are its flash's sim.json, not whatever the host shell exports.
        env.pop("OPENESME_SIM", None)
        env.setdefault("OPENESME_ROOT", ROOT)
        env.update(self.env)
        # The same search path as a board: current directory (flash root), frozen, lib/.
        env["MICROPYPATH"] = ":.frozen:lib"
        if self._launcher is None:
            interp = _launcher_python(self.micropython)
            self._launcher = [interp, "-c", LAUNCHER_CODE] if interp else [self.micropython]
            # Without the launcher only SIGINT is left, with the hazards described above.
            self.interrupt_signal = signal.SIGUSR2 if interp else signal.SIGINT
        cmd = list(self._launcher)
        if self.heapsize:
            cmd += ["-X", "heapsize=%s" % self.heapsize]
        cmd += ["-i", "-c", POWER_ON_CODE]
        try:
            self._proc = subprocess.Popen(
                cmd,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=self.flash_dir,
                env=env,
                preexec_fn=_child_setup,  # noqa: PLW1509 - setsid + controlling tty need it
                close_fds=True,
            )
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self._board_master = master
        self._power_on_times.append(time.monotonic())

    def _kill_board(self):
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                proc.kill()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        master, self._board_master = self._board_master, None
        if master is not None:
            os.close(master)

    def _record(self, data):
        with self._console_lock:
            self._console += data
            self._console_total += len(data)
            if len(self._console) > _CONSOLE_KEEP:
                del self._console[: len(self._console) - _CONSOLE_KEEP]
        if self._log is not None:
            self._log.write(data)
            self._log.flush()

    def _client_present(self):
        p = select.poll()
        p.register(self._client_master, select.POLLIN)
        for _fd, ev in p.poll(0):
            if ev & select.POLLHUP:
                return False
        return True

    def _write_all(self, fd, data, timeout=2.0):
        """Write to a non-blocking master; give up (drop) after `timeout` of back-pressure."""
        deadline = time.monotonic() + timeout
        while data:
            try:
                n = os.write(fd, data)
                data = data[n:]
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                select.select([], [fd], [], 0.05)
            except OSError:
                return False
        return True

    def _read(self, fd):
        try:
            return os.read(fd, 4096)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as e:
            if e.errno == errno.EIO:
                return None  # the other side is closed
            raise

    def _interrupt_char_armed(self):
        """True while code runs: the unix port arms Ctrl-C by catching SIGINT (and disarms it
        at the REPL prompt, where Ctrl-C is a character the REPL reads)."""
        try:
            with open("/proc/%d/status" % self._proc.pid) as f:
                for line in f:
                    if line.startswith("SigCgt:"):
                        return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
        except (OSError, ValueError):
            pass
        return False

    def _to_board(self, data):
        parts = data.split(b"\x03")
        for i, part in enumerate(parts):
            if i:
                if self._proc is not None and self._interrupt_char_armed():
                    try:
                        os.kill(self._proc.pid, self.interrupt_signal)
                        self.interrupts += 1
                    except OSError:
                        pass
                else:
                    self._write_all(self._board_master, b"\x03")
            if part:
                self._write_all(self._board_master, part)

    def _drain_board(self):
        while self._board_master is not None:
            data = self._read(self._board_master)
            if not data:
                return
            self._record(data)

    def _handle_exit(self):
        code = self._proc.returncode
        self._drain_board()
        self._kill_board()
        self._record(b"\r\n[vboard: MicroPython exited with code %d]\r\n" % code)
        recent = [t for t in self._power_on_times if time.monotonic() - t < _CRASH_WINDOW_S]
        if not self.auto_restart:
            return
        if len(recent) >= _CRASH_LIMIT:
            self.crash_looped = True
            self._record(b"[vboard: crash loop, not restarting]\r\n")
            return
        time.sleep(0.1)
        self.resets.append(("exit", code))
        self._power_on()

    def _run(self):
        try:
            self._power_on()
        except Exception as e:  # reported by start()
            self._start_error = e
            self._started.set()
            return
        self._started.set()
        try:
            self._bridge()
        except Exception as e:  # kept for diagnostics(); the board is powered off below
            self._bridge_error = e
            raise
        finally:
            self._kill_board()

    def _bridge(self):
        while not self._stop.is_set():
            while self._requests:
                what, done = self._requests.popleft()
                if what == "power_cycle":
                    self._kill_board()
                    self.resets.append(("power_cycle", None))
                    self._power_on()
                done.set()
            if self._proc is not None and self._proc.poll() is not None:
                self._handle_exit()
            client = self._client_present()
            fds = [self._client_master] if client else []
            if self._board_master is not None:
                fds.append(self._board_master)
            # Short timeouts: client arrival, requests and process exit are polled.
            readable, _, _ = select.select(fds, [], [], 0.05)
            if self._board_master is not None and self._board_master in readable:
                data = self._read(self._board_master)
                if data:
                    self._record(data)
                    if client:
                        self._write_all(self._client_master, data)
            if self._client_master in readable:
                data = self._read(self._client_master)
                if data and self._board_master is not None:
                    self._to_board(data)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flash", required=True, help="directory that is the board's flash")
    ap.add_argument("--micropython", help="unix port binary (default: .venv, then PATH)")
    ap.add_argument("--heapsize", default="8M", help="MicroPython heap (default 8M)")
    ap.add_argument("--log", help="append all console output to this file")
    ap.add_argument("--link", help="also make this symlink to the device path")
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE for MicroPython")
    args = ap.parse_args(argv)

    board = VirtualBoard(
        args.flash,
        micropython=args.micropython,
        heapsize=args.heapsize,
        log_path=args.log,
        link=args.link,
        env=dict(e.partition("=")[::2] for e in args.env),
    )
    stopping = threading.Event()

    def on_signal(_sig, _frame):
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        dev = board.start()
    except VirtualBoardError as e:
        print("vboard: %s" % e, file=sys.stderr)
        return 1
    print(dev, flush=True)
    warned = False
    try:
        while not stopping.wait(0.5):
            if board.crash_looped and not warned:
                warned = True
                print("vboard: crash loop, not restarting; see the console log", file=sys.stderr)
    finally:
        board.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
