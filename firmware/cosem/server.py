"""The COSEM server: APDUs in, APDUs out, for every transport (HDLC, TCP wrapper).

    server = CosemServer(meter)
    reply = server.handle(client_sap, logical_device, apdu, conn)   # bytes or None
    server.on_link(connected, client_sap, conn)                     # drop associations

`conn` identifies the transport connection (any hashable; None for a single link), so two
TCP clients with the same SAP have separate associations. At most `max_associations` are
open at once (an AARQ beyond that is rejected-transient).

Flow (IEC 62056-5-3; dlms.md §4-§7): AARQ -> AARE (firmware/cosem/association.py levels,
firmware/cosem/security.py ciphering, LLS and HLS-GMAC); then GET (normal, next, with-list),
SET normal and ACTION normal against firmware/cosem/objects.py, RLRQ -> RLRE. In a ciphered
association every request must be ciphered (glo-* or general-glo) and the reply uses the
request's form with the meter's own, never repeated, invocation counter.

GET results stream: an object returns an iterator of encoded chunks; the server fills a
response of at most the negotiated size (less the ciphering overhead) and, if more remains,
switches to GET block transfer (get-response-with-datablock, raw-data), pulling the next
block from the same iterator on each get-request-next. A large profile read therefore never
sits in RAM whole: an association holds one iterator and a few small buffers.

Bad input never escapes: malformed APDUs get an exception-response (or a rejecting AARE),
and an unexpected exception inside the server is counted (`internal_errors`) and answered
with an exception-response too.
"""

from micropython import const

from firmware.cosem import apdu, axdr
from firmware.cosem import association as asn
from firmware.cosem import objects as cobj
from firmware.cosem.errors import EncodeOverflow, ProtocolError
from firmware.cosem.security import (
    DATA_CHANGED_BY_PORT,
    INTEGRITY_FAILURE,
    LACKS_AUTHORITY,
    UNAUTHORISED_ACCESS,
    Security,
    SecurityError,
)

try:
    from os import urandom as _urandom
except ImportError:  # pragma: no cover - ports without os.urandom
    import random

    def _urandom(n):
        return bytes([random.getrandbits(8) for _ in range(n)])


METER_MAX_PDU = const(1024)
CIPHER_OVERHEAD = const(30)  # DB 08 title(8) len(3) SC IC(4) tag(12)
_D = const(16)  # where response data starts in the build buffer (room for any header)
_CIPHERED_TAGS = (0xDB, apdu.GLO_GET_REQUEST, apdu.GLO_SET_REQUEST, apdu.GLO_ACTION_REQUEST)
# Every protected request of the XDLMS-APDU list (IEC 62056-5-3): the glo forms above and
# ded-get/set/action (D0/D1/D3), general-ded-ciphering (DC), general-ciphering (DD) and
# general-signing (DF). The meter uses no dedicated key and no signing: in a ciphered
# association those are refused like a bad tag (deciphering-error, 0x8F1E); in a plain one
# every protected APDU is refused alike (service-not-allowed, service-not-supported).
_PROTECTED_TAGS = _CIPHERED_TAGS + (0xD0, 0xD1, 0xD3, 0xDC, 0xDD, 0xDF)
_LN_ASSOCIATION = b"\x00\x00\x28\x00\x00\xff"


class _Source:
    """Bytes pulled from an iterator of chunks; keeps its place between blocks."""

    def __init__(self, chunks):
        self.it = chunks
        self.cur = None
        self.off = 0
        self.done = False

    def _next(self):
        while True:
            try:
                c = next(self.it)
            except StopIteration:
                self.done = True
                self.cur = None
                return False
            if len(c):
                self.cur = c
                self.off = 0
                return True

    def fill(self, buf, pos, end):
        while pos < end:
            if self.cur is None or self.off >= len(self.cur):
                if self.done or not self._next():
                    break
            cur = self.cur
            n = min(end - pos, len(cur) - self.off)
            buf[pos : pos + n] = cur[self.off : self.off + n]
            pos += n
            self.off += n
        return pos

    def exhausted(self):
        if self.cur is not None and self.off < len(self.cur):
            return False
        if self.done:
            return True
        return not self._next()

    def pushback(self, data):
        rest = b"" if self.cur is None else bytes(self.cur[self.off :])
        self.cur = bytes(data) + rest
        self.off = 0


class _Blocks:
    __slots__ = ("src", "invoke", "block", "size")

    def __init__(self, src, invoke, size):
        self.src = src
        self.invoke = invoke
        self.block = 1
        self.size = size


