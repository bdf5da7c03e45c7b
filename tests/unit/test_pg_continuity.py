"""The pure parts of dedicated PostgreSQL plans: ``--by`` durations, ``--to`` moments and
plan names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from moorage.addons.postgres.continuity import parse_by, parse_to
from moorage.errors import InvalidParams
from moorage.spec.pgplans import MINI, PLANS, pg_plan


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3 hours", 3 * 3600),
        ("90 minutes", 90 * 60),
        ("1 day 2 hours", 26 * 3600),
        ("1 day, 2 hours", 26 * 3600),
        ("45s", 45),
        ("10 min", 600),
        ("1 hour", 3600),
        ("1.5h", 5400),
        ("3h30m", 3 * 3600 + 1800),
        ("2 Hours", 7200),
        ("1 week", 7 * 86400),
        ("  5 seconds  ", 5),
    ],
)
def test_by_durations(text: str, seconds: float) -> None:
    assert parse_by(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "3",  # no unit
        "hours",  # no number
        "3 hamsters",  # read as 3 hours before
        "1 month",  # read as 1 minute before: months differ in length
        "2 ms",  # read as 2 minutes before
        "-3 hours",
        "5 hours -1 hours",
        "0 s",
        "1 day ago",
        "1e400s",  # infinity before, a crash when subtracted from now
        "yesterday",
    ],
)
def test_bad_durations_name_the_way_to_write_one(text: str) -> None:
    with pytest.raises(InvalidParams) as exc:
        parse_by(text)
    assert "is not a duration" in exc.value.message
    assert "'3 hours'" in exc.value.message and "'1 day 2 hours'" in exc.value.message


def test_a_duration_beyond_any_window_is_refused_not_a_crash() -> None:
    for text in ("9" * 400 + " s", "99999999 days"):
        with pytest.raises(InvalidParams, match="further than any rollback window"):
            datetime.now(UTC) - timedelta(seconds=parse_by(text))
    assert datetime.now(UTC) - timedelta(seconds=parse_by("36500 days"))


def test_to_moments() -> None:
    at = datetime(2026, 12, 6, 10, 42, tzinfo=UTC)
    assert parse_to("2026-12-06 10:42:00+00") == at
    assert parse_to("2026-12-06 10:42+00") == at  # Heroku's documented form
    assert parse_to("2026-12-06T10:42:00Z") == at
    assert parse_to(" 2026-12-06 10:42:00 ") == at  # no zone: UTC
    assert parse_to("2026-12-06 10:42:00").tzinfo is UTC
    two = parse_to("2026-12-06 12:42:00+02")
    assert two == at and two.utcoffset() == timezone(timedelta(hours=2)).utcoffset(None)
    assert parse_to("2026-12-06 10:42:00.250000+00") == at + timedelta(milliseconds=250)


@pytest.mark.parametrize(
    "text", ["garbage", "", "2026-13-01 10:00", "2026-12-06 25:00:00", "3 hours ago", "now"]
)
def test_bad_moments(text: str) -> None:
    with pytest.raises(InvalidParams) as exc:
        parse_to(text)
    assert "is not a moment" in exc.value.message
    assert "2026-12-06 10:42:00+00" in exc.value.message


@pytest.mark.parametrize(
    ("plan", "name"),
    [
        ("postgresql", "mini"),
        ("postgresql:", "mini"),
        ("postgresql:mini", "mini"),
        ("postgres:mini", "mini"),
        ("heroku-postgresql", "mini"),
        ("heroku-postgresql:hobby-dev", "mini"),
        ("postgresql:basic", "mini"),  # what add-ons made before plans recorded
        ("heroku-postgresql:essential-0", "mini"),
        ("postgresql:standard-0", "standard-0"),
        ("heroku-postgresql:standard-0", "standard-0"),
        ("postgres:standard-4", "standard-4"),
    ],
)
def test_plans_and_their_aliases(plan: str, name: str) -> None:
    chosen = pg_plan(plan)
    assert chosen.name == name and chosen.full == f"postgresql:{name}"
    assert chosen.dedicated == (name != "mini")


def test_dedicated_plans_have_a_window_and_sized_settings() -> None:
    assert not MINI.dedicated and MINI.window_days == 0
    standard = pg_plan("heroku-postgresql:standard-0")
    assert standard.window_days == 4
    assert standard.settings()["shared_buffers"] == "128MB"
    assert standard.settings()["max_connections"] == "120"


def test_unknown_plans_list_the_plans() -> None:
    with pytest.raises(InvalidParams) as exc:
        pg_plan("postgresql:premium-9")
    message = exc.value.message
    assert "'premium-9'" in message
    assert all(name in message for name in PLANS), message
    with pytest.raises(InvalidParams, match="not a postgresql plan"):
        pg_plan("redis:mini")
