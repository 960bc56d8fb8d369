"""Board selection: the only package that touches `machine`.

`build(name)` returns the Hardware bundle (board/bundle.py) for one of the known boards. With
no name, the board is chosen from `sys.platform` (esp32 -> esp32_devkit, rp2 -> pico, anything
else -> sim, the virtual board on the MicroPython unix port or CPython), unless a file
`board.txt` in the working directory names one. An unknown name is a ValueError that lists the
known boards.
"""

import sys

KNOWN_BOARDS = ("esp32_devkit", "pico", "sim")


def default_name():
    try:
        with open("board.txt") as f:
            name = f.read().strip()
        if name:
            return name
    except OSError:
        pass
    platform = sys.platform
    if platform == "esp32":
        return "esp32_devkit"
    if platform == "rp2":
        return "pico"
    return "sim"


def check_name(name):
    if name not in KNOWN_BOARDS:
        raise ValueError("unknown board %r; known boards: %s" % (name, ", ".join(KNOWN_BOARDS)))
    return name


def _module(name):
    name = check_name(default_name() if name is None else name)
    if name == "esp32_devkit":
        from board import esp32_devkit as module
    elif name == "pico":
        from board import pico as module
    else:
        from board import sim as module
    return module


def build(name=None, **options):
    """Construct every bus and driver of board `name` and return its Hardware bundle."""
    return _module(name).build(**options)


def safe_mode_requested(name=None):
    """True while the safe-mode key is held at reset (checked by main.py before the meter)."""
    return _module(name).safe_mode_requested()


def reset(name=None):
    """Reset the board when no Hardware bundle exists to do it (main.py: a crash while building
    the bundle). The virtual board's reset ends the process, which its host boots again."""
    if check_name(default_name() if name is None else name) == "sim":
        from board import sim

        sim.reset()
    import machine

    machine.reset()
