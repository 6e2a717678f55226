"""The tooling-compatibility probe: does the model load and run with transformers (and an adapter
with peft on its base) without remote code, from safetensors, with a tokenizer that round-trips
and a chat template that renders? A matrix of what passed, with the library versions used."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jobs.sandbox import run_module


@dataclass(frozen=True)
class Check:
    check: str
    passed: bool | None  # None: does not apply (say, no chat template declared)
    detail: str


@dataclass(frozen=True)
class Compatibility:
    checks: list[Check]
    libraries: dict[str, str]

    @property
    def passed(self) -> bool:
        return all(c.passed is not False for c in self.checks)


def probe(
    *, model: Path, scratch: Path, adapter: Path | None = None, time_limit: float, memory_limit: int
) -> Compatibility:
    """Probe `model` (and `adapter` on it) in the sandbox. Raises SandboxFailed when the probe
    itself cannot finish (a crash or a limit), never for a check that fails."""
    args = ["--model", str(model)] + (["--adapter", str(adapter)] if adapter else [])
    found, _ = run_module(
        "jobs.probes.compatibility_child",
        args,
        cwd=scratch,
        scratch=scratch,
        time_limit=time_limit,
        memory_limit=memory_limit,
    )
    return Compatibility(checks=[Check(**row) for row in found["checks"]], libraries=found["libraries"])
