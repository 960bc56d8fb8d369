"""Scenarios for firmware/store.py, profile.py, events.py (CPython and MicroPython).

The power-cut harness runs the real hal/fram.py driver over the fake SPI bus against the
hal/sim/fram_model.py part, whose `arm_cut` lets N more data bytes commit and then kills the
supply (optionally clocking garbage first): reliability.md T1-T4 in the littlefs "linear"
style, cutting at every byte of every write of a workload window.
"""

from firmware import codes, layout
from firmware.events import LOG_EVENT, LOG_POWER, LOG_SECURITY, Alarms, EventLogs, report_mount
from firmware.profile import Profile
from firmware.store import (
    BLANK,
    OK,
    REPAIRED,
    RamFram,
    Store,
    crc32,
    get_u32,
    put_u32,
)
from hal.fram import MB85RS
from hal.sim import machine
from hal.sim.fram_model import MB85RSModel
from lib import crc


class PowerCut(Exception):
    pass


class CutFram:
    """The MB85RS driver on a fake bus; raises PowerCut once the model's supply is gone."""

    def __init__(self, part="MB85RS2MT", fill=0, fast_reads=False):
        self.model = MB85RSModel(part, fill=fill)
        # Reads cannot be cut, so the exhaustive runs may take them straight from the model's
        # array (5x faster); writes always go through the driver, bus and cut model.
        self.fast_reads = fast_reads
        spi = machine.SPI(1, baudrate=10_000_000)
        cs = machine.Pin("CS", machine.Pin.OUT, value=1)
        spi.attach(cs, self.model)
        self.drv = MB85RS(spi, cs)
        self.size = self.drv.size

    def readinto(self, addr, buf):
        if not self.model.powered:
            raise PowerCut()
        if self.fast_reads:
            buf[:] = self.model.image[addr : addr + len(buf)]
        else:
            self.drv.readinto(addr, buf)

    def write(self, addr, buf):
        if not self.model.powered:
            raise PowerCut()
        self.drv.write(addr, buf)
        if not self.model.powered:
            raise PowerCut()

    def restore(self, image):
        self.model.image[:] = image
        self.model.disarm_cut()
        self.model.cut_happened = False
        self.model.power_on()


class Meter:
    """Store + logs + alarms + profile booted from whatever the FRAM holds."""

    def __init__(self, fram, ratio=1000):
        self.store = Store(fram)
        self.report = self.store.mount()
        self.logs = EventLogs(self.store)
        self.alarms = Alarms(self.logs, self.store)
        self.profile = Profile(self.store, ratio)


# ---- the deterministic workload ---------------------------------------------------------
T0 = 800_000_000 - 800_000_000 % 1800  # a period boundary in 2025
STEP_S = 300  # six ticks per half hour: closes come often


def _delta(j):
    return 1000 + (j * 7919) % 5000


