"""CPython stand-in for the `micropython` module (host shim only).

This directory is put on sys.path only under CPython (tests_host/conftest.py, tools/); under
the real MicroPython unix port the built-in module is used. `heap_lock` cannot be emulated on
CPython, so it only counts nesting; the zero-allocation proofs run under real MicroPython.
"""


def const(value):
    return value


def native(func):
    return func


def viper(func):
    return func


_lock_depth = 0


def heap_lock():
    global _lock_depth
    _lock_depth += 1
    return _lock_depth - 1


def heap_unlock():
    global _lock_depth
    if _lock_depth:
        _lock_depth -= 1
    return _lock_depth


def schedule(func, arg):
    func(arg)


def alloc_emergency_exception_buf(size):
    return None


def mem_info(verbose=None):
    print("mem: (CPython host shim, no MicroPython heap)")


def opt_level(level=None):
    return 0
