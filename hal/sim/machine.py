"""Fake `machine` buses for the virtual board: the subset of the MicroPython API our drivers use.

board/sim.py builds these exactly where board/esp32_devkit.py builds `machine.SPI` etc., and
wires chip models behind them. Drivers cannot tell the difference: they see the same method
names, the same argument conventions and the same errors (OSError(ENODEV) for an absent I2C
device, bytes of 0xFF from an unselected SPI bus).

Device model protocols (implemented in the other hal/sim modules):

SPI device (selected by its chip-select Pin going low):
    spi_modes      tuple of accepted (polarity, phase) pairs
    spi_max_hz     highest SCLK the part accepts
    spi_begin()    CS fell: a new frame starts
    spi_byte(b)    one byte clocked in, returns the byte clocked out (full duplex)
    spi_end()      CS rose: the frame ends (writes commit, aborted frames are discarded)

    Optional bulk paths (the bus looks them up once, at attach time, and uses them for a
    whole transfer instead of one spi_byte() call per byte; each must have exactly the
    effect of feeding the same bytes to spi_byte() one by one, and allocate nothing):
    spi_write_bytes(buf)          write(): MOSI = buf, MISO ignored
    spi_read_into(buf, fill)      readinto(): MOSI = `fill` repeated, MISO into buf
    spi_transfer(wbuf, rbuf)      write_readinto(): MOSI = wbuf, MISO into rbuf

I2C device (addressed by 7-bit address):
    i2c_write(data)   a write transaction (first byte is usually the register pointer)
    i2c_read(n)       a read transaction, returns n bytes
    A bus clock above the device's `i2c_max_hz` returns OSError(EIO).

All of this runs under the MicroPython unix port as well as CPython.
"""

try:
    import errno

    _ENODEV = errno.ENODEV
    _EIO = errno.EIO
    _ETIMEDOUT = errno.ETIMEDOUT
except (ImportError, AttributeError):  # pragma: no cover
    _ENODEV, _EIO, _ETIMEDOUT = 19, 5, 110


class Pin:
    """A GPIO. Outputs notify watchers (models); inputs are driven by models via `drive()`."""

    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 1
    IRQ_RISING = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self._mode = mode
        self._level = 1 if pull == Pin.PULL_UP else 0
        self._watchers = []
        self._handler = None
        self._trigger = 0
        self.irq_count = 0
        if value is not None:
            self._level = 1 if value else 0

    def init(self, mode=-1, pull=-1, value=None):
        if mode != -1:
            self._mode = mode
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            return self._level
        level = 1 if v else 0
        if level != self._level:
            self._level = level
            for w in self._watchers:
                w(level)
        return None

    __call__ = value  # pin(0) is pin.value(0), one call level less: drivers toggle CS a lot

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3, hard=False):
        self._handler = handler
        self._trigger = trigger
        return self

    # ---- sim side -------------------------------------------------------------------
    def watch(self, callback):
        """Model hook: callback(level) whenever the firmware changes this output."""
        self._watchers.append(callback)

    def drive(self, level):
        """Model hook: set an input level; fires the IRQ handler on a matching edge."""
        level = 1 if level else 0
        if level == self._level:
            return
        self._level = level
        edge = Pin.IRQ_RISING if level else Pin.IRQ_FALLING
        if self._handler is not None and (self._trigger & edge):
            self.irq_count += 1
            self._handler(self)


