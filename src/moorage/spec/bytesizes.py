"""Byte counts as people read them in messages and tables."""

from __future__ import annotations


def human_size(n: int) -> str:
    """``512 B``, ``1.5 kB``, ``20.0 MB``, ``3.2 GB`` (steps of 1024), as ``pg:backups``
    and the backup lines in the app's log show sizes."""
    if n < 1024:
        return f"{n} B"
    value, unit = n / 1024, "kB"
    for bigger in ("MB", "GB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"


def mib(n: int) -> str:
    """``12.3 MiB``: an image's or a layer's size while it is copied."""
    return f"{n / (1 << 20):.1f} MiB"
