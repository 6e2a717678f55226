"""Where the CLI finds the registry and its token: flags, then environment, then the config file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "consortium" / "config.json"


@dataclass(frozen=True)
class Settings:
    url: str
    token: str | None


def load(url: str | None = None) -> Settings:
    stored = json.loads(config_path().read_text()) if config_path().exists() else {}
    return Settings(
        url=(url or os.environ.get("CONSORTIUM_URL") or stored.get("url") or "http://127.0.0.1:8000").rstrip("/"),
        token=os.environ.get("CONSORTIUM_TOKEN") or stored.get("token"),
    )


def save(*, url: str, token: str) -> Path:
    """Write the config file readable by its owner only (it holds a token)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"url": url, "token": token}, handle)
    path.chmod(0o600)
    return path
