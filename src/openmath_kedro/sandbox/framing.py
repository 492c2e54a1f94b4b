"""The wire between the host and a sandbox worker: length-prefixed JSON frames over pipes.

Both sides use it: the host (``pool.py``) talks to each worker's zygote with it, the zygote to its session
processes. Standard library only, as it also runs inside the sandbox (see ``isolation.py`` for how it gets
there). Hand-written because ``multiprocessing.connection``, the standard library's framing, blocks until a
whole message is in once its first byte has arrived (a session process that sends half a frame and stops would
hang the zygote) and is built around pickle; ``FrameReader`` puts one deadline and one size cap on the whole
frame, and JSON keeps what crosses the wire data only.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time

_HEADER = struct.Struct("!I")
MAX_FRAME_BYTES = 64 << 20


def write_frame(fd: int, message: dict) -> None:
    """Write one length-prefixed JSON frame (blocking, complete)."""
    body = json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogatepass")
    data = memoryview(_HEADER.pack(len(body)) + body)
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, missing = [], size
    while missing:
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> dict | None:
    """Read one frame (blocking); None at end of stream."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME_BYTES:
        raise ValueError(f"frame of {size} bytes is too large")
    body = _read_exactly(fd, size)
    return None if body is None else json.loads(body.decode("utf-8", "surrogatepass"))


class FrameReader:
    """Reads frames from a non-blocking fd with a deadline (the host and the zygote both use it)."""

    def __init__(self, fd: int, *, max_bytes: int = MAX_FRAME_BYTES) -> None:
        self.fd = fd
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        os.set_blocking(fd, False)

    def read(self, deadline: float) -> dict | str:
        """Return the next frame, or "timeout", "eof" or "oversized"."""
        while True:
            if len(self._buffer) >= _HEADER.size:
                (size,) = _HEADER.unpack_from(self._buffer)
                if size > self.max_bytes:
                    return "oversized"
                end = _HEADER.size + size
                if len(self._buffer) >= end:
                    body = bytes(self._buffer[_HEADER.size : end])
                    del self._buffer[:end]
                    try:
                        return json.loads(body.decode("utf-8", "surrogatepass"))
                    except ValueError:
                        return "oversized"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            wait = None if remaining == float("inf") else remaining
            ready, _, _ = select.select([self.fd], [], [], wait)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                return "eof"
            self._buffer += chunk
