"""A-XDR codec for DLMS `Data` (IEC 61334-6 A-XDR rules, DLMS UA Green Book "Data" CHOICE).

Values are tagged tuples `(tag, value)` so a decoded value can be re-encoded and a SET can be
type-checked:
    NULL_DATA None | ARRAY, STRUCTURE list of tagged values | BOOLEAN bool
    BIT_STRING (nbits, bytes) | OCTET_STRING, DATE_TIME, DATE, TIME bytes
    VISIBLE_STRING, UTF8_STRING str | FLOAT32, FLOAT64 float | all integer types int
    (BCD is its raw byte 0..255).
float64 on a single-precision port (ESP32/RP2040 builds) loses precision: meters send ints.

Lengths use the A-XDR variable length: one byte < 0x80, else 0x80 | k and k big-endian bytes
(k <= 4 accepted here). The decoder refuses a length or an element count that cannot fit in
the remaining bytes (so hostile counts cannot make it allocate), nesting deeper than 16 and
compact-array (tag 19). Encoding goes into a caller-provided bytearray through `Writer`, so a
large response is built in place without re-copying.

Date-time (Blue Book 4.1.6.1): 12 bytes year(2) month day weekday hour minute second
hundredths deviation(2, signed minutes, 0x8000 = not specified) status. Local time =
UTC - deviation. Helpers convert to/from meter seconds (since 2000-01-01T00:00:00Z).
"""

import struct

from micropython import const

from firmware.civil import civil_from_days, days_from_civil, days_in_month
from firmware.cosem.errors import EncodeOverflow, ProtocolError

NULL_DATA = const(0)
ARRAY = const(1)
STRUCTURE = const(2)
BOOLEAN = const(3)
BIT_STRING = const(4)
DOUBLE_LONG = const(5)
DOUBLE_LONG_UNSIGNED = const(6)
OCTET_STRING = const(9)
VISIBLE_STRING = const(10)
UTF8_STRING = const(12)
BCD = const(13)
INTEGER = const(15)
LONG = const(16)
UNSIGNED = const(17)
LONG_UNSIGNED = const(18)
COMPACT_ARRAY = const(19)
LONG64 = const(20)
LONG64_UNSIGNED = const(21)
ENUM = const(22)
FLOAT32 = const(23)
FLOAT64 = const(24)
DATE_TIME = const(25)
DATE = const(26)
TIME = const(27)

MAX_DEPTH = const(16)
DEVIATION_UNSPECIFIED = const(0x8000)

# Fixed-size integer tags: tag -> (bytes, signed)
_INTS = {
    DOUBLE_LONG: (4, True),
    DOUBLE_LONG_UNSIGNED: (4, False),
    BCD: (1, False),
    INTEGER: (1, True),
    LONG: (2, True),
    UNSIGNED: (1, False),
    LONG_UNSIGNED: (2, False),
    LONG64: (8, True),
    LONG64_UNSIGNED: (8, False),
    ENUM: (1, False),
}
_FIXED_OCTETS = {DATE_TIME: 12, DATE: 5, TIME: 4}


# ---------------------------------------------------------------- decoding


def decode_length(buf, pos, end):
    """A-XDR length at buf[pos] -> (length, new_pos). Length is not checked against `end`."""
    if pos >= end:
        raise ProtocolError("truncated length")
    b = buf[pos]
    pos += 1
    if b < 0x80:
        return b, pos
    k = b & 0x7F
    if k == 0 or k > 4:
        raise ProtocolError("bad length form")
    if pos + k > end:
        raise ProtocolError("truncated length")
    n = 0
    for i in range(k):
        n = (n << 8) | buf[pos + i]
    return n, pos + k


def _int_at(buf, pos, size, signed):
    v = 0
    for i in range(size):
        v = (v << 8) | buf[pos + i]
    if signed and buf[pos] & 0x80:
        v -= 1 << (8 * size)
    return v


