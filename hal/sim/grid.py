"""The mains supply and the load behind the meter: the ground truth of the virtual board.

A *program* describes the grid as piecewise-constant segments. `segment_at(t_ms)` returns
`(end_ms, states)`: the values hold from `t_ms` until (not including) `end_ms`, and `states`
has one `(v_mv, i_ma, p_mw, q_mvar, f_mhz)` tuple per phase. Every value is an integer, so a
scenario gives bit-identical results under CPython and the MicroPython unix port.

Generators (all composable):

    Constant(p_mw, q_mvar=0, ...)       fixed load (per-phase tuples allowed)
    ProfileCsv(path=None, start=None)   the London household data, one value per half hour
    Pv(peak_mw, ...)                    a daytime generation bell: negative power (export)
    Sum(a, b, ...)                      adds P and Q of several programs (V and f from the first)
    Reactive(base, q_mvar=0, ratio=...) adds reactive power, inductive (+) or capacitive (-)
    Outage(phases)                      no supply: V = I = P = Q = f = 0 on every phase
    Sag(base, v_mv=..|ratio=..)         a voltage sag or swell (load power kept)
    PhaseLoss(base, phase)              one phase at 0 V, 0 A
    Schedule(base, events)              `base`, overridden by `(start_ms, end_ms, program)`
    Sequence(steps, loop=False)         `(duration_ms, program)` steps in order, local time

GridModel integrates the program lazily, one segment at a time, and keeps exact cumulative
energy per phase and per quadrant in nJ (mW x us): active import (P > 0), active export
(P < 0), reactive import (Q > 0, R+), reactive export (Q < 0, R-), plus apparent energy.
`energy_uj()` floors those to uJ (mW x ms). Cost is per segment, never per sample: a day of
the half-hourly profile is 48 segments.

    grid = GridModel(sim_time, phases=1, program=Sum(ProfileCsv(), Pv(3_000_000)))
    grid.state(0)       -> (230000, 2183, 480000, 157771, 50000)
    grid.energy_uj(0)   -> (import, export, r_import, r_export)
"""

FOREVER_MS = 1 << 60
DEFAULT_CSV = "data/london-household-MAC000060-hh.csv"
_HALF_HOUR_MS = 1_800_000
_DAY_MS = 86_400_000

DEAD = (0, 0, 0, 0, 0)


