"""IEC 62056-46 HDLC data link layer for the meter (server side), as captured in dlms.md §3.

Frame: 7E | format(2) | dst(1/2/4) | src(1/2/4) | control | [HCS(2) | info] | FCS(2) | 7E
- Format type 3: 0xA0 | S << 3 | length[10:8], length[7:0]; length counts format..FCS.
- Address bytes carry 7 bits each, bit 0 = 1 marks the last byte. Server address: upper
  (logical device) and optional lower (physical) part, 1, 2 or 4 bytes; client: 1 byte.
- HCS covers format..control and exists only with an information field; FCS covers format..
  info. Both CRC-16/X.25 sent LSB first (lib/crc.py).
- LLC E6 E6 00 (request) / E6 E7 00 (response) opens the first segment of an APDU.
- Control: I = N(R)<<5 | P/F<<4 | N(S)<<1; RR = N(R)<<5 | P/F<<4 | 1, RNR ... | 5;
  RNR from the client = "busy": segments wait for its RR; polled (P=1), we answer RR F=1.
  U-frames with P/F (0x10) masked: SNRM 83, DISC 43, UA 63, DM 0F, FRMR 87, UI 03.
- SNRM/UA parameters: 81 80 <len> then (id, len, value) for 05 max info TX, 06 max info RX,
  07 window TX, 08 window RX (each side states its own transmit/receive view).
- FRMR information (ISO/IEC 13239 basic format): rejected control, V(S)<<1 | C/R<<4 |
  V(R)<<5, then W(invalid control) X(info not allowed) Y(info too long) Z(invalid N(R)).

Pieces: decode_frame/encode_frame (pure), Deframer (byte stream -> frames, located by the
length field only), HdlcServer (NDM/NRM state machine, window 1, segmentation). Nothing here
knows COSEM: complete APDUs without LLC go to a callback, its answer goes back.
"""

from micropython import const

from firmware.cosem.errors import FcsError, ProtocolError
from lib.crc import crc16_x25

FLAG = const(0x7E)
LLC_REQUEST = b"\xe6\xe6\x00"
LLC_RESPONSE = b"\xe6\xe7\x00"

# Control field kinds.
I_FRAME = const(0)
RR = const(1)
RNR = const(2)
SNRM = const(3)
DISC = const(4)
UA = const(5)
DM = const(6)
FRMR = const(7)
UI = const(8)
INVALID = const(9)
KIND_NAMES = ("I", "RR", "RNR", "SNRM", "DISC", "UA", "DM", "FRMR", "UI", "INVALID")
PF = const(0x10)
_U_CODES = {0x83: SNRM, 0x43: DISC, 0x63: UA, 0x0F: DM, 0x87: FRMR, 0x03: UI}
_U_CONTROL = {SNRM: 0x83, DISC: 0x43, UA: 0x63, DM: 0x0F, FRMR: 0x87, UI: 0x03}

MAX_FRAME_LEN = const(0x7FF)  # 11-bit length field
DEFAULT_MAX_INFO = const(128)
_MIN_INFO = const(32)
_MAX_INFO = const(2030)
# format(2) + dst(<=4) + src(<=4) + control + HCS + FCS
_OVERHEAD_MAX = const(14)


def control_kind(c):
    """-> (kind, N(S), N(R), P/F). N(S)/N(R) are 0 where the kind has none."""
    pf = (c >> 4) & 1
    if not c & 1:
        return I_FRAME, (c >> 1) & 7, c >> 5, pf
    if c & 3 == 1:
        s = c & 0x0F
        if s == 0x01:
            return RR, 0, c >> 5, pf
        if s == 0x05:
            return RNR, 0, c >> 5, pf
        return INVALID, 0, 0, pf  # REJ/SREJ are not part of IEC 62056-46
    return _U_CODES.get(c & 0xEF, INVALID), 0, 0, pf


def describe_control(c):
    """Readable control field, e.g. "I N(S)=3 N(R)=4 P/F=1", "RR N(R)=7", "SNRM"."""
    kind, ns, nr, pf = control_kind(c)
    if kind == I_FRAME:
        return "I N(S)=%d N(R)=%d P/F=%d" % (ns, nr, pf)
    if kind in (RR, RNR):
        return "%s N(R)=%d" % (KIND_NAMES[kind], nr)
    return KIND_NAMES[kind]


def i_control(ns, nr, pf=1):
    return (nr << 5) | (pf << 4) | (ns << 1)


