"""Table-free CRCs used on the wire and in FRAM records.

- CRC-16/X.25 (IEC 62056-46 HDLC HCS/FCS): reflected poly 0x8408, init 0xFFFF, xorout
  0xFFFF; check("123456789") = 0x906E, sent least significant byte first.
- CRC-32/ISO-HDLC (the zlib CRC) for FRAM records: reflected poly 0xEDB88320, init and
  xorout 0xFFFFFFFF; check("123456789") = 0xCBF43926.

Bitwise loops instead of 256-entry tables: 1 KB of RAM saved for the CRC-32 table, and
records are short (tens of bytes). Both accept a `start`/`end` window so callers checksum
part of a preallocated buffer without slicing (a slice allocates). The running state of
CRC-32 exceeds 2**30, so on 32-bit ports it is a heap int: call it outside hard ISRs.
"""

from micropython import const

_X25_POLY = const(0x8408)
_CRC32_POLY = 0xEDB88320  # not const(): above the small-int range on 32-bit ports


def crc16_x25(data, start=0, end=-1, crc=0xFFFF):
    """CRC-16/X.25 of data[start:end]; pass `crc` (before xorout) to continue a running CRC."""
    if end < 0:
        end = len(data)
    for i in range(start, end):
        crc ^= data[i]
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ _X25_POLY
            else:
                crc >>= 1
    return crc ^ 0xFFFF


def crc32(data, start=0, end=-1):
    """CRC-32 (zlib) of data[start:end]."""
    if end < 0:
        end = len(data)
    crc = 0xFFFFFFFF
    poly = _CRC32_POLY
    for i in range(start, end):
        crc ^= data[i]
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ poly
            else:
                crc >>= 1
    return crc ^ 0xFFFFFFFF
