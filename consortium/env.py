"""Strict readers of the environment: a bad value stops start-up with a message naming it."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_MISSING = object()


def env_str(name: str, default: str | object | None = _MISSING) -> str:
    raw = os.environ.get(name)
    if raw is not None and raw != "":
        return raw
    if default is _MISSING or default is None:
        raise ImproperlyConfigured(f"{name} is required")
    return str(default)


def env_optional(name: str) -> str | None:
    """The variable's value, or None when it is unset or empty."""
    return os.environ.get(name) or None


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected an integer") from None


def env_float(name: str, default: float) -> float:
    raw = env_optional(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a number") from None


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() not in {"true", "false", "1", "0"}:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected true or false")
    return raw.lower() in {"true", "1"}


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; blanks are dropped."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str, default: str | None = None) -> str | None:
    """NAME, or the contents of the file named by NAME_FILE (container secrets)."""
    if path := os.environ.get(f"{name}_FILE"):
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path!r}: cannot read ({exc.strerror})") from None
    return os.environ.get(name) or default
