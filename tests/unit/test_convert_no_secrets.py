"""No file ``k8s:convert`` writes holds a secret value, for every corpus fixture (issue 18
acceptance): a Secret's values, and literal values of secret-looking env vars.

A value that the manifests also use in the open (the user name ``postgres`` that is the
voting app's password too, an image name) is no secret to keep: it is left out of the check.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from moorage.convert.output import write
from moorage.convert.plan import convert
from tests.unit.test_convert_plan import CASES, load

SECRETISH = re.compile(r"PASSWORD|PASSWD|PWD|TOKEN|SECRET|_KEY$|APIKEY", re.I)
TOKEN = re.compile(r"[^\s\"'=:,;/@()\[\]{}]+")


def _strings(node: Any) -> Iterator[str]:
    """Every string of a manifest, except env entries with a secret-looking name."""
    if isinstance(node, dict):
        if SECRETISH.search(str(node.get("name", ""))) and "value" in node:
            return
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def _secret_values(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if SECRETISH.search(str(node.get("name", ""))) and isinstance(node.get("value"), str):
            yield node["value"]
        for value in node.values():
            yield from _secret_values(value)
    elif isinstance(node, list):
        for item in node:
            yield from _secret_values(item)


def _secrets(docs: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    """(secret values, tokens the manifests show in the open)."""
    secrets: set[str] = set()
    public: set[str] = set()
    for doc in docs:
        if doc.get("kind") == "Secret":
            for raw in (doc.get("data") or {}).values():
                try:
                    secrets.add(base64.b64decode(str(raw), validate=True).decode())
                except (binascii.Error, UnicodeDecodeError):
                    continue
            secrets |= {str(v) for v in (doc.get("stringData") or {}).values()}
            continue
        secrets |= set(_secret_values(doc))
        for text in _strings(doc):
            public |= {text, *TOKEN.findall(text)}
    return {s for s in secrets if len(s) >= 4 and s not in public}, public


@pytest.mark.parametrize("name", sorted(CASES))
def test_no_written_file_holds_a_secret_value(name: str, tmp_path: Path) -> None:
    if not CASES[name].exists():
        pytest.skip(f"{CASES[name]} is not here")
    objects = load(CASES[name])
    secrets, _ = _secrets([o.body for o in objects])
    write(convert(objects), tmp_path)
    written = {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    assert written
    leaks = [(p.name, s[:3] + "...") for p, text in written.items() for s in secrets if s in text]
    assert leaks == []


def test_the_check_sees_a_secret_that_is_written() -> None:
    """The check is not vacuous: a Secret's value and a literal password are found."""
    docs = [
        {"kind": "Secret", "data": {"k": base64.b64encode(b"hunter22").decode()}},
        {"kind": "Deployment", "env": [{"name": "DB_PASSWORD", "value": "s3cr3t-pw"}]},
        {"kind": "Deployment", "env": [{"name": "USER", "value": "postgres"}]},
        {"kind": "Deployment", "env": [{"name": "PASSWORD", "value": "postgres"}]},
    ]
    secrets, _ = _secrets(docs)
    assert secrets == {"hunter22", "s3cr3t-pw"}  # "postgres" is shown in the open too
