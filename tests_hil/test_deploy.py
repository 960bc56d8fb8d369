"""The files on the board are exactly the deploy set that was built (tools/deploy.py)."""

from tools.deploy import MANAGED_DIRS, SOURCE_FILES

# Runs on the board: size and SHA-256 of every file the deploy manages.
LISTING = """
import os, hashlib, binascii
def digest(p):
    h = hashlib.sha256()
    buf = bytearray(512)
    with open(p, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(buf[:n])
    return binascii.hexlify(h.digest()).decode()
out = {}
def walk(d):
    for e in os.ilistdir(d):
        p = d + "/" + e[0]
        if e[1] == 0x4000:
            walk(p)
        else:
            out[p] = [os.stat(p)[6], digest(p)]
for d in %r:
    try:
        walk(d)
    except OSError:
        pass
for f in %r:
    try:
        out[f] = [os.stat(f)[6], digest(f)]
    except OSError:
        pass
emit(out)
""" % (MANAGED_DIRS, SOURCE_FILES)


def test_board_files_match_the_build(board):
    on_board = board.query(LISTING)
    assert sorted(on_board) == sorted(board.listing)
    assert on_board == board.listing


def test_entry_points_are_source_and_modules_are_compiled(board):
    names = set(board.listing)
    assert {"boot.py", "main.py"} <= names
    assert "firmware/app.mpy" in names
    others = names - {"boot.py", "main.py"}
    assert others and all(n.endswith(".mpy") for n in others)
    # The virtual board also carries the chip models; a real one never does.
    has_models = any(n.startswith("hal/sim/") for n in names)
    assert has_models == (board.name == "sim")
    assert ("board/sim.mpy" in names) == (board.name == "sim")
