"""Name rules: the security boundary for everything that becomes a path, tag or container name."""

from __future__ import annotations

import re

from moorage.errors import InvalidConfigKey, InvalidName

APP_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{2,29}$")
PROCESS_TYPE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,29}$")
CONFIG_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
RESERVED_CONFIG_KEYS = frozenset({"PORT", "DYNO"})
MAX_CONFIG_KEY_CHARS = 255  # as CONFIG_KEY_RE says
MAX_CONFIG_VALUE_BYTES = 32 * 1024
_SURROGATE = re.compile("[\ud800-\udfff]")


def validate_app_name(name: str) -> str:
    """Return ``name`` if it follows Heroku's rule, else raise :class:`InvalidName`."""
    if not APP_NAME_RE.fullmatch(name) or name.endswith("-"):
        raise InvalidName(
            f"Name {name!r} is invalid: it must start with a lowercase letter and contain only "
            "lowercase letters, digits and dashes, 3 to 30 characters, not ending with a dash."
        )
    return name


def validate_process_type(name: str) -> str:
    """Return ``name`` if it is a valid process type (``web``, ``worker``...)."""
    if not PROCESS_TYPE_RE.fullmatch(name):
        raise InvalidName(
            f"Process type {name!r} is invalid: use lowercase letters, digits, '-' or '_', "
            "starting with a letter, at most 30 characters."
        )
    return name


def validate_config_key(key: str) -> str:
    """Return ``key`` if it is a settable environment variable name."""
    if len(key) > MAX_CONFIG_KEY_CHARS:
        raise InvalidConfigKey(
            f"Config var key {key[:24]!r}... is {len(key)} characters long; keys are at most "
            f"{MAX_CONFIG_KEY_CHARS}. Choose a shorter name."
        )
    if not CONFIG_KEY_RE.fullmatch(key):
        raise InvalidConfigKey(
            f"Config var key {key!r} is invalid: use letters, digits and underscores, "
            "not starting with a digit."
        )
    if key in RESERVED_CONFIG_KEYS:
        raise InvalidConfigKey(f"Config var {key} is set by the platform and cannot be changed.")
    return key


def validate_config_value(key: str, value: str) -> str:
    """Config values are strings without NUL bytes, at most 32 KiB."""
    if "\x00" in value:
        raise InvalidConfigKey(f"Config var {key} contains a NUL byte, which no process can read.")
    if _SURROGATE.search(value):
        raise InvalidConfigKey(
            f"Config var {key} contains a lone UTF-16 surrogate (an escape such as \\ud800), "
            "which is not a character; send the value as valid Unicode text."
        )
    if len(value.encode()) > MAX_CONFIG_VALUE_BYTES:
        raise InvalidConfigKey(
            f"Config var {key} is {len(value.encode())} bytes; values are at most 32 KiB "
            f"({MAX_CONFIG_VALUE_BYTES} bytes). Keep large data out of the environment: put it "
            "in the image or an add-on and set its location here."
        )
    return value


_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def validate_dns_label(name: str, what: str, *, dots: bool = False) -> str:
    """A group name (one DNS label: lowercase letters, digits, inner dashes, 1-63) or, with
    ``dots``, an alias (labels joined by dots, such as ``carts.shop.svc.cluster.local``)."""
    labels = name.split(".") if dots else [name]
    if len(name) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise InvalidName(
            f"{what} {name!r} is not a valid DNS name: use 1-63 lowercase letters, digits and "
            "dashes, starting and ending with a letter or digit"
            + (", in labels joined by dots." if dots else ".")
        )
    return name
