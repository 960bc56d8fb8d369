"""The COSEM object model: interface classes, the object table, the meter's objects.

Interface classes (DLMS UA Blue Book): Data (1), Register (3), Profile Generic (7, v1),
Clock (8), Association LN (15, v1), Security setup (64, v0). Every object declares its
logical name (OBIS), class, version, per-attribute access as (lowest level that may read,
lowest level that may write) and per-method the lowest level that may invoke it (NEVER =
nobody); levels from firmware/cosem/association.py. New objects (tariffs, demand, disconnect
control, ...) are added with `ObjectTable.add(obj)`: the codec and the server never change.

Object protocol:
    get(attr, ctx, selector, param) -> int (Data-Access-Result), a tagged value (tuple, see
        axdr.py), or an iterator of encoded chunks (bytes/memoryview, each valid until the
        next one is requested) for large values streamed by GET block transfer.
    set(attr, value, ctx) -> Data-Access-Result
    action(method, param, ctx) -> (action result, encoded return data or None)
    selectors(attr) -> selective-access selectors supported (for the object list)
ctx = (server, association). Getters never write anything (DESIGN rule 6; test_cosem_read_only).

Profiles (requirements.md §2, §14): each HH row is (period END time as date-time with
deviation 0x8000 = UTC, status, AI, AE, RI, RE); the buffer holds the 4-channel window
oldest(4)..newest, entry 1 = oldest. A record that cannot be read is sent with its time,
status DATA_ERROR and null values (the row count is fixed before streaming). Event-log rows
are (time, code, value); entries whose time was invalid carry a not-specified date-time with
the clock status "invalid" bit.
"""

from micropython import const

from firmware.cosem import apdu, axdr
from firmware.cosem import association as asn
from firmware.cosem.errors import ProtocolError
from firmware.store import BLANK, INVALID

NEVER = const(9)
PUB = asn.PUBLIC
RD = asn.READER
OP = asn.OPERATOR
CF = asn.CONFIG

UNIT_WH = const(30)
UNIT_VARH = const(32)
_PERIOD = const(1800)
_DATA_ERROR = const(0x08)

CLOCK_LN = b"\x00\x00\x01\x00\x00\xff"
_NOT_SPECIFIED = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x80\x00\xff"


def obis(s):
    """'1-0:1.8.0.255' or '1.0.1.8.0.255' -> 6 bytes."""
    parts = s.replace("-", ".").replace(":", ".").split(".")
    if len(parts) != 6:
        raise ValueError("OBIS needs six groups")
    return bytes([int(p) for p in parts])


def obis_str(b):
    return "%d-%d:%d.%d.%d.%d" % (b[0], b[1], b[2], b[3], b[4], b[5])


def dt(secs, status=0):
    """Meter seconds (or None) -> 12-byte date-time, UTC with deviation 0x8000."""
    if secs is None:
        b = bytearray(_NOT_SPECIFIED)
        b[11] = 0x01  # clock status: invalid value
        return b
    return axdr.seconds_to_datetime(secs, None, status)


def _octets(b):
    return (axdr.OCTET_STRING, bytes(b))


class CosemObject:
    """Base: attribute 1 (logical_name) and the access tables."""

    class_id = 0
    version = 0

    def __init__(self, ln, attrs, methods=()):
        self.ln = ln if isinstance(ln, bytes) and len(ln) == 6 else obis(ln)
        self.attrs = attrs  # ((read_min, write_min), ...) for attributes 1..n
        self.methods = methods  # (min level, ...) for methods 1..m

    def visible(self, level):
        """An object is listed for a level that may read something of it."""
        for r, _w in self.attrs[1:]:
            if level >= r:
                return True
        for m in self.methods:
            if level >= m:
                return True
        return False

    def can_read(self, attr, level):
        return 1 <= attr <= len(self.attrs) and level >= self.attrs[attr - 1][0]

    def can_write(self, attr, level):
        return 1 <= attr <= len(self.attrs) and level >= self.attrs[attr - 1][1]

    def can_call(self, method, level):
        return 1 <= method <= len(self.methods) and level >= self.methods[method - 1]

    def selectors(self, attr):
        return ()

    def get(self, attr, ctx, selector, param):
        if attr == 1:
            return _octets(self.ln)
        return apdu.DAR_OBJECT_UNAVAILABLE

    def set(self, attr, value, ctx):
        return apdu.DAR_READ_WRITE_DENIED

    def action(self, method, param, ctx):
        return apdu.DAR_READ_WRITE_DENIED, None


