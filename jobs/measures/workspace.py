"""What a measurement works on: the version's model files (for an adapter, the adapter's and its
base checkpoint's from the registry) fetched from S3 into a scratch directory removed afterwards,
and the rules that decide it is not measured (no base in the registry, too large)."""

from __future__ import annotations

import functools
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog
from django.conf import settings

from jobs.checks.base import CheckContext, FileRef, version_files
from jobs.sandbox import SandboxFailed
from registry.models import Kind, Relation, Version
from registry.paths import check_path

log = structlog.get_logger(__name__)


class NotMeasured(Exception):
    """The measurement is not taken; the message says why, as the version page shows it."""


@dataclass(frozen=True)
class Subject:
    """A model on disk: the checkpoint (an adapter's base) and the adapter, if any."""

    scratch: Path
    model: Path
    adapter: Path | None
    parameters: int | None  # of the checkpoint that runs

    @property
    def time_limit(self) -> float:
        return settings.MEASURE_TIME_LIMIT_SECONDS

    @property
    def memory_limit(self) -> int:
        return settings.MEASURE_MEMORY_LIMIT_MB * 2**20


def fetch(files: list[FileRef], into: Path, progress: Callable[[int], None] = lambda n: None) -> Path:
    """`files` written under the new directory `into` at their manifest paths, checked again here
    (a path never leaves `into`). `progress` gets the bytes written after each file."""
    root = into.resolve()
    root.mkdir(parents=True)
    for file in files:
        target = (root / check_path(file.path)).resolve()
        if not target.is_relative_to(root):
            raise ValueError(f"{file.path}: leaves the scratch directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        with file.open() as source, target.open("xb") as sink:
            shutil.copyfileobj(source, sink, length=8 * 2**20)
        progress(file.size)
    return root


def base_of(version: Version) -> Version:
    """An adapter's base checkpoint in the registry, or NotMeasured."""
    edge = version.parent_edges.filter(relation=Relation.DERIVED_FROM).select_related("parent__artifact").first()
    if edge is None or edge.parent is None or edge.parent.artifact.kind != Kind.CHECKPOINT:
        raise NotMeasured("not measured (base not in registry)")
    return edge.parent


@contextmanager
def subject(ctx: CheckContext) -> Iterator[Subject]:
    """The version's model fetched into a fresh scratch directory (removed on the way out), or
    NotMeasured before anything is fetched."""
    adapter = ctx.kind == Kind.ADAPTER
    checkpoint = base_of(ctx.version) if adapter else ctx.version
    if checkpoint.parameters is None:
        raise NotMeasured("not measured (parameter count unknown)")
    if checkpoint.parameters > settings.MEASURE_MAX_PARAMETERS:
        raise NotMeasured(
            f"not measured (size): {checkpoint.parameters:,} parameters, above the "
            f"{settings.MEASURE_MAX_PARAMETERS:,} this worker's hardware handles"
        )
    model_files = version_files(checkpoint)
    adapter_files = ctx.files if adapter else []
    total = sum(f.size for f in [*model_files, *adapter_files])
    fetched = 0

    def progress(size: int) -> None:
        nonlocal fetched
        fetched += size
        ctx.progress(fetched, total, "bytes")

    settings.MEASURE_SCRATCH_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="measure-", dir=settings.MEASURE_SCRATCH_DIR) as scratch:
        root = Path(scratch)
        model = fetch(model_files, root / "model", progress)
        adapter_dir = fetch(adapter_files, root / "adapter", progress) if adapter else None
        yield Subject(scratch=root, model=model, adapter=adapter_dir, parameters=checkpoint.parameters)


def measurement(run: Callable[[CheckContext, Subject], None]) -> Callable[[CheckContext], None]:
    """A measurement as a pipeline step: `run(ctx, subject)` on the fetched model. Not measurable
    → the step is skipped with the reason; a sandbox that could not finish (a crash, a limit) is
    the model's result, recorded as a failure, not retried like a storage error."""

    @functools.wraps(run)
    def step(ctx: CheckContext) -> None:
        try:
            with subject(ctx) as fetched:
                run(ctx, fetched)
        except NotMeasured as why:
            ctx.skip(str(why))
        except SandboxFailed as exc:
            log.warning("measure.did_not_finish", error=str(exc)[:500])
            ctx.fail("did_not_finish", str(exc))

    return step
