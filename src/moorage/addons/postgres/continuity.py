"""What makes a dedicated cluster's past reachable: the archive's state and window, the
restore targets of ``--rollback``/``--fork``, and a follower's lag.

Functions over :class:`~moorage.addons.postgres.dedicated.Clusters`; they never change a
source beyond what PostgreSQL does on its own (a commit record, a restore point, a WAL
switch: nothing in the user's data).
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime

from moorage.addons.postgres.dedicated import Clusters
from moorage.errors import ComponentFailed, InvalidParams
from moorage.spec.bytesizes import human_size

ARCHIVE_WAIT = 120.0  # seconds for the source's last WAL to reach the archive


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00")


def archive_state(clusters: Clusters, resource: str) -> tuple[bool, str]:
    """(healthy, words) from pg_stat_archiver: failing when the last failure is newer than
    the last success."""
    with clusters.cluster(resource).connect() as conn:
        row = conn.execute(
            "SELECT archived_count, last_archived_time, failed_count, last_failed_time, "
            "last_failed_wal FROM pg_stat_archiver"
        ).fetchone()
    assert row is not None
    archived, failed, failed_wal = row[0], row[2], row[4]
    ok_at, failed_at = _moment(row[1]), _moment(row[3])
    if failed_at is not None and (ok_at is None or failed_at > ok_at):
        return False, (
            f"FAILING since {_stamp(failed_at)} ({failed} failures; {failed_wal} not archived; "
            f"see {clusters.dir(resource) / 'postgres.log'})"
        )
    last = f", last {_stamp(ok_at)}" if ok_at is not None else ""
    return True, f"ok ({archived} WAL files archived{last})"


def _moment(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None


def window_start(clusters: Clusters, resource: str) -> datetime | None:
    return clusters.archive.window(clusters.conf(resource), resource).earliest


def lag(clusters: Clusters, resource: str) -> tuple[int, float]:
    """How far the follower ``resource`` is behind its leader: (bytes, seconds)."""
    meta = clusters.meta(resource)
    if meta is None or not meta.follows:
        return 0, 0.0
    with clusters.cluster(meta.follows).connect() as conn:
        head = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
    with clusters.cluster(resource).connect() as conn:
        row = conn.execute(
            "SELECT pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn()), "
            "extract(epoch FROM now() - pg_last_xact_replay_timestamp())",
            (str(head[0]) if head else "0/0",),
        ).fetchone()
    assert row is not None
    behind = max(0, int(str(row[0] or 0)))
    return behind, (float(str(row[1] or 0.0)) if behind else 0.0)


def facts(clusters: Clusters, resource: str) -> dict[str, str]:
    """``pg:info`` lines of a dedicated cluster."""
    meta = clusters.meta(resource)
    assert meta is not None
    out = {"Plan": meta.plan}
    if meta.follows:
        behind, seconds = lag(clusters, resource)
        out["Following"] = meta.follows
        out["Behind By"] = f"{human_size(behind)} ({behind} bytes), {seconds:.1f} s"
        out["Continuous Protection"] = "off while following (on once promoted)"
        return out
    healthy, words = archive_state(clusters, resource)
    out["Continuous Protection"] = "On" if healthy else "ALERT"
    out["WAL Archive"] = words
    try:
        start = window_start(clusters, resource)
    except ComponentFailed as exc:
        out["Rollback"] = f"unavailable: {exc.message}"
        return out
    days = clusters.plan(resource).window_days
    out["Rollback"] = (
        f"earliest from {_stamp(start)} (window {days} days)" if start else "no base backup yet"
    )
    return out


UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), 604800),
}
"""The units ``--by`` takes (``1 month`` is not one: months differ in length)."""
BY_LIMIT_DAYS = 36500  # further back than any window (and than datetime reaches safely)
_DURATION = re.compile(r"(?:\s*\d+(?:\.\d+)?\s*[a-z]+)+\s*")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")


def parse_by(text: str) -> float:
    """``3 hours``, ``90 minutes``, ``1 day 2 hours``, ``45s``, ``3h30m`` -> seconds."""
    spec = text.lower().replace(",", " ")
    total = 0.0
    if _DURATION.fullmatch(spec):
        parts = _PART.findall(spec)
        if all(unit in UNITS for _, unit in parts):
            total = sum(float(n) * UNITS[unit] for n, unit in parts)
    if total <= 0:
        raise InvalidParams(
            f"--by {text!r} is not a duration: write it like '3 hours', '90 minutes' or "
            "'1 day 2 hours' (units: seconds, minutes, hours, days, weeks)."
        )
    if total > BY_LIMIT_DAYS * 86400:  # also inf: '1' followed by 400 zeros
        raise InvalidParams(
            f"--by {text!r} reaches back further than any rollback window (a few days)."
        )
    return total


def parse_to(text: str) -> datetime:
    """``2026-12-06 10:42:00+00`` (no zone: UTC)."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidParams(
            f"--to {text!r} is not a moment: write it like '2026-12-06 10:42:00+00'."
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def target(clusters: Clusters, source: str, to: datetime | None) -> tuple[str, str]:
    """The restore target on ``source``'s archive for a moment ``to`` (a rollback) or for
    now (a fork): checked against the window, then made reachable — a commit after it (or a
    named restore point for a fork), the WAL switched and archived."""
    now = datetime.now(UTC)
    if to is not None:
        start = window_start(clusters, source)
        window = (
            f"{_stamp(start)} to now ({_stamp(now)})" if start else "empty (no base backup yet)"
        )
        if to > now:
            raise InvalidParams(f"--to {_stamp(to)} is in the future. The window is {window}.")
        if start is None or to < start:
            raise InvalidParams(
                f"--to {_stamp(to)} is before the rollback window of {source}: it is {window}."
            )
    point = f"moorage-fork-{secrets.token_hex(4)}"
    with clusters.cluster(source).connect() as conn:
        conn.execute("SELECT pg_current_xact_id()")  # a commit after the target
        if to is None:
            conn.execute("SELECT pg_create_restore_point(%s)", (point,))
        row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
    assert row is not None
    _wait_archived(clusters, source, str(row[0]))
    return ("time", _stamp(to)) if to is not None else ("name", point)


def _wait_archived(clusters: Clusters, source: str, segment: str) -> None:
    deadline = time.monotonic() + ARCHIVE_WAIT
    while time.monotonic() < deadline:
        with clusters.cluster(source).connect() as conn:
            row = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()
        last = str(row[0]) if row is not None and row[0] is not None else ""
        if last[:24] >= segment:
            return
        time.sleep(0.2)
    _, words = archive_state(clusters, source)
    raise ComponentFailed(
        f"The WAL of {source} did not reach its archive in {ARCHIVE_WAIT:.0f} s (archive: "
        f"{words}); nothing was created. Fix the archive and try again."
    )
