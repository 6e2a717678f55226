"""What a review approves, as digests: the file manifest and the declared metadata. Both are
computed from the rows as they are now, so a change made after approval, by any path, shows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from registry.models import Version, VersionFile


def manifest_digest(files: Iterable[VersionFile]) -> str:
    """sha256 over the sorted manifest: one line `path NUL size NUL sha256` per file."""
    lines = sorted(f"{f.path}\0{f.size}\0{f.sha256}\n" for f in files)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def metadata_digest(version: Version) -> str:
    """sha256 of the canonical JSON of everything the pusher declared besides the files (license,
    metadata, README, compute, release target, lineage). What the registry adds later (eval
    results, probes) and the release date (a schedule, not content) are outside it."""
    lineage = sorted(
        [
            edge.relation,
            str(edge.parent.public_id) if edge.parent is not None else f"hub:{edge.external_repo}",
            edge.external_revision,
            edge.external_license,
        ]
        for edge in version.parent_edges.all()  # prefetch `parent_edges__parent` for a page of versions
        if not edge.measured
    )
    declared = {
        "license": version.license,
        "metadata": version.metadata,
        "readme": version.readme,
        "compute": version.compute,
        "release_target": version.release_target,
        "lineage": lineage,
    }
    return hashlib.sha256(json.dumps(declared, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def version_digests(version: Version) -> tuple[str, str]:
    """(manifest digest, declared-metadata digest) of the version as it is now."""
    return manifest_digest(version.files.all()), metadata_digest(version)
