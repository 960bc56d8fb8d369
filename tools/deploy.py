"""Build the files a board runs and copy them to it with mpremote.

The deploy set for a board goes to build/deploy/<board>/, laid out as the board's flash:
boot.py and main.py stay source (the board runs them by file name); every other on-board
module (see tools/compile_gate.py) becomes .mpy, compiled for the board's MCU:

  esp32  -march=xtensawin        pico  -march=armv6m
  sim    no -march: portable bytecode, which the MicroPython unix port loads. The virtual
         board also gets the chip models (hal/sim, without the CPython shim) and board/sim.py.

Copying uses mpremote only: one `exec` that makes the directories and deletes files that
are no longer in the set (a stale firmware/x.py would shadow the new firmware/x.mpy, since
MicroPython prefers .py), then `fs cp` per directory (mpremote skips unchanged files).
Against the virtual board use --resume: the unix port has no soft reset.

  python tools/deploy.py --board esp32 --port /dev/ttyUSB0
  python tools/deploy.py --board sim --port /dev/pts/5 --resume --extra sim.json
  python tools/deploy.py --board sim --flash-dir build/vboard   (plain copy, no mpremote)
  python tools/deploy.py --board pico --build-only
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tools import compile_gate  # noqa: E402
from tools.compile_gate import CompileError  # noqa: E402
from tools.mpenv import ROOT, venv_tool  # noqa: E402

BOARDS = tuple(sorted(compile_gate.BOARD_ARCH))
SOURCE_FILES = ("boot.py", "main.py")  # run by name at reset: never compiled
# Top-level directories the deploy owns on the board; files in them not in the set are removed.
MANAGED_DIRS = ("firmware", "hal", "lib", "board")
MPREMOTE_HINT = (
    "mpremote not found: run `make venv` (it installs mpremote from requirements.txt), or "
    "put mpremote on PATH / set MPREMOTE=/path/to/mpremote"
)


class DeployError(RuntimeError):
    pass


def mpremote_binary():
    explicit = os.environ.get("MPREMOTE")
    if explicit:
        return explicit if os.path.exists(explicit) else None
    return venv_tool("mpremote")


def deploy_sources(board, root=ROOT):
    """[(source .py, destination path on the board)] for `board`, sorted by destination."""
    if board not in compile_gate.BOARD_ARCH:
        raise ValueError("unknown board %r (one of %s)" % (board, ", ".join(BOARDS)))
    sources = compile_gate.on_board_sources(root)
    if board == "sim":
        sources = sorted(set(sources) | set(compile_gate.sim_only_sources(root)))
    pairs = []
    for src in sources:
        dest = src if src in SOURCE_FILES else src[:-3] + ".mpy"
        pairs.append((src, dest))
    return sorted(pairs, key=lambda p: p[1])


def _host_arch():
    # Native code (@micropython.native / viper) cannot be portable bytecode; the unix port
    # on x86-64 loads x64 machine code instead.
    return "x64" if os.uname().machine in ("x86_64", "amd64") else None


def build(board, root=ROOT, out_dir=None):
    """Build the deploy set for `board` into out_dir (default build/deploy/<board>), afresh.

    Returns (out_dir, listing) with listing = manifest(out_dir). Raises CompileError.
    """
    if out_dir is None:
        out_dir = os.path.join(root, "build", "deploy", board)
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    arch = compile_gate.BOARD_ARCH[board]

    def one(pair):
        src, dest = pair
        target = os.path.join(out_dir, dest)
        if src in SOURCE_FILES:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(os.path.join(root, src), target)
            return []
        try:
            compile_gate.compile_source(src, arch, target, root)
            return []
        except CompileError as e:
            native = any("invalid arch" in m for _p, _a, m in e.failures)
            if not (board == "sim" and native and _host_arch()):
                return e.failures
        try:
            compile_gate.compile_source(src, _host_arch(), target, root)
            return []
        except CompileError as e:
            return e.failures

    failures = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for result in pool.map(one, deploy_sources(board, root)):
            failures += result
    if failures:
        raise CompileError(sorted(failures))
    return out_dir, manifest(out_dir)


def manifest(out_dir):
    """{path on the board: [size, sha256 hex]} for every file in a built deploy set."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(out_dir):
        dirnames.sort()
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                data = f.read()
            rel = os.path.relpath(path, out_dir).replace(os.sep, "/")
            result[rel] = [len(data), hashlib.sha256(data).hexdigest()]
    return result


# Runs on the board before copying: make the directories, drop files that are not in the set.
_PREPARE = """\
import os
_want = set(%s)
_dirs = %s
def _prune(d):
    try:
        entries = list(os.ilistdir(d))
    except OSError:
        return
    for e in entries:
        p = d + "/" + e[0]
        if e[1] == 0x4000:
            _prune(p)
            if p not in _dirs:
                try:
                    os.rmdir(p)
                except OSError:
                    pass
        elif p not in _want:
            os.remove(p)
for _d in %s:
    _prune(_d)
for _d in _dirs:
    try:
        os.mkdir(_d)
    except OSError:
        pass
print("prepared", len(_want))
"""


