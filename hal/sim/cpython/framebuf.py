"""CPython stand-in for MicroPython's built-in `framebuf` module (host shim only).

Lives in hal/sim/cpython/, which is on sys.path only under CPython (tests_host/conftest.py,
tools/); under the MicroPython unix port and on the boards the built-in C module is used.
It reproduces the behaviour of micropython/micropython extmod/modframebuf.c (v1.29) for what
our drivers and UI use, pixel for pixel, so a screen drawn under CPython is byte-identical to
the same screen drawn under MicroPython (tests_host/test_lcd.py compares the two):

    FrameBuffer(buffer, width, height, format, stride=width)
    fill, pixel, hline, vline, line, rect (fill arg), fill_rect, text (8x8 font), scroll, blit

Formats: MONO_VLSB (alias MVLSB), MONO_HLSB, MONO_HMSB. The other format constants exist so
imports work, but constructing a buffer in them raises ValueError here. ellipse() and poly()
are not provided: use them only after adding them here with a byte-for-byte comparison test.

Clipping, argument order and edge cases follow the C code: out-of-range pixels are ignored,
`pixel()` outside the buffer returns None, `line()` is the same Bresenham walk (endpoint drawn
last), `text()` works on the UTF-8 bytes and shows anything outside 32..127 as glyph 127,
`scroll()` leaves the uncovered strip unchanged, `blit()` compares the colour with `key`
after the optional palette lookup.
"""

MONO_VLSB = 0
MVLSB = 0
RGB565 = 1
GS4_HMSB = 2
MONO_HLSB = 3
MONO_HMSB = 4
GS2_HMSB = 5
GS8 = 6

# MicroPython's 8x8 font: extmod/font_petme128_8x8.h of micropython/micropython (MIT licence,
# Copyright (c) 2013, 2014 Damien P. George), characters 32..127, 8 bytes per character, one
# byte per column, least significant bit at the top. Extracted, not retyped: the MicroPython
# 1.29 unix port drew each character with its own framebuf into an 8x8 MONO_VLSB buffer
#     fb = framebuf.FrameBuffer(buf, 8, 8, framebuf.MONO_VLSB); fb.text(chr(c), 0, 0, 1)
# and the 96 buffers were concatenated and printed in hex.
_FONT = bytes.fromhex(
    "00000000000000000000004f4f0000000007070000070700147f7f14147f7f14"
    "00242e6b6b3a1200006333180c66630000327f4d4d7772500000000406030100"
    "00001c3e63410000000041633e1c0000082a3e1c1c3e2a080008083e3e080800"
    "000080e0600000000008080808080800000000606000000000406030180c0602"
    "003e7f49457f3e000040447f7f40400000627351494f460000226349497f3600"
    "00181814167f7f1000276745457d3900003e7f49497b3200000303797d070300"
    "00367f49497f360000266f49497f3e000000002424000000000080e464000000"
    "00081c3663414100001414141414140000414163361c080000020351590f0600"
    "003e7f414d4f2e00007c7e0b0b7e7c00007f7f49497f3600003e7f4141632200"
    "007f7f41633e1c00007f7f4949414100007f7f0909010100003e7f41497b3a00"
    "007f7f08087f7f000000417f7f410000002060417f3f0100007f7f1c36634100"
    "007f7f4040404000007f7f060c067f7f007f7f0e1c7f7f00003e7f41417f3e00"
    "007f7f09090f0600001e3f21617f5e00007f7f19396f460000266f49497b3200"
    "0001017f7f010100003f7f40407f3f00001f3f60603f1f00007f7f3018307f7f"
    "0063771c1c77630000070f78780f0700006171594d47430000007f7f41410000"
    "0002060c18306040000041417f7f000000080c06060c0800c0c0c0c0c0c0c0c0"
    "000001030604000000207454547c7800007f7f44447c380000387c44446c2800"
    "00387c44447f7f0000387c54545c580000087e7f090302000098bca4a4fc7c00"
    "007f7f04047c78000000007d7d0000000040c08080fd7d00007f7f30386c4400"
    "0000417f7f400000007c7c1830187c7c007c7c04047c780000387c44447c3800"
    "00fcfc24243c180000183c2424fcfc00007c7c04040c080000485c5454742000"
    "04043f7f44642000003c7c40407c3c00001c3c60603c1c00001c7c3018307c1c"
    "00446c38386c4400009cbca0a0fc7c00004464745c4c44000008083e77414100"
    "000000ffff000000004141773e0808000002030103020301aa55aa55aa55aa55"
)


def _mono_vlsb_get(fb, x, y):
    return (fb._buf[(y >> 3) * fb._stride + x] >> (y & 7)) & 1