def s_control(kind, nr, pf=1):
    return (nr << 5) | (pf << 4) | (0x01 if kind == RR else 0x05)


def u_control(kind, pf=1):
    return _U_CONTROL[kind] | (pf << 4)


def _addr_len(buf, pos, end):
    # The first byte with bit 0 set ends the address; only 1, 2 and 4 bytes are legal.
    for n in (1, 2, 3, 4):
        if pos + n > end:
            break
        if buf[pos + n - 1] & 1:
            if n == 3:
                break
            return n
    raise ProtocolError("bad HDLC address")


def decode_address(raw):
    """Address bytes -> (upper, lower); lower is None for the 1-byte form."""
    n = len(raw)
    if n == 1:
        return raw[0] >> 1, None
    if n == 2:
        return raw[0] >> 1, raw[1] >> 1
    if n == 4:
        return ((raw[0] >> 1) << 7) | (raw[1] >> 1), ((raw[2] >> 1) << 7) | (raw[3] >> 1)
    raise ProtocolError("bad HDLC address length")


def encode_address(upper, lower=None, size=0):
    """(upper, lower) -> address bytes. size 0 picks the shortest form that fits."""
    if size == 0:
        if lower is None:
            size = 1
        else:
            size = 2 if upper < 0x80 and lower < 0x80 else 4
    if size == 1:
        if lower is not None or not 0 <= upper < 0x80:
            raise ValueError("1-byte HDLC address holds a 7-bit upper part only")
        return bytes(((upper << 1) | 1,))
    if lower is None:
        raise ValueError("2/4-byte HDLC address needs a lower part")
    if size == 2:
        if not (0 <= upper < 0x80 and 0 <= lower < 0x80):
            raise ValueError("2-byte HDLC address parts are 7 bits")
        return bytes((upper << 1, (lower << 1) | 1))
    if size == 4:
        if not (0 <= upper < 0x4000 and 0 <= lower < 0x4000):
            raise ValueError("4-byte HDLC address parts are 14 bits")
        return bytes(
            (
                (upper >> 7) << 1,
                (upper & 0x7F) << 1,
                (lower >> 7) << 1,
                ((lower & 0x7F) << 1) | 1,
            )
        )
    raise ValueError("HDLC address size must be 1, 2 or 4")


class Frame:
    """One decoded HDLC frame. dst/src are the raw address bytes; info excludes HCS/FCS."""

    __slots__ = ("segmented", "dst", "src", "control", "info", "length")

    def __init__(self, dst, src, control, info=b"", segmented=False, length=0):
        self.dst = dst
        self.src = src
        self.control = control
        self.info = info
        self.segmented = segmented
        self.length = length

    def kind(self):
        return control_kind(self.control)

    def encode(self):
        return encode_frame(self.dst, self.src, self.control, self.info, self.segmented)


def decode_frame(buf, start=0, end=-1):
    """Decode format..FCS at buf[start:end] (no flags) -> Frame.

    Raises ProtocolError for a malformed frame and FcsError (a ProtocolError) for a bad
    HCS or FCS.
    """
    if end < 0:
        end = len(buf)
    n = end - start
    if n < 7:
        raise ProtocolError("HDLC frame too short")
    f0 = buf[start]
    if f0 & 0xF0 != 0xA0:
        raise ProtocolError("not an HDLC type 3 frame")
    length = ((f0 & 7) << 8) | buf[start + 1]
    if length != n:
        raise ProtocolError("HDLC length field mismatch")
    p = start + 2
    dlen = _addr_len(buf, p, end - 3)
    dst = bytes(buf[p : p + dlen])
    p += dlen
    slen = _addr_len(buf, p, end - 3)
    src = bytes(buf[p : p + slen])
    p += slen
    control = buf[p]
    p += 1
    fcs = buf[end - 2] | (buf[end - 1] << 8)
    if crc16_x25(buf, start, end - 2) != fcs:
        raise FcsError("HDLC FCS")
    info = b""
    if end - 2 > p:
        if end - 2 - p <= 2:
            raise ProtocolError("HDLC header check sequence without information")
        hcs = buf[p] | (buf[p + 1] << 8)
        if crc16_x25(buf, start, p) != hcs:
            raise FcsError("HDLC HCS")
        info = bytes(buf[p + 2 : end - 2])
    return Frame(dst, src, control, info, bool(f0 & 0x08), length)


def frame_size(dst_len, src_len, info_len):
    """Bytes on the wire including both flags."""
    return 2 + 2 + dst_len + src_len + 1 + (2 + info_len if info_len else 0) + 2


