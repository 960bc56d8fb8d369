"""Minimal logging for the board: MicroPython has no `logging` module.

`print_exception` is `sys.print_exception` on MicroPython and a traceback-based stand-in under
CPython, so crash handling in main.py is the same code on both.
"""

import sys

try:
    from sys import print_exception
except ImportError:  # CPython
    import traceback

    def print_exception(exc, file=sys.stdout):
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=file)


def log(*parts):
    """One line to the console (the REPL UART on a board, stdout on the host)."""
    print("[esme]", *parts)
