"""pytest set-up: the host shim on sys.path, the `interp` fixture, and the MicroPython count."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for p in (ROOT, HERE, os.path.join(HERE, "scenarios")):
    if p not in sys.path:
        sys.path.insert(0, p)
# The `micropython` stand-in must come after everything else so it never shadows anything.
sys.path.append(os.path.join(ROOT, "hal", "sim", "cpython"))

import mpy  # noqa: E402


@pytest.fixture(params=mpy.INTERPRETERS)
def interp(request):
    """Parametrises a test over CPython (in-process) and the MicroPython unix port."""
    if request.param == "micropython":
        mpy.micropython_or_skip()
    return request.param


def pytest_terminal_summary(terminalreporter):
    stats = mpy.STATS
    terminalreporter.write_sep("=", "MicroPython")
    binary = mpy.micropython_binary()
    terminalreporter.write_line(
        "%d scenario checks ran under MicroPython (%s); %d skipped%s"
        % (
            stats["micropython_runs"],
            binary or "not installed",
            stats["micropython_skipped"],
            "" if binary else " -- " + mpy.INSTALL_HINT,
        )
    )