def _decode(buf, pos, end, depth):
    if pos >= end:
        raise ProtocolError("truncated data")
    tag = buf[pos]
    pos += 1
    spec = _INTS.get(tag)
    if spec is not None:
        size = spec[0]
        if pos + size > end:
            raise ProtocolError("truncated integer")
        return (tag, _int_at(buf, pos, size, spec[1])), pos + size
    if tag in (ARRAY, STRUCTURE):
        if depth >= MAX_DEPTH:
            raise ProtocolError("nesting too deep")
        count, pos = decode_length(buf, pos, end)
        if count > end - pos:  # every element takes at least one byte
            raise ProtocolError("element count exceeds data")
        items = []
        for _ in range(count):
            v, pos = _decode(buf, pos, end, depth + 1)
            items.append(v)
        return (tag, items), pos
    if tag in (OCTET_STRING, VISIBLE_STRING, UTF8_STRING):
        n, pos = decode_length(buf, pos, end)
        if n > end - pos:
            raise ProtocolError("string length exceeds data")
        raw = bytes(buf[pos : pos + n])
        if tag == VISIBLE_STRING:
            for c in raw:
                if c > 0x7E:  # ISO 646 only; checked here because MicroPython may not
                    raise ProtocolError("visible-string not ASCII")
            raw = raw.decode()
        elif tag == UTF8_STRING:
            try:
                raw = raw.decode()
            except UnicodeError:
                raise ProtocolError("bad UTF-8")
        return (tag, raw), pos + n
    size = _FIXED_OCTETS.get(tag)
    if size is not None:
        if pos + size > end:
            raise ProtocolError("truncated date/time")
        return (tag, bytes(buf[pos : pos + size])), pos + size
    if tag == NULL_DATA:
        return (tag, None), pos
    if tag == BOOLEAN:
        if pos >= end:
            raise ProtocolError("truncated boolean")
        return (tag, buf[pos] != 0), pos + 1
    if tag == BIT_STRING:
        nbits, pos = decode_length(buf, pos, end)
        nbytes = (nbits + 7) >> 3
        if nbytes > end - pos:
            raise ProtocolError("bit-string length exceeds data")
        return (tag, (nbits, bytes(buf[pos : pos + nbytes]))), pos + nbytes
    if tag in (FLOAT32, FLOAT64):
        size = 4 if tag == FLOAT32 else 8
        if pos + size > end:
            raise ProtocolError("truncated float")
        return (tag, struct.unpack_from(">f" if size == 4 else ">d", buf, pos)[0]), pos + size
    raise ProtocolError("unsupported data tag")


def decode(buf, pos=0, end=-1):
    """Decode one Data value at buf[pos:end] -> ((tag, value), new_pos)."""
    if end < 0:
        end = len(buf)
    return _decode(buf, pos, end, 0)


def decode_all(buf, pos=0, end=-1):
    """Decode exactly one value that must fill buf[pos:end]."""
    if end < 0:
        end = len(buf)
    v, p = _decode(buf, pos, end, 0)
    if p != end:
        raise ProtocolError("trailing bytes after data")
    return v


# ---------------------------------------------------------------- encoding


