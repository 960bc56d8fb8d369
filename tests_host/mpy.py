"""Run test scenarios inside the real MicroPython unix port and bring their results back.

A scenario is a plain function in a module under tests_host/scenarios/ that uses only what
MicroPython has, and returns JSON-serialisable data. `run_scenario(interp, module, func, *args)`
calls it in-process under CPython (with the host shim on sys.path) or in a `micropython`
subprocess, so one pytest test asserts the same expected values under both interpreters.

If the `micropython` command is missing, MicroPython runs are skipped with the fix named
(never a silent pass), and the skip is counted in the test summary.
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENARIOS = os.path.join(ROOT, "tests_host", "scenarios")
SHIM = os.path.join(ROOT, "hal", "sim", "cpython")
MARK = "@@SCENARIO-RESULT@@"
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools.mpenv import INSTALL_HINT, micropython_binary  # noqa: E402

# Counters reported by conftest.pytest_terminal_summary.
STATS = {"micropython_runs": 0, "micropython_skipped": 0}


def micropython_or_skip():
    binary = micropython_binary()
    if binary is None:
        STATS["micropython_skipped"] += 1
        pytest.skip(INSTALL_HINT)
    return binary


def _cpython_import(module):
    for p in (ROOT, SCENARIOS):
        if p not in sys.path:
            sys.path.insert(0, p)
    if SHIM not in sys.path:
        sys.path.append(SHIM)
    __import__(module)
    return sys.modules[module]


def run_scenario(interp, module, func, *args, timeout=600):
    """Run scenarios/<module>.py:<func>(*args) under `interp` ('cpython' or 'micropython')."""
    if interp == "cpython":
        result = getattr(_cpython_import(module), func)(*args)
        # Round-trip through JSON so both interpreters are compared on the same footing.
        return json.loads(json.dumps(result))
    binary = micropython_or_skip()
    code = (
        "import sys\n"
        "sys.path.insert(0, %r)\n"
        "sys.path.insert(0, %r)\n"
        "import json\n"
        "import %s as m\n"
        "r = m.%s(*json.loads(%r))\n"
        "print(%r + json.dumps(r))\n"
    ) % (ROOT, SCENARIOS, module, func, json.dumps(list(args)), MARK)
    proc = subprocess.run(
        [binary, "-X", "heapsize=8M", "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise AssertionError(
            "micropython scenario %s.%s failed (rc=%d):\n%s%s"
            % (module, func, proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:])
        )
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            STATS["micropython_runs"] += 1
            return json.loads(line[len(MARK) :])
    raise AssertionError("micropython scenario printed no result:\n" + proc.stdout[-4000:])


INTERPRETERS = ("cpython", "micropython")
