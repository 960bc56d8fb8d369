"""Event codes and log identifiers shared by the whole firmware.

Event sinks are called as `events(log_id, code, value, utc_or_None)`. `log_id` names the
SMETS2 log the entry belongs in (requirements.md §14: Event Log 0-0:99.98.0.255, Security
Log 0-0:99.98.1.255, Power Event Log 0-0:99.98.4.255). Codes 0x80xx/0x81xx/0x8Fxx are GBCS
alert codes (requirements.md Appendix A, from gbcs-parser `src/util.ts`). CoP 10 alarms that
have no GBCS code use the meter-specific range 0xF000-0xFFFF (GBCS leaves it unused); each
area of the firmware takes a 16-code block of it, noted in its section below.

Each area appends its constants in its own delimited block.
"""

from micropython import const

# Logs (requirements.md §14). The ALCS log is added by the auxiliary-load work.
LOG_EVENT = const(0)
LOG_SECURITY = const(1)
LOG_POWER = const(2)

# ---- clock (firmware/clock.py) --------------------------------------------------------------
# GBCS clock alerts (requirements.md §3 "Clock alerts", Appendix A "Clock").
CLOCK_ADJUSTED = const(0x8145)  # adjusted within tolerance -> Event Log
CLOCK_NOT_ADJUSTED_WINDOW = const(0x81C6)  # outside the preset validity window -> Event Log
CLOCK_NOT_ADJUSTED_OVER_10S = const(0x8F0C)  # adjustment > 10 s refused -> Security Log
# Meter-specific block 0xF010-0xF01F: CoP 10 (MCOP 5.5.3) alarms with no GBCS code, and the
# invalid-time alarm of reliability.md §4 / T13 (on and off entries).
TIME_CHANGED_BY_PORT = const(0xF010)  # CoP 10 "port access which changes time/date"
DEMAND_PERIOD_ADJUSTED = const(0xF011)  # CoP 10 "demand period truncated/extended by sync"
CLOCK_INVALID = const(0xF012)  # RTC lost time / unreadable: alarm on
CLOCK_VALID = const(0xF013)  # clock valid again after a sync: alarm off
# ---- end clock ------------------------------------------------------------------------------

# ---- metering (firmware/energy.py, firmware/monitor.py) -------------------------------------
# Reverse running (requirements.md §1, §13; Appendix A "Metrology wiring"): on -> Power Event
# Log (ACL p.109). GBCS has no "reverse current cleared" code: the off entry uses the
# meter-specific block 0xF020-0xF02F taken by this area.
REVERSE_CURRENT = const(0x81BB)  # value = phase 1..3 (1 on a single-phase meter)
REVERSE_CURRENT_CLEARED = const(0xF020)  # CoP 10 "alarm off" entry; value = phase
REVERSE_LOG = LOG_POWER
# Phase failure / supply outage (requirements.md §12, Appendix A "Outage"). 4-sets: total (or
# single-phase), L1, L2, L3. Interrupted -> Event Log with no WAN alert (ACL p.109); the restored
# codes (critical alerts) are logged in the same log so each on entry has its off entry.
SUPPLY_INTERRUPTED = const(0x8F57)  # +1/+2/+3 = L1/L2/L3; value = phase voltage in mV
SUPPLY_RESTORED = const(0x8F35)  # total, outage < 3 min; value = outage duration in s
SUPPLY_RESTORED_LONG = const(0x8F36)  # total, outage >= 3 min (long-failure threshold 180 s)
SUPPLY_RESTORED_L1 = const(0x8F37)  # L1 short; +1 = L1 long, +2/+3 = L2, +4/+5 = L3
PHASE_FAILURE_LOG = LOG_EVENT
# ---- end metering ---------------------------------------------------------------------------

# ---- store, profile, logs (firmware/store.py, firmware/profile.py, firmware/events.py) ------
# Functionality error of the non-volatile memory (Appendix A "Firmware / integrity"): a record
# with both copies bad, a foreign/corrupt FRAM image (store read-only), a write that did not
# verify. Alarm with no GBCS "cleared" code; the off entry uses the meter-specific block
# 0xF030-0xF03F taken by this area.
NVM_ERROR = const(0x81AE)  # value = number of records in error
NVM_ERROR_CLEARED = const(0xF030)
EVENT_LOG_CLEARED = const(0x8F52)  # ECS15a cleared the Event Log (requirements.md §14)
STORE_FORMATTED = const(0xF031)  # blank FRAM formatted at boot; value = FRAM size in KiB
STORE_REPAIRED = const(0xF032)  # record copies rewritten at mount; value = how many
# ---- end store ------------------------------------------------------------------------------

# ---- calibration (firmware/calibration.py) --------------------------------------------------
# CoP 10 (MCOP 5.5.3) "interrogation port access which changes data other than time/date" is
# the comms block's 0xF041 (firmware/cosem/security.py DATA_CHANGED_BY_PORT, value = client
# SAP); a calibration write logs the same code with value 0 (no DLMS client: the procedure).
DATA_CHANGED_BY_PORT = const(0xF041)
CHANGED_BY_CALIBRATION = const(0)
# Meter-specific block 0xF050-0xF05F. CoP 10 "detected functionality errors": the stored
# calibration is corrupt, foreign or was not taken by the chip, so the front end runs on its
# defaults (alarm on / off).
CALIBRATION_FAULT = const(0xF050)  # value = firmware/calibration.py FAULT_* reason
CALIBRATION_FAULT_CLEARED = const(0xF051)  # a valid record applied or a new one saved
# ---- end calibration ------------------------------------------------------------------------
