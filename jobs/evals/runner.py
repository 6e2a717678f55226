"""Running `jobs.evals.harness` in a subprocess: offline, under time and memory limits, its own
process group (so a timeout kills the whole tree), and its outcome read back as structured scores."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# The Hugging Face libraries never reach the network, whatever a task or a config asks.
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
STDERR_TAIL = 2000  # characters of the subprocess's stderr kept in a failure's reason


class EvalFailed(Exception):
    """The eval did not finish: the reason says why (a crash's last words, a limit reached)."""


@dataclass(frozen=True)
class Score:
    task: str
    metric: str
    filter: str
    value: float | None
    stderr: float | None
    samples: int | None
    task_version: str


@dataclass(frozen=True)
class Outcome:
    scores: list[Score]
    harness_version: str
    seconds: float


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


def _tail(log: Path) -> str:
    with log.open("rb") as f:
        f.seek(max(0, log.stat().st_size - 64 * STDERR_TAIL))
        return f.read().decode(errors="replace")


def evaluate(
    *,
    model: Path,
    suite: Path,
    scratch: Path,
    adapter: Path | None = None,
    tasks: list[str] | None = None,
    time_limit: float,
    memory_limit: int,
) -> Outcome:
    """Score `model` (with `adapter` on it, when given) on the tasks of `suite` (all of them unless
    named). `scratch` takes the libraries' caches; `memory_limit` is in bytes of address space."""
    out = scratch / "scores.json"
    command = [sys.executable, "-m", "jobs.evals.harness", "--model", str(model), "--suite", str(suite)]
    command += ["--out", str(out)]
    command += ["--adapter", str(adapter)] if adapter else []
    for task in tasks or []:
        command += ["--task", task]

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    log = scratch / "harness.log"
    started = time.monotonic()
    with log.open("wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 (our own module, arguments from the worker)
            command,
            cwd=suite,
            env=environment(scratch),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
            preexec_fn=limits,  # setrlimit only, before exec
        )
        try:
            process.wait(timeout=time_limit)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise EvalFailed(f"stopped at the time limit of {time_limit:.0f} s") from None
    seconds = time.monotonic() - started
    if process.returncode != 0 or not out.exists():
        raise EvalFailed(_failure(process.returncode, _tail(log), memory_limit))
    found = json.loads(out.read_text())
    return Outcome(
        scores=[Score(**row) for row in found["scores"]],
        harness_version=found["harness_version"],
        seconds=seconds,
    )


# What running out of address space looks like from Python, numpy, torch and the dynamic loader.
OUT_OF_MEMORY = ("MemoryError", "Cannot allocate memory", "failed to map segment", "std::bad_alloc")


def _failure(returncode: int, stderr: str, memory_limit: int) -> str:
    """Why the subprocess failed, in a line, then the end of what it said (progress bars dropped)."""
    why = f"killed by {signal.Signals(-returncode).name}" if returncode < 0 else f"exited with status {returncode}"
    if any(sign in stderr for sign in OUT_OF_MEMORY):
        why = f"ran out of memory under the limit of {memory_limit // 2**20} MiB ({why})"
    lines = [line for line in stderr.splitlines() if line.strip() and "it/s]" not in line]
    return f"{why}: {chr(10).join(lines)[-STDERR_TAIL:]}" if lines else why
