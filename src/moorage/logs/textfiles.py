"""Reading and writing line files: whole writes, complete lines, lines newest first."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

BLOCK = 1 << 16


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def count_lines(fd: int) -> tuple[int, int, bytes]:
    """Lines, size and last byte of the file behind ``fd`` (read from the start)."""
    lines = size = 0
    last = b""
    offset = 0
    while block := os.pread(fd, 1 << 20, offset):
        lines += block.count(b"\n")
        size += len(block)
        offset += len(block)
        last = block[-1:]
    return lines, size, last


def complete_end(path: Path, size: int) -> int:
    """The offset just after the last ``\\n`` in the first ``size`` bytes of ``path``."""
    with open(path, "rb") as f:
        return complete_end_of(f, size)


def complete_end_of(f: BinaryIO, size: int) -> int:
    """:func:`complete_end` of a file already open."""
    pos = size
    while pos > 0:
        start = max(0, pos - BLOCK)
        f.seek(start)
        block = f.read(pos - start)
        found = block.rfind(b"\n")
        if found >= 0:
            return start + found + 1
        pos = start
    return 0


def lines_backwards(path: Path, end: int | None = None) -> Iterator[bytes]:
    """The complete, non-empty lines of ``path`` before byte ``end``, newest first.

    Bytes after the last ``\\n`` (a line still being written) are left out.
    """
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        pos = f.seek(0, os.SEEK_END) if end is None else end
        rest = b""
        partial = True
        while pos > 0:
            start = max(0, pos - BLOCK)
            f.seek(start)
            parts = (f.read(pos - start) + rest).split(b"\n")
            pos = start
            if partial:
                if len(parts) == 1:
                    rest = b""
                    continue
                parts.pop()
                partial = False
            rest = parts[0]
            yield from (p for p in reversed(parts[1:]) if p)
        if not partial and rest:
            yield rest