def step(m, j):
    """One tick: accrue, maybe log / toggle an alarm / write config, then commit."""
    t = T0 + j * STEP_S
    regs = m.store.regs
    d = _delta(j)
    m.profile.accrue(t, d, j % 3, (j * 13) % 700, 1)
    put_u32(regs, layout.REG_ENERGY, get_u32(regs, layout.REG_ENERGY) + d)
    put_u32(regs, layout.REG_TICK, j)
    put_u32(regs, layout.REG_UTC, t)
    if j % 5 == 0:
        m.logs.log(LOG_POWER if j % 2 else LOG_EVENT, 0x8000 + j % 16, -j, t)
    if j % 4 == 0:
        m.alarms.set(0x8F74, 0x81B9, (j // 4) % 2 == 0, t, j)
    if j % 6 == 3:
        cfg = m.store.config("thresholds")
        for i in range(cfg.n):
            cfg.buf[i] = (j + i) & 0xFF
        cfg.commit()
    m.store.commit_registers()


def snapshot(m):
    """Observable durable state: tick, energy, heads, alarms, thresholds tag."""
    cfg = m.store.config("thresholds")
    return (
        get_u32(m.store.regs, layout.REG_TICK),
        get_u32(m.store.regs, layout.REG_ENERGY),
        tuple(m.logs.heads),
        tuple(m.alarms.active()),
        cfg.buf[0] if cfg.state in (OK, REPAIRED) else -1,
    )


def _records(m):
    out = {}
    p = m.profile
    for rec in p.records(0, 1 << 30):
        out[rec[0]] = rec
    return out


def _entries(m):
    out = {}
    for lid in range(3):
        for e in m.logs.entries(lid):
            out[(lid, e[0])] = e
    return out


def _check(m, ref_states, ref_records, ref_entries, j, weak=False):
    """Invariants after a cut during step j. Returns None or a failure string."""
    st = snapshot(m)
    if m.store.reg.state not in (OK, REPAIRED):
        if weak and m.store.nvm_error:
            return None  # random garbage destroyed the surviving copy: detected, not zeroed
        return "registers %d" % m.store.reg.state
    old, new = ref_states[j - 1], ref_states[j]
    if st[0:2] != old[0:2] and st[0:2] != new[0:2]:
        return "register %r not old %r or new %r" % (st[0:2], old[0:2], new[0:2])
    for k in range(3):
        if not old[2][k] <= st[2][k] <= new[2][k]:
            return "log %d head %d outside %d..%d" % (k, st[2][k], old[2][k], new[2][k])
    if st[3] != old[3] and st[3] != new[3]:
        return "alarms %r" % (st[3],)
    if st[4] != old[4] and st[4] != new[4]:
        return "config %r" % (st[4],)
    p = m.profile
    recs = _records(m)
    total = 0
    for q in range(p.first, p.open):
        r = recs.get(q)
        if r is None:
            if weak:
                return None
            return "period %d missing" % q
        if ref_records.get(q) != r:
            return "period %d = %r, expected %r" % (q, r, ref_records.get(q))
        total += r[2][0]
    if total * p.ratio + p.open_energy(0) != st[1]:
        return "energy: %d stored + %d open != register %d" % (
            total * p.ratio,
            p.open_energy(0),
            st[1],
        )
    ents = _entries(m)
    for key, e in ents.items():
        if ref_entries.get(key) != e:
            return "log entry %r = %r" % (key, e)
    if not weak:
        for k in range(3):
            if m.logs.count(k) != st[2][k]:
                return "log %d has %d of %d entries" % (k, m.logs.count(k), st[2][k])
    return None


def _reference(fram, warm, window):
    """Run warm + window steps uncut; per-step states, images before each window step."""
    m = Meter(fram)
    states = {}
    images = {}
    costs = {}
    for j in range(1, warm + window + 1):
        if j > warm:
            images[j] = bytes(fram.model.image)
        before = fram.model.bytes_written
        step(m, j)
        costs[j] = fram.model.bytes_written - before
        states[j] = snapshot(m)
    states[warm] = states[warm] if warm in states else None
    return states, images, costs, _records(m), _entries(m)


def powercut_window(warm=30, window=16, stride=1, garbage=0, continue_every=4, fast=True):
    """Cut after every `stride`-th data byte of every write in `window` steps.

    After each cut: power on, remount, check the invariants of _check, then (optionally)
    run power_up + the next step (every `continue_every`-th cut) and check that the meter
    carries on consistently.
    """
    fram = CutFram(fast_reads=fast)
    states, images, costs, ref_records, ref_entries = _reference(fram, warm, window)
    cuts = 0
    fails = []
    partial = 0
    for j in range(warm + 1, warm + window + 1):
        for k in range(0, costs[j], stride):
            fram.restore(images[j])
            m = Meter(fram)
            fram.model.arm_cut(k, garbage, None, j * 7919 + k)
            try:
                step(m, j)
            except PowerCut:
                pass
            if not fram.model.cut_happened:
                fails.append("step %d cut %d: no cut" % (j, k))
                continue
            cuts += 1
            fram.model.power_on()
            m = Meter(fram)
            why = _check(m, states, ref_records, ref_entries, j)
            if why is None and snapshot(m)[2:] != states[j - 1][2:]:
                partial += 1  # logs/alarms/config of step j landed, its tick did not
            if why is None and cuts % continue_every == 0:
                t = T0 + j * STEP_S
                m.profile.power_up(t)
                m.store.commit_registers()
                step(m, j + 1)
                m = Meter(fram)
                if snapshot(m)[0] != j + 1:
                    why = "did not carry on"
                elif m.profile.newest() < m.profile.open - 1:
                    why = "gap after recovery"
            if why is not None:
                fails.append("step %d cut %d: %s" % (j, k, why))
                if len(fails) > 5:
                    return {"cuts": cuts, "fails": fails}
    total = 0
    expected = 0
    for j in range(warm + 1, warm + window + 1):
        total += costs[j]
        expected += len(range(0, costs[j], stride))
    return {
        "expected_cuts": expected,
        "cuts": cuts,
        "fails": fails,
        "bytes": total,
        "closes": len(ref_records),
        "partial": partial,
    }


def random_cuts(n, seed=1, garbage=16, random_address=False, fast=True):
    """Random cut points (and garbage tails, optionally at a random address)."""
    fram = CutFram(fast_reads=fast)
    warm, window = 20, 12
    states, images, costs, ref_records, ref_entries = _reference(fram, warm, window)
    x = seed
    fails = []
    detected = 0
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        j = warm + 1 + x % window
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        k = x % costs[j]
        at = None
        if random_address:
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            at = x % (fram.size - garbage)
        fram.restore(images[j])
        m = Meter(fram)
        fram.model.arm_cut(k, garbage, at, x)
        try:
            step(m, j)
        except PowerCut:
            pass
        fram.model.power_on()
        try:
            m = Meter(fram)
            why = _check(m, states, ref_records, ref_entries, j, weak=random_address)
            if m.store.nvm_error:
                detected += 1
        except Exception as e:  # noqa: BLE001 - any exception at boot is a failure
            why = "boot raised %r" % (e,)
        if why is not None:
            fails.append("step %d cut %d at %r: %s" % (j, k, at, why))
    return {"runs": n, "fails": fails[:5], "nfails": len(fails), "detected": detected}


def double_cut(k1_list, stride=1, fast=True):
    """T2: after a cut in a register commit, cut again at every byte of the recovery writes."""
    fram = CutFram(fast_reads=fast)
    warm, j = 24, 25
    states, images, costs, ref_records, ref_entries = _reference(fram, warm, 1)
    fails = []
    runs = 0
    for k1 in k1_list:
        fram.restore(images[j])
        m = Meter(fram)
        fram.model.arm_cut(k1, 16, None, k1)
        try:
            step(m, j)
        except PowerCut:
            pass
        fram.model.power_on()
        after1 = bytes(fram.model.image)
        # How many bytes does recovery (boot + power_up + commit) write?
        m = Meter(fram)
        before = fram.model.bytes_written
        m.profile.power_up(T0 + j * STEP_S)
        m.store.commit_registers()
        rec_bytes = fram.model.bytes_written - before
        for k2 in range(0, rec_bytes, stride):
            fram.restore(after1)
            try:
                m = Meter(fram)
                fram.model.arm_cut(k2, 16, None, k2 + 7)
                m.profile.power_up(T0 + j * STEP_S)
                m.store.commit_registers()
            except PowerCut:
                pass
            fram.model.power_on()
            m = Meter(fram)
            runs += 1
            why = _check(m, states, ref_records, ref_entries, j)
            if why is not None:
                fails.append("k1 %d k2 %d: %s" % (k1, k2, why))
    return {"runs": runs, "fails": fails[:5]}


# ---- record pair ------------------------------------------------------------------------
def bitflips(which, stride=1):
    """T4: flip each bit of copy A, copy B or both of the register record; classify loads."""
    fram = RamFram(262144)
    s = Store(fram)
    s.mount()
    regs = s.regs
    for i in range(layout.REG_LEN):
        regs[i] = (i * 37 + 11) & 0xFF
    s.commit_registers()
    s.commit_registers()
    good = bytes(s.regs)
    image = bytes(fram.image)
    span = layout.REG_LEN + layout.COPY_OVERHEAD
    counts = {"ok_same": 0, "invalid": 0, "wrong": 0, "zeroed": 0}
    for bit in range(0, span * 8, stride):
        fram.image[:] = image
        for a in (
            (s.geo.reg_a, s.geo.reg_b)
            if which == "both"
            else ((s.geo.reg_a,) if which == "a" else (s.geo.reg_b,))
        ):
            fram.image[a + bit // 8] ^= 1 << (bit % 8)
        s2 = Store(fram)
        s2.mount()
        st = s2.reg.state
        if st in (OK, REPAIRED):
            if bytes(s2.regs) == good:
                counts["ok_same"] += 1
            else:
                counts["wrong"] += 1
        else:
            counts["invalid"] += 1
            if bytes(s2.regs) == bytes(layout.REG_LEN) and s2.nvm_error is False:
                counts["zeroed"] += 1
    return counts


def pair_basics():
    fram = RamFram(65536)
    s = Store(fram)
    r1 = s.mount()
    cfg = s.config("identity")
    st0 = cfg.state
    cfg.commit(b"A" * cfg.n)
    seq1, cur1 = cfg.seq, cfg.cur
    cfg.commit(b"B" * cfg.n)
    seq2, cur2 = cfg.seq, cfg.cur
    s2 = Store(fram)
    r2 = s2.mount()
    c2 = s2.config("identity")
    # Corrupt the newest copy: the older one is loaded and the bad one repaired at mount.
    fram.image[s.geo.config["identity"][cur2] + 8] ^= 0x40
    s3 = Store(fram)
    r3 = s3.mount()
    c3 = s3.config("identity")
    s4 = Store(fram)
    r4 = s4.mount()
    wrong = 0
    try:
        cfg.commit(b"short")
    except ValueError:
        wrong = 1
    return {
        "r1": r1["state"],
        "blank": st0 == BLANK,
        "seqs": [seq1, cur1, seq2, cur2],
        "r2": r2["state"],
        "c2": bytes(c2.buf[:2]).decode(),
        "r3": r3["repaired"],
        "c3": bytes(c3.buf[:2]).decode(),
        "r4": r4["repaired"],
        "wrong_len": wrong,
        "seq_wrap": [
            _newer(5, 0x3FFFFFFE),
            _newer(0x3FFFFFFE, 5),
            _newer(7, 7),
        ],
    }


def shadow_drift():
    """A commit writes only bytes that differ from its shadow of the copy. If the copy on the
    part is not what the shadow says (a byte changed behind the store, a write that failed
    half way), the read-back catches it and the copy is rewritten whole: no error, and both
    copies load after a reboot."""
    fram = RamFram(65536)
    s = Store(fram)
    s.mount()
    cfg = s.config("identity")
    payload = bytearray(b"M" * cfg.n)

    def commit(k):
        payload[0] = k  # one payload byte changes per commit
        before = s.bytes_written
        cfg.commit(payload)
        return s.bytes_written - before

    for k in range(4):
        commit(k)
    normal = commit(4)  # copy A (the older one)
    # Drift: the last payload byte of copy B changes behind the store's back.
    fram.image[s.geo.config["identity"][1] + 6 + cfg.n - 1] ^= 0x5A
    drift = commit(5)  # copy B: the diff misses the drift, the read-back does not
    # A bus error half way through a commit of copy A: its header lands, the rest does not.
    real_write = fram.write
    calls = [0]

    def flaky(addr, buf):
        calls[0] += 1
        if calls[0] == 2:
            raise OSError(5, "bus error")
        real_write(addr, buf)

    fram.write = flaky
    failed = False
    try:
        commit(6)
    except OSError:
        failed = True
    fram.write = real_write
    after_error = commit(7)  # copy A again: whole, its shadow is no longer trusted
    s2 = Store(fram)
    r = s2.mount()
    c2 = s2.config("identity")
    return {
        "normal": normal,
        "drift": drift,
        "failed": failed,
        "after_error": after_error,
        "nvm_error": s.nvm_error,
        "repaired": r["repaired"],
        "state": c2.state,
        "payload_ok": bytes(c2.buf) == bytes(payload),
        "n": cfg.n,
    }


def _newer(a, b):
    from firmware.store import seq_newer

    return seq_newer(a, b)


def crc_checks():
    data = bytearray(300)
    for i in range(300):
        data[i] = (i * 31 + 7) & 0xFF
    return [
        crc32(b"123456789") == crc.crc32(b"123456789"),
        crc32(data) == crc.crc32(data),
        crc32(b"") == 0,
    ]


def geometry():
    out = {}
    for size in (262144, 131072, 65536):
        g = layout.Geometry(size)
        out[str(size)] = [g.slots4, g.slots1, g.import_periods(), g.all4_periods(), g.spare]
        last = 0
        for _name, start, length in g.areas():
            if start != last:
                out["overlap"] = size
            last = start + length
        if last != size:
            out["not_covering"] = size
    try:
        layout.Geometry(32768)
        out["small"] = "accepted"
    except ValueError as e:
        out["small"] = str(e)
    return out


# ---- mount cases ------------------------------------------------------------------------
def mount_cases():
    out = {}
    for fill in (0x00, 0xFF):
        fram = CutFram("MB85RS2MT", fill=fill)
        out["blank_%02x" % fill] = Store(fram).mount()["state"]
    # A used part with a foreign byte: never wiped, read-only, records still readable.
    fram = CutFram()
    m = Meter(fram)
    put_u32(m.store.regs, layout.REG_ENERGY, 123456)
    m.store.commit_registers()
    m.logs.log(LOG_EVENT, 0x8001, 5, 77)
    fram.model.image[0] ^= 0xFF
    fram.model.image[128] ^= 0xFF  # both superblock copies
    before = bytes(fram.model.image)
    m2 = Meter(fram)
    refused = None
    try:
        m2.store.commit_registers()
    except OSError as e:
        refused = e.errno
    dropped = m2.logs.log(LOG_EVENT, 0x8002, 0, 78)
    out["corrupt_sb"] = {
        "state": m2.report["state"],
        "read_only": m2.store.read_only,
        "nvm_error": m2.store.nvm_error,
        "energy": get_u32(m2.store.regs, layout.REG_ENERGY),
        "refused": refused,
        "dropped": dropped,
        "untouched": bytes(fram.model.image) == before,
        "entries": list(m2.logs.entries(LOG_EVENT)),
    }
    # Foreign data on an otherwise blank part: read-only too, nothing written.
    fram = CutFram()
    fram.model.image[200000] = 0x42
    s = Store(fram)
    out["foreign"] = [s.mount()["state"], s.read_only, fram.model.bytes_written]
    # Only a forced format (service command) may take it.
    s.format(force=True)
    out["forced"] = Meter(fram).report["state"]
    # A future layout version: refused clearly. A registered migration step runs instead.
    fram = CutFram()
    s = Store(fram)
    s.mount()
    s.sb.buf[4] = 9
    s.sb.commit()
    s.sb.commit()
    try:
        Store(fram).mount()
        out["future"] = "mounted"
    except ValueError as e:
        out["future"] = str(e)
    ran = []
    s2 = Store(fram, migrations={9: lambda st: ran.append(st.geo.version)})
    out["migrated"] = [s2.mount()["repaired"], ran, Store(fram).mount()["state"]]
    # The image of a 256 KiB part in a 512 KiB part: another geometry, refused.
    fram = CutFram()
    Store(fram).mount()
    big = CutFram("MB85RS4MT")
    big.model.image[0 : fram.size] = fram.model.image
    try:
        Store(big).mount()
        out["geometry"] = "mounted"
    except ValueError as e:
        out["geometry"] = str(e)[:45]
    # Register record destroyed (both copies): data invalid, NVM alarm, never zeros.
    fram = CutFram()
    m = Meter(fram)
    put_u32(m.store.regs, layout.REG_ENERGY, 999)
    m.store.commit_registers()
    for a in (m.store.geo.reg_a, m.store.geo.reg_b):
        fram.model.image[a + 20] ^= 0x01
    m2 = Meter(fram)
    report_mount(m2.report, m2.store, m2.logs, m2.alarms, 5000)
    out["regs_lost"] = {
        "state": m2.report["registers"],
        "errors": m2.report["errors"],
        "alarm": m2.alarms.active(),
        "log": list(m2.logs.entries(LOG_EVENT))[-1:],
        "profile_lost": m2.profile.state_lost,
    }
    # A format interrupted by a cut at every 9th byte: the next boot formats again.
    fram = CutFram("MB85RS1MT", fast_reads=True)
    ok = 0
    tried = 0
    for k in range(0, 800, 23):
        fram.restore(bytes(fram.size))
        fram.model.arm_cut(k, 16)
        try:
            Store(fram).mount()
        except PowerCut:
            pass
        if not fram.model.cut_happened:
            break
        tried += 1
        fram.model.power_on()
        if Store(fram).mount()["state"] in ("formatted", "mounted"):
            ok += 1
    out["format_cuts"] = [tried, ok]
    return out


# ---- heap -------------------------------------------------------------------------------
def tick_allocates_nothing():
    import micropython

    fram = CutFram()
    m = Meter(fram, ratio=24000)
    m.profile.accrue(T0 + 10, 5, 0, 0, 0)
    m.store.commit_registers()
    p = m.profile
    s = m.store
    t = T0 + 11
    micropython.heap_lock()
    try:
        for i in range(20):
            p.accrue(t + i, 12345, 17, 3, 0)
            s.commit_registers()
        ok = True
    except MemoryError:
        ok = False
    micropython.heap_unlock()
    return [ok, p.open == T0 // 1800, p.whole[0], p.rem[0]]


def write_figures():
    from firmware.store import write_costs

    return write_costs()


# ---- profile ----------------------------------------------------------------------------
def _ram_meter(size=262144, ratio=1000):
    return Meter(RamFram(size), ratio)


def profile_carry():
    """Exact carry: stored whole units + open remainder == energy fed, on every channel."""
    m = _ram_meter(ratio=1000)
    p = m.profile
    fed = [0, 0, 0, 0]
    t = T0 + 5
    x = 7
    for _ in range(2000):
        t += 7
        d = []
        for _c in range(4):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            d.append(x % 3001)
        p.accrue(t, d[0], d[1], d[2], d[3])
        for c in range(4):
            fed[c] += d[c]
    m.store.commit_registers()
    stored = [0, 0, 0, 0]
    periods = []
    for per, _status, vals in p.records(0, 1 << 30):
        periods.append(per - T0 // 1800)
        for c in range(4):
            stored[c] += vals[c]
    exact = [stored[c] * 1000 + p.open_energy(c) == fed[c] for c in range(4)]
    m2 = Meter(m.store.fram)
    after = [m2.profile.open_energy(c) == p.open_energy(c) for c in range(4)]
    return {"periods": periods, "exact": exact, "reboot_same": after, "fed0": fed[0]}


def profile_outage():
    """Power cut mid-period, back 3 periods later: zero records flagged POWER_DOWN, no gap."""
    fram = RamFram(262144)
    m = Meter(fram)
    base = T0 // 1800
    for i in range(10):
        m.profile.accrue(T0 + 100 + 120 * i, 2_500_000, 0, 0, 0)  # 2.5 Wh per tick
        m.store.commit_registers()
    # Off at T0 + 1300 (period base), back in period base + 4.
    m = Meter(fram)
    m.profile.power_up(T0 + 4 * 1800 + 600)
    m.store.commit_registers()
    m.profile.accrue(T0 + 5 * 1800 + 1, 1000, 0, 0, 0)
    m.store.commit_registers()
    out = [0] * 6
    recs = []
    for per in range(base, base + 5):
        ok = m.profile.read(per, out)
        recs.append([per - base, ok, out[1], out[2]])
    return {"recs": recs, "open": m.profile.open - base, "open_status": m.profile.status}


def profile_clock():
    """Forward jump over two boundaries, backward jump across one, backward within one."""
    m = _ram_meter()
    p = m.profile
    base = T0 // 1800
    p.accrue(T0 + 60, 1_000_000, 0, 0, 0)  # 1 Wh in period base
    # Forward: from base (minute 1) to base + 3 (minute 10): base truncated, base+1/+2 skipped.
    p.clock_changed(T0 + 60, T0 + 3 * 1800 + 600)
    p.accrue(T0 + 3 * 1800 + 601, 2_000_000, 0, 0, 0)
    after_forward = [p.open - base, p.newest() - base]
    # Backward across a boundary: back to period base + 2 (already closed): base + 3 absorbs.
    p.clock_changed(T0 + 3 * 1800 + 700, T0 + 2 * 1800 + 100)
    p.accrue(T0 + 2 * 1800 + 200, 3_000_000, 0, 0, 0)
    written = p.records_written
    p.accrue(T0 + 3 * 1800 + 10, 4_000_000, 0, 0, 0)  # still base + 3: no close
    no_close = p.records_written == written
    p.accrue(T0 + 4 * 1800 + 1, 5_000_000, 0, 0, 0)  # passes base + 3: closes it
    # Backward within base + 4: flagged only.
    p.clock_changed(T0 + 4 * 1800 + 900, T0 + 4 * 1800 + 300)
    m.store.commit_registers()
    out = [0] * 6
    recs = []
    for per in range(base, base + 4):
        p.read(per, out)
        recs.append([per - base, out[1], out[2]])
    return {
        "after_forward": after_forward,
        "no_close_while_behind": no_close,
        "recs": recs,
        "open": [p.open - base, p.status, p.whole[0]],
        "written": p.records_written,
    }


def profile_recovery():
    """Cut between the ring write and the register commit; a corrupt last record."""
    fram = RamFram(262144)
    m = Meter(fram)
    base = T0 // 1800
    m.profile.accrue(T0 + 10, 1_234_567, 0, 0, 0)
    m.store.commit_registers()
    m.profile.accrue(T0 + 1800 + 5, 10, 0, 0, 0)  # closes base; NOT committed (cut)
    m2 = Meter(fram)
    p = m2.profile
    first = [p.recovered, p.open - base, p.newest() - base, p.open_energy(0)]
    m2.store.commit_registers()
    # Bit rot in the newest ring record: rewritten from the register record's copy.
    addr = m2.store.geo.p4_base + (base % m2.store.geo.slots4) * layout.PROFILE4_SLOT
    fram.image[addr + 5] ^= 0x10
    m3 = Meter(fram)
    out = [0] * 6
    ok = m3.profile.read(base, out)
    return {
        "first": first,
        "rewritten": m3.profile.rewritten,
        "record": [ok, out[2]],
        "recovered_again": m3.profile.recovered,
    }


def profile_days(days, size=262144):
    """One accrue per half hour for `days` days: what is kept, exactly."""
    m = _ram_meter(size)
    p = m.profile
    base = T0 // 1800
    n = days * 48
    for i in range(n + 1):
        p.accrue(T0 + i * 1800 + 1, (i % 1000) * 1000 + 999, i % 7, i % 11, 0)
    m.store.commit_registers()
    newest = p.newest()
    o1 = p.oldest(1)
    o4 = p.oldest(4)
    out = [0] * 6
    checks = []
    for per in (o1 - 1, o1, o4 - 1, o4, newest):
        ok = p.read(per, out)
        i = per - base
        checks.append([i, ok, out[1] if ok else -1, out[2] if ok else -1, out[3] if ok else -1])
    # Every kept period present exactly once, values exact (the 999 fine units carry on).
    bad = 0
    count = 0
    carry = 0
    for rec in p.records(0, 1 << 30, out):
        i = rec[0] - base
        if rec[2] != i % 1000 + (carry + 999 * (i + 1)) // 1000 - (carry + 999 * i) // 1000:
            bad += 1
        count += 1
    m2 = Meter(m.store.fram)
    return {
        "newest": newest - base,
        "import_kept": newest - o1 + 1,
        "all4_kept": newest - o4 + 1,
        "checks": checks,
        "count": count,
        "bad": bad,
        "reboot": [m2.profile.newest() - base, m2.profile.recovered, m2.profile.rewritten],
    }


def profile_read_api():
    m = _ram_meter()
    p = m.profile
    for i in range(6):
        p.accrue(T0 + i * 1800 + 1, (i + 1) * 1000, i, 2 * i, 3 * i)
    out = [0] * 6
    newest = [p.read_newest(0, out), list(out)]
    second = [p.read_newest(1, out), list(out)]
    rng = [list(r) for r in p.records(T0 // 1800 + 1, T0 // 1800 + 3, out)]
    tup = list(p.records(T0 // 1800 + 3, T0 // 1800 + 99))
    missing = [p.read(T0 // 1800 + 5, out), p.read(T0 // 1800 - 1, out), p.read_newest(9, out)]
    return {"newest": newest, "second": second, "range": rng, "tuples": tup, "missing": missing}


# ---- events -----------------------------------------------------------------------------
def events_basic():
    fram = RamFram(262144)
    m = Meter(fram)
    lg = m.logs
    s0 = lg.log(LOG_EVENT, 0x8145, 12, 1000)
    s1 = lg.log(LOG_EVENT, codes.NVM_ERROR, -5, None)
    s2 = lg.log(LOG_SECURITY, 0x8F74, 1, 2000)
    s3 = lg(LOG_POWER, 0x81BB, 2, 3000)
    bad = None
    try:
        lg.log(3, 1, 0, 0)
    except ValueError:
        bad = "ValueError"
    # No register commit since: the heads are found by probing at boot.
    m2 = Meter(fram)
    out = [0] * 4
    return {
        "seqs": [s0, s1, s2, s3],
        "bad": bad,
        "heads": list(m2.logs.heads),
        "event": list(m2.logs.entries(LOG_EVENT)),
        "security": list(m2.logs.entries(LOG_SECURITY)),
        "power": list(m2.logs.entries(LOG_POWER)),
        "newest": [m2.logs.newest(LOG_EVENT, 0, out), list(out)],
    }


def events_overflow():
    fram = RamFram(262144)
    m = Meter(fram)
    lg = m.logs
    cap = m.store.geo.log_slots[LOG_SECURITY]
    for i in range(cap + 10):
        lg.log(LOG_SECURITY, 0x8F74 + i % 5, i, 10 * i)
    m.store.commit_registers()
    for i in range(5):
        lg.log(LOG_EVENT, 0x8100 + i, i, i)
    refused = None
    try:
        lg.clear(LOG_SECURITY, 1)
    except ValueError:
        refused = "ValueError"
    lg.clear(LOG_EVENT, 999)
    lg.log(LOG_EVENT, 0x8200, 0, 1000)
    m2 = Meter(fram)  # register record not committed since: heads probed, watermark kept
    sec = list(m2.logs.entries(LOG_SECURITY))
    # Register record lost: every slot is scanned instead.
    for a in (m2.store.geo.reg_a, m2.store.geo.reg_b):
        fram.image[a + 30] ^= 1
    m3 = Meter(fram)
    return {
        "cap": cap,
        "count": m2.logs.count(LOG_SECURITY),
        "first_last": [sec[0][0], sec[0][3], sec[-1][0]],
        "refused": refused,
        "event": list(m2.logs.entries(LOG_EVENT)),
        "scan_heads": list(m3.logs.heads),
        "scan_event": list(m3.logs.entries(LOG_EVENT)),
    }


def alarms_basic():
    fram = RamFram(262144)
    m = Meter(fram)
    al = m.alarms
    r = [al.set(0x8F74, 0x81B9, True, 100, 1)]
    r.append(al.set(0x8F74, 0x81B9, True, 110, 1))  # still on: nothing logged
    r.append(al.set(codes.NVM_ERROR, codes.NVM_ERROR_CLEARED, True, None, 2, LOG_EVENT))
    m2 = Meter(fram)  # reboot: state kept, nothing re-logged
    active = m2.alarms.active()
    r.append(m2.alarms.set(0x8F74, 0x81B9, True, 120, 1))
    r.append(m2.alarms.set(0x8F74, 0x81B9, False, 130, 1))
    r.append(m2.alarms.set(codes.NVM_ERROR, None, False, 140))  # no off code: nothing logged
    m3 = Meter(fram)
    return {
        "changed": r,
        "active_after_reboot": active,
        "active_end": m3.alarms.active(),
        "security": list(m3.logs.entries(LOG_SECURITY)),
        "event": list(m3.logs.entries(LOG_EVENT)),
    }


def alarms_exactly_once(stride=1):
    """T14: cut at every byte of an alarm transition; after reboot the condition is reported
    again (it still holds): exactly one on-entry in the Security Log."""
    fram = CutFram(fast_reads=True)
    m = Meter(fram)
    m.store.commit_registers()
    image = bytes(fram.model.image)
    before = fram.model.bytes_written
    m.alarms.set(0x8F75, 0x81BC, True, 500, 3)
    cost = fram.model.bytes_written - before
    bad = []
    runs = 0
    for k in range(0, cost, stride):
        fram.restore(image)
        m = Meter(fram)
        fram.model.arm_cut(k, 16, None, k)
        try:
            m.alarms.set(0x8F75, 0x81BC, True, 500, 3)
        except PowerCut:
            pass
        fram.model.power_on()
        m = Meter(fram)
        m.alarms.set(0x8F75, 0x81BC, True, 501, 3)
        runs += 1
        n = 0
        for e in m.logs.entries(LOG_SECURITY):
            if e[2] == 0x8F75:
                n += 1
        if n != 1 or m.alarms.active() != [0x8F75]:
            bad.append([k, n])
    return {"cost": cost, "runs": runs, "bad": bad[:5]}


# ---- reads never alter (T8) -------------------------------------------------------------
def reads_do_not_write(n):
    fram = RamFram(262144)
    m = Meter(fram)
    for i in range(300):
        m.profile.accrue(T0 + i * 600 + 1, 3_000_000 + i, i, 0, 5)
        if i % 7 == 0:
            m.logs.log(i % 3, 0x8000 + i, i, T0 + i)
        if i % 50 == 0:
            m.alarms.set(0x8F74, 0x81B9, i % 100 == 0, T0 + i)
        m.store.commit_registers()
    m.store.config("identity").commit(b"X" * 96)
    image = bytes(fram.image)
    written = fram.bytes_written
    s = m.store
    p = m.profile
    lg = m.logs
    out = [0] * 6
    into = bytearray(layout.REG_LEN)
    reads = 0
    newest = p.newest()
    span = newest - p.oldest(1) + 1
    for i in range(n):
        k = i % 8
        if k == 0:
            s.load_registers(into)
        elif k == 1:
            s.config(layout.CONFIG_RECORDS[i % 5][0]).load(False)
        elif k == 2:
            p.read(newest - i % span, out)
        elif k == 3:
            p.read_newest(i % 200, out)
        elif k == 4:
            for _r in p.records(newest - 3, newest, out):
                pass
        elif k == 5:
            lg.read(i % 3, i % 60, out)
        elif k == 6:
            for _e in lg.entries(i % 3, out):
                pass
            lg.newest(i % 3, 0, out)
        else:
            m.alarms.active()
            Store(fram).mount()
        reads += 1
    return {
        "reads": reads,
        "identical": bytes(fram.image) == image,
        "bytes_written": fram.bytes_written - written,
        "alarm_active": m.alarms.active(),
    }
