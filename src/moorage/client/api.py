"""The Moorage API's transport: :class:`Client` sends requests with the user's token and
turns error answers into the error tree; :func:`path` builds quoted paths. The typed calls
live in one module per noun (``client/apps.py``, ``client/releases.py``, ...) and return
the models of ``moorage.schemas``."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from moorage import errors
from moorage.client.credentials import Credentials

ACCEPT = "application/vnd.heroku+json; version=3"
_BY_ID: dict[str, type[errors.MoorageError]] = {
    cls.id: cls
    for cls in (
        errors.InvalidParams,
        errors.Unauthorized,
        errors.Forbidden,
        errors.NotFound,
        errors.Conflict,
        errors.BuildFailed,
        errors.RuntimeFailure,
        errors.StackMissing,
        errors.ComponentFailed,
    )
}


class Client:
    def __init__(self, creds: Credentials, timeout: float = 200.0) -> None:
        headers = {"Accept": ACCEPT, "User-Agent": "moor"}
        if creds.token:
            headers["Authorization"] = f"Bearer {creds.token}"
        self.api_url = creds.api_url
        self.token = creds.token
        # Plain HTTP (the API on loopback) needs no CA bundle: loading certifi's costs 20 ms
        # at every start. The empty context verifies, so it could open no TLS connection.
        verify: ssl.SSLContext | bool = (
            True if creds.api_url.startswith("https") else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        )
        self._http = httpx.Client(
            base_url=creds.api_url, headers=headers, timeout=timeout, verify=verify
        )

    def request(self, method: str, path: str, body: Any = None, *, slow: bool = False) -> Any:
        """One API call; ``slow`` waits as long as the server works (a restore)."""
        kwargs: dict[str, Any] = {"timeout": None} if slow else {}
        try:
            resp = self._http.request(method, path, json=body, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        return self._answer(resp)

    def request_text(self, method: str, path: str) -> str:
        """A call whose answer is text (a PEM file), errors as for :meth:`request`."""
        try:
            resp = self._http.request(method, path)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if resp.status_code >= 400:
            self._answer(resp)
        return resp.text

    def _unreachable(self, exc: httpx.HTTPError) -> errors.ApiUnreachable:
        return errors.ApiUnreachable(
            f"Cannot reach the Moorage API at {self.api_url} ({exc.__class__.__name__}). "
            "Is `moor server` running?"
        )

    def download(self, path: str, dest: Path) -> int:
        """Stream a GET answer into ``dest`` (written to a .partial file, then renamed)."""
        partial = dest.with_name(dest.name + ".partial")
        try:
            with self._http.stream("GET", path, timeout=None) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    self._answer(resp)
                size = 0
                with partial.open("wb") as fh:
                    for chunk in resp.iter_bytes(1 << 20):
                        fh.write(chunk)
                        size += len(chunk)
        except httpx.HTTPError as exc:
            partial.unlink(missing_ok=True)
            raise self._unreachable(exc) from exc
        partial.replace(dest)
        return size

    def lines(self, path: str) -> Iterator[str]:
        """The lines of a streamed text answer (a build's output) as they come."""
        try:
            with self._http.stream("GET", path, timeout=httpx.Timeout(30.0, read=None)) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    self._answer(resp)
                yield from resp.iter_lines()
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc

    def upload(self, path: str, source: Path, params: dict[str, str]) -> Any:
        """PUT the bytes of ``source`` as the request body (a dump to restore)."""

        def chunks() -> Iterator[bytes]:
            with source.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    yield chunk

        try:
            resp = self._http.put(path, content=chunks(), params=params, timeout=None)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        return self._answer(resp)

    def _answer(self, resp: httpx.Response) -> Any:
        if resp.status_code >= 400:
            try:
                data = resp.json()
                err_id, message = data.get("id", ""), data.get("message", resp.text)
            except ValueError:
                err_id, message = "", resp.text or resp.reason_phrase
            raise _BY_ID.get(err_id, errors.MoorageError)(str(message))
        return resp.json() if resp.content else None


def path(template: str, *parts: str) -> str:
    """An API path with each ``{}`` of ``template`` replaced by a part, quoted whole (a ``/``
    or ``?`` in an app or dyno name cannot reach another resource):
    ``path("/apps/{}/dynos/{}", app, "web.1")``."""
    return template.format(*(quote(part, safe="") for part in parts))
