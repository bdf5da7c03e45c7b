"""The Engine API's log stream, read on an event loop: frames and raw TTY bytes to lines."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Iterator

import pytest

from moorage.runtime import enginelogs


def _frame(text: bytes, stream: int = 1) -> bytes:
    return struct.pack(">BxxxL", stream, len(text)) + text


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def _collect(lines: AsyncIterator[bytes]) -> list[bytes]:
    return [line async for line in lines]


@pytest.mark.parametrize("size", [1, 7, 8, 9, 100, 1 << 20])
def test_frames_come_out_whole_however_the_bytes_are_cut(size: int) -> None:
    texts = [b"2026-12-06T10:00:00.000000001Z hello\n", b"", b"x" * 16384, b"t2 last\n"]
    data = b"".join(_frame(t, 1 + i % 2) for i, t in enumerate(texts))
    got = asyncio.run(_collect(enginelogs._frames(_chunks(data, size))))
    assert got == [t.rstrip(b"\n") for t in texts]


def test_a_tty_stream_is_split_into_lines_across_chunks() -> None:
    data = b"ts1 one\r\nts2 two\nts3 th" + b"ree\nts4 no newline"
    got = asyncio.run(_collect(enginelogs._raw_lines(_chunks(data, 5))))
    assert got == [b"ts1 one", b"ts2 two", b"ts3 three", b"ts4 no newline"]


def test_a_blocking_stream_is_bridged_with_its_error_last() -> None:
    def stream() -> Iterator[tuple[str, bytes]]:
        yield ("t1", b"a")
        yield ("t2", b"b")
        raise RuntimeError("engine went away")

    async def read() -> list[tuple[str, bytes]]:
        got = []
        with pytest.raises(RuntimeError, match="engine went away"):
            async for entry in enginelogs.bridged(stream):
                got.append(entry)
        return got

    assert asyncio.run(read()) == [("t1", b"a"), ("t2", b"b")]
