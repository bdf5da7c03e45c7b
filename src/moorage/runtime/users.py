"""Which user a dyno runs as: the image's, resolved to numbers, never root.

An image's ``USER`` may be a name or a number, with or without a group (``app``,
``1000:1000``, ``root:root``, ``0:root``, ``toor`` mapped to uid 0 in the image's
``/etc/passwd``...). Docker resolves names inside the image at start, so a check of the
spelling misses most ways of saying root. :func:`dyno_user` resolves the names with the
image's own ``/etc/passwd`` and ``/etc/group`` (pure) and answers numbers, with uid 0 or gid
0 in any form replaced by ``nobody``.
"""

from __future__ import annotations

import io
import tarfile

UNPRIVILEGED_USER = "65534:65534"


def _table(text: str) -> dict[str, tuple[int, int]]:
    """``name -> (id, primary gid)`` from an ``/etc/passwd`` (or ``(gid, gid)`` from an
    ``/etc/group``) text; malformed lines are skipped."""
    found: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 3 or not fields[2].isdigit():
            continue
        gid = fields[3] if len(fields) > 3 and fields[3].isdigit() else fields[2]
        found.setdefault(fields[0], (int(fields[2]), int(gid)))
    return found


def names_needed(image_user: str) -> bool:
    """Whether resolving ``image_user`` needs the image's passwd/group files."""
    return any(part and not part.isdigit() for part in image_user.split(":", 1))


def dyno_user(image_user: str, passwd: str = "", group: str = "") -> str:
    """``uid:gid`` to run a dyno of an image whose ``USER`` is ``image_user``: nobody when
    it is empty, names no user of the image, or comes to uid or gid 0."""
    name, _, grp = image_user.strip().partition(":")
    users, groups = _table(passwd), _table(group)
    if not name:
        return UNPRIVILEGED_USER
    if name.isdigit():
        uid, gid = int(name), int(name) if not grp else -1
        if not grp:  # a bare uid runs with its passwd entry's group, else its own number
            gid = next((g for u, g in users.values() if u == uid), uid)
    elif name in users:
        uid, gid = users[name]
    else:
        return UNPRIVILEGED_USER
    if grp:
        if grp.isdigit():
            gid = int(grp)
        elif grp in groups:
            gid = groups[grp][0]
        else:
            return UNPRIVILEGED_USER
    if uid == 0 or gid == 0:
        return UNPRIVILEGED_USER
    return f"{uid}:{gid}"


def read_from_tar(data: bytes) -> str:
    """The text of the one file in a ``docker cp``-style tar stream ("" when unreadable)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = next((m for m in tar.getmembers() if m.isfile()), None)
            extracted = tar.extractfile(member) if member is not None else None
            return extracted.read(1 << 20).decode(errors="replace") if extracted else ""
    except tarfile.TarError:
        return ""