class Writer:
    """Appends A-XDR into buf[start:end] (a caller-provided bytearray); `pos` is the cursor.

    Raises EncodeOverflow (the buffer is unchanged past `end`) when a value does not fit.
    """

    def __init__(self, buf, start=0, end=-1):
        self.buf = buf
        self.start = start
        self.pos = start
        self.end = len(buf) if end < 0 else end

    def _room(self, n):
        if self.pos + n > self.end:
            raise EncodeOverflow("A-XDR buffer full")

    def view(self):
        """memoryview of what has been written (valid until the buffer is reused)."""
        return memoryview(self.buf)[self.start : self.pos]

    def raw(self, data):
        n = len(data)
        self._room(n)
        self.buf[self.pos : self.pos + n] = data
        self.pos += n

    def byte(self, b):
        self._room(1)
        self.buf[self.pos] = b
        self.pos += 1

    def length(self, n):
        if n < 0 or n > 0xFFFFFFFF:
            raise ValueError("length out of range")
        if n < 0x80:
            self.byte(n)
            return
        k = 1 if n < 0x100 else 2 if n < 0x10000 else 3 if n < 0x1000000 else 4
        self._room(1 + k)
        self.buf[self.pos] = 0x80 | k
        self.buf[self.pos + 1 : self.pos + 1 + k] = n.to_bytes(k, "big")
        self.pos += 1 + k

    def int_value(self, tag, v):
        size, signed = _INTS[tag]
        bits = 8 * size
        lo = -(1 << (bits - 1)) if signed else 0
        hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
        if v < lo or v > hi:
            raise ValueError("integer out of range for its tag")
        self._room(1 + size)
        self.buf[self.pos] = tag
        if v < 0:
            v += 1 << bits
        self.buf[self.pos + 1 : self.pos + 1 + size] = v.to_bytes(size, "big")
        self.pos += 1 + size

    def null(self):
        self.byte(NULL_DATA)

    def array(self, count):
        """Header of an array; the caller then writes `count` elements."""
        self.byte(ARRAY)
        self.length(count)

    def structure(self, count):
        self.byte(STRUCTURE)
        self.length(count)

    def boolean(self, v):
        self._room(2)
        self.buf[self.pos] = BOOLEAN
        self.buf[self.pos + 1] = 0xFF if v else 0
        self.pos += 2

    def bit_string(self, nbits, data):
        if len(data) != (nbits + 7) >> 3:
            raise ValueError("bit-string size")
        self.byte(BIT_STRING)
        self.length(nbits)
        self.raw(data)

    def octet_string(self, data):
        self.byte(OCTET_STRING)
        self.length(len(data))
        self.raw(data)

    def visible_string(self, s):
        b = s.encode() if isinstance(s, str) else s
        self.byte(VISIBLE_STRING)
        self.length(len(b))
        self.raw(b)

    def utf8_string(self, s):
        b = s.encode()
        self.byte(UTF8_STRING)
        self.length(len(b))
        self.raw(b)

    def double_long(self, v):
        self.int_value(DOUBLE_LONG, v)

    def double_long_unsigned(self, v):
        self.int_value(DOUBLE_LONG_UNSIGNED, v)

    def integer(self, v):
        self.int_value(INTEGER, v)

    def long(self, v):
        self.int_value(LONG, v)

    def unsigned(self, v):
        self.int_value(UNSIGNED, v)

    def long_unsigned(self, v):
        self.int_value(LONG_UNSIGNED, v)

    def long64(self, v):
        self.int_value(LONG64, v)

    def long64_unsigned(self, v):
        self.int_value(LONG64_UNSIGNED, v)

    def enum(self, v):
        self.int_value(ENUM, v)

    def float32(self, v):
        self._room(5)
        self.buf[self.pos] = FLOAT32
        struct.pack_into(">f", self.buf, self.pos + 1, v)
        self.pos += 5

    def float64(self, v):
        self._room(9)
        self.buf[self.pos] = FLOAT64
        struct.pack_into(">d", self.buf, self.pos + 1, v)
        self.pos += 9

    def fixed_octets(self, tag, data):
        """date-time (25), date (26) or time (27) as their raw 12/5/4 bytes."""
        if _FIXED_OCTETS.get(tag) != len(data):
            raise ValueError("date/time size")
        self.byte(tag)
        self.raw(data)

    def value(self, tv, depth=0):
        """Encode a tagged value as produced by decode()."""
        tag, v = tv
        if tag in _INTS:
            self.int_value(tag, v)
        elif tag in (ARRAY, STRUCTURE):
            if depth >= MAX_DEPTH:
                raise ValueError("nesting too deep")
            self.byte(tag)
            self.length(len(v))
            for item in v:
                self.value(item, depth + 1)
        elif tag == OCTET_STRING:
            self.octet_string(v)
        elif tag == VISIBLE_STRING:
            self.visible_string(v)
        elif tag == UTF8_STRING:
            self.utf8_string(v)
        elif tag in _FIXED_OCTETS:
            self.fixed_octets(tag, v)
        elif tag == NULL_DATA:
            self.null()
        elif tag == BOOLEAN:
            self.boolean(v)
        elif tag == BIT_STRING:
            self.bit_string(v[0], v[1])
        elif tag == FLOAT32:
            self.float32(v)
        elif tag == FLOAT64:
            self.float64(v)
        else:
            raise ValueError("cannot encode tag")


