"""AES key wrap (RFC 3394 §2.2; NIST SP 800-38F "KW") for DLMS/COSEM key transfer.

DLMS security suite 0 (Green Book, "key wrapping"; Blue Book Security setup class 64,
key_transfer) carries new keys wrapped with this algorithm under the master key (KEK):
a 16-byte key becomes 24 bytes, the first 8 of which are the integrity check A.

    wrapped = wrap(kek, key)          # len(key) = 8n, n >= 2
    key = unwrap(kek, wrapped)        # UnwrapError if the integrity check fails

Algorithm (RFC 3394 §2.2.1, index form): A = A6A6A6A6A6A6A6A6, R[1..n] = the key's 64-bit
blocks; for j = 0..5, i = 1..n: B = AES(K, A | R[i]); A = MSB64(B) xor t with t = n*j + i;
R[i] = LSB64(B). Unwrap (§2.2.2) runs the steps backwards with the AES inverse cipher and
accepts the result only if A comes back as A6A6A6A6A6A6A6A6 (§2.2.3), compared in constant
time. t never exceeds 6n (< 256 for any key here), so XOR-ing it into A touches small ints only.

Block cipher: MicroPython's `cryptolib.aes(key, 1)` (ECB; an object ciphers in one direction
only, so encryption and decryption get one object each), the `cryptography` package under
CPython, as in lib/aes_gcm.py. KEKs of 16 or 32 bytes (AES-128/-256): cryptolib on the boards
has no AES-192, so a 24-byte KEK is refused on every interpreter alike. Cost: 6n AES blocks
and 6n small buffer copies, well under a millisecond for a 128-bit key on the unix port; it
runs only when a key is transferred.
"""

try:
    from cryptolib import aes as _mp_aes

    def _ecb(key, decrypt):
        c = _mp_aes(bytes(key), 1)
        return c.decrypt if decrypt else c.encrypt

except ImportError:  # CPython host shim
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    def _ecb(key, decrypt):
        c = Cipher(algorithms.AES(bytes(key)), modes.ECB())
        return (c.decryptor() if decrypt else c.encryptor()).update


IV = b"\xa6\xa6\xa6\xa6\xa6\xa6\xa6\xa6"  # RFC 3394 §2.2.3.1 default initial value


class UnwrapError(ValueError):
    """The integrity check failed: wrong KEK, or the wrapped key was altered."""


def _check(kek, n):
    if len(kek) not in (16, 32):
        raise ValueError("KEK must be 16 or 32 bytes (AES-128/256)")
    if n < 16 or n % 8:
        raise ValueError("key data must be a multiple of 8 bytes, at least 16")


def _xor_t(a, t):
    # A xor t, t as a 64-bit big-endian integer (t < 2**32 here: only the low 4 bytes move).
    for k in range(4):
        a[7 - k] ^= (t >> (8 * k)) & 0xFF


def wrap(kek, key):
    """RFC 3394 §2.2.1: key (8n bytes) -> 8(n + 1) bytes."""
    _check(kek, len(key))
    enc = _ecb(kek, False)
    n = len(key) // 8
    r = bytearray(8) + bytearray(key)  # r[8i:8i + 8] = R[i], R[0] unused
    blk = bytearray(16)
    blk[0:8] = IV  # A
    for j in range(6):
        for i in range(1, n + 1):
            blk[8:16] = r[8 * i : 8 * i + 8]
            b = enc(bytes(blk))
            blk[0:8] = b[0:8]
            _xor_t(blk, n * j + i)
            r[8 * i : 8 * i + 8] = b[8:16]
    r[0:8] = blk[0:8]
    return bytes(r)


def unwrap(kek, wrapped):
    """RFC 3394 §2.2.2: 8(n + 1) bytes -> the key (8n bytes); UnwrapError if A != IV."""
    _check(kek, len(wrapped) - 8)
    dec = _ecb(kek, True)
    n = len(wrapped) // 8 - 1
    r = bytearray(wrapped)
    blk = bytearray(16)
    blk[0:8] = r[0:8]  # A
    for j in range(5, -1, -1):
        for i in range(n, 0, -1):
            _xor_t(blk, n * j + i)
            blk[8:16] = r[8 * i : 8 * i + 8]
            b = dec(bytes(blk))
            blk[0:8] = b[0:8]
            r[8 * i : 8 * i + 8] = b[8:16]
    d = 0
    for k in range(8):
        d |= blk[k] ^ 0xA6
    if d:
        raise UnwrapError("AES key unwrap: integrity check failed")
    return bytes(r[8:])
