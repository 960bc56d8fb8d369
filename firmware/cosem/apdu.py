"""xDLMS and ACSE APDUs of the meter (server side): decoding requests, encoding responses.

Wire formats follow the captures in dlms.md §4-§10 (DLMS UA Green Book, IEC 62056-5-3):

ACSE (BER, definite lengths, short or 0x81/0x82 long form):
    AARQ 60: A1 application-context-name (06 07 60 85 74 05 08 01 x), A6 calling-AP-title
        (04 08 title), 8A sender-acse-requirements (07 80), 8B mechanism-name (60 85 74 05 08
        02 x, implicit), AC calling-authentication-value (80 len value), BE user-information
        (04 len InitiateRequest or glo-initiate-request 0x21). Other fields are skipped.
    AARE 61: A1, A2 result (02 01 r), A3 result-source-diagnostic (A1 03 02 01 d =
        acse-service-user), A4 responding-AP-title, 88 responder-acse-requirements, 89
        mechanism, AA responding-authentication-value (80 len StoC), BE user-information.
    RLRQ 62 [80 01 reason] [BE ...] -> RLRE 63 03 80 01 00.
xDLMS (A-XDR):
    InitiateRequest 01 | dedicated-key opt | response-allowed default | QoS opt | version |
        5F 1F 04 00 conformance(3) | client-max-receive-pdu-size(2)
    InitiateResponse 08 | QoS opt (00) | version 06 | 5F 1F 04 00 conf(3) | max pdu(2) | 00 07
    GET C0 01 normal / 02 next / 03 with-list; SET C1 01 normal; ACTION C3 01 normal.
    Responses C4 / C5 / C7; exception-response D8 state-error service-error.

Decoders raise ProtocolError for anything malformed (firmware/cosem/errors.py); the server
answers those with an exception-response. Nothing here knows the object model.
"""

from micropython import const

from firmware.cosem import axdr
from firmware.cosem.errors import ProtocolError

# APDU tags
AARQ = const(0x60)
AARE = const(0x61)
RLRQ = const(0x62)
RLRE = const(0x63)
INITIATE_REQUEST = const(0x01)
INITIATE_RESPONSE = const(0x08)
CONFIRMED_SERVICE_ERROR = const(0x0E)
GLO_INITIATE_REQUEST = const(0x21)
GLO_INITIATE_RESPONSE = const(0x28)
GET_REQUEST = const(0xC0)
SET_REQUEST = const(0xC1)
ACTION_REQUEST = const(0xC3)
GET_RESPONSE = const(0xC4)
SET_RESPONSE = const(0xC5)
ACTION_RESPONSE = const(0xC7)
GLO_GET_REQUEST = const(0xC8)
GLO_SET_REQUEST = const(0xC9)
GLO_ACTION_REQUEST = const(0xCB)
GLO_GET_RESPONSE = const(0xCC)
GLO_SET_RESPONSE = const(0xCD)
GLO_ACTION_RESPONSE = const(0xCF)
EXCEPTION_RESPONSE = const(0xD8)
GENERAL_GLO_CIPHERING = const(0xDB)

# Request kinds (second byte of C0/C1/C3)
NORMAL = const(1)
NEXT = const(2)
WITH_LIST = const(3)

# ACSE values (dlms.md §4)
CTX_LN = const(1)
CTX_LN_CIPHERED = const(3)
MECH_NONE = const(0)
MECH_LLS = const(1)
MECH_HLS_GMAC = const(5)
RESULT_ACCEPTED = const(0)
RESULT_REJECTED_PERMANENT = const(1)
RESULT_REJECTED_TRANSIENT = const(2)
DIAG_NULL = const(0)
DIAG_NO_REASON = const(1)
DIAG_CONTEXT_NOT_SUPPORTED = const(2)
DIAG_MECHANISM_NOT_RECOGNISED = const(11)
DIAG_MECHANISM_REQUIRED = const(12)
DIAG_AUTH_FAILURE = const(13)
DIAG_AUTH_REQUIRED = const(14)

# Data-Access-Result (Green Book) and action results use the same numbers.
DAR_SUCCESS = const(0)
DAR_HARDWARE_FAULT = const(1)
DAR_TEMPORARY_FAILURE = const(2)
DAR_READ_WRITE_DENIED = const(3)
DAR_OBJECT_UNDEFINED = const(4)
DAR_OBJECT_CLASS_INCONSISTENT = const(9)
DAR_OBJECT_UNAVAILABLE = const(11)
DAR_TYPE_UNMATCHED = const(12)
DAR_SCOPE_VIOLATED = const(13)
DAR_LONG_GET_ABORTED = const(15)
DAR_NO_LONG_GET = const(16)
DAR_BLOCK_NUMBER_INVALID = const(19)
DAR_OTHER = const(250)

