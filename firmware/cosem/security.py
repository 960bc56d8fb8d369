"""Suite-0 ciphering of xDLMS APDUs, invocation counters, passwords, lockout (durable).

What it implements (dlms.md §6-§7, reliability.md §5 rules 1-4, T9-T11):
- Protection: glo-* service-specific APDUs (C8/C9/CB -> CC/CD/CF) and general-glo-ciphering
  (DB, with the sender's system title) with SC 0x30 (authenticated + encrypted, suite 0):
  `<tag> [08 title] <len> 30 <IC(4)> <ciphertext> <tag(12)>`. A reply uses the form of the
  request. Only SC 0x30 is accepted: authentication-only or plaintext where ciphering is
  required is refused like a bad tag.
- Client invocation counters: one high-water mark per key set, "strictly increasing, gaps
  allowed" (the Gurux client skips values). It is committed to FRAM before the response is
  built (rule 2). The IC inside f(StoC) is checked only by its GMAC (dlms-cosem reuses it for
  the APDU that carries it).
- The meter's own IC never repeats: a block of RESERVE counters is committed ahead (rule 3),
  so after a power cut the next block starts above anything that may have been sent. When
  the 32-bit space would run out the key set refuses to cipher (rule 4: never wrap). A key
  transfer does not reset it (below), so that limit is final: 136 years at one APDU a second.
- LLS password and the commissioning HLS key sets live in the "security" config record;
  counters and lockout in "seccount" (the only record a read-only ciphered session may
  change); the key sets and master keys installed by a key transfer in "keys".
- Key transfer (Blue Book class 64 Security setup, method 2 key_transfer; Green Book suite
  0 key wrapping): each key arrives wrapped with AES key wrap (RFC 3394, lib/aes_keywrap.py)
  under the key set's master key (KEK) in force before the request. All keys of a request
  are unwrapped before anything changes; one failed integrity check refuses the whole
  request (0x8F1E logged, nothing written). The new set (EK, AK, KEK of both key sets) is
  written in ONE record commit, so a power cut leaves the old set or the new one, never a
  mix. A changed EK or AK resets the client IC high-water mark of that key set (the client
  starts a new counter with the new key; messages recorded under the old key fail GCM under
  the new one, so nothing can be replayed); the reset is flagged in the same commit and
  finished at boot if a cut came first. The meter's own IC is NOT reset: it continues, so no
  (key, IC) pair can repeat even if an old key were transferred again. 0x8F70 is logged.
- Failed authentication: a per-client-SAP failure count; after LOCK_AFTER failures the SAP
  is locked for LOCK_S meter seconds. Count and lock time are in FRAM, so a power cut does
  not reset them. Every failure goes to the Security Log (firmware/events.py), the lockout
  itself too (value = SAP).

Security-log codes (GBCS, requirements.md Appendix A "Comms / auth", reliability.md §6):
0x8F3E unauthorised comms access (wrong password/key, AARQ refused), 0x8F1E command integrity
check failed (bad GCM tag), 0x8F60 unusual/out-of-order command (replayed or old IC), 0x8F30
source lacks authority (denied SET/ACTION; once per association), 0x8F70 security credentials
updated (a key transfer; value = key set << 8 | bit per key_id changed). Meter-specific block
0xF040-0xF04F (comms): 0xF040 lockout engaged, 0xF041 data changed through the port (CoP 10
"port access which changes other data", Event Log).
"""

from micropython import const

from firmware.cosem.apdu import put_ber_length
from firmware.store import BLANK, INVALID, get_u32, put_u32
from lib import aes_gcm, aes_keywrap

UNAUTHORISED_ACCESS = const(0x8F3E)
INTEGRITY_FAILURE = const(0x8F1E)
REPLAY = const(0x8F60)
LACKS_AUTHORITY = const(0x8F30)
LOCKOUT = const(0xF040)
DATA_CHANGED_BY_PORT = const(0xF041)
KEYS_CHANGED = const(0x8F70)  # GBCS "security credentials updated"; value = key set << 8 | ids

# key_id of key_transfer (Blue Book class 64 v0/v1, key_data); bit k of the logged mask.
KEY_EK = const(0)  # global unicast encryption key
KEY_BROADCAST = const(1)  # global broadcast encryption key: the meter has none
KEY_AK = const(2)  # authentication key
KEY_KEK = const(3)  # master key (key encrypting key)