def build_frame(out, dst, src, control, info=b"", segmented=False, info_start=0, info_end=-1):
    """Write a complete frame (with both flags) into bytearray `out`; returns its length.

    The information field is info[info_start:info_end], copied once straight into `out`.
    """
    if info_end < 0:
        info_end = len(info)
    ilen = info_end - info_start
    total = frame_size(len(dst), len(src), ilen)
    length = total - 2
    if length > MAX_FRAME_LEN:
        raise ValueError("HDLC frame too long")
    if total > len(out):
        raise ValueError("HDLC output buffer too small")
    out[0] = FLAG
    out[1] = 0xA0 | (0x08 if segmented else 0) | (length >> 8)
    out[2] = length & 0xFF
    p = 3
    out[p : p + len(dst)] = dst
    p += len(dst)
    out[p : p + len(src)] = src
    p += len(src)
    out[p] = control
    p += 1
    if ilen:
        hcs = crc16_x25(out, 1, p)
        out[p] = hcs & 0xFF
        out[p + 1] = hcs >> 8
        p += 2
        out[p : p + ilen] = memoryview(info)[info_start:info_end]
        p += ilen
    fcs = crc16_x25(out, 1, p)
    out[p] = fcs & 0xFF
    out[p + 1] = fcs >> 8
    out[p + 2] = FLAG
    return p + 3


def encode_frame(dst, src, control, info=b"", segmented=False):
    """-> the frame as bytes, flags included."""
    out = bytearray(frame_size(len(dst), len(src), len(info)))
    build_frame(out, dst, src, control, info, segmented)
    return bytes(out)


# ---------------------------------------------------------------- SNRM/UA parameters


def parse_params(info):
    """SNRM/UA information field -> [max_info_tx, max_info_rx, window_tx, window_rx].

    Missing parameters keep the IEC 62056-46 defaults (128, 128, 1, 1); an empty field
    means all defaults. Unknown parameter ids are skipped.
    """
    r = [DEFAULT_MAX_INFO, DEFAULT_MAX_INFO, 1, 1]
    n = len(info)
    if n == 0:
        return r
    if n < 3 or info[0] != 0x81 or info[1] != 0x80:
        raise ProtocolError("HDLC parameter negotiation header")
    end = 3 + info[2]
    if end > n:
        raise ProtocolError("HDLC parameter group length")
    p = 3
    while p < end:
        if p + 2 > end:
            raise ProtocolError("truncated HDLC parameter")
        pid = info[p]
        plen = info[p + 1]
        p += 2
        if plen == 0 or plen > 4 or p + plen > end:
            raise ProtocolError("bad HDLC parameter length")
        v = 0
        for i in range(plen):
            v = (v << 8) | info[p + i]
        p += plen
        if 5 <= pid <= 8:
            r[pid - 5] = v
    return r


def build_params(max_info_tx, max_info_rx, window_tx=1, window_rx=1):
    """UA/SNRM information field. Max info lengths take 1 byte (< 256) or 2; windows take 4
    bytes as the reference meter sent them (dlms.md §3)."""
    out = bytearray(b"\x81\x80\x00")
    for pid, v in ((5, max_info_tx), (6, max_info_rx)):
        if v < 0x100:
            out += bytes((pid, 1, v))
        else:
            out += bytes((pid, 2, v >> 8, v & 0xFF))
    for pid, v in ((7, window_tx), (8, window_rx)):
        out += bytes((pid, 4)) + v.to_bytes(4, "big")
    out[2] = len(out) - 3
    return bytes(out)


# ---------------------------------------------------------------- deframer