class SPI:
    """SPI controller routing each frame to the device whose CS pin is low.

    `bytes_transferred` counts every byte clocked, `device_bytes(model)` those a device
    answered (the bench splits the bus traffic by device with it)."""

    MSB = 0
    LSB = 1

    def __init__(self, id, baudrate=1_000_000, polarity=0, phase=0, bits=8, firstbit=0, **pins):
        self.id = id
        # One list per device: [cs_pin, model, spi_write_bytes, spi_read_into, spi_transfer,
        # bytes answered, mode and clock accepted]. The bulk paths are bound once here: fetching
        # a bound method per transfer would allocate (None when the model has no such path).
        self._devices = []
        # The selection is tracked from the CS edges (the devices whose CS is low), so a
        # transfer finds its device without polling every CS pin. Each edge sets its device's
        # membership (idempotent), and a transfer that finds the list inconsistent with the
        # pins rebuilds it: a Ctrl-C landing between a CS pin's change and its notification
        # (the virtual board's REPL) must not leave the bus floating for good.
        self._selected_devs = []
        self.bytes_transferred = 0
        self.init(baudrate=baudrate, polarity=polarity, phase=phase, bits=bits, firstbit=firstbit)

    def init(self, baudrate=1_000_000, polarity=0, phase=0, bits=8, firstbit=0, **pins):
        if bits != 8 or firstbit != SPI.MSB:
            raise ValueError("sim SPI supports 8-bit MSB-first only")
        self.baudrate = baudrate
        self.polarity = polarity
        self.phase = phase
        self._mode = (polarity, phase)
        for dev in self._devices:
            dev[6] = self._accepts(dev[1])

    def _accepts(self, model):
        # A device clocked in a mode it does not support, or too fast, sees garbage and
        # drives nothing.
        return self._mode in model.spi_modes and self.baudrate <= model.spi_max_hz

    def deinit(self):
        pass

    # ---- sim wiring -----------------------------------------------------------------
    def attach(self, cs_pin, model):
        """Wire `model` to this bus behind `cs_pin` (active low)."""
        dev = [
            cs_pin,
            model,
            getattr(model, "spi_write_bytes", None),
            getattr(model, "spi_read_into", None),
            getattr(model, "spi_transfer", None),
            0,
            self._accepts(model),
        ]
        self._devices.append(dev)
        selected = self._selected_devs
        if cs_pin.value() == 0:
            selected.append(dev)

        def on_cs(level, model=model, dev=dev):
            if level == 0:
                if dev not in selected:
                    selected.append(dev)
                model.spi_begin()
            else:
                if dev in selected:
                    selected.remove(dev)
                model.spi_end()

        cs_pin.watch(on_cs)

    def device_bytes(self, model):
        """Bytes clocked while `model` was the selected, answering device."""
        for dev in self._devices:
            if dev[1] is model:
                return dev[5]
        raise ValueError("model not attached to this bus")

    def _resync(self):
        """Rebuild the selection from the CS pins' levels."""
        selected = self._selected_devs
        selected.clear()
        for dev in self._devices:
            if dev[0].value() == 0:
                selected.append(dev)

    def _selected(self):
        """The device entry of the one answering device, or None (floating MISO)."""
        selected = self._selected_devs
        if len(selected) != 1 or selected[0][0].value() != 0:
            self._resync()
            if len(selected) != 1:
                return None  # nobody, or bus contention: two devices selected, nobody answers
        dev = selected[0]
        if not dev[6]:
            return None
        return dev

    # ---- machine.SPI API --------------------------------------------------------------
    def write(self, buf):
        dev = self._selected()
        n = len(buf)
        self.bytes_transferred += n
        if dev is None:
            return
        dev[5] += n
        bulk = dev[2]
        if bulk is not None:
            bulk(buf)
            return
        model = dev[1]
        for b in buf:
            model.spi_byte(b)

    def read(self, nbytes, write=0x00):
        buf = bytearray(nbytes)
        self.readinto(buf, write)
        return bytes(buf)

    def readinto(self, buf, write=0x00):
        dev = self._selected()
        n = len(buf)
        self.bytes_transferred += n
        if dev is None:
            for i in range(n):
                buf[i] = 0xFF
            return
        dev[5] += n
        bulk = dev[3]
        if bulk is not None:
            bulk(buf, write)
            return
        model = dev[1]
        for i in range(n):
            buf[i] = model.spi_byte(write) & 0xFF

    def write_readinto(self, write_buf, read_buf):
        n = len(write_buf)
        if n != len(read_buf):
            raise ValueError("buffers must be the same length")
        dev = self._selected()
        self.bytes_transferred += n
        if dev is None:
            for i in range(n):
                read_buf[i] = 0xFF
            return
        dev[5] += n
        bulk = dev[4]
        if bulk is not None:
            bulk(write_buf, read_buf)
            return
        model = dev[1]
        for i in range(n):
            read_buf[i] = model.spi_byte(write_buf[i]) & 0xFF


class I2C:
    """I2C controller routing transactions by 7-bit address."""

    def __init__(self, id=0, scl=None, sda=None, freq=400_000, timeout=50_000):
        self.id = id
        self.freq = freq
        self._devices = {}
        self.transactions = 0

    def init(self, scl=None, sda=None, freq=400_000):
        self.freq = freq

    def attach(self, addr, model):
        self._devices[addr] = model

    def _device(self, addr):
        model = self._devices.get(addr)
        if model is None:
            raise OSError(_ENODEV, "no I2C device at 0x%02x" % addr)
        if self.freq > getattr(model, "i2c_max_hz", 400_000):
            raise OSError(_EIO, "I2C clock too fast for the device at 0x%02x" % addr)
        self.transactions += 1
        return model

    def scan(self):
        return sorted(self._devices)

    def writeto(self, addr, buf, stop=True):
        self._device(addr).i2c_write(bytes(buf))
        return len(buf)

    def readfrom_into(self, addr, buf, stop=True):
        data = self._device(addr).i2c_read(len(buf))
        for i in range(len(buf)):
            buf[i] = data[i]

    def readfrom(self, addr, nbytes, stop=True):
        return bytes(self._device(addr).i2c_read(nbytes))

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        model = self._device(addr)
        model.i2c_write(_mem_prefix(memaddr, addrsize) + bytes(buf))

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        model = self._device(addr)
        model.i2c_write(_mem_prefix(memaddr, addrsize))
        data = model.i2c_read(len(buf))
        for i in range(len(buf)):
            buf[i] = data[i]

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf, addrsize)
        return bytes(buf)