class ObjectTable:
    """Objects by logical name, in registration order (the object list order)."""

    def __init__(self):
        self._by_ln = {}
        self.order = []

    def add(self, obj):
        if obj.ln in self._by_ln:
            raise ValueError("duplicate logical name " + obis_str(obj.ln))
        self._by_ln[obj.ln] = obj
        self.order.append(obj)
        return obj

    def find(self, ln):
        return self._by_ln.get(bytes(ln))

    def __len__(self):
        return len(self.order)


# ---------------------------------------------------------------- class 1 Data


class Data(CosemObject):
    class_id = 1

    def __init__(self, ln, read_min, getter, setter=None, write_min=NEVER):
        super().__init__(ln, ((read_min, NEVER), (read_min, write_min if setter else NEVER)))
        self._get = getter
        self._set = setter

    def get(self, attr, ctx, selector, param):
        if attr == 2:
            return self._get()
        return super().get(attr, ctx, selector, param)

    def set(self, attr, value, ctx):
        if attr == 2 and self._set is not None:
            return self._set(value, ctx)
        return apdu.DAR_READ_WRITE_DENIED


# ---------------------------------------------------------------- class 3 Register


class Register(CosemObject):
    class_id = 3

    def __init__(self, ln, read_min, getter, unit, scaler=0):
        super().__init__(ln, ((read_min, NEVER), (read_min, NEVER), (read_min, NEVER)))
        self._get = getter
        self._su = (axdr.STRUCTURE, [(axdr.INTEGER, scaler), (axdr.ENUM, unit)])

    def get(self, attr, ctx, selector, param):
        if attr == 2:
            v = self._get()
            if v is None:
                return (axdr.NULL_DATA, None)
            return (axdr.DOUBLE_LONG_UNSIGNED, v & 0xFFFFFFFF)
        if attr == 3:
            return self._su
        return super().get(attr, ctx, selector, param)


# ---------------------------------------------------------------- class 8 Clock


class Clock(CosemObject):
    """0-0:1.0.0.255. UTC only (CoP 10): time_zone 0, DST disabled, deviation 0x8000."""

    class_id = 8

    def __init__(self, meter, read_min=PUB, set_min=OP):
        a = (read_min, NEVER)
        super().__init__(
            CLOCK_LN,
            (a, (read_min, set_min), a, a, a, a, a, a, a),
            (NEVER, NEVER, NEVER, set_min, set_min, set_min),
        )
        self.meter = meter

    def _status(self):
        return 0 if self.meter.clock.valid else 0x01

    def get(self, attr, ctx, selector, param):
        c = self.meter.clock
        if attr == 2:
            return (axdr.OCTET_STRING, bytes(dt(c.now(), self._status())))
        if attr == 3:
            return (axdr.LONG, 0)
        if attr == 4:
            return (axdr.UNSIGNED, self._status())
        if attr in (5, 6):
            return (axdr.OCTET_STRING, _NOT_SPECIFIED)
        if attr == 7:
            return (axdr.INTEGER, 0)
        if attr == 8:
            return (axdr.BOOLEAN, False)
        if attr == 9:
            return (axdr.ENUM, 1)  # internal crystal
        return super().get(attr, ctx, selector, param)

    def set(self, attr, value, ctx):
        if attr != 2:
            return apdu.DAR_READ_WRITE_DENIED
        secs = _secs(value)
        if secs is None:
            return apdu.DAR_TYPE_UNMATCHED
        try:
            self.meter.set_time(secs)
        except (ValueError, OSError):
            return apdu.DAR_TEMPORARY_FAILURE
        return apdu.DAR_SUCCESS

    def action(self, method, param, ctx):
        m = self.meter
        try:
            if method == 4:
                adj = m.adjust_to_preset_time()
            elif method == 5:
                if param is None or param[0] != axdr.STRUCTURE or len(param[1]) != 3:
                    return apdu.DAR_TYPE_UNMATCHED, None
                preset = _secs(param[1][0])
                if preset is None:
                    return apdu.DAR_TYPE_UNMATCHED, None
                m.preset_adjusting_time(preset, _secs(param[1][1]), _secs(param[1][2]))
                return apdu.DAR_SUCCESS, None
            elif method == 6:
                if param is None or param[0] not in (axdr.LONG, axdr.DOUBLE_LONG, axdr.INTEGER):
                    return apdu.DAR_TYPE_UNMATCHED, None
                adj = m.shift_time(param[1])
            else:
                return apdu.DAR_READ_WRITE_DENIED, None
        except (ValueError, OSError):
            return apdu.DAR_TEMPORARY_FAILURE, None
        # Refused by the clock's rules (window, 10 s limit): logged there; report it.
        return (apdu.DAR_SUCCESS if adj.applied else apdu.DAR_TEMPORARY_FAILURE), None


