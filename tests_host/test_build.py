"""Compile gate (tools/compile_gate.py) and deploy packaging (tools/deploy.py).

CPython-only: these test host tooling. Most cases use a small synthetic repo in a temp dir so
the expected file lists are exact; a few run over the real repo. The on-board prepare code of
the deploy runs under the MicroPython unix port.
"""

import hashlib
import json
import os
import subprocess

import pytest

import mpy
from tools import compile_gate, deploy

ROOT = compile_gate.ROOT

# A synthetic repo: what is on-board, what is sim-only, and what is neither.
TREE = {
    "boot.py": "print('boot')\n",
    "main.py": "import firmware.core\n",
    "firmware/__init__.py": "",
    "firmware/core.py": "def add(a, b):\n    return a + b\n",
    "firmware/cosem/__init__.py": "",
    "firmware/cosem/hdlc.py": "FLAG = 0x7E\n",
    "firmware/__pycache__/stale.py": "x = 1\n",
    "hal/__init__.py": "",
    "hal/chip.py": "from micropython import const\n\n_REG = const(0x10)\n",
    "hal/sim/__init__.py": "",
    "hal/sim/chip_model.py": "class Model:\n    pass\n",
    "hal/sim/cpython/micropython.py": "def const(x):\n    return x\n",
    "lib/__init__.py": "",
    "lib/crc.py": "def crc(b):\n    return 0\n",
    "board/__init__.py": "",
    "board/devkit.py": "PINS = (1, 2)\n",
    "board/sim.py": "NAME = 'sim'\n",
    "board/notes/wiring.py": "ROWS = ()\n",
    "tools/host.py": "import subprocess\n",
    "tests_host/test_x.py": "def test():\n    pass\n",
    "README.md": "# x\n",
}
ON_BOARD = [
    "board/__init__.py",
    "board/devkit.py",
    "boot.py",
    "firmware/__init__.py",
    "firmware/core.py",
    "firmware/cosem/__init__.py",
    "firmware/cosem/hdlc.py",
    "hal/__init__.py",
    "hal/chip.py",
    "lib/__init__.py",
    "lib/crc.py",
    "main.py",
]
SIM_ONLY = ["board/sim.py", "hal/sim/__init__.py", "hal/sim/chip_model.py"]

NATIVE = "import micropython\n\n\n@micropython.native\ndef double(x):\n    return x * 2\n"
THUMB = "import micropython\n\n\n@micropython.asm_thumb\ndef inc(r0):\n    add(r0, r0, 1)\n"


def make_repo(base, extra=None):
    files = dict(TREE)
    files.update(extra or {})
    for rel, text in files.items():
        path = os.path.join(str(base), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return str(base)


@pytest.fixture(autouse=True)
def _need_mpy_cross():
    if compile_gate.mpy_cross_binary() is None:
        pytest.skip(compile_gate.MPY_CROSS_HINT)


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path / "repo")


def header(path):
    with open(path, "rb") as f:
        return f.read(4)


# ---- which files are on-board -----------------------------------------------------------


def test_on_board_sources_are_exactly_the_board_modules(repo):
    assert compile_gate.on_board_sources(repo) == ON_BOARD


def test_sim_only_sources_are_the_models_and_board_sim(repo):
    assert compile_gate.sim_only_sources(repo) == SIM_ONLY


def test_real_repo_on_board_set_has_no_sim_code():
    sources = compile_gate.on_board_sources(ROOT)
    assert "boot.py" in sources and "main.py" in sources
    assert "firmware/app.py" in sources
    assert not [s for s in sources if s.startswith("hal/sim/") or s == "board/sim.py"]
    assert not [s for s in sources if s.startswith(("tools/", "tests_host/", "tests_hil/"))]


# ---- compile gate -----------------------------------------------------------------------


@pytest.mark.parametrize("arch", compile_gate.ARCHS)
def test_compile_all_compiles_every_module_of_the_real_repo(arch, tmp_path):
    sizes = compile_gate.compile_all(arch, out_dir=str(tmp_path))
    assert sorted(sizes) == compile_gate.on_board_sources(ROOT)
    for src, size in sizes.items():
        out = os.path.join(str(tmp_path), src[:-3] + ".mpy")
        assert os.path.getsize(out) == size
        head = header(out)
        # 'M', mpy v6, arch bits only when the module holds native code, 31-bit small ints.
        assert head[:2] == b"M\x06"
        assert head[2] in (0x00, compile_gate.ARCH_HEADER[arch])
        assert head[3] == 0x1F


