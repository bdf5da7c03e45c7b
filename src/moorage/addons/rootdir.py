"""The directory an add-on kind keeps its servers in, and its lock."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from moorage.errors import ComponentFailed


@contextmanager
def locked(root: Path, what: str) -> Iterator[None]:
    """Create ``root`` (root-owned, 0711) and hold its lock file for the block; ``what``
    names its servers in the error (``redis add-ons``)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        os.chown(root, 0, 0)
        root.chmod(0o711)
        fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ComponentFailed(
            f"Could not prepare {root} for {what}: {exc.strerror}. "
            "The platform must run as root on a writable disk."
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
