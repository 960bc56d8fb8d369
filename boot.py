"""Runs first at every reset. Kept tiny: the emergency exception buffer, nothing that can hang.

The watchdog is started by the meter loop itself once it is running (firmware/app.py), so a
board held in safe mode (main.py) never gets reset by it and its REPL stays reachable.
"""

import micropython

# A traceback from a hard ISR needs a preallocated buffer (docs reference/isr_rules.rst).
if hasattr(micropython, "alloc_emergency_exception_buf"):
    micropython.alloc_emergency_exception_buf(100)
