"""IEC 62056-47 TCP wrapper (COSEM transport layer over TCP/UDP).

Every APDU is preceded by an 8-byte header, all fields 16-bit big-endian (dlms.md §1):
    version (0x0001) | source wPort | destination wPort | length of the APDU
The wPort is the SAP: client 16/17/1, server logical device 1. A reply swaps the wPorts.
There is no flag, checksum or resynchronisation: after a bad header the stream position is
lost, so the decoder raises ProtocolError and the caller closes the connection.
"""

from micropython import const

from firmware.cosem.errors import ProtocolError

HEADER_LEN = const(8)
VERSION = const(1)


def encode_header_into(buf, pos, src, dst, length):
    """Write the 8-byte header at buf[pos]; returns pos + 8."""
    for v in (src, dst, length):
        if v < 0 or v > 0xFFFF:
            raise ValueError("wrapper field out of range")
    buf[pos] = 0
    buf[pos + 1] = VERSION
    buf[pos + 2] = src >> 8
    buf[pos + 3] = src & 0xFF
    buf[pos + 4] = dst >> 8
    buf[pos + 5] = dst & 0xFF
    buf[pos + 6] = length >> 8
    buf[pos + 7] = length & 0xFF
    return pos + HEADER_LEN


def encode(src, dst, apdu):
    """-> header || apdu as bytes."""
    out = bytearray(HEADER_LEN + len(apdu))
    encode_header_into(out, 0, src, dst, len(apdu))
    out[HEADER_LEN:] = apdu
    return bytes(out)


class WrapperDecoder:
    """Streaming decoder: feed(bytes) -> list of (src, dst, apdu bytes).

    The buffer is preallocated for one header plus `max_apdu` bytes. A version other than 1,
    a zero length or a length above max_apdu raises ProtocolError; the decoder then stays
    failed (every later feed raises too) until reset(), because the stream is out of step.
    """

    def __init__(self, max_apdu=2048):
        if max_apdu < 1 or max_apdu > 0xFFFF:
            raise ValueError("max_apdu")
        self.max_apdu = max_apdu
        self._buf = bytearray(HEADER_LEN + max_apdu)
        self._n = 0
        self._need = HEADER_LEN
        self._failed = None

    def reset(self):
        self._n = 0
        self._need = HEADER_LEN
        self._failed = None

    def _header(self):
        b = self._buf
        if b[0] != 0 or b[1] != VERSION:
            return "wrapper version"
        length = (b[6] << 8) | b[7]
        if length == 0:
            return "empty wrapper APDU"
        if length > self.max_apdu:
            return "wrapper APDU longer than max"
        self._need = HEADER_LEN + length
        return None

    def feed(self, data):
        if self._failed:
            raise ProtocolError(self._failed)
        out = []
        buf = self._buf
        i = 0
        n = len(data)
        while i < n:
            take = self._need - self._n
            take = min(take, n - i)
            buf[self._n : self._n + take] = data[i : i + take]
            self._n += take
            i += take
            if self._n < self._need:
                break
            if self._need == HEADER_LEN:
                err = self._header()
                if err:
                    self._failed = err
                    raise ProtocolError(err)
                continue
            src = (buf[2] << 8) | buf[3]
            dst = (buf[4] << 8) | buf[5]
            out.append((src, dst, bytes(buf[HEADER_LEN : self._n])))
            self._n = 0
            self._need = HEADER_LEN
        return out