SC = const(0x30)
RESERVE = const(64)  # own ICs committed ahead per FRAM write
IC_MAX = 0xFFFFFFFF
LOCK_AFTER = const(5)  # consecutive failures that lock a client SAP
LOCK_S = const(900)  # lockout length in meter seconds

# "security" record (96 bytes)
_R_VERSION = const(0)
_R_PWLEN = const(1)
_R_PW = const(2)  # 16 bytes
_R_TITLE = const(18)  # 8 bytes
_R_KEYS = const(26)  # key set k: EK at 26 + 32k, AK at 42 + 32k
SECURITY_LEN = const(96)
# "seccount" record (32 bytes)
_C_OWN = const(0)  # u32 x 2: own IC reserved up to (exclusive), per key set
_C_PEER = const(8)  # u32 x 2: last accepted client IC, per key set
_C_FAILS = const(16)  # u8 x 3: failures of SAP 17, 1, 2
_C_LOCK = const(20)  # u32 x 3: locked until (meter seconds)
SECCOUNT_LEN = const(32)
# "keys" record (112 bytes): blank until the first key transfer; from then on it holds both
# key sets (the key fields of "security" are no longer used).
_K_VERSION = const(0)  # 1 = valid
_K_RESET = const(1)  # bit k: client IC of key set k still to be reset (its EK/AK changed)
_K_SETS = const(16)  # key set k: EK at 16 + 48k, AK at 32 + 48k, KEK at 48 + 48k
KEYS_LEN = const(112)
LOCK_SAPS = (17, 1, 2)

# Commissioning defaults (TEST ONLY; dlms.md keys for key set 0). Replace in production.
DEFAULT_PASSWORD = b"12345678"
DEFAULT_TITLE = b"OES\x00\x00\x00\x00\x01"
DEFAULT_KEYS = (
    (
        bytes.fromhex("000102030405060708090A0B0C0D0E0F"),
        bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"),
    ),
    (
        bytes.fromhex("101112131415161718191A1B1C1D1E1F"),
        bytes.fromhex("C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF"),
    ),
)
DEFAULT_KEKS = (
    bytes.fromhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF"),
    bytes.fromhex("E0E1E2E3E4E5E6E7E8E9EAEBECEDEEEF"),
)

_SERVICE_REPLY = {0xC8: 0xCC, 0xC9: 0xCD, 0xCB: 0xCF}
_SERVICE_PLAIN = {0xC8: 0xC0, 0xC9: 0xC1, 0xCB: 0xC3}


class SecurityError(ValueError):
    """A ciphered APDU was refused. `why` is the Security Log code, `ic` the IC seen."""

    def __init__(self, why, ic=0):
        super().__init__(why)
        self.why = why
        self.ic = ic


def _len(buf, pos, end):
    # A-XDR/BER length as used by the glo APDUs (<0x80, 0x81 n, 0x82 nn).
    if pos >= end:
        raise SecurityError(INTEGRITY_FAILURE)
    n = buf[pos]
    pos += 1
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 2 or pos + k > end:
            raise SecurityError(INTEGRITY_FAILURE)
        n = 0
        for i in range(k):
            n = (n << 8) | buf[pos + i]
        pos += k
    if n != end - pos:
        raise SecurityError(INTEGRITY_FAILURE)
    return n, pos


