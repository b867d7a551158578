"""The host's side of the guest agent's serial protocol (the guest's is kernel24/agent/agent.c).

The agent is the initrd's ``/init``.  It serves one request at a time on the guest's
second serial port, which qemu connects to a Unix socket in the state directory.  All
integers are little-endian.

Request (host -> guest)::

    "P24Q"  u32 seq  u32 op  u32 len  payload[len]  u32 crc32

Response (guest -> host)::

    "P24A"  u32 seq  u32 op  i64 ret  u32 len  payload[len]  u32 crc32

``crc32`` is zlib's CRC-32 of everything before it in the frame.  ``ret`` is the system
call's return value as the guest's C ``long`` had it, sign-extended: ``-errno`` on
failure, else a count, a file descriptor or (``create_module``) a kernel address.  A
response echoes the request's ``seq`` and ``op``; the op ``AGENT_ERROR`` instead says the
agent could not decode the request (``ret`` = ``-EBADMSG`` for a bad CRC, ``-E2BIG`` for
a payload over 4 MB, ``-EPROTO`` for a payload that does not match its op).

Flow control: the guest's tty layer keeps at most 4 KB of unread input and drops the
rest, and qemu's serial port has no flow control towards the guest.  So the host sends a
request in chunks of ``CHUNK`` bytes counted from the frame's first byte, and after each
chunk that does not end the frame the guest answers one byte ``ACK`` (0x06) once it has
read that chunk.  Responses need none (qemu holds the guest's output until the host reads).

Resynchronisation: the guest hunts for the request magic byte by byte and drops a frame
when the line stays quiet for a second in its middle (a host killed mid-request).  The
host discards everything up to a response magic and every response whose ``seq`` is not
the one it waits for, so a new connection starts with ``HELLO`` and retries once after
the guest's quiet second.

Zero runs: a request's ``op`` with bit 0x80 set carries its payload as groups of ``u16
literal count, the literal bytes, u16 zero count`` up to its end (module images are
mostly zeros, and the serial line is the slow part); the answer carries the plain op.

Payload encodings (``str?`` = one flag byte, 0 for a NULL pointer, else 1 and the bytes
with their NUL; ``u*``/``i*`` fixed-size integers)::

    op                   request payload                      response payload
    1  HELLO             -                                     struct new_utsname (6 x 65)
                                                               ret = the guest's word size
    2  CREATE_MODULE     u64 size, str? name                   -
    3  INIT_MODULE       str? name, image bytes (to the end)   -
    4  DELETE_MODULE     str? name                             -
    5  QUERY_MODULE      str? name, u32 which, u64 bufsize     u64 *ret, buffer[bufsize]
                                                               without its zero tail
    6  GET_KERNEL_SYMS   u32 with_table (0: NULL)              the table (ret entries)
    7  READ_FILE         str? path                             the whole file (ret bytes)
    8  SYSLOG            u32 type, u32 len                     buffer[ret] (types 2, 3, 4)
    9  MKNOD             str? path, u32 mode, u32 dev          -
    10 OPEN              str? path, u32 flags, u32 mode        -
    11 READ              u32 fd, u32 count                     buffer[ret]
    12 WRITE             u32 fd, bytes (to the end)            -
    13 IOCTL             u32 fd, u32 cmd, u32 0, u64 value     -
                         u32 fd, u32 cmd, u32 1, buffer        the buffer after the call
    14 LSEEK             u32 fd, i64 offset, u32 whence        - (ret = the new offset)
    15 CLOSE             u32 fd                                -
    255 DIED             (guest -> host, unsolicited, seq 0: the previous worker process
                         died inside a system call, ret = its wait status)

``INIT_MODULE`` places the image so that it ends at an unmapped page: a kernel reading
past it faults with EFAULT, as it would on a buffer of exactly that size.
"""

from __future__ import annotations

import contextlib
import errno
import re
import socket
import struct
import time
import zlib
from dataclasses import dataclass
from enum import IntEnum

