"""moor doctor's Dockerfile checks."""

from __future__ import annotations

from pathlib import Path

from moorage.convert.dockerfile import check

ACTORS = Path(__file__).resolve().parents[2] / "examples" / "actors"


def test_the_articles_kubernetes_dockerfile() -> None:
    found = check((ACTORS / "Dockerfile").read_text())
    assert [c.severity for c in found] == ["warning", "info", "info"]
    assert "flask run" in found[0].what and "ps:port web 5000" in found[0].platform_does


def test_port_binds_exposed_users_and_stages() -> None:
    text = """FROM python:3 AS build
USER root
FROM python:3
EXPOSE 8000
USER app
CMD ["gunicorn", "--bind", "0.0.0.0:8000", \\
     "app:app"]
"""
    [bind] = check(text)
    assert bind.line == 6 and "8000" in bind.what
    assert check("FROM x\nEXPOSE 80\nUSER 1000\nCMD gunicorn --bind 0.0.0.0:$PORT app:app\n") == []
    assert check("") != []  # an empty file still says what the platform does
