"""Heroku Range pagination: parsing, ordering, pages and Next-Range."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from moorage.errors import InvalidParams
from moorage.server.http.ranges import Range, page, parse

RELEASES = [{"version": v, "id": f"id-{v:02d}"} for v in (1, 2, 3, 9, 10, 11)]


def test_the_heroku_cli_asks_for_the_newest_release() -> None:
    rng = parse("version ..; max=1, order=desc")
    assert rng == Range("version", max=1, desc=True)
    items, content, more = page(RELEASES, rng)
    assert items == [{"version": 11, "id": "id-11"}]  # numeric: 11 after 9
    assert content == "version 11..11"
    assert more == "version ]11..; max=1, order=desc"


def test_next_range_walks_the_whole_list_once() -> None:
    seen, header = [], "version ..; max=4"
    while header:
        items, _, more = page(RELEASES, parse(header))
        seen += [i["version"] for i in items]
        header = more or ""
    assert seen == [1, 2, 3, 9, 10, 11]


def test_bounds_and_names() -> None:
    apps = [{"name": n} for n in ("web", "api", "zeta", "blog")]
    items, _, more = page(apps, parse("name blog..web"))
    assert [a["name"] for a in items] == ["blog", "web"] and more is None
    items, _, _ = page(apps, parse("name ]blog.."))
    assert [a["name"] for a in items] == ["web", "zeta"]


@pytest.mark.parametrize(
    "header", ["", "version", "version ..; max=x", "version ..; colour=red", "Version .."]
)
def test_bad_headers_say_what_a_good_one_is(header: str) -> None:
    with pytest.raises(InvalidParams, match="Range"):
        parse(header)


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(InvalidParams, match="Invalid Range field 'size'"):
        page(RELEASES, parse("size .."))


def test_the_api_pages_lists_and_leaves_other_answers_alone(api: TestClient) -> None:
    for name in ("app-a", "app-b", "app-c"):
        api.post("/apps", json={"name": name})
    first = api.get("/apps", headers={"Range": "name ..; max=2"})
    assert first.status_code == 206 and [a["name"] for a in first.json()] == ["app-a", "app-b"]
    rest = api.get("/apps", headers={"Range": first.headers["Next-Range"]})
    assert rest.status_code == 200 and [a["name"] for a in rest.json()] == ["app-c"]
    assert "Next-Range" not in rest.headers
    one = api.get("/apps/app-a", headers={"Range": "name .."})
    assert one.status_code == 200 and one.json()["name"] == "app-a"
    bad = api.get("/apps", headers={"Range": "name"})
    assert bad.status_code == 422 and "Range" in bad.json()["message"]