class Security:
    """Keys, counters and lockout of one meter over its FRAM store.

    store      mounted firmware.store.Store (config records "security" and "seccount")
    logs       event sink logs(log_id, code, value, utc) (firmware/events.py EventLogs)
    clock      firmware/clock.py MeterClock (or anything with now() and valid): lockout
               timing uses now(), which counts on while the clock is invalid; log entries
               carry no time then
    system_title  overrides the stored system title (tests reproducing captures)
    """

    def __init__(self, store, logs=None, clock=None, system_title=None):
        self.store = store
        self.logs = logs
        self.clock = clock
        self._rec = store.config("security")
        self._cnt = store.config("seccount")
        r = self._rec.buf
        if self._rec.state in (BLANK, INVALID):
            self._defaults(r)
        self.password = bytes(r[_R_PW : _R_PW + min(r[_R_PWLEN], 16)])
        self.title = bytes(system_title) if system_title else bytes(r[_R_TITLE : _R_TITLE + 8])
        self.keys = []
        for k in range(2):
            o = _R_KEYS + 32 * k
            self.keys.append((bytes(r[o : o + 16]), bytes(r[o + 16 : o + 32])))
        self.kek = [DEFAULT_KEKS[0], DEFAULT_KEKS[1]]
        self._kr = store.config("keys")
        k = self._kr.buf
        transferred = self._kr.state not in (BLANK, INVALID) and k[_K_VERSION] == 1
        if transferred:
            for ks in range(2):
                o = _K_SETS + 48 * ks
                self.keys[ks] = (bytes(k[o : o + 16]), bytes(k[o + 16 : o + 32]))
                self.kek[ks] = bytes(k[o + 32 : o + 48])
        c = self._cnt.buf
        # Own ICs: restart above everything reserved before (nothing reserved = start at 1).
        self._own = [max(1, get_u32(c, _C_OWN)), max(1, get_u32(c, _C_OWN + 4))]
        self._own_limit = [get_u32(c, _C_OWN), get_u32(c, _C_OWN + 4)]
        self.sent = 0  # ciphered APDUs produced since boot
        if transferred and k[_K_RESET] and not store.read_only:
            self._finish_reset()  # a power cut came between a key change and its IC reset

    @staticmethod
    def _defaults(r):
        for i in range(len(r)):
            r[i] = 0
        r[_R_VERSION] = 1
        r[_R_PWLEN] = len(DEFAULT_PASSWORD)
        r[_R_PW : _R_PW + len(DEFAULT_PASSWORD)] = DEFAULT_PASSWORD
        r[_R_TITLE : _R_TITLE + 8] = DEFAULT_TITLE
        for k in range(2):
            o = _R_KEYS + 32 * k
            r[o : o + 16] = DEFAULT_KEYS[k][0]
            r[o + 16 : o + 32] = DEFAULT_KEYS[k][1]

    # ---- configuration (configuration-and-keys level) ---------------------------------------
    def set_password(self, pw):
        if not 1 <= len(pw) <= 16:
            raise ValueError("LLS password is 1..16 bytes")
        r = self._rec.buf
        if self._rec.state in (BLANK, INVALID):
            self._defaults(r)
        r[_R_PWLEN] = len(pw)
        for i in range(16):
            r[_R_PW + i] = pw[i] if i < len(pw) else 0
        self._rec.commit()
        self.password = bytes(pw)

    def check_password(self, pw):
        return pw is not None and aes_gcm.ct_equal(pw, self.password)

    def transfer_keys(self, ks, items, sap):
        """key_transfer for key set ks: items = [(key_id, wrapped)] with key_id 0, 2 or 3,
        each at most once, 24 bytes each (checked by the caller). -> -1 refused (an integrity
        check failed: logged 0x8F1E, nothing changed), else the mask (bit = key_id) of the
        keys that changed (0: the same keys again, nothing written). See the module docstring
        for the power-cut and invocation-counter rules. OSError if the FRAM refuses."""
        kek = self.kek[ks]
        new = [self.keys[ks][0], None, self.keys[ks][1], kek]
        for key_id, wrapped in items:
            try:
                new[key_id] = aes_keywrap.unwrap(kek, wrapped)
            except ValueError:
                self.log(1, INTEGRITY_FAILURE, sap)
                return -1
        mask = 0
        old = (self.keys[ks][0], None, self.keys[ks][1], kek)
        for key_id in (KEY_EK, KEY_AK, KEY_KEK):
            if not aes_gcm.ct_equal(new[key_id], old[key_id]):
                mask |= 1 << key_id
        if not mask:
            return 0
        reset = mask & ((1 << KEY_EK) | (1 << KEY_AK))
        self._write_keys(ks, new[KEY_EK], new[KEY_AK], new[KEY_KEK], reset)
        self.keys[ks] = (new[KEY_EK], new[KEY_AK])
        self.kek[ks] = new[KEY_KEK]
        self.log(1, KEYS_CHANGED, (ks << 8) | mask)
        if reset:
            self._finish_reset()
        return mask

    def _write_keys(self, ks, ek, ak, kek, reset):
        """One commit of the "keys" record with key set ks replaced (the atomic step)."""
        rec = self._kr
        b = rec.buf
        was = bytes(b)
        pending = b[_K_RESET] if rec.state not in (BLANK, INVALID) and b[_K_VERSION] == 1 else 0
        for i in range(KEYS_LEN):
            b[i] = 0
        b[_K_VERSION] = 1
        b[_K_RESET] = pending | ((1 << ks) if reset else 0)
        for s in range(2):
            o = _K_SETS + 48 * s
            e, a = (ek, ak) if s == ks else self.keys[s]
            b[o : o + 16] = e
            b[o + 16 : o + 32] = a
            b[o + 32 : o + 48] = kek if s == ks else self.kek[s]
        try:
            rec.commit()
        except OSError:
            b[:] = was  # nothing changed: the RAM copy follows the FRAM
            raise

    def _finish_reset(self):
        """Reset the client IC of every key set flagged in "keys", then clear the flags. A
        cut between the two commits repeats the reset at boot (no request came in between)."""
        b = self._kr.buf
        c = self._cnt.buf
        for ks in range(2):
            if b[_K_RESET] & (1 << ks):
                put_u32(c, _C_PEER + 4 * ks, 0)
        self._cnt.commit()
        b[_K_RESET] = 0
        self._kr.commit()

    # ---- lockout ------------------------------------------------------------------------------
    def _lock_index(self, sap):
        for i in range(3):
            if LOCK_SAPS[i] == sap:
                return i
        return -1

    def locked(self, sap):
        i = self._lock_index(sap)
        if i < 0:
            return False
        return self._now() < get_u32(self._cnt.buf, _C_LOCK + 4 * i)

    def auth_failed(self, sap, why=UNAUTHORISED_ACCESS):
        """Count a failed authentication, log it, lock the SAP after LOCK_AFTER failures."""
        now = self._now()
        self.log(1, why, sap)
        i = self._lock_index(sap)
        if i < 0 or self.store.read_only:
            return
        c = self._cnt.buf
        n = c[_C_FAILS + i] + 1
        if n >= LOCK_AFTER:
            put_u32(c, _C_LOCK + 4 * i, now + LOCK_S)
            n = 0
            self.log(1, LOCKOUT, sap)
        c[_C_FAILS + i] = n
        self._cnt.commit()

    def auth_ok(self, sap):
        i = self._lock_index(sap)
        if i < 0 or self.store.read_only:
            return
        c = self._cnt.buf
        if c[_C_FAILS + i]:
            c[_C_FAILS + i] = 0
            self._cnt.commit()

    def failures(self, sap):
        i = self._lock_index(sap)
        return self._cnt.buf[_C_FAILS + i] if i >= 0 else 0

    def _now(self):
        return self.clock.now() if self.clock is not None else 0

    def log(self, log_id, code, value):
        if self.logs is not None and not self.store.read_only:
            c = self.clock
            t = c.now() if c is not None and c.valid else None
            self.logs.log(log_id, code, value, t)

    # ---- invocation counters --------------------------------------------------------------------
    def next_ic(self, ks):
        """A fresh own IC for key set ks; reserves the next block in FRAM when needed."""
        ic = self._own[ks]
        if ic >= IC_MAX:
            raise SecurityError(INTEGRITY_FAILURE)  # exhausted: never wrap (rule 4)
        if ic >= self._own_limit[ks]:
            limit = min(ic + RESERVE, IC_MAX)
            put_u32(self._cnt.buf, _C_OWN + 4 * ks, limit)
            self._cnt.commit()  # OSError (read-only / failed write) -> nothing is sent
            self._own_limit[ks] = limit
        self._own[ks] = ic + 1
        self.sent += 1
        return ic

    def last_peer_ic(self, ks):
        return get_u32(self._cnt.buf, _C_PEER + 4 * ks)

    def accept_ic(self, ks, ic, sap):
        """Replay check and durable update (before any response is built)."""
        if ic <= self.last_peer_ic(ks):
            self.log(1, REPLAY, sap)
            raise SecurityError(REPLAY, ic)
        put_u32(self._cnt.buf, _C_PEER + 4 * ks, ic)
        self._cnt.commit()

    # ---- ciphering ----------------------------------------------------------------------
    def decrypt(self, ks, title, sc, ic, data, sap):
        """Verify SC, tag and IC order; -> plaintext. SecurityError when refused."""
        if sc != SC:
            self.log(1, INTEGRITY_FAILURE, sap)
            raise SecurityError(INTEGRITY_FAILURE, ic)
        ek, ak = self.keys[ks]
        try:
            plain = aes_gcm.dlms_decrypt(sc, title, ic, ek, ak, data)
        except ValueError:  # AuthError is a ValueError
            self.log(1, INTEGRITY_FAILURE, sap)
            raise SecurityError(INTEGRITY_FAILURE, ic)
        self.accept_ic(ks, ic, sap)
        return plain

    def _refused(self, sap):
        """Log a refused ciphered APDU (0x8F1E) and return the error to raise."""
        self.log(1, INTEGRITY_FAILURE, sap)
        return SecurityError(INTEGRITY_FAILURE)

    def unwrap(self, ks, apdu, peer_title, sap):
        """Ciphered APDU -> (plain APDU, form). form = the request tag (0xDB or 0xC8/C9/CB).

        For 0xDB the title in the APDU must be the association's client title. A service-
        specific tag names its service (IEC 62056-5-3 glo-get-request carries a GET, ...):
        a glo-get-request holding a SET is refused like a bad tag. Every refusal is logged
        (0x8F1E; 0x8F60 for an old IC).
        """
        end = len(apdu)
        tag = apdu[0]
        pos = 1
        if tag == 0xDB:
            if end < 10 or apdu[1] != 8:
                raise self._refused(sap)
            title = bytes(apdu[2:10])
            if title != peer_title:
                raise self._refused(sap)
            pos = 10
        elif tag in _SERVICE_PLAIN:
            title = peer_title
        else:
            raise self._refused(sap)  # ded-*, general-ded, general-ciphering: no such keys here
        try:
            n, pos = _len(apdu, pos, end)
        except SecurityError:
            raise self._refused(sap)
        if n < 5 + aes_gcm.TAG_LEN:
            raise self._refused(sap)
        sc = apdu[pos]
        ic = get_u32_be(apdu, pos + 1)
        plain = self.decrypt(ks, title, sc, ic, memoryview(apdu)[pos + 5 :], sap)
        if tag != 0xDB and (len(plain) == 0 or plain[0] != _SERVICE_PLAIN[tag]):
            raise self._refused(sap)
        return plain, tag

    def protect(self, ks, plain, form, keys=None):
        """Cipher a response in the request's form with a fresh own IC. `keys` = the (EK, AK)
        the request came under (a key transfer in the request takes effect after its reply)."""
        ic = self.next_ic(ks)
        ek, ak = keys if keys is not None else self.keys[ks]
        body = aes_gcm.dlms_encrypt(SC, self.title, ic, ek, ak, plain)
        out = bytearray()
        if form == 0xDB:
            out.append(0xDB)
            out.append(8)
            out.extend(self.title)
        else:
            out.append(_SERVICE_REPLY[form] if form in _SERVICE_REPLY else form)
        put_ber_length(out, 5 + len(body))
        out.append(SC)
        out.extend(ic.to_bytes(4, "big"))
        out.extend(body)
        return bytes(out)

    def glo_initiate(self, ks, title, ui, sap):
        """glo-initiate-request (21 len 30 IC ct tag) from `title` -> plain InitiateRequest."""
        if len(ui) < 2 or ui[0] != 0x21:
            raise SecurityError(INTEGRITY_FAILURE)
        n, pos = _len(ui, 1, len(ui))
        if n < 5 + aes_gcm.TAG_LEN:
            raise SecurityError(INTEGRITY_FAILURE)
        return self.decrypt(ks, title, ui[pos], get_u32_be(ui, pos + 1), ui[pos + 5 :], sap)

    def glo_initiate_response(self, ks, plain):
        return self.protect(ks, plain, 0x28)

    def hls_check(self, ks, client_title, stoc, blob):
        """f(StoC) = 10 || IC || GMAC(EK, client title || IC, 10 || AK || StoC) -> bool."""
        if len(blob) != 5 + aes_gcm.TAG_LEN or blob[0] != aes_gcm.SC_AUTH:
            return False
        ic = get_u32_be(blob, 1)
        ek, ak = self.keys[ks]
        tag = aes_gcm.hls_gmac(aes_gcm.SC_AUTH, client_title, ic, ek, ak, stoc)
        return aes_gcm.ct_equal(tag, blob[5:])

    def hls_reply(self, ks, ctos):
        """f(CtoS) with a fresh own IC (never the IC of the APDU that will carry it)."""
        ic = self.next_ic(ks)
        ek, ak = self.keys[ks]
        tag = aes_gcm.hls_gmac(aes_gcm.SC_AUTH, self.title, ic, ek, ak, ctos)
        return bytes((aes_gcm.SC_AUTH,)) + ic.to_bytes(4, "big") + tag


def get_u32_be(b, pos):
    return (b[pos] << 24) | (b[pos + 1] << 16) | (b[pos + 2] << 8) | b[pos + 3]