ZERO_RUNS = 0x80
REQUEST_MAGIC = b"P24Q"
RESPONSE_MAGIC = b"P24A"
CHUNK = 2048
ACK = 0x06
MAX_PAYLOAD = 4 << 20
_REQ_HEAD = struct.Struct("<4sIII")
_RESP_HEAD = struct.Struct("<4sIIqI")


class Op(IntEnum):
    HELLO = 1
    CREATE_MODULE = 2
    INIT_MODULE = 3
    DELETE_MODULE = 4
    QUERY_MODULE = 5
    GET_KERNEL_SYMS = 6
    READ_FILE = 7
    SYSLOG = 8
    MKNOD = 9
    OPEN = 10
    READ = 11
    WRITE = 12
    IOCTL = 13
    LSEEK = 14
    CLOSE = 15
    AGENT_ERROR = 254
    DIED = 255


class ProtocolError(Exception):
    """The line failed: no answer in time, a closed socket, or an undecodable frame."""

    def __init__(self, message: str, *, closed: bool = False) -> None:
        super().__init__(message)
        self.closed = closed  # the VM closed the socket (qemu is ending)


class GuestDied(ProtocolError):
    """The agent's worker process was killed inside a system call (an oops in module code)."""

    def __init__(self, status: int) -> None:
        self.status = status
        signal = status & 0x7F
        what = f"killed by signal {signal}" if signal else f"exit status {status >> 8}"
        super().__init__(f"the guest process making the call was {what} (a kernel oops?)")


@dataclass(frozen=True)
class Reply:
    ret: int
    data: bytes


def encode_str(text: str | bytes | None) -> bytes:
    """``str?``: a flag byte, then the bytes with their NUL (none for NULL)."""
    if text is None:
        return b"\0"
    raw = text.encode("latin-1") if isinstance(text, str) else text
    return b"\1" + raw + b"\0"


_ZEROS = re.compile(rb"\0{8,65535}")
_MAX_LITERAL = 0xFFFF


def pack_zero_runs(data: bytes) -> bytes:
    """The zero-run encoding of ``data`` (runs of 8 or more zero bytes become a count)."""
    out = bytearray()
    pos = 0

    def group(literal: bytes, zeros: int) -> None:
        for start in range(0, len(literal) - _MAX_LITERAL + 1, _MAX_LITERAL):
            out.extend(struct.pack("<H", _MAX_LITERAL) + literal[start : start + _MAX_LITERAL])
            out.extend(b"\0\0")
        rest = literal[len(literal) - len(literal) % _MAX_LITERAL :] if literal else b""
        out.extend(struct.pack("<H", len(rest)) + rest + struct.pack("<H", zeros))

    for run in _ZEROS.finditer(data):
        group(data[pos : run.start()], run.end() - run.start())
        pos = run.end()
    if pos < len(data):
        group(data[pos:], 0)
    return bytes(out)


def encode_request(seq: int, op: int, payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"request of {len(payload)} bytes is over the agent's 4 MB")
    if len(payload) > 256:
        packed = pack_zero_runs(payload)
        if len(packed) < len(payload) * 3 // 4:
            op, payload = op | ZERO_RUNS, packed
    head = _REQ_HEAD.pack(REQUEST_MAGIC, seq, op, len(payload))
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + payload + struct.pack("<I", crc)


RESENDS = 3  # tries of a request the agent received damaged


