"""A scratch Postgres database for a benchmark, dropped and made again on each run, and the child
process that runs one benchmark on one database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def run_on(module: str, url: str, **env: str) -> dict[str, Any]:
    """Run `python -m <module> --run` with the product's settings on the database at `url`; the
    figures it prints last, as JSON."""
    settings = os.environ | {
        "DJANGO_SETTINGS_MODULE": "consortium.settings",
        "DATABASE_URL": url,
        "DJANGO_SECURE": "false",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "LOG_LEVEL": "WARNING",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-m", module, "--run"], cwd=ROOT, env=settings, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"{module} on {url} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