def _dirs_of(paths):
    dirs = set()
    for p in paths:
        d = os.path.dirname(p)
        while d:
            dirs.add(d)
            d = os.path.dirname(d)
    return sorted(dirs, key=lambda d: (d.count("/"), d))


def upload_command(out_dir, device, resume=False, extra=()):
    """The mpremote argument list (without the program) that installs out_dir on `device`.

    extra: [(local path, path on the board)] copied after the set (e.g. sim.json).
    """
    files = sorted(manifest(out_dir))
    dirs = _dirs_of(files)
    managed = [d for d in MANAGED_DIRS if any(f.startswith(d + "/") for f in files)]
    args = ["connect", device]
    if resume:
        args.append("resume")
    prepare = _PREPARE % (json.dumps(files), json.dumps(dirs), json.dumps(managed))
    args += ["exec", prepare]
    by_dir = {}
    for f in files:
        by_dir.setdefault(os.path.dirname(f), []).append(f)
    for d in sorted(by_dir):
        if d:
            args += ["+", "fs", "cp"] + by_dir[d] + [":" + d + "/"]
        else:
            for f in by_dir[d]:
                args += ["+", "fs", "cp", f, ":" + f]
    for local, remote in extra:
        args += ["+", "fs", "cp", os.path.abspath(local), ":" + remote]
    return args


def upload(out_dir, device, resume=False, extra=(), timeout=300, mpremote=None):
    """Copy a built deploy set to the board at `device` with mpremote. Returns its output."""
    binary = mpremote or mpremote_binary()
    if binary is None:
        raise DeployError(MPREMOTE_HINT)
    cmd = [binary] + upload_command(out_dir, device, resume=resume, extra=extra)
    try:
        proc = subprocess.run(
            cmd, cwd=out_dir, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise DeployError("mpremote did not finish copying within %d s" % timeout) from None
    if proc.returncode != 0:
        raise DeployError(
            "mpremote failed (rc=%d):\n%s%s" % (proc.returncode, proc.stdout, proc.stderr)
        )
    return proc.stdout


def install_local(out_dir, flash_dir, extra=()):
    """Lay a deploy set straight into a virtual board's flash directory (no mpremote)."""
    os.makedirs(flash_dir, exist_ok=True)
    for top in MANAGED_DIRS:
        path = os.path.join(flash_dir, top)
        if os.path.isdir(path):
            shutil.rmtree(path)
    shutil.copytree(out_dir, flash_dir, dirs_exist_ok=True)
    for local, remote in extra:
        shutil.copyfile(local, os.path.join(flash_dir, remote))


def _parse_extra(values):
    pairs = []
    for v in values or ():
        local, _, remote = v.partition(":")
        pairs.append((local, remote or os.path.basename(local)))
    return pairs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", required=True, choices=BOARDS)
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--port", help="serial device (mpremote connect <port>)")
    where.add_argument("--flash-dir", help="copy into a virtual board's flash directory")
    ap.add_argument("--resume", action="store_true", help="no soft reset (virtual board)")
    ap.add_argument("--extra", action="append", help="LOCAL[:REMOTE] also copied, e.g. sim.json")
    ap.add_argument("--build-only", action="store_true", help="only build the deploy set")
    ap.add_argument("--out", help="build directory (default build/deploy/<board>)")
    ap.add_argument("--timeout", type=int, default=300, help="seconds for the copy")
    args = ap.parse_args(argv)

    try:
        out_dir, listing = build(args.board, out_dir=args.out)
    except CompileError as e:
        print("deploy: build failed:\n%s" % e, file=sys.stderr)
        return 1
    size = sum(v[0] for v in listing.values())
    print("deploy: %s set: %d files, %d bytes in %s" % (args.board, len(listing), size, out_dir))
    extra = _parse_extra(args.extra)
    if args.build_only:
        return 0
    if args.flash_dir:
        install_local(out_dir, args.flash_dir, extra)
        print("deploy: installed in %s" % args.flash_dir)
        return 0
    if not args.port:
        print("deploy: give --port DEVICE, --flash-dir DIR or --build-only", file=sys.stderr)
        return 2
    try:
        out = upload(out_dir, args.port, resume=args.resume, extra=extra, timeout=args.timeout)
    except DeployError as e:
        print("deploy: %s" % e, file=sys.stderr)
        return 1
    copied = sum(1 for ln in out.splitlines() if ln.startswith("cp "))
    print("deploy: copied to %s (%d cp commands); reset the board to run it" % (args.port, copied))
    return 0


if __name__ == "__main__":
    sys.exit(main())
