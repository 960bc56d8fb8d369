"""Compile gate: every on-board module must compile with mpy-cross for both target MCUs.

On-board code is what a real board runs: boot.py, main.py, firmware/**, lib/**, hal/**
except hal/sim/**, and board/*.py except board/sim.py. Each module is compiled with
`-march=xtensawin` (ESP32) and `-march=armv6m` (RP2040) into build/mpy/<arch>/ (build/ is
never committed). Any failure is reported with its file and mpy-cross's message and the gate
exits 1; otherwise it prints a summary of files x archs and total .mpy bytes per arch.

The .mpy header (micropython.md §7): byte 0 'M', byte 1 version 6, byte 2 arch << 2 | 3
(0x2B xtensawin, 0x13 armv6m) -- but 0x00 when the module holds only bytecode, which is
portable and loads on any port -- byte 3 the small-int bits (31 on 32-bit ports).

Library use (tools/bench.py, tools/deploy.py, tests):
  on_board_sources(root) -> sorted list of repo-relative .py paths
  compile_all(arch, root=ROOT, out_dir=None) -> {path: .mpy size in bytes}; CompileError
  compile_source(src, arch, out, root=ROOT) -> the .mpy file's bytes; CompileError
"""

import argparse
import concurrent.futures
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tools.mpenv import ROOT, venv_tool  # noqa: E402

ARCHS = ("xtensawin", "armv6m")
# mpy-cross -march for each board that the firmware ships to; None = portable bytecode.
BOARD_ARCH = {"esp32": "xtensawin", "pico": "armv6m", "sim": None}
# Header byte 2 of an .mpy with native code for the arch (arch << 2 | sub-version 3).
ARCH_HEADER = {"xtensawin": 0x2B, "armv6m": 0x13, "x64": 0x0B}

MPY_CROSS_HINT = (
    "mpy-cross not found: run `make venv` (it installs mpy-cross from requirements.txt), "
    "or put mpy-cross on PATH / set MPY_CROSS=/path/to/mpy-cross"
)
_TIMEOUT_S = 60  # one module; mpy-cross takes milliseconds


class CompileError(Exception):
    """One or more modules failed to compile; .failures is a list of (path, arch, message)."""

    def __init__(self, failures):
        self.failures = failures
        super().__init__(
            "\n".join("%s [%s]: %s" % (p, a or "bytecode", m) for p, a, m in failures)
        )


def mpy_cross_binary():
    explicit = os.environ.get("MPY_CROSS")
    if explicit:
        return explicit if os.path.exists(explicit) else None
    return venv_tool("mpy-cross")


def _py_files(root, top):
    base = os.path.join(root, top)
    found = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for name in filenames:
            if name.endswith(".py"):
                found.append(os.path.relpath(os.path.join(dirpath, name), root))
    return found


def on_board_sources(root=ROOT):
    """Repo-relative paths (with '/') of every module a real board runs."""
    paths = []
    for name in ("boot.py", "main.py"):
        if os.path.isfile(os.path.join(root, name)):
            paths.append(name)
    for top in ("firmware", "lib"):
        paths += _py_files(root, top)
    paths += [p for p in _py_files(root, "hal") if not p.startswith(os.path.join("hal", "sim"))]
    paths += [
        p
        for p in _py_files(root, "board")
        if os.path.dirname(p) == "board" and os.path.basename(p) != "sim.py"
    ]
    return sorted(p.replace(os.sep, "/") for p in paths)


def sim_only_sources(root=ROOT):
    """What the virtual board needs on top of the on-board set: the chip models and board/sim.

    hal/sim/cpython is left out: it is the CPython shim and would shadow MicroPython's own
    `micropython` module.
    """
    paths = [
        p
        for p in _py_files(root, os.path.join("hal", "sim"))
        if not p.startswith(os.path.join("hal", "sim", "cpython"))
    ]
    if os.path.isfile(os.path.join(root, "board", "sim.py")):
        paths.append(os.path.join("board", "sim.py"))
    return sorted(p.replace(os.sep, "/") for p in paths)


def compile_source(src, arch, out, root=ROOT):
    """Compile repo-relative `src` to `out` (absolute); returns the .mpy bytes.

    The source name stored in the .mpy (and so in board tracebacks) is the repo-relative path.
    """
    binary = mpy_cross_binary()
    if binary is None:
        raise CompileError([(src, arch, MPY_CROSS_HINT)])
    os.makedirs(os.path.dirname(out), exist_ok=True)
    cmd = [binary]
    if arch:
        cmd.append("-march=" + arch)
    cmd += ["-o", out, src]
    try:
        proc = subprocess.run(
            cmd, cwd=root, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise CompileError([(src, arch, "mpy-cross timed out")]) from None
    if proc.returncode != 0:
        message = (proc.stderr + proc.stdout).strip()
        # mpy-cross prints a traceback; its last line says what is wrong, the one before where.
        lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
        where = [ln for ln in lines if ln.startswith("File ")]
        short = lines[-1] if lines else "mpy-cross failed (rc=%d)" % proc.returncode
        if where:
            short = "%s: %s" % (where[-1], short)
        raise CompileError([(src, arch, short)])
    with open(out, "rb") as f:
        return f.read()


def default_out_dir(arch, root=ROOT):
    return os.path.join(root, "build", "mpy", arch or "bytecode")


def compile_all(arch, root=ROOT, out_dir=None, sources=None, jobs=4):
    """Compile every on-board module (or `sources`) for `arch` into out_dir.

    Returns {repo-relative .py path: .mpy size in bytes}. Raises CompileError listing every
    failure (all modules are tried, so one run reports them all).
    """
    if out_dir is None:
        out_dir = default_out_dir(arch, root)
    if sources is None:
        sources = on_board_sources(root)
    results = {}
    failures = []

    def one(src):
        out = os.path.join(out_dir, src[:-3] + ".mpy")
        return src, len(compile_source(src, arch, out, root))

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, s) for s in sources]
        for fut in futures:
            try:
                src, size = fut.result()
                results[src] = size
            except CompileError as e:
                failures += e.failures
    if failures:
        raise CompileError(sorted(failures))
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=ROOT, help="repository root (default: this repo)")
    ap.add_argument("--arch", action="append", choices=ARCHS, help="only this arch (repeat)")
    args = ap.parse_args(argv)
    root = os.path.abspath(args.root)
    archs = args.arch or list(ARCHS)

    if mpy_cross_binary() is None:
        print("compile gate: " + MPY_CROSS_HINT, file=sys.stderr)
        return 1
    sources = on_board_sources(root)
    if not sources:
        print("compile gate: no on-board modules found under %s" % root, file=sys.stderr)
        return 1
    totals = {}
    failed = []
    for arch in archs:
        try:
            mpys = compile_all(arch, root=root, sources=sources)
            totals[arch] = sum(mpys.values())
        except CompileError as e:
            failed += e.failures
    if failed:
        print("compile gate: FAILED", file=sys.stderr)
        for path, arch, message in failed:
            print("  %s [%s]: %s" % (path, arch, message), file=sys.stderr)
        print(
            "compile gate: %d failure(s) in %d file(s)"
            % (len(failed), len({p for p, _a, _m in failed})),
            file=sys.stderr,
        )
        return 1
    print(
        "compile gate: %d files x %d archs compiled (%s)"
        % (len(sources), len(archs), ", ".join("%s %d bytes" % (a, totals[a]) for a in archs))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
