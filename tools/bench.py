"""Performance figures as one JSON object (DESIGN "Measures we hold ourselves to").

    make bench            or   .venv/bin/python tools/bench.py [--days 0.05]

Figures: heap in use after boot with everything constructed (MicroPython unix port; sim models
excluded), total .mpy bytes per architecture (mpy-cross, the compile gate's build), wall time
from start to the first metering tick on the virtual board, and simulated days per wall
second. Performance lives here, not in timed tests.
"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tools.mpenv import INSTALL_HINT, ROOT, micropython_binary  # noqa: E402


def run_micropython_bench(afe, days):
    binary = micropython_binary()
    if binary is None:
        raise SystemExit(INSTALL_HINT)
    env = dict(os.environ, OPENESME_SIM="/nonexistent", OPENESME_ROOT=ROOT)
    proc = subprocess.run(
        [binary, "-X", "heapsize=4M", "tools/bench_mp.py", afe, str(days)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH:"):
            return json.loads(line[len("BENCH:") :])
    raise SystemExit("bench under MicroPython failed:\n%s\n%s" % (proc.stdout, proc.stderr))


def mpy_sizes():
    from tools.compile_gate import compile_all

    sizes = {}
    for arch in ("xtensawin", "armv6m"):
        sizes[arch] = sum(compile_all(arch).values())
    return sizes


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--days", type=float, default=0.05, help="simulated days for the throughput")
    args = p.parse_args(argv)
    result = {"mpy_total_bytes": mpy_sizes()}
    for afe in ("ade7953", "atm90e32"):
        result[afe] = run_micropython_bench(afe, args.days)
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