def test_compile_all_returns_sizes_into_the_default_build_dir(repo):
    sizes = compile_gate.compile_all("armv6m", root=repo)
    assert sorted(sizes) == ON_BOARD
    out = os.path.join(repo, "build", "mpy", "armv6m", "firmware", "cosem", "hdlc.mpy")
    assert os.path.getsize(out) == sizes["firmware/cosem/hdlc.py"]


@pytest.mark.parametrize(("arch", "byte2"), [("xtensawin", 0x2B), ("armv6m", 0x13)])
def test_native_code_header_names_the_arch(arch, byte2, tmp_path):
    repo = make_repo(tmp_path / "repo", {"firmware/fast.py": NATIVE})
    compile_gate.compile_all(arch, root=repo, out_dir=str(tmp_path / "out"))
    head = header(str(tmp_path / "out" / "firmware" / "fast.mpy"))
    assert head == bytes([0x4D, 0x06, byte2, 0x1F])
    # Plain bytecode carries no arch: it loads on any port.
    assert header(str(tmp_path / "out" / "firmware" / "core.mpy")) == b"M\x06\x00\x1f"


def test_gate_passes_and_prints_the_summary(repo, capsys):
    assert compile_gate.main(["--root", repo]) == 0
    out = capsys.readouterr().out
    assert "compile gate: 12 files x 2 archs compiled" in out
    assert "xtensawin" in out and "armv6m" in out


def test_gate_fails_on_a_broken_module_naming_file_and_message(tmp_path, capsys):
    repo = make_repo(tmp_path / "repo", {"firmware/broken.py": "def f(:\n    pass\n"})
    assert compile_gate.main(["--root", repo]) == 1
    err = capsys.readouterr().err
    assert "firmware/broken.py [xtensawin]" in err
    assert "firmware/broken.py [armv6m]" in err
    assert "SyntaxError" in err
    assert "2 failure(s) in 1 file(s)" in err


def test_gate_catches_code_that_only_one_arch_rejects(tmp_path, capsys):
    # Thumb assembler is fine for the RP2040 and impossible on the ESP32's Xtensa.
    repo = make_repo(tmp_path / "repo", {"hal/thumb.py": THUMB})
    with pytest.raises(compile_gate.CompileError) as info:
        compile_gate.compile_all("xtensawin", root=repo, out_dir=str(tmp_path / "x"))
    assert [(p, a) for p, a, _m in info.value.failures] == [("hal/thumb.py", "xtensawin")]
    assert compile_gate.compile_all("armv6m", root=repo, out_dir=str(tmp_path / "a"))
    assert compile_gate.main(["--root", repo]) == 1
    err = capsys.readouterr().err
    assert "hal/thumb.py [xtensawin]" in err
    assert "[armv6m]" not in err


# ---- deploy set -------------------------------------------------------------------------


def expected_deploy(sources):
    return sorted(s if s in ("boot.py", "main.py") else s[:-3] + ".mpy" for s in sources)


@pytest.mark.parametrize("board", ["esp32", "pico"])
def test_real_board_deploy_set(board, repo, tmp_path):
    out, listing = deploy.build(board, root=repo, out_dir=str(tmp_path / board))
    assert sorted(listing) == expected_deploy(ON_BOARD)
    # boot.py and main.py go as source, byte for byte.
    with open(os.path.join(repo, "boot.py"), "rb") as f:
        data = f.read()
    assert listing["boot.py"] == [len(data), hashlib.sha256(data).hexdigest()]
    assert header(os.path.join(out, "hal", "chip.mpy")) == b"M\x06\x00\x1f"


def test_real_board_deploy_compiles_native_code_for_its_mcu(tmp_path):
    repo = make_repo(tmp_path / "repo", {"firmware/fast.py": NATIVE})
    for board, byte2 in (("esp32", 0x2B), ("pico", 0x13)):
        out, _listing = deploy.build(board, root=repo, out_dir=str(tmp_path / board))
        assert header(os.path.join(out, "firmware", "fast.mpy"))[2] == byte2


def test_sim_deploy_set_adds_models_but_not_the_cpython_shim(repo, tmp_path):
    out, listing = deploy.build("sim", root=repo, out_dir=str(tmp_path / "sim"))
    assert sorted(listing) == expected_deploy(ON_BOARD + SIM_ONLY)
    assert not [p for p in listing if "cpython" in p]
    for path in listing:
        if path.endswith(".mpy"):
            assert header(os.path.join(out, path))[2] == 0x00  # portable bytecode


def test_sim_deploy_loads_native_code_as_host_machine_code(tmp_path):
    repo = make_repo(tmp_path / "repo", {"firmware/fast.py": NATIVE})
    out, _listing = deploy.build("sim", root=repo, out_dir=str(tmp_path / "sim"))
    assert header(os.path.join(out, "firmware", "fast.mpy"))[2] == compile_gate.ARCH_HEADER["x64"]


