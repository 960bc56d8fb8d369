"""AES-128-GCM and GMAC (NIST SP 800-38D) for DLMS/COSEM security suite 0.

Block cipher: MicroPython's `cryptolib.aes(key, 1)` (mode 1 = ECB, encrypt direction only).
Under CPython (host tests) `cryptolib` is missing and the `cryptography`
package's AES-ECB is used instead; both give the same `_Ecb.encrypt(blocks)` API.

GCM pieces (SP 800-38D §6-7):
- H = E(K, 0^128); J0 = IV || 0x00000001 for the 96-bit IV used by DLMS.
- CTR keystream from inc32(J0); one ECB call encrypts all counter blocks of a message.
- GHASH over AAD || pad || C || pad || len64(A) || len64(C) in GF(2^128) with the
  GCM bit order (bit 0 of the block = MSB of byte 0 = coefficient of x^0).
- Tag = E(K, J0) xor GHASH, truncated (DLMS suite 0 sends 12 bytes).

GHASH uses a per-key table of 16 multiples of H (4 bits at a time, "Shoup's method"): per
16-byte block 32 shift/xor steps on 128-bit ints. On MicroPython every such step allocates a
big int. Measured on the unix port (x86-64): ~1.6 ms to protect a 200-byte APDU, table set-up
~15 us. Not measured on a board yet; expect it to be one to two orders of magnitude slower
on an ESP32/RP2040 (tens of ms per APDU), so run it in the DLMS task, never in the metering
tick or an ISR. The table costs roughly half a kilobyte of heap per key. Timing is not
constant (big-int work and table lookups depend on the data); only the tag comparison is.
XOR of whole messages is done on big ints too (one C-level operation, not a loop per byte).

DLMS suite 0 usage (Green Book; dlms.md §6, reliability.md §5):
- IV = system title (8 bytes) || invocation counter (4 bytes, big-endian).
- Security control byte SC: 0x10 authentication, 0x20 encryption, low nibble = suite (0).
- AAD = SC || AK for auth + enc, SC || AK || plaintext for auth-only,
  SC || AK || challenge for HLS-GMAC f(StoC)/f(CtoS).
"""

try:
    from cryptolib import aes as _mp_aes

    class _Ecb:
        def __init__(self, key):
            # Mode 1 = ECB. A cryptolib object may only ever encrypt once created that way.
            self._c = _mp_aes(bytes(key), 1)

        def encrypt(self, blocks):
            return self._c.encrypt(blocks)

except ImportError:  # CPython host shim
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    class _Ecb:
        def __init__(self, key):
            self._c = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor()

        def encrypt(self, blocks):
            return self._c.update(bytes(blocks))


SC_AUTH = 0x10
SC_ENC = 0x20
TAG_LEN = 12  # DLMS suite 0 truncates the GCM tag to 96 bits

_MASK128 = (1 << 128) - 1
_R = 0xE1 << 120  # x^128 = 1 + x + x^2 + x^7, in GCM (reflected) bit order


def _mulx4_table():
    # The low nibble of Z holds the coefficients of x^124..x^127; shifting Z by 4 moves
    # them to x^128..x^131, each reduced to R * x^k (R >> k in this bit order).
    t = []
    for n in range(16):
        v = 0
        for bit in range(4):
            if n & (1 << bit):
                v ^= _R >> (3 - bit)
        t.append(v)
    return tuple(t)


_RED4 = _mulx4_table()


class AuthError(ValueError):
    """GCM tag mismatch: the message was altered or the key/IV/AAD are wrong."""


def ct_equal(a, b):
    """Constant-time comparison of two byte strings (time does not depend on where they differ)."""
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= a[i] ^ b[i]
    return d == 0


def _xor_bytes(a, b):
    """a xor b for equal-length byte strings, via one big-int XOR (no per-byte Python loop)."""
    n = len(a)
    if n == 0:
        return b""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(n, "big")


