"""Review apps' names and autodestroy durations."""

from __future__ import annotations

import pytest

from moorage.errors import InvalidParams
from moorage.server.services.reviewapps import name_for, parse_autodestroy
from moorage.spec.names import validate_app_name


def test_a_review_app_is_named_after_its_pipeline_and_branch() -> None:
    assert name_for("shop", "new-checkout") == "shop-pr-new-checkout"
    assert name_for("shop", "Feature/JIRA_42") == "shop-pr-feature-jira-42"
    long = name_for("shop", "a-very-long-branch-name-about-everything")
    other = name_for("shop", "a-very-long-branch-name-about-everything-else")
    assert len(long) <= 30 and long != other and long.startswith("shop-pr-a-very")
    for name in (long, other, name_for("shop", "---")):
        assert validate_app_name(name) == name


def test_autodestroy_takes_days_hours_minutes_or_never() -> None:
    assert parse_autodestroy("5d") == 5 * 86400
    assert parse_autodestroy("12h") == 12 * 3600
    assert parse_autodestroy("30m") == 1800
    assert parse_autodestroy(None) is None and parse_autodestroy("never") is None
    for bad in ("0d", "5 days", "-1h", "5w"):
        with pytest.raises(InvalidParams, match="no duration"):
            parse_autodestroy(bad)