def test_deploy_build_starts_afresh(repo, tmp_path):
    out = str(tmp_path / "esp32")
    os.makedirs(os.path.join(out, "firmware"))
    with open(os.path.join(out, "firmware", "gone.mpy"), "wb") as f:
        f.write(b"M")
    _out, listing = deploy.build("esp32", root=repo, out_dir=out)
    assert "firmware/gone.mpy" not in listing
    assert not os.path.exists(os.path.join(out, "firmware", "gone.mpy"))


def test_real_repo_deploy_sets(tmp_path):
    on_board = compile_gate.on_board_sources(ROOT)
    _out, esp32 = deploy.build("esp32", out_dir=str(tmp_path / "esp32"))
    assert sorted(esp32) == expected_deploy(on_board)
    _out, sim = deploy.build("sim", out_dir=str(tmp_path / "sim"))
    assert sorted(sim) == expected_deploy(on_board + compile_gate.sim_only_sources(ROOT))
    assert "board/sim.mpy" in sim and "board/sim.mpy" not in esp32


def test_unknown_board_is_a_value_error():
    with pytest.raises(ValueError):
        deploy.deploy_sources("esp8266")


# ---- copying ----------------------------------------------------------------------------


def test_upload_command_prepares_then_copies_per_directory(repo, tmp_path):
    out, _listing = deploy.build("esp32", root=repo, out_dir=str(tmp_path / "esp32"))
    args = deploy.upload_command(out, "/dev/ttyX", resume=True, extra=[("/tmp/o.json", "o.json")])
    assert args[:4] == ["connect", "/dev/ttyX", "resume", "exec"]
    chain = " ".join(args[5:])
    assert chain == (
        "+ fs cp boot.py :boot.py + fs cp main.py :main.py"
        " + fs cp board/__init__.mpy board/devkit.mpy :board/"
        " + fs cp firmware/__init__.mpy firmware/core.mpy :firmware/"
        " + fs cp firmware/cosem/__init__.mpy firmware/cosem/hdlc.mpy :firmware/cosem/"
        " + fs cp hal/__init__.mpy hal/chip.mpy :hal/"
        " + fs cp lib/__init__.mpy lib/crc.mpy :lib/"
        " + fs cp /tmp/o.json :o.json"
    )
    assert "resume" not in deploy.upload_command(out, "/dev/ttyX")


def test_prepare_code_prunes_stale_files_on_the_board(repo, tmp_path):
    """The code mpremote runs before copying, run for real under MicroPython."""
    binary = mpy.micropython_or_skip()
    out, _listing = deploy.build("esp32", root=repo, out_dir=str(tmp_path / "esp32"))
    flash = tmp_path / "flash"
    stale = {
        "firmware/core.py": "x = 1\n",  # would shadow firmware/core.mpy
        "firmware/old/gone.mpy": "",  # a package that no longer exists
        "lib/crc.mpy": "old",  # replaced by the copy, so kept
        "data.json": "{}",  # outside the managed directories: left alone
        "boot.py": "print('old')\n",
    }
    for rel, text in stale.items():
        path = flash / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    prepare = deploy.upload_command(out, "dev")[3]
    proc = subprocess.run(
        [binary, "-c", prepare],
        cwd=str(flash),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    mpy.STATS["micropython_runs"] += 1
    assert proc.stdout.strip() == "prepared 12"
    left = sorted(
        os.path.relpath(os.path.join(d, f), str(flash))
        for d, _s, fs in os.walk(str(flash))
        for f in fs
    )
    assert left == ["boot.py", "data.json", "lib/crc.mpy"]
    dirs = sorted(
        os.path.relpath(os.path.join(d, s), str(flash))
        for d, ss, _f in os.walk(str(flash))
        for s in ss
    )
    assert dirs == ["board", "firmware", "firmware/cosem", "hal", "lib"]


def test_install_local_lays_the_set_into_a_flash_dir(repo, tmp_path):
    out, listing = deploy.build("sim", root=repo, out_dir=str(tmp_path / "sim"))
    flash = tmp_path / "flash"
    (flash / "firmware").mkdir(parents=True)
    (flash / "firmware" / "core.py").write_text("stale = True\n")
    options = tmp_path / "sim.json"
    options.write_bytes(json.dumps({"speed": "max"}).encode())
    deploy.install_local(out, str(flash), extra=[(str(options), "sim.json")])
    text = json.dumps({"speed": "max"}).encode()
    assert deploy.manifest(str(flash)) == dict(
        listing, **{"sim.json": [len(text), hashlib.sha256(text).hexdigest()]}
    )