def _mono_vlsb_set(fb, x, y, c):
    i = (y >> 3) * fb._stride + x
    bit = 1 << (y & 7)
    if c:
        fb._buf[i] |= bit
    else:
        fb._buf[i] &= ~bit & 0xFF


def _mono_hlsb_get(fb, x, y):
    return (fb._buf[(x + y * fb._stride) >> 3] >> (7 - (x & 7))) & 1


def _mono_hlsb_set(fb, x, y, c):
    i = (x + y * fb._stride) >> 3
    bit = 0x80 >> (x & 7)
    if c:
        fb._buf[i] |= bit
    else:
        fb._buf[i] &= ~bit & 0xFF


def _mono_hmsb_get(fb, x, y):
    return (fb._buf[(x + y * fb._stride) >> 3] >> (x & 7)) & 1


def _mono_hmsb_set(fb, x, y, c):
    i = (x + y * fb._stride) >> 3
    bit = 1 << (x & 7)
    if c:
        fb._buf[i] |= bit
    else:
        fb._buf[i] &= ~bit & 0xFF


_FORMATS = {
    MONO_VLSB: (_mono_vlsb_get, _mono_vlsb_set),
    MONO_HLSB: (_mono_hlsb_get, _mono_hlsb_set),
    MONO_HMSB: (_mono_hmsb_get, _mono_hmsb_set),
}


def _as_int(v):
    # The C code converts every argument with mp_obj_get_int: bools count, floats do not.
    if isinstance(v, bool):
        return int(v)
    if not isinstance(v, int):
        raise TypeError("can't convert %s to int" % type(v).__name__)
    return v