class Deframer:
    """Byte stream -> HDLC frames, located by the length field (never by a 0x7E inside a frame).

    Candidate = flag, format byte 0xA?, length 7..max_frame, flag after `length` bytes. A
    candidate that fails the HCS/FCS or the structure checks is dropped (counted) and the
    search resumes at the next flag after its opening flag, so garbage cannot hide a real
    frame that starts inside it. A closing flag may double as the next opening flag.
    The buffer is preallocated (max_frame + 2) and never grows.

    idle(): call when the line has been quiet for an inter-frame timeout; an incomplete
    candidate (e.g. a false length from garbage) is abandoned and the bytes behind it are
    searched again.
    """

    def __init__(self, max_frame=DEFAULT_MAX_INFO + _OVERHEAD_MAX):
        if max_frame < 7 or max_frame > MAX_FRAME_LEN:
            raise ValueError("max_frame")
        self.max_frame = max_frame
        self._buf = bytearray(max_frame + 2)
        self._mv = memoryview(self._buf)
        self._n = 0
        self.frames = 0
        self.dropped = 0  # structurally plausible candidates that failed HCS/FCS/format
        self.fcs_errors = 0
        self.garbage = 0  # bytes discarded outside any frame

    def reset(self):
        self._n = 0

    def _discard(self, k):
        n = self._n
        if k >= n:
            self._n = 0
            return
        self._mv[0 : n - k] = self._mv[k:n]
        self._n = n - k

    def _resync(self, start):
        """Drop bytes before the next flag at or after `start`."""
        buf = self._buf
        i = start
        n = self._n
        while i < n and buf[i] != FLAG:
            i += 1
        self.garbage += i - start
        self._discard(i)

    def _scan(self, out, final):
        buf = self._buf
        while True:
            if self._n == 0:
                return
            if buf[0] != FLAG:
                self._resync(0)
                continue
            if self._n < 3:
                if final:
                    self._discard(1)
                    continue
                return
            if buf[1] == FLAG:  # idle flags between frames
                self._discard(1)
                continue
            length = ((buf[1] & 7) << 8) | buf[2]
            if buf[1] & 0xF0 != 0xA0 or length < 7 or length > self.max_frame:
                self.dropped += 1
                self._resync(1)
                continue
            if self._n < length + 2:
                if final:
                    self.dropped += 1
                    self._resync(1)
                    continue
                return
            if buf[length + 1] != FLAG:
                self.dropped += 1
                self._resync(1)
                continue
            try:
                fr = decode_frame(buf, 1, length + 1)
            except FcsError:
                self.fcs_errors += 1
                self.dropped += 1
                self._resync(1)
                continue
            except ProtocolError:
                self.dropped += 1
                self._resync(1)
                continue
            self.frames += 1
            out.append(fr)
            self._discard(length + 1)  # keep the closing flag: it may open the next frame

    def feed(self, data):
        """Append bytes; -> list of complete, checked Frame objects."""
        out = []
        cap = len(self._buf)
        i = 0
        n = len(data)
        while i < n:
            take = cap - self._n
            take = min(take, n - i)
            self._mv[self._n : self._n + take] = memoryview(data)[i : i + take]
            self._n += take
            i += take
            self._scan(out, False)
            if self._n == cap:  # cannot happen with a valid candidate; belt and braces
                self.dropped += 1
                self._resync(1)
        return out

    def idle(self):
        """Line quiet: resolve or abandon pending candidates; -> frames still found."""
        out = []
        self._scan(out, True)
        return out


# ---------------------------------------------------------------- server session

NDM = const(0)
NRM = const(1)
FRAME_REJECT = const(2)

_FRMR_W = const(1)  # invalid or unimplemented control field
_FRMR_X = const(2)  # information field not permitted (with W)
_FRMR_Y = const(4)  # information field too long
_FRMR_Z = const(8)  # invalid N(R)