def _secs(value):
    """date-time (octet-string 12 or tag 25) -> meter seconds, None if not a usable time."""
    if value is None or value[0] not in (axdr.OCTET_STRING, axdr.DATE_TIME):
        return None
    b = value[1]
    if len(b) != 12:
        return None
    try:
        return axdr.datetime_to_seconds(b)
    except ProtocolError:
        return None


# ---------------------------------------------------------------- class 7 Profile Generic


def _capture_def(w, cid, ln, attr):
    w.structure(4)
    w.long_unsigned(cid)
    w.octet_string(ln)
    w.integer(attr)
    w.long_unsigned(0)


class _Profile(CosemObject):
    """Common Profile Generic behaviour; subclasses give columns and rows."""

    class_id = 7
    version = 1
    capture_period = 0

    def __init__(self, ln, read_min):
        a = (read_min, NEVER)
        super().__init__(ln, (a, a, a, a, a, a, a, a), (NEVER, NEVER))

    def selectors(self, attr):
        return (1, 2) if attr == 2 else ()

    # subclasses: columns (list of (class, ln, attr)), span() -> (first, last) entry keys,
    # capacity(), key_time(key), write_row(w, key, cols)

    def get(self, attr, ctx, selector, param):
        if attr == 2:
            return self._buffer(selector, param)
        if attr == 3:
            return self._capture_objects()
        if attr == 4:
            return (axdr.DOUBLE_LONG_UNSIGNED, self.capture_period)
        if attr == 5:
            return (axdr.ENUM, 1)  # fifo
        if attr == 6:
            return (
                axdr.STRUCTURE,
                [
                    (axdr.LONG_UNSIGNED, 0),
                    (axdr.OCTET_STRING, bytes(6)),
                    (axdr.INTEGER, 0),
                    (axdr.LONG_UNSIGNED, 0),
                ],
            )
        if attr == 7:
            first, last = self.span()
            return (axdr.DOUBLE_LONG_UNSIGNED, 0 if first < 0 else last - first + 1)
        if attr == 8:
            return (axdr.DOUBLE_LONG_UNSIGNED, self.capacity())
        return super().get(attr, ctx, selector, param)

    def _capture_objects(self):
        cols = self.columns
        buf = bytearray(4 + 18 * len(cols))
        w = axdr.Writer(buf)
        w.array(len(cols))
        for cid, ln, a in cols:
            _capture_def(w, cid, ln, a)
        return iter((bytes(w.view()),))

    def _select_columns(self, defs):
        """selected_values (array of capture object definitions) -> column indexes."""
        if defs is None or defs[0] != axdr.ARRAY:
            return None
        if not defs[1]:
            return list(range(len(self.columns)))
        out = []
        for d in defs[1]:
            try:
                cid = d[1][0][1]
                ln = d[1][1][1]
                a = d[1][2][1]
            except (TypeError, IndexError):
                return None
            for i in range(len(self.columns)):
                c = self.columns[i]
                if c[0] == cid and c[1] == ln and c[2] == a:
                    out.append(i)
                    break
            else:
                return None
        return out

    def _buffer(self, selector, param):
        first, last = self.span()
        cols = list(range(len(self.columns)))
        if selector == 1:
            # range_descriptor: {restricting object, from, to, selected_values}
            try:
                items = param[1]
                restrict = items[0][1]
                if param[0] != axdr.STRUCTURE or len(items) != 4:
                    return apdu.DAR_TYPE_UNMATCHED
                if restrict[0][1] != 8 or restrict[1][1] != CLOCK_LN or restrict[2][1] != 2:
                    return apdu.DAR_OBJECT_UNAVAILABLE
            except (TypeError, IndexError):
                return apdu.DAR_TYPE_UNMATCHED
            t_from = _secs(items[1])
            t_to = _secs(items[2])
            if t_from is None or t_to is None:
                return apdu.DAR_TYPE_UNMATCHED
            cols = self._select_columns(items[3])
            if cols is None:
                return apdu.DAR_OBJECT_UNAVAILABLE
            keys = self.range_keys(first, last, t_from, t_to)
        elif selector == 2:
            # entry_descriptor: {from_entry, to_entry (0 = last), from_value, to_value (0 = last)}
            try:
                items = param[1]
                if param[0] != axdr.STRUCTURE or len(items) != 4:
                    return apdu.DAR_TYPE_UNMATCHED
                fe, te, fv, tv = items[0][1], items[1][1], items[2][1], items[3][1]
                if not all(isinstance(x, int) for x in (fe, te, fv, tv)):
                    return apdu.DAR_TYPE_UNMATCHED
            except (TypeError, IndexError):
                return apdu.DAR_TYPE_UNMATCHED
            n = 0 if first < 0 else last - first + 1
            fe = max(fe, 1)
            if te == 0 or te > n:
                te = n
            ncol = len(self.columns)
            if tv == 0 or tv > ncol:
                tv = ncol
            if fv < 1 or fv > tv:
                return apdu.DAR_OBJECT_UNAVAILABLE
            cols = list(range(fv - 1, tv))
            keys = (first + fe - 1, first + te - 1) if fe <= te else (0, -1)
        elif selector == 0:
            keys = (first, last) if first >= 0 else (0, -1)
        else:
            return apdu.DAR_OBJECT_UNAVAILABLE
        return self._rows(keys, cols)

    def range_keys(self, first, last, t_from, t_to):
        """Default: entry keys whose time lies in [t_from, t_to] (keys ordered by time)."""
        if first < 0:
            return (0, -1)
        return self.time_keys(first, last, t_from, t_to)

    def _rows(self, keys, cols):
        lo, hi = keys
        count = hi - lo + 1 if hi >= lo else 0
        head = bytearray(6)
        w = axdr.Writer(head)
        w.array(count)
        yield head[: w.pos]
        scratch = bytearray(16 + 16 * len(self.columns))
        k = lo
        while k <= hi:
            w = axdr.Writer(scratch)
            self.write_row(w, k, cols)
            yield memoryview(scratch)[: w.pos]
            k += 1