def _mem_prefix(memaddr, addrsize):
    if addrsize == 8:
        return bytes((memaddr & 0xFF,))
    return bytes(((memaddr >> 8) & 0xFF, memaddr & 0xFF))


class UART:
    """A UART whose far end is the host (pty, TCP bridge or a test) through `peer_*`."""

    def __init__(self, id, baudrate=9600, bits=8, parity=None, stop=1, rxbuf=1024, **kw):
        self.id = id
        self.baudrate = baudrate
        self._rx = bytearray()  # host -> board
        self._tx = bytearray()  # board -> host
        self._rxbuf = rxbuf
        self.overruns = 0

    def init(self, baudrate=9600, **kw):
        self.baudrate = baudrate

    def any(self):
        return len(self._rx)

    def read(self, nbytes=-1):
        if not self._rx:
            return None
        if nbytes < 0 or nbytes > len(self._rx):
            nbytes = len(self._rx)
        out = bytes(self._rx[:nbytes])
        self._rx = self._rx[nbytes:]  # MicroPython's bytearray has no slice deletion
        return out

    def readinto(self, buf, nbytes=-1):
        if not self._rx:
            return None
        n = len(buf) if nbytes < 0 else min(nbytes, len(buf))
        n = min(n, len(self._rx))
        for i in range(n):
            buf[i] = self._rx[i]
        self._rx = self._rx[n:]
        return n

    def write(self, buf):
        self._tx.extend(buf)
        return len(buf)

    # ---- sim side -------------------------------------------------------------------
    def peer_write(self, data):
        """Bytes arriving from the far end; a full receive buffer drops them (overrun)."""
        room = self._rxbuf - len(self._rx)
        if len(data) > room:
            self.overruns += len(data) - room
            data = data[:room]
        self._rx.extend(data)

    def peer_read(self):
        out = bytes(self._tx)
        self._tx = bytearray()
        return out


class Timer:
    """machine.Timer over simulated time (`Timer.sim_time` is set by board/sim.py)."""

    ONE_SHOT = 0
    PERIODIC = 1
    sim_time = None
    running = []  # armed timers, so a power cut can stop them all

    def __init__(self, id=-1, mode=PERIODIC, period=-1, freq=-1, callback=None):
        self.id = id
        self._handle = None
        if callback is not None:
            self.init(mode=mode, period=period, freq=freq, callback=callback)

    def init(self, mode=PERIODIC, period=-1, freq=-1, callback=None):
        self.deinit()
        if freq > 0:
            period = 1000 // freq
        if period <= 0:
            raise ValueError("period")
        self._mode = mode
        self._period_us = period * 1000
        self._callback = callback
        self._arm(Timer.sim_time.now_us() + self._period_us)

    def _arm(self, due_us):
        self._handle = Timer.sim_time.call_at(due_us, self._fire)
        if self not in Timer.running:
            Timer.running.append(self)

    def _fire(self, now_us):
        self._handle = None
        if self._mode == Timer.PERIODIC:
            self._arm(now_us + self._period_us)
        if self._callback is not None:
            self._callback(self)

    @staticmethod
    def restore_schedules():
        """After a Ctrl-C cut a timer's event short (SimTime.interrupted): a periodic timer
        that lost its next expiry is armed again one period from now."""
        now = Timer.sim_time.now_us()
        for timer in Timer.running:
            if timer._handle is None and timer._mode == Timer.PERIODIC:
                timer._arm(now + timer._period_us)

    def deinit(self):
        if self._handle is not None:
            Timer.sim_time.cancel(self._handle)
            self._handle = None
        if self in Timer.running:
            Timer.running.remove(self)


class WatchdogReset(Exception):
    """Raised out of the simulation when the watchdog expires: the board would reset."""


class WDT:
    """machine.WDT over simulated time. Expiry raises WatchdogReset from the engine."""

    sim_time = None
    instance = None

    def __init__(self, id=0, timeout=5000):
        if timeout < 1:
            raise ValueError("timeout")
        self.timeout_us = timeout * 1000
        self.feeds = 0
        self.expired = False
        self._handle = None
        WDT.instance = self
        self.feed()

    def feed(self):
        self.feeds += 1
        if self._handle is not None:
            WDT.sim_time.cancel(self._handle)
        self._handle = WDT.sim_time.call_at(WDT.sim_time.now_us() + self.timeout_us, self._expire)

    def _expire(self, now_us):
        self.expired = True
        raise WatchdogReset("watchdog expired at sim t=%d us" % now_us)


def power_off_timers():
    """The MCU lost power: every timer and the watchdog stop (they restart with the firmware)."""
    for timer in list(Timer.running):
        timer.deinit()
    wdt = WDT.instance
    if wdt is not None and wdt._handle is not None:
        WDT.sim_time.cancel(wdt._handle)
        wdt._handle = None
    WDT.instance = None


def disable_irq():
    return 0


def enable_irq(state=0):
    return None


def reset():
    """machine.reset(): on the virtual board the process ends with status 3 (board/sim.py)."""
    raise SystemExit(3)


def unique_id():
    return b"\x0e\x5e\x00\x00\x00\x01"