class Channel:
    """One connection to the agent's socket; one request at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray()
        self._seq = int(time.monotonic_ns()) & 0x7FFFFFFF  # unlike any earlier session's

    def close(self) -> None:
        self._sock.close()

    # -- bytes with a deadline ----------------------------------------------------------------

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self._sock.settimeout(left)
        try:
            data = self._sock.recv(1 << 16)
        except TimeoutError:
            raise
        except OSError as exc:
            raise ProtocolError(f"agent socket: {exc.strerror or exc}") from None
        if not data:
            raise ProtocolError("the VM closed the agent socket", closed=True)
        self._buf += data

    def _take(self, n: int, deadline: float) -> bytes:
        while len(self._buf) < n:
            self._fill(deadline)
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _send(self, frame: bytes, deadline: float) -> None:
        """The frame in CHUNK pieces, each acknowledged before the next one goes."""
        for start in range(0, len(frame), CHUNK):
            piece = frame[start : start + CHUNK]
            self._sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                self._sock.sendall(piece)
            except TimeoutError:
                raise
            except OSError as exc:
                raise ProtocolError(f"agent socket: {exc.strerror or exc}") from None
            if start + CHUNK < len(frame):
                self._wait_ack(deadline)

    def _wait_ack(self, deadline: float) -> None:
        while True:
            while not self._buf:
                self._fill(deadline)
            if self._buf[0] == ACK:
                del self._buf[0]
                return
            # a frame instead of an ack: the agent refused the request early (too big)
            if self._buf.startswith(RESPONSE_MAGIC[: len(self._buf)]):
                if len(self._buf) < len(RESPONSE_MAGIC):
                    self._fill(deadline)
                    continue
                raise _EarlyAnswer
            del self._buf[0]  # stale bytes of an earlier session

    def _read_frame(self, deadline: float) -> tuple[int, int, int, bytes]:
        while True:
            at = self._buf.find(RESPONSE_MAGIC)
            if at < 0:
                keep = len(RESPONSE_MAGIC) - 1  # a magic may straddle two reads
                if len(self._buf) > keep:
                    del self._buf[: len(self._buf) - keep]
                self._fill(deadline)
                continue
            del self._buf[:at]
            head = self._take(_RESP_HEAD.size, deadline)
            _, seq, op, ret, length = _RESP_HEAD.unpack(head)
            if length > MAX_PAYLOAD:
                continue  # not a real header: hunt on
            payload = self._take(length, deadline)
            (crc,) = struct.unpack("<I", self._take(4, deadline))
            if crc != zlib.crc32(payload, zlib.crc32(head)):
                raise ProtocolError("corrupt response frame (CRC mismatch)")
            return seq, op, ret, payload

    # -- one call -------------------------------------------------------------------------------

    def call(self, op: Op, payload: bytes = b"", *, timeout: float) -> Reply:
        """Send one request and return the guest's answer to it.

        A request the agent received damaged (its CRC refused: bytes lost on the serial
        line of a loaded host) was not carried out, so it is sent again, a few times.
        """
        deadline = time.monotonic() + timeout
        try:
            for _ in range(RESENDS):
                reply = self._exchange(op, payload, deadline)
                if reply is not None:
                    return reply
        except TimeoutError:
            raise ProtocolError(f"no answer to {op.name} within {timeout:.3g} s") from None
        raise ProtocolError(f"the agent refused {op.name} {RESENDS} times: EBADMSG (bad CRC)")

    def _exchange(self, op: Op, payload: bytes, deadline: float) -> Reply | None:
        """One request and its answer; None when the agent refused it for a bad CRC."""
        self._seq = (self._seq + 1) & 0x7FFFFFFF or 1
        seq = self._seq
        with contextlib.suppress(_EarlyAnswer):  # the answer says why
            self._send(encode_request(seq, op, payload), deadline)
        while True:
            rseq, rop, ret, data = self._read_frame(deadline)
            if rop == Op.DIED:
                raise GuestDied(ret)
            if rseq != seq:
                continue  # an answer meant for an earlier (killed) session
            if rop == Op.AGENT_ERROR:
                if -ret == errno.EBADMSG:
                    return None
                raise ProtocolError(
                    f"the agent refused {op.name}: {errno.errorcode.get(-ret, ret)}"
                )
            if rop != op:
                raise ProtocolError(f"answer to {op.name} came back as op {rop}")
            return Reply(ret, data)


class _EarlyAnswer(Exception):
    """The agent answered before the whole request was sent (it refused it)."""
