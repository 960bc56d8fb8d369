"""Scenarios for hal/fram.py + hal/sim/fram_model.py (run under CPython and MicroPython)."""

import errno

from hal.fram import MB85RS
from hal.sim import machine
from hal.sim.fram_model import PARTS, MB85RSModel


class _Spy:
    """Sits between the bus and a model and records the MOSI bytes of every CS frame."""

    def __init__(self, model):
        self.model = model
        self.spi_modes = model.spi_modes
        self.spi_max_hz = model.spi_max_hz
        self.frames = []
        self._cur = None

    def spi_begin(self):
        self._cur = []
        self.model.spi_begin()

    def spi_byte(self, b):
        self._cur.append(b)
        return self.model.spi_byte(b)

    def spi_end(self):
        self.frames.append(self._cur)
        self._cur = None
        self.model.spi_end()


def _bus(model, spy=False, baudrate=10_000_000, polarity=0, phase=0):
    spi = machine.SPI(1, baudrate=baudrate, polarity=polarity, phase=phase)
    cs = machine.Pin("CS", machine.Pin.OUT, value=1)
    dev = _Spy(model) if spy else model
    spi.attach(cs, dev)
    return spi, cs, dev


def _raw(spi, cs, data, nread=0):
    """One CS frame: send `data`, then clock `nread` bytes out (MOSI 0x00)."""
    cs(0)
    spi.write(bytes(data))
    out = spi.read(nread) if nread else b""
    cs(1)
    return list(out)


def _errno(fn):
    try:
        fn()
    except OSError as e:
        return e.errno
    except ValueError:
        return "ValueError"
    return None


def rdid_all():
    """Every RDID part: detected size, address width, product id, and exact frame bytes."""
    out = {}
    for part in sorted(PARTS):
        size, pid = PARTS[part]
        if pid is None:
            continue
        model = MB85RSModel(part)
        spi, cs, spy = _bus(model, spy=True)
        fram = MB85RS(spi, cs)
        init_frames = spy.frames[:]
        spy.frames.clear()
        fram.write(0x1234, b"\xaa\xbb")
        buf = bytearray(2)
        fram.readinto(0x1234, buf)
        out[part] = {
            "size": fram.size,
            "addr_bytes": fram.addr_bytes,
            "product_id": fram.product_id,
            "init_frames": init_frames,
            "frames": spy.frames,
            "read": list(buf),
        }
    return out