class CosemServer:
    """DLMS/COSEM server of one meter (firmware/meter.py Meter, booted).

    system_title  8 bytes, overrides the stored one (tests replaying captures)
    rng           callable n -> n random bytes for StoC (default os.urandom)
    max_pdu       server-max-receive-pdu-size announced and the cap on what the meter sends
    conformance   what the meter offers (association.METER_CONFORMANCE)
    objects       an objects.ObjectTable (default: objects.build for this meter)
    """

    def __init__(
        self,
        meter,
        system_title=None,
        rng=None,
        max_pdu=METER_MAX_PDU,
        conformance=asn.METER_CONFORMANCE,
        objects=None,
        max_associations=4,
    ):
        if not 64 <= max_pdu <= 0xFFFF:
            raise ValueError("max_pdu")
        self.meter = meter
        self.security = Security(meter.store, meter.logs, meter.clock, system_title)
        self.identity = cobj.Identity(meter.store)
        self.objects = objects if objects is not None else cobj.build(meter, self.identity)
        self.rng = rng if rng is not None else _urandom
        self.max_pdu = max_pdu
        self.conformance = conformance
        self.max_associations = max_associations
        self._assoc = {}
        self._out = bytearray(max_pdu + _D + 16)
        self._small = bytearray(max_pdu)
        self.requests = 0
        self.exceptions = 0  # exception-responses sent
        self.internal_errors = 0  # bugs caught at the top (should stay 0)

    # ---- entry points ------------------------------------------------------------------------
    def handle(self, client_sap, logical_device, data, conn=None):
        """One complete APDU from client_sap to logical_device -> reply APDU or None."""
        if logical_device != 1 or not data:
            return None
        self.requests += 1
        try:
            return self._handle(client_sap, bytes(data), conn)
        except Exception:  # noqa: BLE001 - nothing may escape into the transport task
            self.internal_errors += 1
            return self._exception(apdu.STATE_SERVICE_NOT_ALLOWED, apdu.SERVICE_OTHER_REASON)

    def on_link(self, connected, client_sap=None, conn=None):
        """Link (re)established or lost: every association of `conn` ends."""
        for key in list(self._assoc):
            if key[0] == conn:
                del self._assoc[key]

    def association(self, client_sap, conn=None):
        return self._assoc.get((conn, client_sap))

    def associations(self):
        return len(self._assoc)

    def data_changed(self, assoc):
        """CoP 10 "port access which changes other data" (time changes log their own)."""
        self.security.log(0, DATA_CHANGED_BY_PORT, assoc.sap)

    # ---- dispatch -------------------------------------------------------------------------------
    def _exception(self, state, service, extra=None):
        self.exceptions += 1
        r = apdu.exception_response(state, service)
        return r if extra is None else r + extra

    def _handle(self, sap, data, conn):
        tag = data[0]
        if len(data) > self.max_pdu + CIPHER_OVERHEAD:
            return self._exception(apdu.STATE_SERVICE_NOT_ALLOWED, apdu.SERVICE_PDU_TOO_LONG)
        if tag == apdu.AARQ:
            return self._aarq(sap, data, conn)
        if tag == apdu.RLRQ:
            return self._rlrq(sap, data, conn)
        a = self._assoc.get((conn, sap))
        if a is None:
            return self._exception(
                apdu.STATE_SERVICE_NOT_ALLOWED, apdu.SERVICE_OPERATION_NOT_POSSIBLE
            )
        if a.ciphered:
            if tag not in _CIPHERED_TAGS:
                self.security.log(1, INTEGRITY_FAILURE, sap)
                return self._exception(
                    apdu.STATE_SERVICE_NOT_ALLOWED, apdu.SERVICE_DECIPHERING_ERROR
                )
            try:
                plain, form = self.security.unwrap(a.keyset, data, a.client_title, sap)
            except SecurityError as e:
                if e.ic and e.why != INTEGRITY_FAILURE:
                    nxt = self.security.last_peer_ic(a.keyset) + 1
                    return self._exception(
                        apdu.STATE_SERVICE_NOT_ALLOWED,
                        apdu.SERVICE_INVOCATION_COUNTER_ERROR,
                        nxt.to_bytes(4, "big"),
                    )
                return self._exception(
                    apdu.STATE_SERVICE_NOT_ALLOWED, apdu.SERVICE_DECIPHERING_ERROR
                )
            limit = a.send_limit - CIPHER_OVERHEAD
            # The reply goes out under the keys of the request even if the request itself
            # changed them (key_transfer): the client can only read it with those.
            keys = self.security.keys[a.keyset]
            resp = self._service(a, plain, limit)
            if resp is None:
                return None
            return self.security.protect(a.keyset, resp, form, keys)
        if tag in _PROTECTED_TAGS:
            return self._exception(apdu.STATE_SERVICE_NOT_ALLOWED, apdu.SERVICE_NOT_SUPPORTED)
        return self._service(a, data, a.send_limit)

    # ---- ACSE -----------------------------------------------------------------------------------
    def _reject(self, context, result, diag, user_info=None):
        return apdu.build_aare(context, result, diag, user_info=user_info)

    def _aarq(self, sap, data, conn):
        key = (conn, sap)
        if key in self._assoc:
            del self._assoc[key]
        try:
            q = apdu.parse_aarq(data)
        except ProtocolError:
            return self._reject(apdu.CTX_LN, apdu.RESULT_REJECTED_PERMANENT, apdu.DIAG_NO_REASON)
        spec = asn.SAPS.get(sap)
        echo = q.context if q.context in (apdu.CTX_LN, apdu.CTX_LN_CIPHERED) else apdu.CTX_LN
        if spec is None:
            return self._reject(echo, apdu.RESULT_REJECTED_PERMANENT, apdu.DIAG_NO_REASON)
        level, context, mech, ks = spec
        if q.context != context:
            return self._reject(
                echo, apdu.RESULT_REJECTED_PERMANENT, apdu.DIAG_CONTEXT_NOT_SUPPORTED
            )
        if q.mechanism != mech:
            diag = apdu.DIAG_MECHANISM_REQUIRED
            if q.mechanism != apdu.MECH_NONE:
                diag = apdu.DIAG_MECHANISM_NOT_RECOGNISED
            return self._reject(echo, apdu.RESULT_REJECTED_PERMANENT, diag)
        sec = self.security
        if mech != apdu.MECH_NONE and sec.locked(sap):
            sec.log(1, UNAUTHORISED_ACCESS, sap)
            return self._reject(echo, apdu.RESULT_REJECTED_TRANSIENT, apdu.DIAG_AUTH_FAILURE)
        if len(self._assoc) >= self.max_associations:
            return self._reject(echo, apdu.RESULT_REJECTED_TRANSIENT, apdu.DIAG_NO_REASON)
        if q.user_info is None:
            return self._reject(echo, apdu.RESULT_REJECTED_PERMANENT, apdu.DIAG_NO_REASON)
        a = asn.Association(sap, level, context, mech, ks)
        ui = q.user_info
        if mech == apdu.MECH_LLS:
            if not sec.check_password(q.auth_value):
                sec.auth_failed(sap)
                return self._reject(echo, apdu.RESULT_REJECTED_PERMANENT, apdu.DIAG_AUTH_FAILURE)
            sec.auth_ok(sap)
        elif mech == apdu.MECH_HLS_GMAC:
            title = q.calling_title
            ctos = q.auth_value
            if title is None or len(title) != 8 or ctos is None or not 8 <= len(ctos) <= 64:
                sec.auth_failed(sap)
                return self._reject(echo, apdu.RESULT_REJECTED_PERMANENT, apdu.DIAG_AUTH_FAILURE)
            try:
                ui = sec.glo_initiate(ks, title, ui, sap)
            except SecurityError:
                sec.auth_failed(sap)
                return self._reject(echo, apdu.RESULT_REJECTED_PERMANENT, apdu.DIAG_AUTH_FAILURE)
            a.client_title = title
            a.ctos = ctos
        try:
            version, conf, pdu, _key = apdu.parse_initiate_request(ui)
        except ProtocolError:
            return self._reject(echo, apdu.RESULT_REJECTED_PERMANENT, apdu.DIAG_NO_REASON)
        err = 0
        if version < apdu.DLMS_VERSION:
            err = apdu.INITIATE_VERSION_TOO_LOW
        elif pdu < apdu.MIN_CLIENT_PDU + (CIPHER_OVERHEAD if a.ciphered else 0):
            err = apdu.INITIATE_PDU_SIZE_TOO_SHORT
        else:
            asn.negotiate(a, conf, pdu, self.conformance, self.max_pdu)
            if not a.conformance & (asn.CONF_GET | asn.CONF_SET | asn.CONF_ACTION):
                err = apdu.INITIATE_INCOMPATIBLE_CONFORMANCE
        if err:
            return self._reject(
                echo, apdu.RESULT_REJECTED_PERMANENT, apdu.DIAG_NO_REASON, apdu.initiate_error(err)
            )
        resp_ui = apdu.initiate_response(a.conformance, self.max_pdu)
        if mech == apdu.MECH_HLS_GMAC:
            resp_ui = sec.glo_initiate_response(ks, resp_ui)
            a.stoc = bytes(self.rng(16))
            self._assoc[key] = a
            return apdu.build_aare(
                context,
                apdu.RESULT_ACCEPTED,
                apdu.DIAG_AUTH_REQUIRED,
                responding_title=sec.title,
                mechanism=mech,
                stoc=a.stoc,
                user_info=resp_ui,
            )
        self._assoc[key] = a
        return apdu.build_aare(context, apdu.RESULT_ACCEPTED, apdu.DIAG_NULL, user_info=resp_ui)

    def _rlrq(self, sap, data, conn):
        try:
            _reason, ui = apdu.parse_rlrq(data)
        except ProtocolError:
            return self._exception(apdu.STATE_SERVICE_UNKNOWN, apdu.SERVICE_OTHER_REASON)
        a = self._assoc.pop((conn, sap), None)
        if a is not None and a.ciphered and ui and ui[0] == apdu.GLO_INITIATE_REQUEST:
            try:  # keeps the client's IC in step; a bad one is logged, the release stands
                self.security.glo_initiate(a.keyset, a.client_title, ui, sap)
            except SecurityError:
                pass
        return apdu.RLRE_NORMAL

    # ---- xDLMS services -------------------------------------------------------------------------
    def _service(self, a, data, limit):
        tag = data[0]
        try:
            req = apdu.parse_request(data)
        except ProtocolError:
            return self._exception(apdu.STATE_SERVICE_UNKNOWN, apdu.SERVICE_OTHER_REASON)
        except NotImplementedError:
            return self._exception(apdu.STATE_SERVICE_UNKNOWN, apdu.SERVICE_NOT_SUPPORTED)
        conf = a.conformance
        need = asn.CONF_GET
        if tag == apdu.SET_REQUEST:
            need = asn.CONF_SET
        elif tag == apdu.ACTION_REQUEST:
            need = asn.CONF_ACTION
        elif req.kind == apdu.WITH_LIST:
            need = asn.CONF_MULTIPLE_REFERENCES
        if not conf & need:
            return self._exception(apdu.STATE_SERVICE_NOT_ALLOWED, apdu.SERVICE_NOT_SUPPORTED)
        for it in req.items:
            if it[3] and not conf & asn.CONF_SELECTIVE_ACCESS:
                return self._exception(apdu.STATE_SERVICE_NOT_ALLOWED, apdu.SERVICE_NOT_SUPPORTED)
        if tag == apdu.GET_REQUEST:
            if req.kind == apdu.NEXT:
                return self._get_next(a, req)
            a.pending = None  # a new GET aborts a block transfer in progress
            if req.kind == apdu.NORMAL:
                r = self._read(a, req.items[0])
                if isinstance(r, int):
                    return apdu.get_error(req.invoke, r)
                hdr = bytes((apdu.GET_RESPONSE, apdu.NORMAL, req.invoke, 0))
                return self._stream(a, req.invoke, hdr, r, limit)
            return self._stream(
                a,
                req.invoke,
                bytes((apdu.GET_RESPONSE, apdu.WITH_LIST, req.invoke)),
                _Source(self._with_list(a, req.items)),
                limit,
            )
        if tag == apdu.SET_REQUEST:
            return apdu.set_response(req.invoke, self._write(a, req.items[0], req.data))
        return self._act(a, req, req.items[0])

    def _lookup(self, item):
        obj = self.objects.find(item[1])
        if obj is None:
            return apdu.DAR_OBJECT_UNDEFINED
        if obj.class_id != item[0]:
            return apdu.DAR_OBJECT_CLASS_INCONSISTENT
        return obj

    def _attribute(self, item):
        """The object an attribute reference names, or the Data-Access-Result refusing it."""
        obj = self._lookup(item)
        if isinstance(obj, int):
            return obj
        if item[2] < 1 or item[2] > len(obj.attrs):
            return apdu.DAR_OBJECT_UNAVAILABLE
        return obj

    def _read(self, a, item):
        """-> Data-Access-Result or a _Source of the encoded value."""
        obj = self._attribute(item)
        if isinstance(obj, int):
            return obj
        attr = item[2]
        if not obj.can_read(attr, a.level):
            return apdu.DAR_READ_WRITE_DENIED
        if item[3] and item[3] not in obj.selectors(attr):
            return apdu.DAR_OBJECT_UNAVAILABLE
        try:
            r = obj.get(attr, (self, a), item[3], item[4])
        except OSError:
            return apdu.DAR_HARDWARE_FAULT
        if isinstance(r, int):
            return r
        if isinstance(r, tuple):
            w = axdr.Writer(self._small)
            try:
                w.value(r)
            except (EncodeOverflow, ValueError):
                return apdu.DAR_OTHER
            return _Source(iter((bytes(w.view()),)))
        return _Source(r)

    def _with_list(self, a, items):
        head = bytearray(6)
        w = axdr.Writer(head)
        w.length(len(items))
        yield head[: w.pos]
        for it in items:
            r = self._read(a, it)
            if isinstance(r, int):
                yield bytes((1, r))
                continue
            yield b"\x00"
            while not r.exhausted():
                c = r.cur[r.off :]
                r.off = len(r.cur)
                yield c

    def _stream(self, a, invoke, hdr, src, limit):
        out = self._out
        hl = len(hdr)
        try:
            pos = src.fill(out, _D, _D + limit - hl)
            last = src.exhausted()
        except OSError:
            return apdu.get_error(invoke, apdu.DAR_HARDWARE_FAULT)
        if last:
            out[_D - hl : _D] = hdr
            return bytes(out[_D - hl : pos])
        size = limit - apdu.block_header_len(limit)
        if not a.conformance & asn.CONF_BLOCK_GET or size < 1:
            return apdu.get_error(invoke, apdu.DAR_OTHER)
        src.pushback(out[_D + size : pos])
        a.pending = _Blocks(src, invoke, size)
        h = apdu.block_header_len(size)
        apdu.write_block_header(out, _D - h, invoke, False, 1, size)
        return bytes(out[_D - h : _D + size])

    def _get_next(self, a, req):
        p = a.pending
        if p is None:
            return apdu.block_error(req.invoke, req.block, apdu.DAR_NO_LONG_GET)
        if req.block != p.block:
            a.pending = None
            return apdu.block_error(req.invoke, req.block, apdu.DAR_BLOCK_NUMBER_INVALID)
        out = self._out
        p.block += 1
        try:
            pos = p.src.fill(out, _D, _D + p.size)
            last = p.src.exhausted()
        except OSError:
            a.pending = None
            return apdu.block_error(req.invoke, p.block, apdu.DAR_LONG_GET_ABORTED)
        n = pos - _D
        h = apdu.block_header_len(n)
        apdu.write_block_header(out, _D - h, p.invoke, last, p.block, n)
        if last:
            a.pending = None
        return bytes(out[_D - h : pos])

    def _denied(self, a):
        if not a.denials_logged:
            a.denials_logged = 1
            self.security.log(1, LACKS_AUTHORITY, a.sap)

    def _write(self, a, item, value):
        obj = self._attribute(item)
        if isinstance(obj, int):
            return obj
        attr = item[2]
        if not obj.can_write(attr, a.level):
            self._denied(a)
            return apdu.DAR_READ_WRITE_DENIED
        try:
            return obj.set(attr, value, (self, a))
        except OSError:
            return apdu.DAR_HARDWARE_FAULT

    def _act(self, a, req, item):
        inv = req.invoke
        obj = self._lookup(item)
        if isinstance(obj, int):
            return apdu.action_response(inv, obj)
        mid = item[2]
        if item[0] == 15 and item[1] == _LN_ASSOCIATION and mid == 1:
            return self._reply_to_hls(a, inv, req.data)
        if mid < 1 or mid > len(obj.methods):
            return apdu.action_response(inv, apdu.DAR_OBJECT_UNAVAILABLE)
        if not obj.can_call(mid, a.level):
            self._denied(a)
            return apdu.action_response(inv, apdu.DAR_READ_WRITE_DENIED)
        try:
            result, data = obj.action(mid, req.data, (self, a))
        except OSError:
            return apdu.action_response(inv, apdu.DAR_HARDWARE_FAULT)
        return apdu.action_response(inv, result, data)

    def _reply_to_hls(self, a, inv, param):
        sec = self.security
        if a.status != asn.PENDING or a.mechanism != apdu.MECH_HLS_GMAC:
            return apdu.action_response(inv, apdu.DAR_READ_WRITE_DENIED)
        ok = param is not None and param[0] == axdr.OCTET_STRING
        ok = ok and sec.hls_check(a.keyset, a.client_title, a.stoc, param[1])
        if not ok:
            sec.auth_failed(a.sap)
            for k in list(self._assoc):
                if self._assoc[k] is a:
                    del self._assoc[k]
            return apdu.action_response(inv, apdu.DAR_OTHER)
        a.complete()
        sec.auth_ok(a.sap)
        f = sec.hls_reply(a.keyset, a.ctos)
        return apdu.action_response(inv, apdu.DAR_SUCCESS, b"\x09\x11" + f)
