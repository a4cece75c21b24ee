"""Answers made of bytes encoded once: raw UTF-8 and gzip, reused until what they show changes.

A big page (the overview at 2,000 projects is 3.3 MB) must not be joined, wrapped, encoded
and compressed again for every request. An `Answer` is a few `Encoded` parts: the big
shared one (the rows, the same for every viewer of a snapshot) between small ones made
per viewer (identity, CSRF token). Each part is encoded once and deflated once, ending on
a byte boundary (a sync flush), so a gzip stream is the parts' deflate segments laid end
to end, then an empty final block and the CRC-32 and length of the whole text. Python's
gzip module has no such joining; the format is RFC 1952 and zlib does the compression.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

from flask import Response, request

GZIP_HEADER = bytes((0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF))  # deflate, no name, no time, unknown OS
FINAL_BLOCK = b"\x03\x00"  # an empty, final, fixed-Huffman deflate block: the end of the stream
LEVEL = 6  # zlib's default: most of level 9's gain at a fraction of its time
ANSWERS_KEPT = 256  # viewers x filters x pages whose joined answers are kept
BYTES_KEPT = 64 * 1024 * 1024  # and at most this many bytes of them (2,000 projects: 3 MB each)


class Encoded:
    """A text's UTF-8 bytes, and (made on first use, once) its raw deflate segment."""

    __slots__ = ("text", "raw", "_deflated", "_lock")

    def __init__(self, text: str) -> None:
        self.text = text
        self.raw = text.encode()
        self._deflated: bytes | None = None
        self._lock = threading.Lock()

    def deflated(self) -> bytes:
        """Deflate blocks of `raw`, not final, ending on a byte boundary: others may follow."""
        if self._deflated is None:
            with self._lock:  # 64 clients asking at once compress it once, the others wait
                if self._deflated is None:
                    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
                    self._deflated = compressor.compress(self.raw) + compressor.flush(zlib.Z_SYNC_FLUSH)
        return self._deflated


class Answer:
    """A response body as parts, sent as they are (raw) or as one gzip stream joined from them."""

    def __init__(self, parts: tuple[Encoded, ...]) -> None:
        self.parts = parts
        self.raw = [part.raw for part in parts]
        self.raw_length = sum(len(chunk) for chunk in self.raw)
        self._gzip: list[bytes] | None = None
        self._lock = threading.Lock()

    def gzip(self) -> list[bytes]:
        if self._gzip is None:
            with self._lock:
                if self._gzip is None:
                    crc = 0
                    for chunk in self.raw:
                        crc = zlib.crc32(chunk, crc)
                    trailer = FINAL_BLOCK + struct.pack("<II", crc, self.raw_length & 0xFFFFFFFF)
                    self._gzip = [GZIP_HEADER, *(part.deflated() for part in self.parts), trailer]
        return self._gzip


V = TypeVar("V")


class Kept(Generic[V]):
    """Values by key, the least recently used forgotten first, bounded by count and by bytes.

    Like core's `Memo`, but filled by `put`: a poll looks up what an earlier answer stored,
    and must not store anything when it finds nothing. Shared parts (the rows of a snapshot)
    are weighed in every value that holds them, so the bound errs on the small side.
    """

    def __init__(self, kept: int = ANSWERS_KEPT, max_bytes: int = BYTES_KEPT) -> None:
        self._values: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._kept = kept
        self._max_bytes = max_bytes
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            found = self._values.get(key)
            if found is None:
                return None
            self._values.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, value: V, size: int) -> V:
        with self._lock:
            old = self._values.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._values[key] = (value, size)
            self._bytes += size
            while len(self._values) > self._kept or (self._bytes > self._max_bytes and len(self._values) > 1):
                _, (_, dropped) = self._values.popitem(last=False)
                self._bytes -= dropped
        return value


def accepts_gzip() -> bool:
    """Whether the request's Accept-Encoding allows gzip (a q=0 refuses it, `*` allows it)."""
    return request.accept_encodings["gzip"] > 0


def respond(answer: Answer, mimetype: str = "text/html") -> Response:
    """`answer` as a response: gzip when the client accepts it, the raw bytes otherwise.

    The chunks go to the server as they are (no join, no copy); Vary tells caches that the
    body depends on Accept-Encoding.
    """
    chunks = answer.gzip() if accepts_gzip() else answer.raw
    response = Response(chunks, mimetype=mimetype, direct_passthrough=True)
    response.headers["Content-Length"] = str(sum(len(chunk) for chunk in chunks))
    if chunks is not answer.raw:
        response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    return response
