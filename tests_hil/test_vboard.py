"""The virtual board behaves like a board at reset and on its console (tools/vboard.py).

These use a tiny flash of their own, not the firmware, and drive it only with mpremote.
"""

import os
import subprocess
import time

import pytest

from tools.mpenv import INSTALL_HINT, micropython_binary, venv_tool
from tools.vboard import VirtualBoard

BOOT = "boot_order = ['boot']\n"
# main.py counts in a loop that only Ctrl-C ends; a `stop` file makes it return at once.
MAIN = """\
import os, sys, time
boot_order.append('main')
try:
    os.stat('stop')
except OSError:
    n = 0
    while True:
        n += 1
        time.sleep_ms(5)
"""


@pytest.fixture
def vb(request, tmp_path):
    if request.config.getoption("--port"):
        pytest.skip("tests of the virtual board itself")
    if micropython_binary() is None:
        pytest.skip(INSTALL_HINT)
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "boot.py").write_text(BOOT)
    (flash / "main.py").write_text(MAIN)
    board = VirtualBoard(str(flash), heapsize="2M")
    board.start()
    yield board
    board.stop()


def mpremote(dev, *args, timeout=30):
    proc = subprocess.run(
        [venv_tool("mpremote"), "connect", dev, "resume"] + list(args),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


def test_power_on_runs_boot_then_main_and_ctrl_c_leaves_the_repl(vb):
    time.sleep(0.5)
    # mpremote's Ctrl-C stops main.py's endless loop; its globals stay, as on a board.
    assert mpremote(vb.device, "eval", "boot_order") == "['boot', 'main']"
    assert int(mpremote(vb.device, "eval", "n")) > 0
    assert "KeyboardInterrupt" in vb.console_text()
    assert vb.resets == []


def test_flash_is_the_working_directory_and_survives_power_cycles(vb, tmp_path):
    local = tmp_path / "note.txt"
    local.write_text("kept")
    mpremote(vb.device, "fs", "cp", str(local), ":note.txt")
    assert open(os.path.join(vb.flash_dir, "note.txt")).read() == "kept"
    mpremote(vb.device, "fs", "cp", str(local), ":stop")
    pid = vb.pid
    assert vb.power_cycle() == vb.device  # same device path
    assert vb.pid != pid
    time.sleep(0.5)
    assert mpremote(vb.device, "eval", "open('note.txt').read()") == "kept"
    assert mpremote(vb.device, "eval", "boot_order") == "['boot', 'main']"
    assert vb.resets == [("power_cycle", None)]


def test_process_exit_is_a_reset_that_boots_again(vb):
    time.sleep(0.3)
    mpremote(vb.device, "exec", "--no-follow", "import sys\nsys.exit(3)")
    deadline = time.monotonic() + 10
    while not vb.resets and time.monotonic() < deadline:
        time.sleep(0.05)
    assert vb.resets == [("exit", 3)]
    time.sleep(0.5)
    assert mpremote(vb.device, "eval", "boot_order") == "['boot', 'main']"


def test_stop_ends_the_process(vb):
    pid = vb.pid
    assert os.path.exists("/proc/%d" % pid)
    vb.stop()
    assert vb.pid is None
    deadline = time.monotonic() + 5
    while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists("/proc/%d" % pid)
