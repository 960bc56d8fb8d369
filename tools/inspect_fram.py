"""Report what a FRAM image holds: registers, HH profile coverage and log sizes.

    .venv/bin/python tools/inspect_fram.py DIR/fram.img [--json]

The image (from `make sim ... --out DIR`, or read off a board) is mounted with the
firmware's own store code over a RAM copy, so nothing is written back to the file.
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.append(os.path.join(ROOT, "hal", "sim", "cpython"))

from firmware import civil  # noqa: E402
from firmware.profile import Profile  # noqa: E402
from firmware.store import RamFram, Store  # noqa: E402

_PERIOD = 1800


def _when(period):
    return civil.format_utc(period * _PERIOD) if period >= 0 else None


def inspect(path):
    with open(path, "rb") as f:
        image = f.read()
    fram = RamFram(len(image))
    fram.image[:] = image
    store = Store(fram)
    report = store.mount()
    out = {"size": len(image), "mount": report["state"], "errors": report["errors"]}
    if store.mounted:
        prof = Profile(store, 1000)
        newest = prof.newest()
        old4 = prof.oldest(4)
        old1 = prof.oldest(1)
        out["profile"] = {
            "newest_period_end_utc": _when(newest + 1) if newest >= 0 else None,
            "all_four_channels_from_utc": _when(old4),
            "import_from_utc": _when(old1),
            "all_four_channels_days": (newest - old4 + 1) / 48 if newest >= 0 else 0,
            "import_days": (newest - old1 + 1) / 48 if newest >= 0 else 0,
            "capacity_periods": {
                "all4": store.geo.all4_periods(),
                "import": store.geo.import_periods(),
            },
        }
        from firmware.events import EventLogs

        logs = EventLogs(store)
        out["logs"] = {"event": logs.count(0), "security": logs.count(1), "power": logs.count(2)}
    out["bytes_written_by_inspection"] = store.bytes_written
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("image")
    args = p.parse_args(argv)
    print(json.dumps(inspect(args.image), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
