"""Pure pieces of ``git push`` deploys: which pushed ref deploys, and the header block of
``git http-backend``'s CGI answer. No I/O."""

from __future__ import annotations

from dataclasses import dataclass

ZERO = "0" * 40
DEPLOY_BRANCHES = ("main", "master")
MAX_CGI_HEAD = 64 * 1024  # a CGI header block longer than this is not git's


@dataclass(frozen=True)
class RefUpdate:
    """One ``<old> <new> <ref>`` line a pre-receive hook reads."""

    old: str
    new: str
    ref: str

    @property
    def deleted(self) -> bool:
        return self.new == ZERO


def parse_ref_updates(text: str) -> list[RefUpdate]:
    """The hook's standard input; lines that are not three fields are skipped."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.append(RefUpdate(*parts))
    return out


def deploy_update(
    updates: list[RefUpdate], branches: tuple[str, ...] = DEPLOY_BRANCHES
) -> RefUpdate | None:
    """The update that deploys: the first push (not deletion) of a deploy branch, in the
    order of ``branches`` (``main`` before ``master`` when both are pushed)."""
    for branch in branches:
        for u in updates:
            if u.ref == f"refs/heads/{branch}" and not u.deleted:
                return u
    return None


def refused_updates(
    updates: list[RefUpdate], branches: tuple[str, ...] = DEPLOY_BRANCHES
) -> list[RefUpdate]:
    """The updates a push may not make: any ref but a deploy branch (a refused ref refuses
    the whole push, so nothing of it is stored)."""
    allowed = {f"refs/heads/{b}" for b in branches}
    return [u for u in updates if u.ref not in allowed]


def parse_branches(text: str) -> tuple[str, ...]:
    """``MOORAGE_DEPLOY_BRANCHES`` as the hook reads it (``"main,master"``); empty: the
    default."""
    return tuple(filter(None, (b.strip() for b in text.split(",")))) or DEPLOY_BRANCHES


def split_cgi_head(buffer: bytes) -> tuple[bytes, bytes] | None:
    """(header block, the body's first bytes) once ``buffer`` holds the blank line that ends
    a CGI header block; None while it does not yet."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = buffer.find(sep)
        if at >= 0:
            return buffer[:at], buffer[at + len(sep) :]
    if len(buffer) > MAX_CGI_HEAD:
        raise ValueError("the CGI answer has no end of headers")
    return None


def parse_cgi_head(head: bytes) -> tuple[int, list[tuple[str, str]]]:
    """The status (``Status: 404 Not Found``, else 200) and the other headers of a CGI
    answer's header block."""
    status, headers = 200, []
    for raw in head.decode("latin-1").splitlines():
        name, sep, value = raw.partition(":")
        if not sep:
            continue
        name, value = name.strip(), value.strip()
        if name.lower() == "status":
            code = value.split(" ", 1)[0]
            status = int(code) if code.isdigit() and 100 <= int(code) < 600 else 502
        else:
            headers.append((name, value))
    return status, headers