# exception-response (dlms-cosem enumerations StateException / ServiceException)
STATE_SERVICE_NOT_ALLOWED = const(1)
STATE_SERVICE_UNKNOWN = const(2)
SERVICE_OPERATION_NOT_POSSIBLE = const(1)
SERVICE_NOT_SUPPORTED = const(2)
SERVICE_OTHER_REASON = const(3)
SERVICE_PDU_TOO_LONG = const(4)
SERVICE_DECIPHERING_ERROR = const(5)
SERVICE_INVOCATION_COUNTER_ERROR = const(6)

# InitiateError values for a ConfirmedServiceError in a rejecting AARE.
INITIATE_VERSION_TOO_LOW = const(1)
INITIATE_INCOMPATIBLE_CONFORMANCE = const(2)
INITIATE_PDU_SIZE_TOO_SHORT = const(3)

_OID_PREFIX = b"\x60\x85\x74\x05\x08"
DLMS_VERSION = const(6)
MIN_CLIENT_PDU = const(12)


# ---------------------------------------------------------------- BER helpers


def ber_header(buf, pos, end):
    """-> (tag, length, value_pos); the value must fit before `end`."""
    if pos + 2 > end:
        raise ProtocolError("truncated BER header")
    tag = buf[pos]
    n = buf[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 2 or pos + k > end:
            raise ProtocolError("bad BER length")
        n = 0
        for i in range(k):
            n = (n << 8) | buf[pos + i]
        pos += k
    if n > end - pos:
        raise ProtocolError("BER value longer than the APDU")
    return tag, n, pos


def put_ber_length(out, n):
    """Append a BER/A-XDR length (< 0x80, 0x81 n, 0x82 nn) to the bytearray `out`."""
    if n < 0x80:
        out.append(n)
    elif n < 0x100:
        out.append(0x81)
        out.append(n)
    else:
        out.append(0x82)
        out.append(n >> 8)
        out.append(n & 0xFF)


def _tlv(out, tag, value):
    out.append(tag)
    put_ber_length(out, len(value))
    out.extend(value)


class Aarq:
    """The fields of an AARQ the meter uses."""

    __slots__ = ("context", "ciphered", "calling_title", "mechanism", "auth_value", "user_info")

    def __init__(self):
        self.context = -1
        self.ciphered = False
        self.calling_title = None
        self.mechanism = MECH_NONE
        self.auth_value = None
        self.user_info = None


def _oid_last(buf, pos, n, kind):
    # Application context / mechanism OIDs are 60 85 74 05 08 <kind> <x> (7 bytes).
    if n != 7 or bytes(buf[pos : pos + 5]) != _OID_PREFIX or buf[pos + 5] != kind:
        return -1
    return buf[pos + 6]


def parse_aarq(buf):
    """AARQ bytes -> Aarq. ProtocolError if the BER structure is broken."""
    end = len(buf)
    tag, n, pos = ber_header(buf, 0, end)
    if tag != AARQ:
        raise ProtocolError("not an AARQ")
    end = pos + n
    a = Aarq()
    while pos < end:
        tag, n, vpos = ber_header(buf, pos, end)
        if tag == 0xA1:
            t2, n2, p2 = ber_header(buf, vpos, vpos + n)
            if t2 != 0x06:
                raise ProtocolError("application context is not an OID")
            a.context = _oid_last(buf, p2, n2, 1)
        elif tag == 0xA6:
            t2, n2, p2 = ber_header(buf, vpos, vpos + n)
            if t2 != 0x04:
                raise ProtocolError("calling-AP-title is not an octet string")
            a.calling_title = bytes(buf[p2 : p2 + n2])
        elif tag == 0x8B:
            m = _oid_last(buf, vpos, n, 2)
            if m < 0:
                raise ProtocolError("mechanism name")
            a.mechanism = m
        elif tag == 0xAC:
            t2, n2, p2 = ber_header(buf, vpos, vpos + n)
            if t2 not in (0x80, 0x81):
                raise ProtocolError("authentication value")
            a.auth_value = bytes(buf[p2 : p2 + n2])
        elif tag == 0xBE:
            t2, n2, p2 = ber_header(buf, vpos, vpos + n)
            if t2 != 0x04:
                raise ProtocolError("user-information is not an octet string")
            a.user_info = bytes(buf[p2 : p2 + n2])
        pos = vpos + n
    a.ciphered = a.context == CTX_LN_CIPHERED
    return a


def parse_initiate_request(buf):
    """InitiateRequest -> (version, conformance, client max receive PDU, dedicated key)."""
    end = len(buf)
    if end < 1 or buf[0] != INITIATE_REQUEST:
        raise ProtocolError("not an InitiateRequest")
    pos = 1
    key = None
    if pos >= end:
        raise ProtocolError("truncated InitiateRequest")
    if buf[pos]:
        n, pos = axdr.decode_length(buf, pos + 1, end)
        if n > end - pos:
            raise ProtocolError("dedicated key")
        key = bytes(buf[pos : pos + n])
        pos += n
    else:
        pos += 1
    # response-allowed: DEFAULT TRUE, encoded 00 (default) or 01 <bool>
    if pos >= end:
        raise ProtocolError("truncated InitiateRequest")
    pos += 2 if buf[pos] else 1
    if pos >= end:
        raise ProtocolError("truncated InitiateRequest")
    pos += 2 if buf[pos] else 1
    if pos + 10 > end:
        raise ProtocolError("truncated InitiateRequest")
    version = buf[pos]
    if buf[pos + 1] != 0x5F or buf[pos + 2] != 0x1F or buf[pos + 3] != 0x04:
        raise ProtocolError("conformance block")
    conf = (buf[pos + 5] << 16) | (buf[pos + 6] << 8) | buf[pos + 7]
    pdu = (buf[pos + 8] << 8) | buf[pos + 9]
    if pos + 10 != end:
        raise ProtocolError("trailing bytes in InitiateRequest")
    return version, conf, pdu, key


def initiate_response(conformance, max_pdu):
    return bytes(
        (
            INITIATE_RESPONSE,
            0,
            DLMS_VERSION,
            0x5F,
            0x1F,
            0x04,
            0,
            (conformance >> 16) & 0xFF,
            (conformance >> 8) & 0xFF,
            conformance & 0xFF,
            max_pdu >> 8,
            max_pdu & 0xFF,
            0x00,
            0x07,
        )
    )


def initiate_error(code):
    """ConfirmedServiceError: initiateError (1), service initiate (6), InitiateError code."""
    return bytes((CONFIRMED_SERVICE_ERROR, 1, 6, code))


def build_aare(
    context,
    result,
    diagnostic,
    responding_title=None,
    mechanism=None,
    stoc=None,
    user_info=None,
):
    """AARE in the field order of the captures (dlms.md §7, §10)."""
    body = bytearray()
    _tlv(body, 0xA1, b"\x06\x07" + _OID_PREFIX + bytes((1, context)))
    _tlv(body, 0xA2, bytes((0x02, 0x01, result)))
    _tlv(body, 0xA3, bytes((0xA1, 0x03, 0x02, 0x01, diagnostic)))
    if responding_title is not None:
        v = bytearray()
        _tlv(v, 0x04, responding_title)
        _tlv(body, 0xA4, v)
    if mechanism is not None:
        _tlv(body, 0x88, b"\x07\x80")
        _tlv(body, 0x89, _OID_PREFIX + bytes((2, mechanism)))
    if stoc is not None:
        v = bytearray()
        _tlv(v, 0x80, stoc)
        _tlv(body, 0xAA, v)
    if user_info is not None:
        v = bytearray()
        _tlv(v, 0x04, user_info)
        _tlv(body, 0xBE, v)
    out = bytearray()
    _tlv(out, AARE, body)
    return bytes(out)


def parse_rlrq(buf):
    """RLRQ -> (reason or -1, user_info bytes or None)."""
    end = len(buf)
    tag, n, pos = ber_header(buf, 0, end)
    if tag != RLRQ:
        raise ProtocolError("not an RLRQ")
    end = pos + n
    reason = -1
    ui = None
    while pos < end:
        tag, n, vpos = ber_header(buf, pos, end)
        if tag == 0x80 and n == 1:
            reason = buf[vpos]
        elif tag == 0xBE:
            t2, n2, p2 = ber_header(buf, vpos, vpos + n)
            if t2 != 0x04:
                raise ProtocolError("RLRQ user-information")
            ui = bytes(buf[p2 : p2 + n2])
        pos = vpos + n
    return reason, ui


RLRE_NORMAL = b"\x63\x03\x80\x01\x00"


def exception_response(state, service):
    return bytes((EXCEPTION_RESPONSE, state, service))


# ---------------------------------------------------------------- xDLMS requests


class Request:
    """A decoded GET/SET/ACTION request.

    kind NORMAL/NEXT/WITH_LIST; invoke = invoke-id-and-priority byte; items = list of
    [class_id, obis bytes, attribute/method id, selector (0 = none), parameter tagged value
    or None]; block = block number (GET-next); data = SET value / ACTION parameter (tagged
    value or None).
    """

    __slots__ = ("service", "kind", "invoke", "items", "block", "data")

    def __init__(self, service, kind, invoke):
        self.service = service
        self.kind = kind
        self.invoke = invoke
        self.items = []
        self.block = 0
        self.data = None


def _descriptor(buf, pos, end):
    if pos + 9 > end:
        raise ProtocolError("truncated attribute descriptor")
    cid = (buf[pos] << 8) | buf[pos + 1]
    obis = bytes(buf[pos + 2 : pos + 8])
    aid = buf[pos + 8]
    if aid & 0x80:
        aid -= 256
    return cid, obis, aid, pos + 9


def _selection(buf, pos, end):
    if pos >= end:
        raise ProtocolError("truncated access selection")
    if buf[pos] == 0:
        return 0, None, pos + 1
    if pos + 2 > end:
        raise ProtocolError("truncated access selection")
    sel = buf[pos + 1]
    param, pos = axdr.decode(buf, pos + 2, end)
    return sel, param, pos


def parse_request(buf):
    """A plain GET/SET/ACTION request -> Request; ProtocolError when malformed.

    Unsupported request kinds (SET/ACTION with blocks or lists) raise NotImplementedError
    so the server can answer service-not-supported rather than "malformed".
    """
    end = len(buf)
    if end < 3:
        raise ProtocolError("request too short")
    service = buf[0]
    kind = buf[1]
    req = Request(service, kind, buf[2])
    pos = 3
    if service == GET_REQUEST:
        if kind == NORMAL:
            cid, obis, aid, pos = _descriptor(buf, pos, end)
            sel, param, pos = _selection(buf, pos, end)
            req.items.append([cid, obis, aid, sel, param])
        elif kind == NEXT:
            if pos + 4 > end:
                raise ProtocolError("truncated get-request-next")
            req.block = axdr._int_at(buf, pos, 4, False)
            pos += 4
        elif kind == WITH_LIST:
            count, pos = axdr.decode_length(buf, pos, end)
            if count == 0 or count * 10 > end - pos:
                raise ProtocolError("bad get-request-with-list count")
            for _ in range(count):
                cid, obis, aid, pos = _descriptor(buf, pos, end)
                sel, param, pos = _selection(buf, pos, end)
                req.items.append([cid, obis, aid, sel, param])
        else:
            raise NotImplementedError("GET kind")
    elif service == SET_REQUEST:
        if kind != NORMAL:
            raise NotImplementedError("SET kind")
        cid, obis, aid, pos = _descriptor(buf, pos, end)
        sel, param, pos = _selection(buf, pos, end)
        req.items.append([cid, obis, aid, sel, param])
        req.data, pos = axdr.decode(buf, pos, end)
    elif service == ACTION_REQUEST:
        if kind != NORMAL:
            raise NotImplementedError("ACTION kind")
        cid, obis, mid, pos = _descriptor(buf, pos, end)
        req.items.append([cid, obis, mid, 0, None])
        if pos >= end:
            raise ProtocolError("truncated action parameters")
        flag = buf[pos]
        pos += 1
        if flag:
            req.data, pos = axdr.decode(buf, pos, end)
    else:
        raise NotImplementedError("service")
    if pos != end:
        raise ProtocolError("trailing bytes after request")
    return req


# ---------------------------------------------------------------- responses


def set_response(invoke, result):
    return bytes((SET_RESPONSE, NORMAL, invoke, result))


def action_response(invoke, result, data=None):
    """ACTION response; `data` = encoded return value (A-XDR bytes) or None."""
    if data is None:
        return bytes((ACTION_RESPONSE, NORMAL, invoke, result, 0))
    return bytes((ACTION_RESPONSE, NORMAL, invoke, result, 1, 0)) + bytes(data)


def get_error(invoke, dar):
    return bytes((GET_RESPONSE, NORMAL, invoke, 1, dar))


def block_error(invoke, block, dar):
    """get-response-with-datablock, last block, Data-Access-Result."""
    b = block.to_bytes(4, "big")
    return bytes((GET_RESPONSE, NEXT, invoke, 1)) + b + bytes((1, dar))


def block_header_len(n):
    """Header bytes of a get-response-with-datablock carrying n raw-data bytes."""
    return 9 + (1 if n < 0x80 else 2 if n < 0x100 else 3)


def write_block_header(out, pos, invoke, last, block, n):
    """Write C4 02 invoke last block(4) 00 len(n) at out[pos]; returns the data position."""
    out[pos] = GET_RESPONSE
    out[pos + 1] = NEXT
    out[pos + 2] = invoke
    out[pos + 3] = 1 if last else 0
    out[pos + 4 : pos + 8] = block.to_bytes(4, "big")
    out[pos + 8] = 0
    p = pos + 9
    if n < 0x80:
        out[p] = n
        return p + 1
    if n < 0x100:
        out[p] = 0x81
        out[p + 1] = n
        return p + 2
    out[p] = 0x82
    out[p + 1] = n >> 8
    out[p + 2] = n & 0xFF
    return p + 3
