"""The meter's functional core: one object that boots from FRAM and registers each tick.

It composes the durable and metering pieces in the order DESIGN.md "How data flows" gives:

    boot:  store.mount -> event logs + alarms -> accumulator restored from the register
           record -> meter clock from the RTC (hint: the last committed UTC) -> profile
           power_up (zero-filled, "power down" periods for the outage) -> power event logged
    tick:  creep gate -> accumulator (counts -> Wh, remainder carried) -> reverse-running and
           phase-failure monitor -> HH profile accrual -> register record commit to FRAM

Methods take their inputs and `now`; nothing here touches hardware except through the
injected drivers (`fram`, `rtc`) and the `ticks_ms` callable, so tests drive a year of meter
time without asyncio, and the board runs the same object (firmware/app.py).

The tick allocates nothing on a non-boundary tick (heap_lock test, tests_host/test_meter.py).
Reads (registers_wh, status, the profile and log readers) never write (DESIGN rule 6).
"""

from array import array

from firmware import codes, layout
from firmware.clock import MeterClock
from firmware.creep import CreepGate
from firmware.energy import QUADRANT_NAMES, Accumulator
from firmware.events import Alarms, EventLogs, report_mount
from firmware.monitor import FIGS_PER_PHASE, Monitor
from firmware.profile import DATA_ERROR, Profile
from firmware.store import NO_TIME, Store, get_u32, put_u32

# Outages at least this long are "long" (GBCS 0x8F36, requirements.md §12: 3 minutes).
_LONG_OUTAGE_S = 180


class Meter:
    """Registers, profile, logs and clock of one meter, over one FRAM and one RTC."""

    def __init__(self, afe_phases, count_uwh, fram, rtc, ticks_ms, tick_ms=1000, max_counts=None):
        self.phases = afe_phases
        self._count_uwh = count_uwh
        self.tick_ms = tick_ms
        self.store = Store(fram)
        self.acc = Accumulator(
            afe_phases, count_uwh, **({} if max_counts is None else {"max_counts": max_counts})
        )
        self.gate = CreepGate(afe_phases)
        self.logs = None
        self.alarms = None
        self.clock = None
        self.monitor = None
        self.profile = None
        self._rtc = rtc
        self._ticks_ms = ticks_ms
        self.counts = array("l", [0] * (4 * afe_phases))
        self.figures = array("l", [0] * (FIGS_PER_PHASE * afe_phases))
        # Total slots of the four quadrants, looked up once (the tick must not allocate).
        self._total = tuple(self.acc.slot(None, q) for q in range(4))
        self.ticks = 0
        self.read_errors = 0
        self.boot_report = None

    # ---- boot -----------------------------------------------------------------------------
    def boot(self):
        """Mount the store and restore every register; returns the store's mount report."""
        store = self.store
        report = store.mount()
        self.boot_report = report
        self.logs = EventLogs(store)
        self.alarms = Alarms(self.logs, store)
        regs = store.regs
        if report["registers"] in ("ok", "repaired"):
            try:
                self.acc.unpack_from(regs, layout.REG_ENERGY)
            except ValueError:
                # A register record we cannot read is a functionality error, never a zero.
                store.fault("energy")
        last_utc = get_u32(regs, layout.REG_UTC)
        hint = None if last_utc == NO_TIME else last_utc
        self.clock = MeterClock(self._rtc, self._ticks_ms, now_utc_hint=hint, events=self.logs)
        self.clock.boot()
        now = self.clock.timestamp_or_none()
        report_mount(report, store, self.logs, self.alarms, now)
        self.monitor = Monitor(self.phases, self._count_uwh, self.logs, tick_ms=self.tick_ms)
        self.profile = Profile(store, self.acc.unit)
        self.profile.power_up(now)
        self._log_power_up(hint, now)
        self._save_tick_state(now)
        if not store.read_only:
            store.commit_registers()
        return report

    def _log_power_up(self, last_utc, now):
        """Power Event Log: supply restored, with the outage length when both ends are known."""
        if last_utc is None:
            return
        if now is None:
            self.logs.log(codes.LOG_POWER, codes.SUPPLY_RESTORED, 0, None)
            return
        off_s = now - last_utc
        code = codes.SUPPLY_RESTORED_LONG if off_s >= _LONG_OUTAGE_S else codes.SUPPLY_RESTORED
        self.logs.log(codes.LOG_POWER, code, off_s if off_s > 0 else 0, now)

    # ---- tick (hot path) --------------------------------------------------------------------
    def on_tick(self, counts, ok, figures):
        """Register one metering window. No allocation on a non-boundary tick."""
        self.ticks += 1
        if not ok:
            self.read_errors += 1
        now = self.clock.timestamp_or_none()
        self.gate.apply(counts, figures)
        acc = self.acc
        acc.on_tick(counts, ok)
        self.monitor.on_tick(counts, ok, figures, now)
        profile = self.profile
        if not ok:
            profile.flag(DATA_ERROR)
        d = acc.delta_fine
        t = self._total
        profile.accrue(now, d[t[0]], d[t[1]], d[t[2]], d[t[3]])
        self._save_tick_state(now)
        if not self.store.read_only:
            self.store.commit_registers()

    def _save_tick_state(self, now):
        regs = self.store.regs
        self.acc.pack_into(regs, layout.REG_ENERGY)
        put_u32(regs, layout.REG_TICK, self.ticks & 0x3FFFFFFF)
        put_u32(regs, layout.REG_UTC, NO_TIME if now is None else now)

    # ---- time synchronisation (COSEM Clock methods call these) --------------------------------
    def _after_clock_change(self, adj):
        """Close, truncate or extend HH periods for an applied change, then persist."""
        if adj.applied:
            self.profile.clock_changed(adj.old, adj.new)
            self._save_tick_state(self.clock.timestamp_or_none())
            if not self.store.read_only:
                self.store.commit_registers()
        return adj

    def set_time(self, sec):
        """Clock attribute 2 write (any step; the COSEM layer decides who may)."""
        return self._after_clock_change(self.clock.set_time(sec))

    def preset_adjusting_time(self, preset, validity_start=None, validity_end=None):
        self.clock.preset_adjusting_time(preset, validity_start, validity_end)

    def adjust_to_preset_time(self):
        return self._after_clock_change(self.clock.adjust_to_preset_time())

    def shift_time(self, seconds):
        return self._after_clock_change(self.clock.shift_time(seconds))

    # ---- reads (never mutate) -----------------------------------------------------------------
    def registers_wh(self):
        """Whole Wh / varh of the four total registers, by name."""
        out = {}
        for q in range(4):
            out[QUADRANT_NAMES[q]] = self.acc.wh(self._total[q])
        return out

    def phase_registers_wh(self):
        return [[self.acc.wh(self.acc.slot(p, q)) for q in range(4)] for p in range(self.phases)]