def isqrt(n):
    """Integer square root (floor), Newton's method: exact on both runtimes."""
    if n <= 0:
        return 0
    x = 1 << ((_bits(n) + 1) >> 1)
    while True:
        y = (x + n // x) >> 1
        if y >= x:
            return x
        x = y


def _bits(n):
    b = 0
    while n >= 0x10000:
        n >>= 16
        b += 16
    while n:
        n >>= 1
        b += 1
    return b


def trunc_div(a, b):
    """a / b truncated toward zero (C semantics), b > 0."""
    q = abs(a) // b
    return -q if a < 0 else q


def phase_state(v_mv, p_mw, q_mvar, f_mhz):
    """A phase tuple with the current derived from S = sqrt(P^2 + Q^2) and V."""
    if v_mv <= 0:
        return DEAD
    s = isqrt(p_mw * p_mw + q_mvar * q_mvar)
    return (v_mv, s * 1000 // v_mv, p_mw, q_mvar, f_mhz)


def _per_phase(value, phases):
    if isinstance(value, (tuple, list)):
        if len(value) != phases:
            raise ValueError("per-phase value has the wrong length")
        return tuple(value)
    return (value,) * phases


# ---- generators ------------------------------------------------------------------------


class Constant:
    """A fixed load on a healthy supply."""

    def __init__(self, p_mw=0, q_mvar=0, v_mv=230_000, f_mhz=50_000, phases=1):
        p = _per_phase(p_mw, phases)
        q = _per_phase(q_mvar, phases)
        v = _per_phase(v_mv, phases)
        self.phases = phases
        self._states = tuple(phase_state(v[i], p[i], q[i], f_mhz) for i in range(phases))

    def segment_at(self, t_ms):
        return FOREVER_MS, self._states


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def stamp_minutes(text):
    """'YYYY-MM-DD HH:MM[:SS]' -> minutes since 1970-01-01 (naive clock)."""
    days = days_from_civil(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    return days * 1440 + int(text[11:13]) * 60 + int(text[14:16])


def kwh_to_mwh(text):
    """A decimal kWh string -> integer mWh, rounded at the 7th decimal ('1.3150001' -> 1315000)."""
    text = text.strip()
    dot = text.find(".")
    if dot < 0:
        return int(text) * 1_000_000
    whole = int(text[:dot]) if dot else 0
    frac = text[dot + 1 :]
    six = (frac + "000000")[:6]
    value = whole * 1_000_000 + int(six)
    if len(frac) > 6 and frac[6] >= "5":
        value += 1
    return value


class ProfileCsv:
    """Replays the half-hourly kWh file: each half hour becomes a constant power for 30 min.

    Sim time 0 is `start` (default: the first row, 2011-12-10 00:00); every half hour of sim
    time moves one half hour through the data, by timestamp. The file is never loaded whole:
    a binary search over byte offsets finds a timestamp (about 20 seeks), then rows are read
    one line at a time as time moves on. Half hours missing from the file (three whole days in
    2012) are zero load. After the last row the data repeats from the first.

    Q follows from an integer power factor `pf = (num, den)`: Q = P * tan(acos(num/den)),
    computed as isqrt(P^2 * (den^2 - num^2) / num^2) (floor, exact); `capacitive` flips its sign.
    """

    def __init__(
        self,
        path=None,
        start=None,
        pf=(95, 100),
        capacitive=False,
        v_mv=230_000,
        f_mhz=50_000,
        phases=1,
    ):
        num, den = pf
        if not 0 < num <= den:
            raise ValueError("pf")
        self._pf = (num, den)
        self._qsign = -1 if capacitive else 1
        self._v = v_mv
        self._f = f_mhz
        self.phases = phases
        self.rows_read = 0  # lines read from the file (the tests check it stays small)
        self._file = open(path or _default_csv(), "rb")
        self._file.seek(0, 2)
        self._size = self._file.tell()
        self._file.seek(0)
        self._data_start = len(self._file.readline())
        first = self._parse(self._line_from(self._data_start)[1])
        last = self._parse(self._last_line())
        self.first_min = first[0]
        self.span_min = last[0] + 30 - first[0]
        self._start_min = self.first_min if start is None else stamp_minutes(start)
        self._cur = None  # (ts_min, mwh, end_offset) of the row the cursor is on
        self._cache_slot = -1
        self._cache = None

    def close(self):
        self._file.close()

    # ---- file access ---------------------------------------------------------------
    def _line_from(self, pos):
        """The first whole line starting at or after byte `pos`: (start, bytes)."""
        f = self._file
        if pos > self._data_start:
            f.seek(pos - 1)
            if f.read(1) != b"\n":
                f.readline()
        else:
            f.seek(self._data_start)
        start = f.tell()
        self.rows_read += 1
        return start, f.readline()

    def _last_line(self):
        f = self._file
        back = min(64, self._size - self._data_start)
        f.seek(self._size - back)
        lines = f.read(back).split(b"\n")
        for line in reversed(lines):
            if line.strip():
                return line
        raise ValueError("empty profile")

    @staticmethod
    def _parse(line):
        text = line.decode()
        comma = text.find(",")
        return stamp_minutes(text[:comma]), kwh_to_mwh(text[comma + 1 :])

    def _seek_stamp(self, target):
        """Binary search: the first row stamped >= target, as (ts, mwh, end), or None."""
        lo, hi = self._data_start, self._size
        while lo < hi:
            mid = (lo + hi) // 2
            start, line = self._line_from(mid)
            if not line.strip() or self._parse(line)[0] >= target:
                hi = mid
            else:
                lo = start + len(line)
        start, line = self._line_from(lo)
        if not line.strip():
            return None
        ts, mwh = self._parse(line)
        return ts, mwh, start + len(line)

    def _mwh_at(self, target):
        cur = self._cur
        if cur is not None and target >= cur[0]:
            steps = 0
            while cur is not None and cur[0] < target and steps < 48:
                self._file.seek(cur[2])
                self.rows_read += 1
                line = self._file.readline()
                if not line.strip():
                    cur = None
                    break
                ts, mwh = self._parse(line)
                cur = (ts, mwh, cur[2] + len(line))
                steps += 1
            if cur is not None and cur[0] >= target:
                self._cur = cur
                return cur[1] if cur[0] == target else 0
        cur = self._seek_stamp(target)
        self._cur = cur
        if cur is None or cur[0] != target:
            return 0
        return cur[1]

    # ---- program -------------------------------------------------------------------
    def power_mw_at_slot(self, slot):
        """Average power (mW) of the half hour `slot` (0 = the first half hour of sim time)."""
        offset = (self._start_min - self.first_min + slot * 30) % self.span_min
        return self._mwh_at(self.first_min + offset) * 2  # mWh per 0.5 h -> mW

    def segment_at(self, t_ms):
        slot = t_ms // _HALF_HOUR_MS if t_ms > 0 else 0
        if slot != self._cache_slot:
            p = self.power_mw_at_slot(slot)
            num, den = self._pf
            q = self._qsign * isqrt(p * p * (den * den - num * num) // (num * num))
            st = phase_state(self._v, p, q, self._f)
            self._cache = (st,) * self.phases
            self._cache_slot = slot
        return (slot + 1) * _HALF_HOUR_MS, self._cache


def _default_csv():
    # The repo root is three levels above this file (hal/sim/grid.py); fall back to the cwd.
    here = __file__.replace("\\", "/")
    root = "/".join(here.split("/")[:-3])
    for base in (root + "/" if root else "", ""):
        path = base + DEFAULT_CSV
        try:
            open(path, "rb").close()
            return path
        except OSError:
            pass
    raise OSError(2)


class Pv:
    """Rooftop PV: generation follows 4x(1-x) between sunrise and sunset, in `step_ms` steps.

    Produces negative active power (export) on `phase` (None = every phase), Q = 0. Sim time
    0 is midnight. V and f are the nominal supply (a Sum takes them from its first program).
    """

    def __init__(
        self,
        peak_mw,
        sunrise_ms=6 * 3_600_000,
        sunset_ms=20 * 3_600_000,
        step_ms=900_000,
        phases=1,
        phase=None,
        v_mv=230_000,
        f_mhz=50_000,
    ):
        if not 0 <= sunrise_ms < sunset_ms <= _DAY_MS or step_ms <= 0:
            raise ValueError("pv window")
        self._peak = peak_mw
        self._rise = sunrise_ms
        self._set = sunset_ms
        self._step = step_ms
        self.phases = phases
        self._phase = phase
        self._v = v_mv
        self._f = f_mhz

    def _states(self, g):
        out = []
        for i in range(self.phases):
            p = -g if self._phase is None or self._phase == i else 0
            out.append(phase_state(self._v, p, 0, self._f))
        return tuple(out)

    def segment_at(self, t_ms):
        day0 = t_ms - t_ms % _DAY_MS
        tod = t_ms - day0
        if tod < self._rise:
            return day0 + self._rise, self._states(0)
        if tod >= self._set:
            return day0 + _DAY_MS + self._rise, self._states(0)
        k = (tod - self._rise) // self._step
        seg_start = self._rise + k * self._step
        end = min(seg_start + self._step, self._set)
        length_s = (self._set - self._rise) // 1000
        x = ((seg_start + end) // 2 - self._rise) // 1000  # seconds since sunrise, mid-step
        g = self._peak * 4 * x * (length_s - x) // (length_s * length_s)
        return day0 + end, self._states(g)


class Sum:
    """P and Q of several programs added per phase; V and f come from the first."""

    def __init__(self, *programs):
        if not programs:
            raise ValueError("Sum needs a program")
        self._programs = programs

    def segment_at(self, t_ms):
        end, first = self._programs[0].segment_at(t_ms)
        p = [s[2] for s in first]
        q = [s[3] for s in first]
        for prog in self._programs[1:]:
            e, states = prog.segment_at(t_ms)
            end = min(end, e)
            for i in range(len(p)):
                p[i] += states[i][2]
                q[i] += states[i][3]
        out = tuple(phase_state(first[i][0], p[i], q[i], first[i][4]) for i in range(len(p)))
        return end, out


class Reactive:
    """Adds reactive power: a fixed `q_mvar` plus `ratio` x P (num/den, either sign)."""

    def __init__(self, base, q_mvar=0, ratio=(0, 1)):
        if ratio[1] <= 0:
            raise ValueError("ratio")
        self._base = base
        self._q = q_mvar
        self._ratio = ratio

    def segment_at(self, t_ms):
        end, states = self._base.segment_at(t_ms)
        num, den = self._ratio
        out = []
        for i, (v, _i, p, q, f) in enumerate(states):
            extra = _per_phase(self._q, len(states))[i] + trunc_div(p * num, den)
            out.append(phase_state(v, p, q + extra, f))
        return end, tuple(out)


class Outage:
    """No supply on any phase."""

    def __init__(self, phases=1):
        self._states = (DEAD,) * phases

    def segment_at(self, t_ms):
        return FOREVER_MS, self._states


class Sag:
    """Supply voltage set to `v_mv` or scaled by `ratio` (sag < 1 < swell); load power kept."""

    def __init__(self, base, v_mv=None, ratio=None, phase=None):
        if (v_mv is None) == (ratio is None):
            raise ValueError("give v_mv or ratio")
        self._base = base
        self._v = v_mv
        self._ratio = ratio
        self._phase = phase

    def segment_at(self, t_ms):
        end, states = self._base.segment_at(t_ms)
        out = []
        for i, (v, _i, p, q, f) in enumerate(states):
            if v and (self._phase is None or self._phase == i):
                v = self._v if self._v is not None else v * self._ratio[0] // self._ratio[1]
            out.append(phase_state(v, p, q, f) if v else DEAD)
        return end, tuple(out)


class PhaseLoss:
    """One phase (0-based) dead: 0 V, 0 A, no power; the others as `base`."""

    def __init__(self, base, phase):
        self._base = base
        self._phase = phase

    def segment_at(self, t_ms):
        end, states = self._base.segment_at(t_ms)
        if not 0 <= self._phase < len(states):
            raise ValueError("phase")
        out = list(states)
        out[self._phase] = DEAD
        return end, tuple(out)


class Schedule:
    """`base`, replaced by `program` during each `(start_ms, end_ms, program)` event.

    Events are in sim time (ms) and must not overlap; override programs see sim time too, so
    `Sag(base, ...)` during an event sags whatever `base` is doing then.
    """

    def __init__(self, base, events):
        self._base = base
        self._events = sorted(events, key=lambda e: e[0])
        last = -1
        for start, stop, _prog in self._events:
            if start < last or stop <= start:
                raise ValueError("schedule events overlap or are empty")
            last = stop

    def segment_at(self, t_ms):
        for start, stop, prog in self._events:
            if t_ms < start:
                end, states = self._base.segment_at(t_ms)
                return min(end, start), states
            if t_ms < stop:
                end, states = prog.segment_at(t_ms)
                return min(end, stop), states
        return self._base.segment_at(t_ms)


class Sequence:
    """Steps `(duration_ms, program)` one after another; each program sees time from its start.

    After the last step the sequence repeats if `loop`, else the last program carries on.
    """

    def __init__(self, steps, loop=False):
        if not steps:
            raise ValueError("empty sequence")
        self._steps = list(steps)
        self._loop = loop
        self._total = 0
        for duration, _prog in self._steps:
            if duration <= 0:
                raise ValueError("step duration")
            self._total += duration

    def segment_at(self, t_ms):
        base = 0
        if self._loop:
            base = t_ms - t_ms % self._total
        local = t_ms - base
        start = 0
        last = len(self._steps) - 1
        for n, (duration, prog) in enumerate(self._steps):
            if local < start + duration or (n == last and not self._loop):
                end, states = prog.segment_at(local - start)
                end += base + start
                if n != last or self._loop:
                    end = min(end, base + start + duration)
                return end, states
            start += duration
        raise ValueError("unreachable")  # pragma: no cover


# ---- the model -------------------------------------------------------------------------


class GridModel:
    """Integrates a program over simulated time; the exact ground truth of energy."""

    def __init__(self, sim_time, phases=1, program=None):
        if phases not in (1, 3):
            raise ValueError("phases")
        self._time = sim_time
        self.phases = phases
        self._program = program if program is not None else Constant(0, phases=phases)
        # per phase: [import, export, r_import, r_export, apparent] in nJ (mW x us)
        self._cum = [[0, 0, 0, 0, 0] for _ in range(phases)]
        self._at_us = sim_time.now_us()
        self._listeners = []
        self.segments = 0
        self._load(self._at_us)

    # ---- integration ---------------------------------------------------------------
    def _load(self, t_us):
        t_ms = t_us // 1000
        end_ms, states = self._program.segment_at(t_ms)
        if len(states) != self.phases:
            raise ValueError("program phases do not match the grid")
        if end_ms <= t_ms:
            raise ValueError("program returned an empty segment")
        self.segments += 1
        self._states = states
        self._end_us = end_ms * 1000
        rates = []
        for _v, _i, p, q, _f in states:
            s = isqrt(p * p + q * q)
            pos_p, neg_p = (p, 0) if p > 0 else (0, -p)
            pos_q, neg_q = (q, 0) if q > 0 else (0, -q)
            rates.append((pos_p, neg_p, pos_q, neg_q, s))
        self._rates = rates

    def _advance(self):
        now = self._time.now_us()
        while True:
            if self._at_us >= self._end_us:
                self._load(self._at_us)
            if self._at_us >= now:
                return
            stop = self._end_us if self._end_us < now else now
            dt = stop - self._at_us
            for ph in range(self.phases):
                cum = self._cum[ph]
                r = self._rates[ph]
                for k in range(5):
                    if r[k]:
                        cum[k] += r[k] * dt
            self._at_us = stop

    def set_program(self, program):
        """Switch scenario now (energy so far is kept); listeners are told."""
        self._advance()
        self._program = program
        self._load(self._at_us)
        for cb in self._listeners:
            cb()

    def subscribe(self, callback):
        """callback() after every set_program (models re-plan their events)."""
        self._listeners.append(callback)

    # ---- queries -------------------------------------------------------------------
    def state(self, phase=0):
        """(v_mv, i_ma, p_mw, q_mvar, f_mhz) of `phase` now."""
        self._advance()
        return self._states[phase]

    def states(self):
        self._advance()
        return self._states

    def energy_nj(self, phase=0):
        """Exact cumulative (import, export, r_import, r_export, apparent) in nJ."""
        self._advance()
        return tuple(self._cum[phase])

    def energy_uj(self, phase=0):
        """Cumulative (active import, active export, reactive import, reactive export) in uJ."""
        self._advance()
        c = self._cum[phase]
        return (c[0] // 1000, c[1] // 1000, c[2] // 1000, c[3] // 1000)

    def supply_on(self):
        """False only when every phase is at 0 V (an outage); a lost phase is still supply."""
        self._advance()
        for st in self._states:
            if st[0] > 0:
                return True
        return False

    def frequency_mhz(self):
        """Supply frequency of the first live phase, 0 in an outage."""
        self._advance()
        for st in self._states:
            if st[0] > 0:
                return st[4]
        return 0

    def next_change_us(self):
        """When the current segment ends (sim us), or None if it never does."""
        self._advance()
        if self._end_us >= FOREVER_MS * 1000:
            return None
        return self._end_us
