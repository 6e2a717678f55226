"""`consortium push DIR`: hash locally, create (or find) the version, send only the bytes the
registry lacks straight to S3 in parallel parts, let the server verify them, finalize.

Re-running a push after a kill resumes: the registry answers with the same version and upload,
and lists only the parts it does not hold yet."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.progress import Progress

from consortium_cli.client import Api
from consortium_cli.refs import artifact_of

MANIFEST = "consortium.yaml"
CACHE = ".consortium-hashes.json"
CHUNK = 8 * 1024 * 1024


@dataclass
class Spec:
    """What to push, from consortium.yaml in the directory and then the command-line flags."""

    organization: str
    artifact: str
    version: str
    license: str
    kind: str | None = None
    sharing: str = "org"
    description: str = ""
    readme: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    compute: dict[str, Any] = field(default_factory=dict)
    lineage: list[dict[str, Any]] = field(default_factory=list)
    release_target: str = "hub"
    release_at: str | None = None  # embargo: ISO 8601 date-time; a `hub` version publishes no earlier


def load_spec(directory: Path, overrides: dict[str, Any]) -> Spec:
    declared = yaml.safe_load((directory / MANIFEST).read_text()) if (directory / MANIFEST).exists() else {}
    values = {**(declared or {}), **{k: v for k, v in overrides.items() if v is not None}}
    readme = values.pop("readme", None)
    if readme is None and (directory / "README.md").exists():
        readme = "README.md"
    values["readme"] = (directory / readme).read_text() if readme else ""
    missing = [name for name in ("organization", "artifact", "version", "license") if not values.get(name)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}: give them in {MANIFEST} or as flags")
    known = set(Spec.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown keys in {MANIFEST}: {', '.join(unknown)}")
    if isinstance(values.get("release_at"), date):  # YAML reads an unquoted timestamp as one
        values["release_at"] = values["release_at"].isoformat()
    return Spec(**values)


def files_of(directory: Path) -> list[Path]:
    """Every file to push: all under the directory but the manifest, the hash cache and dot-files."""
    found = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts) and relative.name != MANIFEST:
            found.append(path)
    return found


def hash_files(directory: Path, paths: list[Path], progress: Progress) -> list[dict[str, Any]]:
    """sha256 of every file, one streaming pass each; unchanged files (same size and mtime) come
    from the cache kept beside them, so a resumed push does not hash again."""
    cache_path = directory / CACHE
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}  # none yet, unreadable or half-written by a killed run: hash again
    task = progress.add_task("hashing", total=sum(p.stat().st_size for p in paths))
    entries = []
    for path in paths:
        relative = path.relative_to(directory).as_posix()
        stat = path.stat()
        # A file replaced in place, even with its size and mtime kept (cp -p), changes inode or ctime.
        stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns]
        if cache.get(relative, {}).get("stamp") == stamp:
            digest = cache[relative]["sha256"]
            progress.advance(task, stat.st_size)
        else:
            hasher = hashlib.sha256()
            with path.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    hasher.update(chunk)
                    progress.advance(task, len(chunk))
            digest = hasher.hexdigest()
            cache[relative] = {"stamp": stamp, "sha256": digest}
        entries.append({"path": relative, "size": stat.st_size, "sha256": digest})
    try:
        partial = cache_path.with_suffix(".tmp")
        partial.write_text(json.dumps(cache))
        partial.replace(cache_path)  # atomic: a kill never leaves half a cache
    except OSError:
        pass  # a read-only directory: no cache, the next push hashes again
    return entries


def _part_reader(path: Path, offset: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(offset)
        left = length
        while left:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                raise OSError(f"{path} changed while uploading")
            left -= len(chunk)
            yield chunk


_s3 = httpx.Client(timeout=600)  # shared by the upload threads: parts reuse kept-alive connections


def put_part(url: str, path: Path, offset: int, length: int) -> None:
    """Send one part straight to S3, streamed: memory holds one chunk whatever the part size."""
    response = _s3.put(url, content=_part_reader(path, offset, length), headers={"Content-Length": str(length)})
    if response.status_code != 200:
        raise OSError(f"S3 refused a part of {path.name}: HTTP {response.status_code} {response.text[:200]}")


URL_BATCH = 64  # parts whose URLs are fetched at once: each batch's URLs are fresh when used


def upload(api: Api, entry: dict[str, Any], path: Path, progress: Progress, workers: int) -> None:
    ref = entry["upload"]
    missing = [p["number"] for p in api.post(f"/uploads/{ref['id']}/parts/")["parts"]]
    size, part_size = entry["size"], ref["part_size"]

    def length(number: int) -> int:
        return min(part_size, size - (number - 1) * part_size)

    task = progress.add_task(f"uploading {entry['path']}", total=size)
    progress.advance(task, size - sum(length(n) for n in missing))

    def one(part: dict[str, Any]) -> None:
        put_part(part["url"], path, (part["number"] - 1) * part_size, length(part["number"]))
        progress.advance(task, length(part["number"]))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(missing), URL_BATCH):
            batch = api.post(f"/uploads/{ref['id']}/parts/", {"parts": missing[start : start + URL_BATCH]})
            list(pool.map(one, batch["parts"]))
    # Completing hashes the whole file on the server: give it time (about 3 s per GiB here).
    api.post(f"/uploads/{ref['id']}/complete/", timeout=max(60.0, size / 2**30 * 30))


def push(api: Api, directory: Path, spec: Spec, *, progress: Progress, workers: int = 4) -> dict[str, Any]:
    paths = files_of(directory)
    if not paths:
        raise ValueError(f"{directory} holds no files to push")
    entries = hash_files(directory, paths, progress)
    artifact = artifact_of(api, spec.organization, spec.artifact)
    if artifact is None:
        if not spec.kind:
            raise ValueError(f"{spec.organization}/{spec.artifact} does not exist yet: give its kind to create it")
        artifact = api.post(
            "/artifacts/",
            {
                "organization": spec.organization,
                "slug": spec.artifact,
                "kind": spec.kind,
                "sharing": spec.sharing,
                "description": spec.description,
            },
        )
    body = {
        "artifact": artifact["id"],
        "number": spec.version,
        "license": spec.license,
        "metadata": spec.metadata,
        "readme": spec.readme,
        "lineage": spec.lineage,
        "release_target": spec.release_target,
    }
    if spec.release_at:
        body["release_at"] = spec.release_at
    if spec.compute:
        body["compute"] = spec.compute
    version = api.post("/versions/", body)  # the same version again answers 200 with its current state
    declared = api.post(f"/versions/{version['id']}/files/", {"files": entries})
    by_path = {p.relative_to(directory).as_posix(): p for p in paths}
    pending = {e["sha256"]: e for e in declared if e["status"] == "missing"}  # one upload per distinct bytes
    for entry in pending.values():
        upload(api, entry, by_path[entry["path"]], progress, workers)
    if version["state"] == "draft":
        version = api.post(f"/versions/{version['id']}/finalize/")
    return version


def workers_default() -> int:
    return min(8, (os.cpu_count() or 2) * 2)