class HdlcServer:
    """Server (secondary station) side of IEC 62056-46 with window size 1.

    send(buf): writes one frame to the line; `buf` is a memoryview into a buffer reused on
        the next call, so copy it if it must live longer.
    on_apdu(client_sap, logical_device, apdu) -> response APDU bytes or None. `apdu` is a
        complete (reassembled) APDU without LLC.
    on_link(connected, client_sap): optional; called on SNRM (True) and DISC/reset (False)
        so the COSEM layer can drop its association.
    logical_devices: accepted upper addresses. physical: accepted lower address or None
        (the 1-byte address form, which has no lower part, is always accepted).
    max_info: largest information field this side accepts/sends before negotiation caps it.
    max_apdu: reassembly limit for segmented requests (larger -> FRMR with Y).
    """

    def __init__(
        self,
        send,
        on_apdu,
        logical_devices=(1,),
        physical=None,
        max_info=DEFAULT_MAX_INFO,
        max_apdu=1024,
        on_link=None,
    ):
        if not _MIN_INFO <= max_info <= _MAX_INFO:
            raise ValueError("max_info")
        self._send = send
        self._on_apdu = on_apdu
        self._on_link = on_link
        self.logical_devices = logical_devices
        self.physical = physical
        self.max_info = max_info
        self.deframer = Deframer(max_info + _OVERHEAD_MAX)
        self._rx = bytearray(max_apdu)
        self._rx_n = 0
        self._rx_llc_seen = False
        self._txi = bytearray(frame_size(4, 4, max_info))  # last I-frame, kept to resend
        self._txi_n = 0
        self._txs = bytearray(frame_size(4, 4, 24))  # S/U frames (UA params, FRMR)
        self._frmr = bytearray(3)
        self._reset_link()
        self.state = NDM
        self.client = None  # raw client address byte(s) of the connected peer
        self.server_addr = b""  # our address as the peer wrote it (answered in the same form)
        self.ignored = 0  # frames not for us
        self.llc_errors = 0

    def _reset_link(self):
        self.vs = 0
        self.vr = 0
        self.max_info_tx = DEFAULT_MAX_INFO
        self.max_info_rx = DEFAULT_MAX_INFO
        self._rx_n = 0
        self._rx_llc_seen = False
        self._pending = None  # response being sent in segments
        self._pending_pos = 0
        self._txi_n = 0

    # -- transport entry points

    def feed(self, data):
        """Bytes from the line; handles every complete frame."""
        for fr in self.deframer.feed(data):
            self.handle_frame(fr)

    def idle(self):
        for fr in self.deframer.idle():
            self.handle_frame(fr)

    def disconnect(self):
        """Inactivity time-out or the transport closed: back to NDM."""
        was = self.state != NDM
        client = self.client
        self.state = NDM
        self._reset_link()
        if was and self._on_link:
            self._on_link(False, client[0] >> 1 if client else None)

    # -- frame handling

    def _addressed_to_us(self, fr):
        if len(fr.src) != 1:
            return False
        try:
            upper, lower = decode_address(fr.dst)
        except ProtocolError:
            return False
        if upper not in self.logical_devices:
            return False
        return lower is None or self.physical is None or lower == self.physical

    def handle_frame(self, fr):
        if not self._addressed_to_us(fr):
            self.ignored += 1
            return
        kind, ns, nr, pf = control_kind(fr.control)
        if kind == SNRM:
            self._snrm(fr)
            return
        if self.state != NDM and fr.src != self.client:
            self.ignored += 1  # another client while connected: only SNRM takes over
            return
        if kind == DISC:
            if self.state == NDM:
                self._send_u(fr, DM)
            else:
                self._send_u(fr, UA)
                self.disconnect()
            return
        if self.state == NDM:
            if pf:
                self._send_u(fr, DM)
            return
        if self.state == FRAME_REJECT:
            self._send_frmr()  # only SNRM or DISC clear the condition
            return
        if kind in (INVALID, UA, DM, FRMR, UI):
            self._reject(fr.control, _FRMR_W)
            return
        if kind != I_FRAME and fr.info:
            self._reject(fr.control, _FRMR_W | _FRMR_X)
            return
        if len(fr.info) > self.max_info_rx:
            self._reject(fr.control, _FRMR_Y)
            return
        if not self._check_nr(nr):
            self._reject(fr.control, _FRMR_Z)
            return
        if kind == I_FRAME:
            self._i_frame(fr, ns, nr, pf)
        elif kind == RR:
            self._rr(nr, pf)
        elif pf:
            self._rnr_poll()
        # RNR without the poll bit: the peer is busy and has not given us the line; in NRM a
        # secondary station transmits only when polled, so nothing goes out.

    def _check_nr(self, nr):
        # Window 1: N(R) acknowledges our last I-frame (V(S)) or asks to repeat it (V(S)-1).
        return nr == self.vs or (self._txi_n and nr == (self.vs - 1) & 7)

    def _snrm(self, fr):
        try:
            tx, rx, _wtx, _wrx = parse_params(fr.info)
        except ProtocolError:
            self._send_u(fr, DM)  # unusable parameters: refuse the connection
            self.disconnect()
            return
        was = self.state != NDM
        old = self.client
        self._reset_link()
        if was and self._on_link:
            self._on_link(False, old[0] >> 1 if old else None)
        self.client = fr.src
        self.server_addr = fr.dst
        # The client states its own view: its RX limits what we send, its TX what we get.
        self.max_info_tx = max(_MIN_INFO, min(self.max_info, rx))
        self.max_info_rx = max(_MIN_INFO, min(self.max_info, tx))
        self.state = NRM
        info = build_params(self.max_info_tx, self.max_info_rx, 1, 1)
        n = build_frame(self._txs, fr.src, fr.dst, u_control(UA), info)
        self._send(memoryview(self._txs)[:n])
        if self._on_link:
            self._on_link(True, fr.src[0] >> 1)

    def _send_u(self, fr, kind):
        n = build_frame(self._txs, fr.src, fr.dst, u_control(kind))
        self._send(memoryview(self._txs)[:n])

    def _send_s(self, kind):
        n = build_frame(self._txs, self.client, self.server_addr, s_control(kind, self.vr))
        self._send(memoryview(self._txs)[:n])

    def _reject(self, control, why):
        f = self._frmr
        f[0] = control
        f[1] = (self.vs << 1) | (self.vr << 5)  # C/R bit 0: the rejected frame was a command
        f[2] = why
        self.state = FRAME_REJECT
        self._send_frmr()

    def _send_frmr(self):
        n = build_frame(self._txs, self.client, self.server_addr, u_control(FRMR), self._frmr)
        self._send(memoryview(self._txs)[:n])

    def _resend_last(self):
        self._send(memoryview(self._txi)[: self._txi_n])

    def _i_frame(self, fr, ns, nr, pf):
        if self._pending is not None and nr == self.vs:
            # Peer acknowledged our segment but sent data instead of RR: drop the rest.
            self._pending = None
        if ns != self.vr:
            if ns == (self.vr - 1) & 7 and self._txi_n and nr == (self.vs - 1) & 7:
                self._resend_last()  # our answer was lost: the peer repeats its frame
            elif pf:
                self._send_s(RR)  # out of sequence: tell the peer what we expect
            return
        self.vr = (self.vr + 1) & 7
        info = fr.info
        start = 0
        if not self._rx_llc_seen:
            if info[0:3] != LLC_REQUEST:
                self.llc_errors += 1
                self._rx_n = 0
                if pf:
                    self._send_s(RR)
                return
            start = 3
            self._rx_llc_seen = True
        k = len(info) - start
        if self._rx_n + k > len(self._rx):
            self._rx_n = 0
            self._rx_llc_seen = False
            self._reject(fr.control, _FRMR_Y)
            return
        self._rx[self._rx_n : self._rx_n + k] = memoryview(info)[start:]
        self._rx_n += k
        if fr.segmented:
            self._send_s(RR)  # ask for the next segment
            return
        apdu = bytes(self._rx[: self._rx_n])
        self._rx_n = 0
        self._rx_llc_seen = False
        upper = decode_address(self.server_addr)[0]
        resp = self._on_apdu(self.client[0] >> 1, upper, apdu)
        if resp is None or len(resp) == 0:
            if pf:
                self._send_s(RR)
            return
        self.send_apdu(resp)

    def send_apdu(self, apdu):
        """Start sending a response APDU (LLC added), segmenting at max_info_tx; the next
        segments go out on the peer's RR. In NRM the server may only answer a poll, so this
        is what the return value of on_apdu feeds; call it directly only in that role."""
        if self.state != NRM:
            return False
        self._pending = apdu
        self._pending_pos = -3  # negative: the LLC still has to go out
        self._send_next_segment()
        return True

    def _send_next_segment(self):
        apdu = self._pending
        pos = self._pending_pos
        room = self.max_info_tx
        out = self._txi
        # Header first (known size), then copy the segment body in place.
        dst = self.client
        src = self.server_addr
        if pos < 0:
            room -= 3
        chunk = len(apdu) - max(pos, 0)
        more = chunk > room
        if more:
            chunk = room
        p0 = max(pos, 0)
        if pos < 0:
            body = bytearray(3 + chunk)
            body[0:3] = LLC_RESPONSE
            body[3:] = memoryview(apdu)[p0 : p0 + chunk]
            n = build_frame(out, dst, src, i_control(self.vs, self.vr), body, more)
        else:
            n = build_frame(out, dst, src, i_control(self.vs, self.vr), apdu, more, p0, p0 + chunk)
        self._txi_n = n
        self.vs = (self.vs + 1) & 7
        self._pending_pos = p0 + chunk
        if not more:
            self._pending = None
        self._send(memoryview(out)[:n])

    def _rnr_poll(self):
        """RNR with the poll bit (ISO/IEC 13239 receive not ready; IEC 62056-46 NRM).

        A polled secondary station must answer with the final bit set, even when it may not
        send I-frames: the peer is busy, so the answer is RR F=1 with our current N(R) (we
        are ready to receive) and any segment still to send (or to repeat, if N(R) asked for
        it) is held until the peer clears its busy condition with RR.
        """
        self._send_s(RR)

    def _rr(self, nr, pf):
        if self._txi_n and nr == (self.vs - 1) & 7:
            self._resend_last()  # the peer did not get our last I-frame
            return
        if self._pending is not None:
            self._send_next_segment()
        elif pf:
            self._send_s(RR)