def encode(tv, size=1024):
    """Convenience for tests and small values: tagged value -> bytes."""
    w = Writer(bytearray(size))
    w.value(tv)
    return bytes(w.view())


# ---------------------------------------------------------------- date-time


def datetime_to_seconds(b, pos=0):
    """12-byte date-time at b[pos] -> meter seconds (UTC, since 2000-01-01).

    Year, month, day, hour and minute must be specified and valid; unspecified (0xFF)
    seconds and hundredths count as 0, hundredths are dropped. Deviation 0x8000 means the
    fields are UTC (GBCS); otherwise UTC = local + deviation minutes.
    """
    if len(b) - pos < 12:
        raise ProtocolError("date-time needs 12 bytes")
    y = (b[pos] << 8) | b[pos + 1]
    mo = b[pos + 2]
    d = b[pos + 3]
    hh = b[pos + 5]
    mi = b[pos + 6]
    ss = b[pos + 7]
    if ss == 0xFF:
        ss = 0
    if y == 0xFFFF or not 1 <= mo <= 12 or not 1 <= d <= days_in_month(y, mo):
        raise ProtocolError("date-time date not specified or invalid")
    if hh > 23 or mi > 59 or ss > 59:
        raise ProtocolError("date-time time not specified or invalid")
    dev = (b[pos + 9] << 8) | b[pos + 10]
    secs = days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss
    if dev != DEVIATION_UNSPECIFIED:
        if dev & 0x8000:
            dev -= 0x10000
        if dev < -720 or dev > 720:
            raise ProtocolError("date-time deviation out of range")
        secs += dev * 60
    return secs


def seconds_to_datetime(secs, deviation=0, status=0, weekday=True, out=None, pos=0):
    """Meter seconds (UTC) -> 12-byte date-time written into `out` (or a new bytearray).

    deviation: minutes, local = UTC - deviation; None writes 0x8000 with UTC fields.
    weekday: True writes 1 (Monday) .. 7 (Sunday), False writes 0xFF (not specified).
    Returns `out`.
    """
    if out is None:
        out = bytearray(12)
    local = secs
    if deviation is None:
        dev = DEVIATION_UNSPECIFIED
    else:
        if deviation < -720 or deviation > 720:
            raise ValueError("deviation out of range")
        local = secs - deviation * 60
        dev = deviation & 0xFFFF
    days = local // 86400
    sod = local - days * 86400
    if days < 0:
        raise ValueError("before 2000-01-01")
    y, mo, d = civil_from_days(days)
    if y < 0 or y > 0xFFFE:
        raise ValueError("year out of range")
    out[pos] = y >> 8
    out[pos + 1] = y & 0xFF
    out[pos + 2] = mo
    out[pos + 3] = d
    # 2000-01-01 was a Saturday (6); DLMS counts Monday = 1 .. Sunday = 7.
    out[pos + 4] = (days + 5) % 7 + 1 if weekday else 0xFF
    out[pos + 5] = sod // 3600
    out[pos + 6] = (sod // 60) % 60
    out[pos + 7] = sod % 60
    out[pos + 8] = 0
    out[pos + 9] = dev >> 8
    out[pos + 10] = dev & 0xFF
    out[pos + 11] = status
    return out
