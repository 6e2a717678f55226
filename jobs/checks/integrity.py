"""Integrity: every stored file has the manifest's size and sha256, in one streaming pass."""

from __future__ import annotations

from jobs.checks.base import CheckContext


def check(ctx: CheckContext) -> None:
    total = sum(f.size for f in ctx.files)
    done = 0
    for file in ctx.files:

        def report(read: int, before: int = done) -> None:
            ctx.progress(before + read, total)

        size, sha256 = file.digest(report)
        done += file.size
        if size != file.size:
            ctx.fail("size_mismatch", f"stored size {size} bytes, manifest says {file.size}", path=file.path)
        elif sha256 != file.sha256:
            ctx.fail("digest_mismatch", f"stored sha256 {sha256}, manifest says {file.sha256}", path=file.path)
    ctx.progress(total, total)
    ctx.details = {"files": len(ctx.files), "bytes": total}
    bad = len(ctx.reasons)
    ctx.summary = (
        f"{len(ctx.files)} files, {total} bytes: sizes and sha256 match the manifest"
        if not bad
        else f"{bad} of {len(ctx.files)} files differ from the manifest"
    )
