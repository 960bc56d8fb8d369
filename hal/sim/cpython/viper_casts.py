"""CPython stand-ins for the casts of MicroPython's viper emitter (host shim only).

Inside an @micropython.viper function, `ptr8(buf)`, `ptr16(buf)` and `ptr32(buf)` view a
buffer as bytes, 16-bit or 32-bit words, and `uint(x)` is a machine word. The firmware
indexes those casts only with buffers whose own item size already matches (bytes/bytearray,
array('H'), array('I')), so under CPython each cast is the buffer itself and uint is int;
the function then computes the same values in plain Python. See firmware/store.py.
"""


def ptr8(buf):
    return buf


ptr16 = ptr8
ptr32 = ptr8
uint = int
