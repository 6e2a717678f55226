"""Running one of our modules on a pusher's files in a subprocess: offline, with a minimal
environment (none of the worker's secrets), its own process group (killed whole at the time limit)
and an address-space limit, so a model that crashes or runs away takes down that process and
never the worker. The eval step and the probes run their work through it."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The Hugging Face libraries never reach the network, whatever a task or a config asks.
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
STDERR_TAIL = 2000  # characters of the subprocess's stderr kept in a failure's reason
# What running out of address space looks like from Python, numpy, torch and the dynamic loader.
OUT_OF_MEMORY = ("MemoryError", "Cannot allocate memory", "failed to map segment", "std::bad_alloc")


class SandboxFailed(Exception):
    """The subprocess did not finish: the reason says why (a crash's last words, a limit reached)."""


def environment(scratch: Path) -> dict[str, str]:
    """The subprocess's whole environment: offline, its caches in `scratch`, and none of the
    worker's own (no database URL, storage keys or Hub token near files from a pusher)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(scratch),
        "HF_HOME": str(scratch / "hf"),
        "HF_DATASETS_CACHE": str(scratch / "hf" / "datasets"),
        **OFFLINE,
    }


def run_module(
    module: str,
    args: list[str],
    *,
    cwd: Path,
    scratch: Path,
    time_limit: float,
    memory_limit: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Any, float]:
    """Run `python -m module args --out FILE` in `cwd`, FILE being where the module writes its
    result as JSON; its stderr goes to a log in `scratch`. Returns the result and the seconds it
    took, or raises SandboxFailed. `memory_limit` is in bytes of address space. With `progress`,
    the module also gets `--progress FILE`, where it writes "done total" lines; the latest is
    passed on every second while it runs."""

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    name = module.rsplit(".", 1)[-1]
    log, out, reported = scratch / f"{name}.log", scratch / f"{name}.json", scratch / f"{name}.progress"
    extra = ["--progress", str(reported)] if progress is not None else []
    started = time.monotonic()
    with log.open("wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 (our own module, arguments from the worker)
            [sys.executable, "-m", module, *args, "--out", str(out), *extra],
            cwd=cwd,
            env=environment(scratch),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
            preexec_fn=limits,  # setrlimit only, before exec
        )
        deadline = started + time_limit
        while process.poll() is None:
            if time.monotonic() >= deadline:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise SandboxFailed(f"stopped at the time limit of {time_limit:.0f} s")
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=min(1.0, max(deadline - time.monotonic(), 0.01)))
            if progress is not None:
                _report_latest(reported, progress)
    if process.returncode != 0:
        raise SandboxFailed(_failure(process.returncode, _tail(log), memory_limit))
    return json.loads(out.read_text()), time.monotonic() - started


class ProgressFile:
    """The module's side of `progress`: "done total", replaced atomically (the reader never sees
    half a line), at most twice a second unless forced. A no-op without a path."""

    def __init__(self, path: Path | None) -> None:
        self.path, self.written = path, 0.0

    def write(self, done: int, total: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.path is None or (not force and now - self.written < 0.5):
            return
        partial = self.path.with_suffix(".partial")
        partial.write_text(f"{done} {total}\n")
        partial.replace(self.path)
        self.written = now


def _report_latest(reported: Path, progress: Callable[[int, int], None]) -> None:
    """Pass on the last complete "done total" line of the module's progress file, if any."""
    with contextlib.suppress(FileNotFoundError):
        lines = reported.read_text().splitlines()
        numbers = lines[-1].split() if lines else []
        if len(numbers) == 2 and all(n.isdigit() for n in numbers):
            progress(int(numbers[0]), int(numbers[1]))


def _tail(log: Path) -> str:
    with log.open("rb") as f:
        f.seek(max(0, log.stat().st_size - 64 * STDERR_TAIL))
        return f.read().decode(errors="replace")


def _failure(returncode: int, stderr: str, memory_limit: int) -> str:
    """Why the subprocess failed, in a line, then the end of what it said (progress bars dropped)."""
    why = f"killed by {signal.Signals(-returncode).name}" if returncode < 0 else f"exited with status {returncode}"
    if any(sign in stderr for sign in OUT_OF_MEMORY):
        why = f"ran out of memory under the limit of {memory_limit // 2**20} MiB ({why})"
    lines = [line for line in stderr.splitlines() if line.strip() and "it/s]" not in line]
    return f"{why}: {chr(10).join(lines)[-STDERR_TAIL:]}" if lines else why