class FrameBuffer:
    """A drawing surface over a caller-owned buffer (see the module docstring)."""

    def __init__(self, buffer, width, height, format, stride=None):
        width = _as_int(width)
        height = _as_int(height)
        stride = width if stride is None else _as_int(stride)
        if width < 1 or height < 1 or width > 0xFFFF or height > 0xFFFF:
            raise ValueError()
        if stride > 0xFFFF or stride < width:
            raise ValueError()
        if format not in _FORMATS:
            raise ValueError("framebuf format %r is not supported by the host shim" % (format,))
        # Byte count the C constructor demands (modframebuf.c framebuf_make_new).
        height_req = height
        width_req = width
        strides_req = height - 1
        if format == MONO_VLSB:
            height_req = (height + 7) & ~7
            strides_req = height_req - 8
        else:
            stride = (stride + 7) & ~7
            width_req = (width + 7) & ~7
        view = memoryview(buffer)
        if view.readonly:
            raise TypeError("object with buffer protocol required (writable)")
        if view.ndim != 1 or view.itemsize != 1:
            view = view.cast("B")
        if (strides_req * stride + (height_req - strides_req) * width_req) // 8 > len(view):
            raise ValueError()
        self._buf = view
        self.width = width
        self.height = height
        self._stride = stride
        self._format = format
        self._get, self._set = _FORMATS[format]

    # ---- primitives -------------------------------------------------------------------
    def _fill_rect(self, x, y, w, h, c):
        if h < 1 or w < 1 or x + w <= 0 or y + h <= 0 or y >= self.height or x >= self.width:
            return
        xend = min(self.width, x + w)
        yend = min(self.height, y + h)
        x = max(x, 0)
        y = max(y, 0)
        put = self._set
        for yy in range(y, yend):
            for xx in range(x, xend):
                put(self, xx, yy, c)

    # ---- the FrameBuffer API ----------------------------------------------------------
    def fill(self, c):
        c = _as_int(c)
        if self._format == MONO_VLSB and self._stride == self.width and not self.height & 7:
            # Whole pages: byte-wide fill. A partial last page keeps its unused bits, as in C.
            fill_byte = 0xFF if c else 0x00
            n = (self.height >> 3) * self._stride
            self._buf[0:n] = bytes((fill_byte,)) * n
            return
        self._fill_rect(0, 0, self.width, self.height, c)

    def pixel(self, x, y, c=None):
        x = _as_int(x)
        y = _as_int(y)
        if 0 <= x < self.width and 0 <= y < self.height:
            if c is None:
                return self._get(self, x, y)
            self._set(self, x, y, _as_int(c))
        return None

    def fill_rect(self, x, y, w, h, c):
        self._fill_rect(_as_int(x), _as_int(y), _as_int(w), _as_int(h), _as_int(c))

    def hline(self, x, y, w, c):
        self._fill_rect(_as_int(x), _as_int(y), _as_int(w), 1, _as_int(c))

    def vline(self, x, y, h, c):
        self._fill_rect(_as_int(x), _as_int(y), 1, _as_int(h), _as_int(c))

    def rect(self, x, y, w, h, c, f=False):  # noqa: PLR0917 - MicroPython signature
        x, y, w, h, c = _as_int(x), _as_int(y), _as_int(w), _as_int(h), _as_int(c)
        if f:
            self._fill_rect(x, y, w, h, c)
        else:
            self._fill_rect(x, y, w, 1, c)
            self._fill_rect(x, y + h - 1, w, 1, c)
            self._fill_rect(x, y, 1, h, c)
            self._fill_rect(x + w - 1, y, 1, h, c)

    def line(self, x1, y1, x2, y2, c):
        x1, y1, x2, y2, c = _as_int(x1), _as_int(y1), _as_int(x2), _as_int(y2), _as_int(c)
        width, height, put = self.width, self.height, self._set
        dx = x2 - x1
        if dx > 0:
            sx = 1
        else:
            dx = -dx
            sx = -1
        dy = y2 - y1
        if dy > 0:
            sy = 1
        else:
            dy = -dy
            sy = -1
        steep = dy > dx
        if steep:
            x1, y1 = y1, x1
            dx, dy = dy, dx
            sx, sy = sy, sx
        e = 2 * dy - dx
        for _ in range(dx):
            if steep:
                if 0 <= y1 < width and 0 <= x1 < height:
                    put(self, y1, x1, c)
            elif 0 <= x1 < width and 0 <= y1 < height:
                put(self, x1, y1, c)
            while e >= 0:
                y1 += sy
                e -= 2 * dx
            x1 += sx
            e += 2 * dy
        if 0 <= x2 < width and 0 <= y2 < height:
            put(self, x2, y2, c)

    def text(self, s, x, y, c=1):
        if not isinstance(s, str):
            raise TypeError("can't convert %s to str" % type(s).__name__)
        x0 = _as_int(x)
        y0 = _as_int(y)
        c = _as_int(c)
        width, height, put = self.width, self.height, self._set
        for ch in s.encode("utf-8"):
            if ch < 32 or ch > 127:
                ch = 127
            base = (ch - 32) * 8
            for j in range(8):
                if 0 <= x0 < width:
                    col = _FONT[base + j]
                    yy = y0
                    while col:
                        if col & 1 and 0 <= yy < height:
                            put(self, x0, yy, c)
                        col >>= 1
                        yy += 1
                x0 += 1

    def scroll(self, xstep, ystep):
        xstep = _as_int(xstep)
        ystep = _as_int(ystep)
        width, height = self.width, self.height
        if xstep < 0:
            if -xstep >= width:
                return
            sx, xend, dx = 0, width + xstep, 1
        else:
            if xstep >= width:
                return
            sx, xend, dx = width - 1, xstep - 1, -1
        if ystep < 0:
            if -ystep >= height:
                return
            y, yend, dy = 0, height + ystep, 1
        else:
            if ystep >= height:
                return
            y, yend, dy = height - 1, ystep - 1, -1
        get, put = self._get, self._set
        while y != yend:
            x = sx
            while x != xend:
                put(self, x, y, get(self, x - xstep, y - ystep))
                x += dx
            y += dy

    def blit(self, fbuf, x, y, key=-1, palette=None):
        src = _source(fbuf)
        pal = None if palette is None else _source(palette)
        x, y, key = _as_int(x), _as_int(y), _as_int(key)
        if x >= self.width or y >= self.height or -x >= src.width or -y >= src.height:
            return
        x0 = max(0, x)
        y0 = max(0, y)
        x1 = max(0, -x)
        y1 = max(0, -y)
        x0end = min(self.width, x + src.width)
        y0end = min(self.height, y + src.height)
        key &= 0xFFFFFFFF  # C compares against (uint32_t)key, so -1 never matches
        put = self._set
        while y0 < y0end:
            cx1 = x1
            for cx0 in range(x0, x0end):
                col = src._get(src, cx1, y1)
                if pal is not None:
                    col = pal._get(pal, col, 0)
                if col != key:
                    put(self, cx0, y0, col)
                cx1 += 1
            y0 += 1
            y1 += 1


def _source(obj):
    """blit() accepts a FrameBuffer or a (buffer, width, height, format[, stride]) tuple."""
    if isinstance(obj, FrameBuffer):
        return obj
    if isinstance(obj, tuple) and len(obj) in (4, 5):
        return FrameBuffer(*obj)
    raise TypeError()


def FrameBuffer1(buffer, width, height, stride=None):  # noqa: N802 - MicroPython's name
    """Legacy constructor kept by MicroPython: a MONO_VLSB FrameBuffer."""
    return FrameBuffer(buffer, width, height, MONO_VLSB, stride)