class HHProfile(_Profile):
    """1-0:99.1.0.255: clock, status, AI, AE, RI, RE per half hour (firmware/profile.py)."""

    capture_period = _PERIOD

    def __init__(self, meter, ln="1-0:99.1.0.255", read_min=RD, channel_lns=None, status_ln=None):
        super().__init__(ln, read_min)
        self.meter = meter
        chans = channel_lns or HH_CHANNELS
        self.columns = [(8, CLOCK_LN, 2), (1, status_ln or obis(HH_STATUS), 2)]
        for c in chans:
            self.columns.append((3, obis(c), 2))
        self._rec = [0, 0, 0, 0, 0, 0]
        # Record field (firmware/profile.py read(): period, status, AI, AE, RI, RE) of each
        # value column; subclasses with other channels change it.
        self._fields = tuple(range(2, 2 + len(chans)))

    def span(self):
        p = self.meter.profile
        n = p.newest()
        if n < 0:
            return -1, -1
        return p.oldest(4), n

    def capacity(self):
        return self.meter.profile.s4 - 1

    def time_keys(self, first, last, t_from, t_to):
        # Row time = period end = (p + 1) * 1800.
        lo = max(first, (t_from + _PERIOD - 1) // _PERIOD - 1)
        hi = min(last, t_to // _PERIOD - 1)
        return (lo, hi) if lo <= hi else (0, -1)

    def write_row(self, w, p, cols):
        r = self._rec
        ok = self.meter.profile.read(p, r)
        w.structure(len(cols))
        for c in cols:
            if c == 0:
                w.octet_string(dt((p + 1) * _PERIOD))
            elif c == 1:
                w.unsigned((r[1] & 0x7F) if ok else _DATA_ERROR)
            else:
                v = r[self._fields[c - 2]] if ok else None
                if v is None:
                    w.null()
                else:
                    w.double_long_unsigned(v)


class ChannelProfile(HHProfile):
    """One HH channel as its own Profile Generic, SMETS2 style (requirements.md §2): clock,
    status, value; active import keeps the 13 months of the import ring, the other channels
    the 3 months of the four-channel ring."""

    def __init__(self, meter, ln, channel, read_min=RD):
        super().__init__(meter, ln, read_min, channel_lns=(HH_CHANNELS[channel],))
        self.channel = channel
        self._fields = (2 + channel,)

    def span(self):
        p = self.meter.profile
        n = p.newest()
        if n < 0:
            return -1, -1
        return p.oldest(1 if self.channel == 0 else 4), n

    def capacity(self):
        p = self.meter.profile
        return p.s4 + p.s1 - 2 if self.channel == 0 else p.s4 - 1


class LogProfile(_Profile):
    """An event log as Profile Generic: rows (time, code, value), oldest first."""

    def __init__(self, meter, log_id, ln, code_ln, value_ln, read_min=RD):
        super().__init__(ln, read_min)
        self.meter = meter
        self.log_id = log_id
        self.columns = [(8, CLOCK_LN, 2), (1, code_ln, 2), (1, value_ln, 2)]
        self._e = [0, 0, 0, 0]

    def span(self):
        logs = self.meter.logs
        first = logs.first(self.log_id)
        last = logs.heads[self.log_id] - 1
        return (first, last) if last >= first else (-1, -1)

    def capacity(self):
        return self.meter.logs.slots[self.log_id] - 1

    def time_keys(self, first, last, t_from, t_to):
        # Entries are in sequence order; a clock change may make their times non-monotonic,
        # so the range is the first..last matching entries (rows in between are included).
        e = self._e
        logs = self.meter.logs
        lo = -1
        hi = -1
        for s in range(first, last + 1):
            if logs.read(self.log_id, s, e) and e[1] is not None and t_from <= e[1] <= t_to:
                if lo < 0:
                    lo = s
                hi = s
        return (lo, hi) if lo >= 0 else (0, -1)

    def write_row(self, w, s, cols):
        e = self._e
        ok = self.meter.logs.read(self.log_id, s, e)
        w.structure(len(cols))
        for c in cols:
            if c == 0:
                w.octet_string(dt(e[1] if ok else None))
            elif not ok:
                w.null()
            elif c == 1:
                w.long_unsigned(e[2])
            else:
                w.double_long(e[3])


# ---------------------------------------------------------------- class 15 Association LN

_CTX_OID = b"\x60\x85\x74\x05\x08\x01"
_MECH_OID = b"\x60\x85\x74\x05\x08\x02"


class AssociationLN(CosemObject):
    """0-0:40.0.0.255 = the current association; 0-0:40.0.e.255 describes client SAP `sap`
    (its attribute 7, the LLS secret of SAP 17, is write-only at the configuration level)."""

    class_id = 15
    version = 1

    def __init__(self, ln="0-0:40.0.0.255", sap=None):
        self.sap = sap
        a = (PUB, NEVER)
        secret = (NEVER, CF if sap == 17 else NEVER)
        super().__init__(ln, (a, a, a, a, a, a, secret, a, a), (PUB, NEVER))

    def _level_ctx(self, ctx):
        if self.sap is None:
            a = ctx[1]
            return a.sap, max(a.level, asn.PUBLIC), a.context, a.mechanism, a
        level, context, mech, _ks = asn.SAPS[self.sap]
        return self.sap, level, context, mech, None

    def get(self, attr, ctx, selector, param):
        server = ctx[0]
        sap, level, context, mech, live = self._level_ctx(ctx)
        if attr == 2:
            return _object_list(server.objects, level)
        if attr == 3:
            return (axdr.STRUCTURE, [(axdr.INTEGER, sap), (axdr.LONG_UNSIGNED, 1)])
        if attr == 4:
            return (axdr.OCTET_STRING, _CTX_OID + bytes((context,)))
        if attr == 5:
            conf = live.conformance if live else server.conformance
            limit = live.send_limit if live else server.max_pdu
            return (
                axdr.STRUCTURE,
                [
                    (axdr.BIT_STRING, (24, conf.to_bytes(3, "big"))),
                    (axdr.LONG_UNSIGNED, server.max_pdu),
                    (axdr.LONG_UNSIGNED, limit),
                    (axdr.UNSIGNED, apdu.DLMS_VERSION),
                    (axdr.INTEGER, 0),
                    (axdr.OCTET_STRING, b""),
                ],
            )
        if attr == 6:
            return (axdr.OCTET_STRING, _MECH_OID + bytes((mech,)))
        if attr == 8:
            return (axdr.ENUM, live.status if live else 0)
        if attr == 9:
            return (axdr.OCTET_STRING, obis("0-0:43.0.0.255"))
        return super().get(attr, ctx, selector, param)

    def set(self, attr, value, ctx):
        if attr == 7 and self.sap == 17:
            if value[0] != axdr.OCTET_STRING or not 1 <= len(value[1]) <= 16:
                return apdu.DAR_TYPE_UNMATCHED
            ctx[0].security.set_password(value[1])
            ctx[0].data_changed(ctx[1])
            return apdu.DAR_SUCCESS
        return apdu.DAR_READ_WRITE_DENIED


def _object_list(table, level):
    """Stream the object_list of `level`: objects it can see, with its access rights."""
    yield _array_head(sum(1 for o in table.order if o.visible(level)))
    buf = bytearray(512)
    for o in table.order:
        if not o.visible(level):
            continue
        w = axdr.Writer(buf)
        w.structure(4)
        w.long_unsigned(o.class_id)
        w.unsigned(o.version)
        w.octet_string(o.ln)
        w.structure(2)
        w.array(len(o.attrs))
        for i in range(len(o.attrs)):
            mode = (1 if o.can_read(i + 1, level) else 0) | (2 if o.can_write(i + 1, level) else 0)
            w.structure(3)
            w.integer(i + 1)
            w.enum(mode)
            sels = o.selectors(i + 1)
            if sels and mode & 1:
                w.array(len(sels))
                for s in sels:
                    w.integer(s)
            else:
                w.null()
        w.array(len(o.methods))
        for i in range(len(o.methods)):
            w.structure(2)
            w.integer(i + 1)
            w.enum(1 if o.can_call(i + 1, level) else 0)
        yield memoryview(buf)[: w.pos]


def _array_head(n):
    b = bytearray(6)
    w = axdr.Writer(b)
    w.array(n)
    return bytes(w.view())


# ---------------------------------------------------------------- class 64 Security setup


class SecuritySetup(CosemObject):
    """0-0:43.0.e.255 for key set e (SAP 1: e = 0, SAP 2: e = 1). Policy 3 = authenticated
    and encrypted, suite 0. Method 1 security_activate is not offered; method 2 key_transfer
    (Blue Book class 64 v0 "global_key_transfer"): parameter array of key_data structure
    {key_id enum, key_wrapped octet-string}, key_id 0 global unicast encryption key, 1 global
    broadcast key, 2 authentication key, 3 master key (KEK); each key AES-key-wrapped (RFC
    3394) under this key set's master key. Only the configuration level may invoke it, on
    either object: it changes the keys of the level that owns the object (firmware/cosem/
    security.py transfer_keys). Results: success (0); a malformed parameter, an unknown or
    repeated key_id or a wrapped key that is not 24 bytes (an AES-128 key) type-unmatched
    (12); key_id 1 object-unavailable (11: the meter has no broadcast key); a failed unwrap
    other-reason (250), logged, nothing changed."""

    class_id = 64

    def __init__(self, keyset, ln, read_min=OP):
        a = (read_min, NEVER)
        super().__init__(ln, (a, a, a, a, a), (NEVER, CF))
        self.keyset = keyset

    def get(self, attr, ctx, selector, param):
        server, assoc = ctx
        if attr == 2:
            return (axdr.ENUM, 3)
        if attr == 3:
            return (axdr.ENUM, 0)
        if attr == 4:
            t = assoc.client_title if assoc.keyset == self.keyset else None
            return (axdr.OCTET_STRING, t or b"")
        if attr == 5:
            return (axdr.OCTET_STRING, server.security.title)
        return super().get(attr, ctx, selector, param)

    def action(self, method, param, ctx):
        if method != 2:
            return apdu.DAR_READ_WRITE_DENIED, None
        items = _key_data(param)
        if isinstance(items, int):
            return items, None
        server, assoc = ctx
        changed = server.security.transfer_keys(self.keyset, items, assoc.sap)
        if changed < 0:
            return apdu.DAR_OTHER, None
        if changed:
            server.data_changed(assoc)
        return apdu.DAR_SUCCESS, None


def _key_data(param):
    """key_transfer parameter -> [(key_id, wrapped)] or a Data-Access-Result."""
    if param is None or param[0] != axdr.ARRAY or not param[1] or len(param[1]) > 3:
        return apdu.DAR_TYPE_UNMATCHED
    out = []
    seen = 0
    for it in param[1]:
        if it[0] != axdr.STRUCTURE or len(it[1]) != 2:
            return apdu.DAR_TYPE_UNMATCHED
        kid, wrapped = it[1]
        if kid[0] != axdr.ENUM or wrapped[0] != axdr.OCTET_STRING:
            return apdu.DAR_TYPE_UNMATCHED
        k = kid[1]
        if k == 1:
            return apdu.DAR_OBJECT_UNAVAILABLE
        if k not in (0, 2, 3) or seen & (1 << k) or len(wrapped[1]) != 24:
            return apdu.DAR_TYPE_UNMATCHED
        seen |= 1 << k
        out.append((k, bytes(wrapped[1])))
    return out


# ---------------------------------------------------------------- identity (FRAM record)

# "identity" config record: four length-prefixed fields (len u8 + bytes).
ID_FIELDS = (("serial", 0, 15), ("outstation", 16, 15), ("mpan", 32, 31), ("customer", 64, 31))
DEFAULT_SERIAL = b"00000001"


class Identity:
    """Meter serial, outstation ID, MPAN and customer ID in the "identity" config record."""

    def __init__(self, store):
        self.store = store
        self._rec = store.config("identity")

    def get(self, name):
        blank = self._rec.state in (BLANK, INVALID)
        for n, off, size in ID_FIELDS:
            if n == name:
                if blank:
                    return DEFAULT_SERIAL if n in ("serial", "outstation") else b""
                b = self._rec.buf
                return bytes(b[off + 1 : off + 1 + min(b[off], size)])
        raise ValueError("unknown identity field")

    def set(self, name, value):
        rec = self._rec
        if rec.state in (BLANK, INVALID):
            b = rec.buf
            for i in range(len(b)):
                b[i] = 0
            for n, off, _size in ID_FIELDS:
                if n in ("serial", "outstation"):
                    b[off] = len(DEFAULT_SERIAL)
                    b[off + 1 : off + 1 + len(DEFAULT_SERIAL)] = DEFAULT_SERIAL
        for n, off, size in ID_FIELDS:
            if n == name:
                if len(value) > size:
                    raise ValueError("identity field too long")
                b = rec.buf
                b[off] = len(value)
                for i in range(size):
                    b[off + 1 + i] = value[i] if i < len(value) else 0
                rec.commit()
                return
        raise ValueError("unknown identity field")


def _identity_object(table, ident, name, ln, read_min, write_min):
    def getter():
        return (axdr.OCTET_STRING, ident.get(name))

    def setter(value, ctx):
        if value[0] not in (axdr.OCTET_STRING, axdr.VISIBLE_STRING):
            return apdu.DAR_TYPE_UNMATCHED
        v = value[1]
        if isinstance(v, str):
            v = v.encode()
        try:
            ident.set(name, v)
        except ValueError:
            return apdu.DAR_TYPE_UNMATCHED
        ctx[0].data_changed(ctx[1])
        return apdu.DAR_SUCCESS

    table.add(Data(ln, read_min, getter, setter, write_min))


# ---------------------------------------------------------------- the meter's object set

HH_CHANNELS = ("1-0:1.29.0.255", "1-0:2.29.0.255", "1-0:3.29.0.255", "1-0:4.29.0.255")
HH_STATUS = "0-0:96.10.1.255"
SMETS_LOGS = ("0-0:99.1.0.255", "0-0:99.1.1.255", "0-0:99.1.2.255", "0-0:99.1.3.255")
TOTALS = ("1-0:1.8.0.255", "1-0:2.8.0.255", "1-0:3.8.0.255", "1-0:4.8.0.255")
UNITS = (UNIT_WH, UNIT_WH, UNIT_VARH, UNIT_VARH)
# Per phase: L1 C = 21..24, L2 41..44, L3 61..64 (OBIS value group C, quadrant 1..4 - 1).
PHASE_C = (21, 41, 61)
LOGS = (
    # log id, profile, event code object, event value object
    (0, "0-0:99.98.0.255", "0-0:96.11.0.255", "0-0:96.15.0.255"),
    (1, "0-0:99.98.1.255", "0-0:96.11.1.255", "0-0:96.15.1.255"),
    (2, "0-0:99.98.4.255", "0-0:96.11.4.255", "0-0:96.15.4.255"),
)


def _register_getter(acc, slot):
    return lambda: acc.wh(slot)


def _last_hh(meter, i):
    rec = [0, 0, 0, 0, 0, 0]

    def getter():
        p = meter.profile
        n = p.newest()
        if n < 0 or not p.read(n, rec):
            return None
        return rec[i]

    return getter


def _last_log(meter, log_id, i):
    e = [0, 0, 0, 0]

    def getter():
        if not meter.logs.newest(log_id, 0, e):
            return (axdr.NULL_DATA, None)
        return (axdr.LONG_UNSIGNED, e[2]) if i == 2 else (axdr.DOUBLE_LONG, e[3])

    return getter


def build(meter, identity):
    """The standard object table of the meter (docs/dlms.md lists it)."""
    t = ObjectTable()
    t.add(AssociationLN())
    t.add(AssociationLN("0-0:40.0.2.255", sap=17))
    t.add(
        Data("0-0:42.0.0.255", PUB, lambda: (axdr.OCTET_STRING, b"OES" + identity.get("serial")))
    )
    _identity_object(t, identity, "serial", "0-0:96.1.0.255", PUB, CF)
    _identity_object(t, identity, "outstation", "0-0:96.1.1.255", RD, CF)
    _identity_object(t, identity, "mpan", "1-0:0.0.2.255", RD, CF)
    _identity_object(t, identity, "customer", "0-3:96.13.1.255", RD, CF)
    t.add(Clock(meter))
    acc = meter.acc
    for q in range(4):
        t.add(Register(TOTALS[q], PUB, _register_getter(acc, acc.slot(None, q)), UNITS[q]))
    if meter.phases == 3:
        for ph in range(3):
            for q in range(4):
                ln = bytes((1, 0, PHASE_C[ph] + q, 8, 0, 255))
                t.add(Register(ln, PUB, _register_getter(acc, acc.slot(ph, q)), UNITS[q]))
    for q in range(4):
        t.add(Register(HH_CHANNELS[q], RD, _last_hh(meter, 2 + q), UNITS[q]))
    status = _last_hh(meter, 1)

    def status_getter():
        v = status()
        return (axdr.NULL_DATA, None) if v is None else (axdr.UNSIGNED, v & 0x7F)

    # The HH profile is readable by the public client too: issue 5 asks that any standard
    # client associating as client 16 without security reads the clock, 1-0:1.8.0 and the
    # profile on the local port (consumption the customer may see on the display anyway).
    t.add(Data(HH_STATUS, PUB, status_getter))
    t.add(Data("1-0:0.8.4.255", PUB, lambda: (axdr.DOUBLE_LONG_UNSIGNED, _PERIOD)))
    t.add(HHProfile(meter, read_min=PUB))
    # SMETS2-style per-channel HH logs beside the CoP 10 profile: 0-0:99.1.1 (export) and
    # 0-0:99.1.2 (reactive import) are the GBCS OBIS codes (requirements.md §2); GBCS reads
    # the import log inside Data Protection 0-0:43.2.7, so 0-0:99.1.0 and 0-0:99.1.3 (reactive
    # export) are this meter's choice.
    for channel, ln in enumerate(SMETS_LOGS):
        t.add(ChannelProfile(meter, ln, channel))
    for log_id, ln, code_ln, value_ln in LOGS:
        t.add(Data(code_ln, RD, _last_log(meter, log_id, 2)))
        t.add(Data(value_ln, RD, _last_log(meter, log_id, 3)))
        t.add(LogProfile(meter, log_id, ln, obis(code_ln), obis(value_ln)))
    t.add(SecuritySetup(0, "0-0:43.0.0.255"))
    t.add(SecuritySetup(1, "0-0:43.0.1.255", read_min=CF))
    return t
