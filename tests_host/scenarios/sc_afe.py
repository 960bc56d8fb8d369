"""Scenarios for the grid model and the two metering front ends (CPython and MicroPython).

Each builds SimTime + fake Pin/SPI (hal/sim/machine.py), plugs a chip model in behind a CS
pin and drives the real driver, returning plain data for exact assertions.
"""

import errno
import time
from array import array

from hal import ade7953 as ade
from hal import atm90e32 as atm
from hal.sim import grid as G
from hal.sim.ade7953_model import ADE7953Model
from hal.sim.atm90e32_model import ATM90E32Model
from hal.sim.machine import SPI, Pin, Timer
from hal.sim.simtime import SimTime

KW = 1_000_000  # mW


def _ms():
    if hasattr(time, "ticks_ms"):
        return time.ticks_ms()
    return int(time.time() * 1000)


def _hex(frames):
    return [bytes(f).hex() for f in frames]


# ---- grid --------------------------------------------------------------------------------


def grid_day_cost():
    """One simulated day of the household profile (+ PV) integrated; wall cost in ms."""
    t = SimTime()
    prof = G.ProfileCsv(start="2012-06-01 00:00")
    g = G.GridModel(t, 1, G.Sum(prof, G.Pv(2 * KW)))
    t0 = _ms()
    for _ in range(96):  # the engine asks often; cost must stay per segment
        t.advance(900_000_000)
        g.energy_uj(0)
        g.state(0)
    cost = _ms() - t0
    plain = G.ProfileCsv(start="2012-06-01 00:00")
    mwh = [plain.power_mw_at_slot(k) // 2 for k in range(48)]
    return {
        "energy": list(g.energy_uj(0)),
        "segments": g.segments,
        "rows_read": prof.rows_read,
        "cost_ms": cost,
        "mwh": mwh,
    }


def grid_profile_lookup():
    p = G.ProfileCsv()
    first = [p.power_mw_at_slot(k) for k in range(4)]
    q = G.ProfileCsv(start="2012-10-18 00:00")  # a day missing from the file
    gap = q.power_mw_at_slot(0)
    r = G.ProfileCsv(start="2014-02-27 23:30")  # the last row, then the data repeats
    wrap = [r.power_mw_at_slot(0), r.power_mw_at_slot(1)]
    end, states = G.ProfileCsv(pf=(8, 10)).segment_at(60_000)
    cap = G.ProfileCsv(pf=(8, 10), capacitive=True).segment_at(60_000)[1][0]
    return {
        "first": first,
        "gap": gap,
        "wrap": wrap,
        "seg": [end, list(states[0])],
        "cap_q": cap[3],
        "kwh": [G.kwh_to_mwh("1.3150001"), G.kwh_to_mwh("0.1"), G.kwh_to_mwh("2.0360005")],
        "rows_read": q.rows_read,
    }


def grid_quadrants():
    """Import, export, reactive both ways, outage: exact cumulative uJ per quadrant."""
    t = SimTime()
    prog = G.Sequence(
        [
            (600_000, G.Constant(KW, 300_000)),  # 10 min import, inductive
            (300_000, G.Constant(-2 * KW, -100_000)),  # 5 min export, capacitive
            (300_000, G.Outage()),  # 5 min no supply
            (600_000, G.Reactive(G.Constant(500_000), ratio=(-1, 2))),
        ]
    )
    g = G.GridModel(t, 1, prog)
    out = []
    for step_ms in (600_000, 300_000, 150_000, 150_000, 600_000):
        t.advance(step_ms * 1000)
        out.append([list(g.energy_uj(0)), list(g.state(0)), g.supply_on(), g.next_change_us()])
    return out


def grid_events_3ph():
    """Schedule of sag, phase loss and outage on a 3-phase supply."""
    t = SimTime()
    base = G.Constant((KW, 2 * KW, 3 * KW), phases=3)
    prog = G.Schedule(
        base,
        [
            (1_000, 2_000, G.Sag(base, ratio=(8, 10))),
            (3_000, 4_000, G.PhaseLoss(base, 2)),
            (5_000, 6_000, G.Outage(3)),
            (7_000, 8_000, G.Sag(base, v_mv=253_000, phase=1)),
        ],
    )
    g = G.GridModel(t, 3, prog)
    out = []
    for at_ms in (500, 1500, 3500, 5500, 7500, 9000):
        t.advance_to(at_ms * 1000)
        out.append([[list(s) for s in g.states()], g.supply_on(), g.next_change_us()])
    out.append([list(g.energy_uj(p)) for p in range(3)])
    return out


def grid_pv_day():
    t = SimTime()
    g = G.GridModel(t, 1, G.Sum(G.Constant(300_000), G.Pv(3 * KW, step_ms=3_600_000)))
    samples = []
    for hour in range(24):
        t.advance_to((hour * 3_600_000 + 1) * 1000)
        samples.append(g.state(0)[2])
    t.advance_to(86_400_000_000)
    return {"p": samples, "energy": list(g.energy_uj(0))}


def grid_set_program():
    t = SimTime()
    g = G.GridModel(t, 1, G.Constant(KW))
    calls = []
    g.subscribe(lambda: calls.append(t.now_us()))
    t.advance(1_500_000)
    g.set_program(G.Constant(-KW))
    t.advance(500_000)
    return [list(g.energy_uj(0)), calls, g.state(0)[2]]


# ---- ADE7953 -----------------------------------------------------------------------------


def _ade_rig(program=None, irq=True, polarity=0, phase=0, baud=2_000_000, attach=True):
    t = SimTime()
    g = G.GridModel(t, 1, program)
    pin = Pin(4, Pin.IN, Pin.PULL_UP) if irq else None
    cs = Pin(5, Pin.OUT, value=1)
    spi = SPI(1, baudrate=baud, polarity=polarity, phase=phase)
    m = ADE7953Model(t, g, pin)
    if attach:
        spi.attach(cs, m)
    d = ade.ADE7953(spi, cs, pin, sleep_ms=lambda ms: t.advance(ms * 1000))
    return t, g, m, d, pin


def _windows(t, pin, d, n, counts, totals=None, oks=None):
    """Run until `n` CYCEND interrupts have been served (each read once)."""
    served = 0
    while served < n:
        due = t.next_due_us()
        if due is None:
            break
        t.advance_to(due)
        if pin.value() == 0:
            ok = d.read_energy_into(counts)
            served += 1
            if oks is not None and not ok:
                oks.append(t.now_us())
            if totals is not None:
                for k in range(len(counts)):
                    totals[k] += counts[k]
    return served


def ade_begin():
    t, g, m, d, pin = _ade_rig(G.Constant(KW))
    m.trace = []
    d.begin()
    frames = _hex(m.trace)
    m.trace = None
    return {
        "t_us": t.now_us(),
        "version": d.version,
        "optimum": m.optimum_settings(),
        "locked": m.locked(),
        "irq_after": pin.value(),
        "frames": frames,
        "lcycmode": m._regs[0x004],
        "linecyc": m._regs[0x101],
        "irqena": m._regs[0x22C],
        "line_cycle": d.line_cycle,
        "count_uwh": list(d.count_uwh),
        "phases": d.phases,
    }


def ade_read_once():
    t, g, m, d, pin = _ade_rig(G.Constant(KW, -200_000))
    d.begin()
    m.trace = []
    counts = array("l", [0] * 4)
    _windows(t, pin, d, 2, counts)
    trace = _hex(m.trace)
    first = list(counts)
    again = d.read_energy_into(counts)
    second = list(counts)
    # A bare second read of the 32-bit alias straight after a read-with-reset read.
    t.advance_to(t.next_due_us())
    raw1 = d._read(0x31E)
    raw2 = d._read(0x31E)
    return {
        "first": first,
        "again": [again, second],
        "raw": [raw1, raw2],
        "window_frames": trace[-12:],
    }


def ade_hour_import_export():
    """30 min import then 30 min export (windows aligned): counts equal the exact truth."""
    prog = G.Sequence(
        [
            (66, G.Constant(0)),
            (1_800_000, G.Constant(KW, 300_000)),
            (1_800_000, G.Constant(-500_000, -200_000)),
        ]
    )
    t, g, m, d, pin = _ade_rig(prog)
    d.begin()
    counts = array("l", [0] * 4)
    totals = [0, 0, 0, 0]
    fails = []
    served = _windows(t, pin, d, 3600, counts, totals, fails)
    truth = m.truth_counts()
    return {
        "served": served,
        "t_us": t.now_us(),
        "totals": totals,
        "truth": truth,
        "fails": fails,
        "grid_uj": list(g.energy_uj(0)),
        "uwh": [c * d.count_uwh[0] // d.count_uwh[1] for c in totals],
    }


def ade_profile_hour():
    """An hour of the household profile with PV export: net counts equal the truth exactly."""
    prog = G.Sum(
        G.ProfileCsv(start="2012-06-01 11:00"),
        G.Pv(1_200_000, sunrise_ms=0, sunset_ms=86_400_000, step_ms=600_000),
    )
    t, g, m, d, pin = _ade_rig(prog)
    d.begin()
    counts = array("l", [0] * 4)
    _windows(t, pin, d, 1, counts)
    base = m.truth_net_counts()
    totals = [0, 0, 0, 0]
    _windows(t, pin, d, 3600, counts, totals)
    net = m.truth_net_counts()
    return {
        "totals": totals,
        "net_truth": [net[0] - base[0], net[1] - base[1]],
        "net_read": [totals[0] - totals[1], totals[2] - totals[3]],
        "truth": m.truth_counts(),
    }


def ade_one_kw_hour():
    """D4: 1000 W for 3600 one-second windows -> exactly 1 kWh (100 000 x 10^-5 kWh)."""
    t, g, m, d, pin = _ade_rig(G.Constant(KW))
    d.begin()
    counts = array("l", [0] * 4)
    _windows(t, pin, d, 1, counts)
    totals = [0, 0, 0, 0]
    _windows(t, pin, d, 3600, counts, totals)
    num, den = d.count_uwh
    uwh = totals[0] * num // den
    return {"counts": totals[0], "uwh": uwh, "rem": totals[0] * num % den, "e5kwh": uwh // 10_000}


def ade_wrong_mode():
    out = []
    for pol, pha in ((1, 0), (0, 1)):
        t, g, m, d, pin = _ade_rig(G.Constant(KW), polarity=pol, phase=pha)
        try:
            d.begin()
            out.append("no error")
        except OSError as e:
            out.append(e.args[0] == errno.ENODEV)
    t, g, m, d, pin = _ade_rig(G.Constant(KW), polarity=1, phase=1)  # mode 3 is fine
    d.begin()
    out.append(d.version)
    t, g, m, d, pin = _ade_rig(G.Constant(KW), attach=False)
    try:
        d.begin()
        out.append("no error")
    except OSError as e:
        out.append(e.args[0] == errno.ENODEV)
    return out


def ade_no_irq():
    """Timer-paced board: continuous read-with-reset; reads at any moment lose nothing."""
    t, g, m, d, pin = _ade_rig(G.Constant(KW, 100_000), irq=False)
    d.begin()
    counts = array("l", [0] * 4)
    d.read_energy_into(counts)
    base = m.truth_counts()
    totals = [0, 0, 0, 0]
    for step in (1_000_000, 1_003_000, 997_000, 2_500_000, 1_000):
        t.advance(step)
        d.read_energy_into(counts)
        for k in range(4):
            totals[k] += counts[k]
    truth = m.truth_counts()
    return {
        "lcycmode": m._regs[0x004],
        "irqena": m._regs[0x22C],
        "totals": totals,
        "truth": [truth[k] - base[k] for k in range(4)],
        "t_us": t.now_us(),
    }


def ade_outage():
    prog = G.Schedule(G.Constant(KW), [(10_066, 20_066, G.Outage())])
    t, g, m, d, pin = _ade_rig(prog)
    d.begin()
    counts = array("l", [0] * 4)
    seen = []
    while t.now_us() < 30_066_000:
        t.advance_to(t.next_due_us())
        if pin.value() == 0:
            d.read_energy_into(counts)
            seen.append([t.now_us() // 1000, counts[0]])
    return {"windows": len(seen), "first": seen[:2], "around": seen[8:12], "cycends": m.cycends}


def ade_ctrl_c_in_cycend():
    """Ctrl-C at the virtual board lands inside the model's CYCEND event (it runs in the same
    interpreter as the firmware). SimTime flags the cut, restore_schedule() puts the lost event
    back, and the windows go on once a second; an intact schedule is left alone."""
    t, g, m, d, pin = _ade_rig(G.Constant(KW))
    d.begin()
    counts = array("l", [0] * 4)
    _windows(t, pin, d, 2, counts)
    real_sync = m._sync

    def interrupted_sync():
        m._sync = real_sync
        raise KeyboardInterrupt

    m._sync = interrupted_sync
    cut = False
    try:
        t.advance_to(t.next_due_us())
    except KeyboardInterrupt:
        cut = True
    lost = t.next_due_us() is None  # the next CYCEND went with the cut
    flagged = t.interrupted
    m.restore_schedule()
    m.restore_schedule()  # idempotent: one event, not two
    t0 = t.now_us()
    served = _windows(t, pin, d, 3, counts)
    return [cut, lost, flagged, served, (t.now_us() - t0) // 1000, m.cycends]


def spi_lost_cs_edge():
    """A Ctrl-C between a CS pin's change and the bus hearing of it (the virtual board's
    REPL): the AFE's deselect is lost. The next FRAM transfer, and the AFE's own, still reach
    their device (the bus rebuilds its selection from the pins), instead of floating."""
    from hal.fram import MB85RS
    from hal.sim.fram_model import MB85RSModel

    t, g, m, d, pin = _ade_rig(G.Constant(KW))
    d.begin()
    spi = d._spi
    fram_cs = Pin(15, Pin.OUT, value=1)
    spi.attach(fram_cs, MB85RSModel("MB85RS2MT"))
    fram = MB85RS(spi, fram_cs)
    fram.write(0x100, b"\x12\x34")
    afe_cs = d._cs
    afe_cs(0)
    afe_cs._level = 1  # the pin went high; its watchers never ran
    buf = bytearray(2)
    fram.readinto(0x100, buf)
    version = d._read(0x702)
    return [bytes(buf).hex(), version]


def timer_ctrl_c_in_callback():
    """The same for a periodic Timer whose expiry was cut short before it re-armed."""
    t = SimTime()
    Timer.sim_time = t
    fired = []
    tm = Timer(0, period=1000, callback=lambda _: fired.append(t.now_us() // 1000))
    t.advance(2_000_000)

    def interrupted_arm(due_us):
        del tm._arm
        raise KeyboardInterrupt  # the cut lands between taking the event and re-arming

    tm._arm = interrupted_arm
    try:
        t.advance(3_000_000)
    except KeyboardInterrupt:
        pass
    t.advance(3_000_000)  # nothing is armed: the timer is silent
    before = list(fired)
    Timer.restore_schedules()
    Timer.restore_schedules()
    t.advance(2_000_000)
    tm.deinit()
    return [before, fired[len(before) :]]


def ade_flipped_read():
    """A corrupted MISO byte: the read does not verify, counts 0, period flagged, no retry."""
    t, g, m, d, pin = _ade_rig(G.Constant(KW))
    d.begin()
    counts = array("l", [0] * 4)
    _windows(t, pin, d, 1, counts)
    t.advance_to(t.next_due_us())
    m.trace = []
    m.flip_miso = (0x31E, 0x10)  # one bit of one AENERGYA byte, on the wire
    ok = d.read_energy_into(counts)
    reads_31e = len([f for f in _hex(m.trace) if f.startswith("031e80")])
    flagged = [ok, list(counts), d.failed_reads, reads_31e]
    t.advance_to(t.next_due_us())
    ok2 = d.read_energy_into(counts)
    return flagged + [ok2, list(counts)]


def ade_chip_reset():
    t, g, m, d, pin = _ade_rig(G.Constant(KW))
    d.begin()
    counts = array("l", [0] * 4)
    _windows(t, pin, d, 1, counts)
    m.power_down()
    t.advance(5_000)
    m.power_up()
    t.advance(100_000)
    ok = d.read_energy_into(counts)
    flag = d.chip_reset
    d.begin()
    return [ok, flag, d.chip_reset, m.optimum_settings(), m.locked()]


def ade_calibration():
    t, g, m, d, pin = _ade_rig(G.Constant(KW))
    d.begin()
    d.write_calibration({"awgain": 0x200000, "phcala": -10, "phcalb": 200, "awattos": -5})
    regs = [m._regs[0x282], m._regs[0x108], m._regs[0x109], m._regs[0x289]]
    counts = array("l", [0] * 4)
    _windows(t, pin, d, 1, counts)
    _windows(t, pin, d, 1, counts)
    errors = []
    for bad in ({"awgain": 0x100000}, {"phcala": 400}, {"nope": 1}, {"awattos": 0x800000}):
        try:
            d.write_calibration(bad)
            errors.append("accepted")
        except ValueError:
            errors.append("ValueError")
    return {"regs": regs, "half_counts": counts[0], "errors": errors}


def ade_tamper():
    t, g, m, d, pin = _ade_rig(G.Constant(KW))
    d.begin()
    fig = array("l", [0] * ade.FIGURES)
    d.measure_into(fig)
    before = [fig[1], d.neutral_ma()]
    m.set_neutral_ratio(0, 1)
    after = [fig[1], d.neutral_ma()]
    return [before, after]


def ade_measure():
    t, g, m, d, pin = _ade_rig(G.Constant(KW, 300_000, v_mv=241_500, f_mhz=49_950))
    d.begin()
    fig = array("l", [0] * ade.FIGURES)
    d.measure_into(fig)
    out = [list(fig)]
    g.set_program(G.Constant(-2 * KW, -500_000))
    d.measure_into(fig)
    out.append(list(fig))
    vi = array("l", [-1] * ade.FIGURES)
    d.read_vi_into(vi)  # the per-tick read: V and I only
    out.append(list(vi))
    return out


def ade_vectors():
    """chips.md §8.2: D1 (ESPHome scaling), D2/D3 (accumulated-mode power), PHCAL cases."""
    esphome = ((1, 26), (1, 100), (500, 77))  # V = VRMS/26000, A = IRMS/100000, W = AWATT/154
    d1 = [
        ade.ratio(15_400, esphome[2]),
        ade.ratio(5_980_000, esphome[0]),
        ade.ratio(100_000, esphome[1]),
        ade.freq_mhz(4474),
        ade.pf_x1000(0x7FFF),
        ade.pf_x1000(0x8000),
    ]
    d2 = ade.power_mw(65_878, 1000, (1_000_000, 23_716))  # 1 LSB = 3600/154^2 J
    d3 = ade.power_mw(65_770, 1000, (2_341_494, 55_440))  # 1 LSB = 23.41494/154 J
    phcal = [ade.phcal(-10), ade.phcal(200), ade.phcal(-383), ade.phcal_value(0x20A)]
    gains = [ade.gain_for_error(1, 100), ade.gain_for_error(-2, 100)]
    return {"d1": d1, "d2": d2, "d3": d3, "phcal": phcal, "gains": gains}


class _StubAdeSpi:
    """An allocation-free stand-in for bus + chip, answering like the ADE7953 (LAST_* too).

    The fake machine.SPI and the model allocate (they are test equipment); this stub lets
    heap_lock() see the driver's own hot path alone."""

    def __init__(self):
        self.values = {0x32E: 0x040000, 0x31E: 6667, 0x320: 0xFFF830}
        self.last_op = 0
        self.last_add = 0
        self.last_data = 0

    def write_readinto(self, tx, rx):
        addr = (tx[0] << 8) | tx[1]
        n = len(tx) - 3
        if addr == 0x0FD:
            v = self.last_op
        elif addr == 0x1FE:
            v = self.last_add
        elif addr in (0x0FF, 0x1FF, 0x2FF):
            v = self.last_data
        else:
            v = self.values.get(addr, 0)
            self.last_op = 0x35
            self.last_add = addr
            self.last_data = v
        for k in range(n):
            rx[3 + k] = (v >> (8 * (n - 1 - k))) & 0xFF


class _StubPin:
    def __call__(self, v=None):
        return 1


class _StubAtmSpi:
    def __init__(self):
        self.last = 0

    def write_readinto(self, tx, rx):
        addr = ((tx[0] & 0x7F) << 8) | tx[1]
        if addr == 0x78:
            v = self.last
        else:
            v = (addr * 7) & 0xFFFF
            self.last = v
        rx[2] = v >> 8
        rx[3] = v & 0xFF


def heap_locked_reads():
    """read_energy_into and read_vi_into (the tick's reads) and measure_into of both drivers,
    200 times under heap_lock: no allocation at all."""
    import micropython

    a = ade.ADE7953(_StubAdeSpi(), _StubPin(), None, sleep_ms=lambda ms: None)
    b = atm.ATM90E32(_StubAtmSpi(), _StubPin(), sleep_ms=lambda ms: None)
    ca = array("l", [0] * 4)
    cb = array("l", [0] * 12)
    fa = array("l", [0] * ade.FIGURES)
    fb = array("l", [0] * 21)
    a.read_energy_into(ca)
    b.read_energy_into(cb)
    ok_a = ok_b = False
    micropython.heap_lock()
    try:
        for _ in range(200):
            ok_a = a.read_energy_into(ca)
            ok_b = b.read_energy_into(cb)
            a.read_vi_into(fa)
            b.read_vi_into(fb)
            a.measure_into(fa)
            b.measure_into(fb)
        result = "no allocation"
    except MemoryError:
        result = "allocated"
    finally:
        micropython.heap_unlock()
    return [result, ok_a, list(ca), ok_b, list(cb)]


# ---- ATM90E32 ----------------------------------------------------------------------------


def _atm_rig(program=None, polarity=1, phase=1, baud=1_000_000, attach=True, mc=3200):
    t = SimTime()
    g = G.GridModel(t, 3, program)
    cs = Pin(15, Pin.OUT, value=1)
    spi = SPI(2, baudrate=baud, polarity=polarity, phase=phase)
    m = ATM90E32Model(t, g)
    if attach:
        spi.attach(cs, m)
    d = atm.ATM90E32(spi, cs, sleep_ms=lambda ms: t.advance(ms * 1000), meter_constant=mc)
    return t, g, m, d, spi, cs


_THREE = G.Constant((KW, -500_000, 0), (100_000, 0, -200_000), phases=3)


def atm_begin():
    t, g, m, d, spi, cs = _atm_rig(_THREE)
    m.trace = []
    d.begin()
    frames = _hex(m.trace)
    m.trace = []
    fig = array("l", [0] * 21)
    d.measure_into(fig)
    measure_first = _hex(m.trace[:3])
    measure_frames = len(m.trace)
    m.trace = []
    vi = array("l", [-1] * 21)
    d.read_vi_into(vi)  # the per-tick read: V and I of each phase only
    return {
        "frames": frames,
        "measure_first": measure_first,
        "vi": list(vi),
        "frames_per_read": [measure_frames, len(m.trace)],
        "regs": [m._regs[a] for a in (0x00, 0x31, 0x32, 0x33, 0x34, 0x08, 0x09, 0x0C, 0x0D, 0x7F)],
        "count_uwh": list(d.count_uwh),
        "figures": list(fig),
        "t_us": t.now_us(),
        "phases": d.phases,
    }


def atm_hour():
    t, g, m, d, spi, cs = _atm_rig(_THREE)
    d.begin()
    counts = array("l", [0] * 12)
    d.read_energy_into(counts)
    base = [m.truth_counts(p) for p in range(3)]
    totals = [0] * 12
    oks = 0
    for _ in range(360):
        t.advance(10_000_000)
        oks += d.read_energy_into(counts)
        for k in range(12):
            totals[k] += counts[k]
    truth = []
    for p in range(3):
        now = m.truth_counts(p)
        truth += [now[k] - base[p][k] for k in range(4)]
    return {"totals": totals, "truth": truth, "oks": oks}


def atm_read_once():
    t, g, m, d, spi, cs = _atm_rig(_THREE)
    d.begin()
    t.advance(60_000_000)
    # An aborted frame (16 clocks) must not clear the register.
    cs(0)
    spi.write(b"\x80\x81")
    cs(1)
    first = d._read(0x81)
    last = d._read(0x78)
    second = d._read(0x81)
    # A write of 24 clocks is not committed.
    cs(0)
    spi.write(b"\x00\x7f\x55")
    cs(1)
    return [first, last, second, m._regs[0x7F]]


def atm_netting():
    """Forward and reverse cancel inside one 0.01 CF bucket (11.25 J at MC = 3200)."""
    prog = G.Sequence(
        [
            (100, G.Constant(0, phases=3)),
            (15_000, G.Constant((1_125, 0, 0), phases=3)),  # +1.5 LSB
            (15_000, G.Constant((-900, 0, 0), phases=3)),  # -1.2 LSB
            (15_000, G.Constant((375, 0, 0), phases=3)),  # +0.5 LSB
            (1_000, G.Constant(0, phases=3)),
        ]
    )
    t, g, m, d, spi, cs = _atm_rig(prog)
    d.begin()
    counts = array("l", [0] * 12)
    d.read_energy_into(counts)
    base = m.truth_counts(0)
    t.advance_to(50_000_000)
    d.read_energy_into(counts)
    truth = m.truth_counts(0)
    return [list(counts)[:4], [truth[k] - base[k] for k in range(4)]]


def atm_wrong_mode():
    out = []
    for pol, pha in ((0, 1), (1, 0)):
        t, g, m, d, spi, cs = _atm_rig(_THREE, polarity=pol, phase=pha)
        try:
            d.begin()
            out.append("no error")
        except OSError as e:
            out.append(e.args[0] == errno.ENODEV)
    t, g, m, d, spi, cs = _atm_rig(_THREE, polarity=0, phase=0)  # mode 0 also works
    d.begin()
    out.append(m._regs[0x00])
    t, g, m, d, spi, cs = _atm_rig(_THREE, baud=2_000_000)  # too fast for the part
    try:
        d.begin()
        out.append("no error")
    except OSError as e:
        out.append(e.args[0] == errno.ENODEV)
    return out


def atm_events():
    base = G.Constant((KW, KW, KW), phases=3)
    prog = G.Schedule(
        base, [(2_000, 4_000, G.PhaseLoss(base, 2)), (6_000, 8_000, G.Sag(base, ratio=(7, 10)))]
    )
    t, g, m, d, spi, cs = _atm_rig(prog)
    d.begin()
    out = []
    for at_ms in (1_000, 3_000, 5_000, 7_000):
        t.advance_to(at_ms * 1000)
        out.append([d.phase_loss(), d._read(0x72), d._read(0x74)])
    d._write(0x74, 0xFFFF)  # write 1 to clear
    out.append(d._read(0x74))
    return out


def atm_calibration():
    t, g, m, d, spi, cs = _atm_rig(G.Constant((KW, KW, KW), phases=3))
    d.begin()
    d.write_calibration({"pqgain_a": atm.pq_gain(-1378, 10_000), "ugain_b": 0xE41B, "phi_c": -36})
    regs = [m._regs[0x47], m._regs[0x65], m._regs[0x4C], m._regs[0x7F]]
    counts = array("l", [0] * 12)
    d.read_energy_into(counts)
    t.advance(36_000_000)  # 10 Wh per phase: 3200 counts at unity
    d.read_energy_into(counts)
    fig = array("l", [0] * 21)
    d.measure_into(fig)
    errors = []
    for bad in ({"nope": 1}, {"ugain_a": 0x10000}):
        try:
            d.write_calibration(bad)
            errors.append("accepted")
        except ValueError:
            errors.append("ValueError")
    return {"regs": regs, "counts": [counts[0], counts[4], counts[8]], "fig": list(fig)[:8],
            "errors": errors}  # fmt: skip


def atm_vectors():
    """chips.md §8.1 A1-A7 plus the phase example."""
    return {
        "a1": list(atm.pl_constant(3200)),
        "a2": list(atm.pl_constant(1000)),
        "a3_uwh": 320 * atm.count_uwh(3200)[0] // atm.count_uwh(3200)[1],
        "a4": atm.pmean_mw(0x0001, 0x86A0),
        "a5": atm.pmean_mw(0xFFFE, 0x7960),
        "a6": atm.rms_gain(32768, 12345, 67 << 8, 22000),
        "a7": atm.pq_gain(-1378, 10_000),
        "phi": atm.phi_gain(95, 10_000),
        "count_uwh_1000": list(atm.count_uwh(1000)),
        "sag_th": atm.threshold(190_000),
    }
