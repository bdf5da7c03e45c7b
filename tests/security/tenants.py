"""Two tenants of the shared test platform: A, its admin, and B, an ordinary user."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.livefixtures import LivePlatform


@dataclass
class User:
    """httpx against the API with one user's token."""

    base: str
    token: str
    email: str

    def __call__(self, method: str, path: str, body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.request(method, self.base + path, headers=headers, json=body, timeout=120)

    def ok_text(self, path: str) -> str:
        resp = self("GET", path)
        assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text}"
        return resp.text

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        resp = self(method, path, body)
        assert resp.status_code < 300, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json()


@pytest.fixture(scope="module")
def users(platform: LivePlatform) -> tuple[User, User]:
    admin = User(
        platform.api,
        (platform.data / "admin@example.test.token").read_text().strip(),
        "admin@example.test",
    )
    email = f"mallory-{os.urandom(3).hex()}@example.test"
    return admin, User(platform.api, platform.new_token(email), email)
