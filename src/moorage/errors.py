"""Moorage's one error tree.

Every error a user can cause or meet derives from :class:`MoorageError`. Each class carries
the Heroku-style ``id`` (the ``{"id": ..., "message": ...}`` body of the API), the HTTP status
the API answers with, and the exit code the CLI ends with. Third-party errors are translated
at the adapter that meets them (``raise RuntimeFailure(...) from exc``), never deeper.

::

    MoorageError                      id=internal_error        500  exit 1
    ├── InvalidParams                 id=invalid_params        422  exit 2
    │   ├── InvalidName               id=invalid_params        422  exit 2
    │   ├── InvalidConfigKey          id=invalid_params        422  exit 2
    │   └── ImageNotPushed            id=invalid_params        422  exit 2
    ├── Unauthorized                  id=unauthorized          401  exit 3
    ├── Forbidden                     id=forbidden             403  exit 3
    ├── RateLimited                   id=rate_limited          429  exit 3
    ├── NotFound                      id=not_found             404  exit 4
    ├── Conflict                      id=conflict              409  exit 5
    ├── PayloadTooLarge               id=payload_too_large     413  exit 2
    ├── BuildFailed                   id=build_failed          422  exit 6
    │   └── BuildCancelled            id=build_failed          422  exit 6
    ├── RuntimeFailure                id=runtime_error         503  exit 7
    │   ├── StackMissing              id=stack_missing         503  exit 7
    │   ├── ComponentFailed           id=component_failed      503  exit 7
    │   └── StorageFull               id=storage_full          507  exit 7
    └── ApiUnreachable                id=api_unreachable       503  exit 8
"""

from __future__ import annotations


class MoorageError(Exception):
    """Base of every Moorage error; ``str(err)`` is the message shown to the user."""

    id = "internal_error"
    status = 500
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, str]:
        """The Heroku-shaped error body."""
        return {"id": self.id, "message": self.message}


class InvalidParams(MoorageError):
    """A request or command argument is malformed."""

    id = "invalid_params"
    status = 422
    exit_code = 2


class InvalidName(InvalidParams):
    """An app, process type or add-on name breaks the naming rule."""


class InvalidConfigKey(InvalidParams):
    """A config var key is not a valid environment variable name."""


class ImageNotPushed(InvalidParams):
    """A release names a process type whose image is not in the registry."""


class ImageUnavailable(InvalidParams):
    """An image reference that cannot be released: no such image, no access, wrong platform."""

    id = "image_unavailable"


class Unauthorized(MoorageError):
    """No credentials, or credentials that match no token."""

    id = "unauthorized"
    status = 401
    exit_code = 3


class Forbidden(MoorageError):
    """Valid credentials without access to the resource."""

    id = "forbidden"
    status = 403
    exit_code = 3


class RateLimited(MoorageError):
    """Too many failed logins from the caller's address; ``retry_after`` says how long to wait
    (the API sends it as ``Retry-After``)."""

    id = "rate_limited"
    status = 429
    exit_code = 3

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(MoorageError):
    """The named resource does not exist (or is not visible to the caller)."""

    id = "not_found"
    status = 404
    exit_code = 4


class Conflict(MoorageError):
    """The resource already exists or is in a state that forbids the change."""

    id = "conflict"
    status = 409
    exit_code = 5


class PayloadTooLarge(MoorageError):
    """A request body over the API's limit; nothing past it was read (``server.limits``)."""

    id = "payload_too_large"
    status = 413
    exit_code = 2


class BuildFailed(MoorageError):
    """``docker build`` failed; the message names the failing step."""

    id = "build_failed"
    status = 422
    exit_code = 6


class BuildCancelled(BuildFailed):
    """A build stopped on request (``builds:cancel``, or a newer push of the app)."""


class RuntimeFailure(MoorageError):
    """Docker Engine, nginx, the registry or PostgreSQL failed or is unreachable."""

    id = "runtime_error"
    status = 503
    exit_code = 7


class StackMissing(RuntimeFailure):
    """The base image is missing; run ``moor stack:build``."""

    id = "stack_missing"


class ComponentFailed(RuntimeFailure):
    """A supervised component (router, registry, database server) failed to start."""

    id = "component_failed"


class StorageFull(RuntimeFailure):
    """The disk a component writes to (the registry's, the backups') is full."""

    id = "storage_full"
    status = 507


class AddressesExhausted(RuntimeFailure):
    """No subnet is left in the platform's address pool for a new network."""

    id = "addresses_exhausted"


class RegistryUnreachable(RuntimeFailure):
    """A registry the platform pulls an image from did not answer."""

    id = "registry_unreachable"


class DnsUnreachable(RuntimeFailure):
    """No DNS resolver answered a lookup the platform needed (a custom domain's proof)."""

    id = "dns_unreachable"


class ApiUnreachable(MoorageError):
    """The CLI cannot reach the platform's API."""

    id = "api_unreachable"
    status = 503
    exit_code = 8