def round_trip(part):
    model = MB85RSModel(part)
    spi, cs, _ = _bus(model)
    fram = MB85RS(spi, cs)
    size = fram.size
    ok = []
    for addr, n in ((0, 17), (size // 2 - 3, 64), (size - 40, 40), (size - 1, 1)):
        data = bytearray((addr + i * 7 + n) & 0xFF for i in range(n))
        fram.write(addr, data)
        back = bytearray(n)
        fram.readinto(addr, back)
        # Into a memoryview window of a bigger buffer (what the store does).
        big = bytearray(n + 8)
        fram.readinto(addr, memoryview(big)[4 : 4 + n])
        ok.append(
            back == data
            and bytes(big[4 : 4 + n]) == bytes(data)
            and bytes(model.image[addr : addr + n]) == bytes(data)
            and big[0:4] == bytearray(4)
        )
    return {
        "ok": ok,
        "bytes_written": model.bytes_written,
        "write_frames": model.write_frames,
        "bytes_read": model.bytes_read,
    }


def wel_rules():
    """WRITE/WRSR need a separate WREN frame; WEL clears after each WRITE and at power-up."""
    model = MB85RSModel("MB85RS256TY")
    spi, cs, _ = _bus(model)
    img = model.image
    r = {}
    _raw(spi, cs, [0x02, 0x00, 0x10, 0x55])  # no WREN
    r["no_wren"] = img[0x10]
    _raw(spi, cs, [0x06])
    r["wel_after_wren"] = _raw(spi, cs, [0x05], 1)[0] & 2
    _raw(spi, cs, [0x02, 0x00, 0x10, 0x55, 0x56])
    r["with_wren"] = [img[0x10], img[0x11]]
    r["wel_after_write"] = _raw(spi, cs, [0x05], 1)[0] & 2
    _raw(spi, cs, [0x02, 0x00, 0x10, 0x77])  # WEL was consumed by the previous WRITE
    r["second_write"] = img[0x10]
    _raw(spi, cs, [0x06, 0x02, 0x00, 0x10, 0x77])  # WREN + WRITE in one frame: not a WRITE
    r["same_frame"] = img[0x10]
    _raw(spi, cs, [0x06])
    _raw(spi, cs, [0x04])  # WRDI
    _raw(spi, cs, [0x02, 0x00, 0x10, 0x77])
    r["after_wrdi"] = img[0x10]
    _raw(spi, cs, [0x06])
    model.power_off()
    model.power_on()
    r["wel_after_power_cycle"] = _raw(spi, cs, [0x05], 1)[0] & 2
    _raw(spi, cs, [0x02, 0x00, 0x10, 0x77])
    r["after_power_cycle"] = img[0x10]
    # WRSR without WEL is ignored; with WEL sets BP1:BP0 (only bits 7, 3, 2 are writable).
    _raw(spi, cs, [0x01, 0x0C])
    r["wrsr_no_wel"] = model.status
    _raw(spi, cs, [0x06])
    _raw(spi, cs, [0x01, 0xFF])
    r["wrsr"] = _raw(spi, cs, [0x05], 1)[0]
    r["write_frames"] = model.write_frames
    return r


def block_protect():
    """BP=01 protects the upper quarter; the driver clears protection at init."""
    model = MB85RSModel("MB85RS64V")
    spi, cs, _ = _bus(model)
    _raw(spi, cs, [0x06])
    _raw(spi, cs, [0x01, 0x04])  # BP0: upper 1/4 (0x1800..0x1FFF)
    _raw(spi, cs, [0x06])
    _raw(spi, cs, [0x02, 0x17, 0xFF, 0x11, 0x22])  # straddles 0x17FF|0x1800
    r = {"below": model.image[0x17FF], "above": model.image[0x1800], "status": model.status}
    fram = MB85RS(spi, cs)
    r["status_after_init"] = fram.read_status()
    fram.write(0x1800, b"\x33")
    r["above_after_init"] = model.image[0x1800]
    return r


def wrap():
    """The part's address counter rolls over to 0; the driver refuses to cross the end."""
    model = MB85RSModel("MB85RS64V")
    spi, cs, _ = _bus(model)
    for i in range(4):
        model.image[i] = 0xA0 + i
    model.image[0x1FFE] = 0x5E
    model.image[0x1FFF] = 0x5F
    r = {"read": _raw(spi, cs, [0x03, 0x1F, 0xFE], 4)}
    _raw(spi, cs, [0x06])
    _raw(spi, cs, [0x02, 0x1F, 0xFF, 1, 2, 3])
    r["written"] = [model.image[0x1FFF], model.image[0], model.image[1]]
    # Address bits above the array are ignored (0xFFFE on an 8 KiB part is 0x1FFE).
    r["high_bits"] = _raw(spi, cs, [0x03, 0xFF, 0xFE], 1)
    # 3-byte addressing wraps the same way on a 2 Mbit part.
    big = MB85RSModel("MB85RS2MT")
    spi2, cs2, _ = _bus(big)
    big.image[0x3FFFF] = 0x77
    big.image[0] = 0x78
    r["read_3byte"] = _raw(spi2, cs2, [0x03, 0x03, 0xFF, 0xFF], 2)
    return r


def bounds():
    model = MB85RSModel("MB85RS64V")
    spi, cs, _ = _bus(model)
    fram = MB85RS(spi, cs)
    one = bytearray(1)
    two = bytearray(2)
    return {
        "read_neg": _errno(lambda: fram.readinto(-1, one)),
        "read_past": _errno(lambda: fram.readinto(8191, two)),
        "read_last": _errno(lambda: fram.readinto(8191, one)),
        "write_at_end": _errno(lambda: fram.write(8192, one)),
        "write_past": _errno(lambda: fram.write(8100, bytearray(93))),
        "write_last": _errno(lambda: fram.write(8099, bytearray(93))),
        "empty": _errno(lambda: fram.readinto(8192, bytearray(0))),
        "bad_size": _errno(lambda: MB85RS(spi, cs, size=0)),
        "size_mismatch": _errno(lambda: MB85RS(spi, cs, size=32768)),
        "size_match": _errno(lambda: MB85RS(spi, cs, size=8192)),
    }


class _Zeros:
    """A device that answers 0x00 to everything (wrong part on the CS line)."""

    spi_modes = ((0, 0), (1, 1))
    spi_max_hz = 50_000_000

    def spi_begin(self):
        pass

    def spi_byte(self, b):
        return 0

    def spi_end(self):
        pass


def absent():
    spi = machine.SPI(1, baudrate=10_000_000)
    cs = machine.Pin("CS", machine.Pin.OUT, value=1)
    r = {
        "nothing": _errno(lambda: MB85RS(spi, cs)),
        "nothing_with_size": _errno(lambda: MB85RS(spi, cs, size=8192)),
    }
    spi2, cs2, _ = _bus(_Zeros())
    r["zeros"] = _errno(lambda: MB85RS(spi2, cs2))
    no_id = MB85RSModel("FM25CL64B")
    spi3, cs3, _ = _bus(no_id)
    r["no_rdid_without_size"] = _errno(lambda: MB85RS(spi3, cs3))
    fram = MB85RS(spi3, cs3, size=8192)
    fram.write(8190, b"\x01\x02")
    back = bytearray(2)
    fram.readinto(8190, back)
    r["no_rdid_with_size"] = [fram.size, fram.addr_bytes, list(back)]
    # Wrong SPI mode or too fast a clock: the part does not answer.
    spi4, cs4, _ = _bus(MB85RSModel(), polarity=1, phase=0)
    r["mode2"] = _errno(lambda: MB85RS(spi4, cs4))
    spi5, cs5, _ = _bus(MB85RSModel(), polarity=1, phase=1)
    r["mode3"] = MB85RS(spi5, cs5).size
    spi6, cs6, _ = _bus(MB85RSModel(), baudrate=40_000_000)
    r["too_fast"] = _errno(lambda: MB85RS(spi6, cs6))
    return r


def power_cut(k, garbage, garbage_at):
    """Overwrite 32 bytes of 0x11 at 100 with 0x80.. and cut after byte k of the data."""
    model = MB85RSModel("MB85RS2MT")
    spi, cs, _ = _bus(model)
    fram = MB85RS(spi, cs)
    fram.write(100, bytearray(b"\x11" * 32))
    if garbage_at is not None:
        fram.write(garbage_at, bytearray(b"\x22" * 4))
    new = bytearray(0x80 + i for i in range(32))
    model.arm_cut(k, garbage=garbage, garbage_at=garbage_at, seed=7)
    fram.write(100, new)
    r = {
        "cut": model.cut_happened,
        "cut_address": model.cut_address,
        "powered": model.powered,
        "region": list(model.image[100:132]),
    }
    if garbage_at is not None:
        r["at"] = list(model.image[garbage_at : garbage_at + 4])
    dead = bytearray(4)
    fram.readinto(100, dead)
    r["read_while_off"] = list(dead)
    before = bytes(model.image)
    fram.write(0, b"\x99")  # ignored: no power
    r["write_while_off_changed"] = bytes(model.image) != before
    model.power_on()
    r["status_after_power_on"] = fram.read_status()
    back = bytearray(32)
    fram.readinto(100, back)
    r["read_after_power_on"] = back == model.image[100:132]
    return r


def cut_not_reached():
    model = MB85RSModel("MB85RS64V")
    spi, cs, _ = _bus(model)
    fram = MB85RS(spi, cs)
    model.arm_cut(10)
    fram.write(0, bytearray(10))
    r = {"after_10": [model.cut_happened, model.cut_pending()]}
    fram.write(10, b"\x01")
    r["after_11"] = [model.cut_happened, model.cut_pending(), model.image[10]]
    return r


def save_load(path):
    model = MB85RSModel("MB85RS64V", path=path)
    fresh = [model.image[0], model.image[8191]]
    spi, cs, _ = _bus(model)
    MB85RS(spi, cs).write(8190, b"\xde\xad")
    model.save()
    again = MB85RSModel("MB85RS64V", path=path)
    ff = MB85RSModel("MB85RS64V", fill=0xFF)
    return {"fresh": fresh, "reloaded": list(again.image[8190:8192]), "fill": ff.image[5]}


def _locked(fn):
    import micropython

    micropython.heap_lock()
    try:
        fn()
        ok = True
    except MemoryError:
        ok = False
    micropython.heap_unlock()
    return ok


def heap_lock():
    """readinto/write of preallocated buffers and memoryviews allocate nothing."""
    # Through the fake bus (hal/sim/machine.py) and the model: both must be allocation-free
    # too, or the virtual board's steady-state tick could not be proved allocation-free.
    spi, cs, _ = _bus(MB85RSModel("MB85RS2MT"))
    fram = MB85RS(spi, cs)
    spi2, cs2, _ = _bus(MB85RSModel("MB85RS64V"))
    fram2 = MB85RS(spi2, cs2)
    buf = bytearray(64)
    for i in range(64):
        buf[i] = i
    back = bytearray(64)
    window = memoryview(back)[8:40]

    def work():
        for addr in (0, 1000, 0x3FF00):
            fram.write(addr, buf)
            fram.readinto(addr, back)
            fram.readinto(addr, window)
        fram2.write(0x1000, buf)
        fram2.readinto(0x1000, back)
        fram2.read_status()

    return {"locked_ok": _locked(work), "data_ok": back == buf}


def errno_values():
    return {"ENODEV": errno.ENODEV}