class AesGcm:
    """AES-128-GCM with one key. Keep one instance per key: it holds the GHASH table."""

    def __init__(self, key):
        if len(key) != 16:
            raise ValueError("AES-128 key must be 16 bytes")
        self._ecb = _Ecb(key)
        h = int.from_bytes(self._ecb.encrypt(bytes(16)), "big")
        # m[v] = poly(v) * H where bit 3 of v is x^0 and bit 0 is x^3 (GCM bit order).
        m = [0] * 16
        m[8] = h
        for i in (4, 2, 1):
            v = m[i << 1]
            m[i] = (v >> 1) ^ _R if v & 1 else v >> 1
        for i in range(16):
            if i & (i - 1):  # composite nibble: xor of its single-bit multiples
                v = 0
                for b in (8, 4, 2, 1):
                    if i & b:
                        v ^= m[b]
                m[i] = v
        self._m = tuple(m)

    def _mul_h(self, y):
        """y * H in GF(2^128): 32 four-bit steps from the last nibble of the block."""
        m = self._m
        red = _RED4
        z = 0
        yb = y.to_bytes(16, "big")
        for i in range(15, -1, -1):
            b = yb[i]
            z = (z >> 4) ^ red[z & 15] ^ m[b & 15]
            z = (z >> 4) ^ red[z & 15] ^ m[b >> 4]
        return z

    def _ghash_update(self, y, data):
        n = len(data)
        mv = memoryview(data)
        for off in range(0, n - 15, 16):
            y = self._mul_h(y ^ int.from_bytes(mv[off : off + 16], "big"))
        rem = n & 15
        if rem:
            # Zero padding of the last partial block = shifting its bytes to the top.
            tail = int.from_bytes(mv[n - rem : n], "big") << (8 * (16 - rem))
            y = self._mul_h(y ^ tail)
        return y

    def _ghash(self, aad, ct):
        y = self._ghash_update(0, aad)
        y = self._ghash_update(y, ct)
        lens = ((len(aad) * 8) << 64) | (len(ct) * 8)
        return self._mul_h(y ^ lens)

    def _ctr(self, iv, data):
        """CTR over data starting at inc32(J0) = IV || 2 (the tag uses IV || 1)."""
        n = len(data)
        if n == 0:
            return b""
        nblocks = (n + 15) >> 4
        ctrs = bytearray(16 * nblocks)
        for i in range(nblocks):
            o = 16 * i
            ctrs[o : o + 12] = iv
            ctrs[o + 12 : o + 16] = ((i + 2) & 0xFFFFFFFF).to_bytes(4, "big")
        ks = self._ecb.encrypt(ctrs)
        return _xor_bytes(data, memoryview(ks)[:n])

    def _tag(self, iv, aad, ct, tag_len):
        j0 = bytearray(16)
        j0[0:12] = iv
        j0[15] = 1
        s = int.from_bytes(self._ecb.encrypt(j0), "big") ^ self._ghash(aad, ct)
        return s.to_bytes(16, "big")[:tag_len]

    @staticmethod
    def _check(iv, tag_len):
        if len(iv) != 12:
            raise ValueError("GCM IV must be 12 bytes")
        if tag_len < 4 or tag_len > 16:
            raise ValueError("tag length")

    def encrypt(self, iv, plaintext, aad=b"", tag_len=16):
        """-> (ciphertext, tag)."""
        self._check(iv, tag_len)
        ct = self._ctr(iv, plaintext)
        return ct, self._tag(iv, aad, ct, tag_len)

    def decrypt(self, iv, ciphertext, tag, aad=b""):
        """-> plaintext; raises AuthError if the tag does not match (checked before decrypting)."""
        self._check(iv, len(tag))
        if not ct_equal(self._tag(iv, aad, ciphertext, len(tag)), tag):
            raise AuthError("GCM tag mismatch")
        return self._ctr(iv, ciphertext)

    def gmac(self, iv, aad, tag_len=16):
        """GMAC = GCM with an empty plaintext: the tag over aad alone."""
        self._check(iv, tag_len)
        return self._tag(iv, aad, b"", tag_len)


# One-entry cache: a meter talks with one encryption key at a time, and rebuilding the
# GHASH table costs one AES block plus 16 big-int operations.
_cache = [None, None]


def gcm_for(key):
    """AesGcm for `key`, reusing the last one built for the same key."""
    key = bytes(key)
    if _cache[0] != key:
        _cache[1] = AesGcm(key)
        _cache[0] = key
    return _cache[1]


def _dlms_iv(system_title, ic):
    if len(system_title) != 8:
        raise ValueError("system title must be 8 bytes")
    if ic < 0 or ic > 0xFFFFFFFF:
        raise ValueError("invocation counter out of range")
    return bytes(system_title) + ic.to_bytes(4, "big")


def _check_sc(sc):
    if sc & 0x0F:
        raise ValueError("only security suite 0 is supported")
    if sc & 0x80:
        raise ValueError("compression is not supported")
    if not sc & (SC_AUTH | SC_ENC):
        raise ValueError("security control byte asks for no protection")


def _aad(sc, ak, extra):
    if len(ak) != 16:
        raise ValueError("authentication key must be 16 bytes")
    return bytes((sc,)) + bytes(ak) + bytes(extra)


def dlms_encrypt(sc, system_title, ic, ek, ak, plaintext):
    """Protect an APDU with suite 0. Returns the bytes that follow SC || IC on the wire:
    ciphertext || tag (SC 0x30), plaintext || tag (SC 0x10) or ciphertext (SC 0x20)."""
    _check_sc(sc)
    iv = _dlms_iv(system_title, ic)
    g = gcm_for(ek)
    if sc & SC_ENC:
        aad = _aad(sc, ak, b"") if sc & SC_AUTH else b""
        ct, tag = g.encrypt(iv, plaintext, aad, TAG_LEN)
        return ct + tag if sc & SC_AUTH else ct
    return bytes(plaintext) + g.gmac(iv, _aad(sc, ak, plaintext), TAG_LEN)


def dlms_decrypt(sc, system_title, ic, ek, ak, data):
    """Inverse of dlms_encrypt: `data` is what follows SC || IC. Raises AuthError on a bad
    tag and ValueError on a malformed input (too short for the tag, bad SC)."""
    _check_sc(sc)
    iv = _dlms_iv(system_title, ic)
    g = gcm_for(ek)
    if not sc & SC_AUTH:
        return g.encrypt(iv, data, b"", 16)[0]  # CTR is its own inverse
    if len(data) < TAG_LEN:
        raise ValueError("ciphered data shorter than the tag")
    mv = memoryview(data)
    body = mv[: len(data) - TAG_LEN]
    tag = mv[len(data) - TAG_LEN :]
    if sc & SC_ENC:
        return g.decrypt(iv, body, tag, _aad(sc, ak, b""))
    if not ct_equal(g.gmac(iv, _aad(sc, ak, body), TAG_LEN), tag):
        raise AuthError("GMAC tag mismatch")
    return bytes(body)


def hls_gmac(sc, system_title, ic, ek, ak, challenge):
    """HLS-GMAC (mechanism 5) tag: GMAC(EK, IV = title || IC, AAD = SC || AK || challenge),
    12 bytes. f(challenge) on the wire is SC || IC (4, BE) || this tag."""
    iv = _dlms_iv(system_title, ic)
    return gcm_for(ek).gmac(iv, _aad(sc, ak, challenge), TAG_LEN)
