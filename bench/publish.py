"""Benchmark: publication to the Hub on the embedded stack of `make run` (started here in a scratch
directory, with its local Hub-protocol server), against a same-run baseline of the least any
publication of the same bytes can do: one streaming GET of the stored file from SeaweedFS plus one
`huggingface_hub` commit of the same file from local disk to the same Hub server.

Prints:
- approval → `published` for a 1 GB safetensors checkpoint plus config (server timestamps: the
  approving review to the publication's `published_at`; it includes the dispatch, the card, the
  commit streamed from S3, the verification of the tree and the tag), the baseline, and the ratio.
  The issue sets no speed target; on this 2-core machine the stream keeps three processes busy at
  once (SeaweedFS serving, the worker sending, the Hub server receiving and hashing), while the
  baseline runs its two halves one after the other;
- the worker's peak RSS over the run (target <= 300 MB: files are streamed, never held).

    make bench                  # BENCH_CHECKPOINT_MB=300 for a quicker run
"""

from __future__ import annotations

import os

os.environ["HF_HUB_DISABLE_XET"] = "1"  # read at import time; the local Hub server speaks LFS
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"

import hashlib
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi

from bench.checks import SIZE, Registry, stamp, storage_floor, write_safetensors
from bench.stack import peak_rss_mb, start_stack
from tests.corpus.models import tiny_config


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def hub_baseline(hub_url: str, token: str, path: Path) -> float:
    """One commit of the same file from local disk to a fresh repo on the same Hub server."""
    api = HfApi(endpoint=hub_url, token=token)
    api.create_repo("baseline/upload", exist_ok=True)
    started = time.perf_counter()
    api.create_commit(
        "baseline/upload",
        [CommitOperationAdd(path_in_repo="model.safetensors", path_or_fileobj=str(path))],
        commit_message="baseline",
    )
    return time.perf_counter() - started


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    stack = start_stack(scratch / "var")
    registry = Registry(stack.url, stack.token, scratch)
    reviewer = Registry(stack.url, stack.review_token, scratch)
    try:
        model = scratch / "model"
        model.mkdir()
        write_safetensors(model / "model.safetensors", SIZE)
        (model / "config.json").write_text(json.dumps(tiny_config()))
        sha256 = sha256_of(model / "model.safetensors")
        spec = {"organization": "aurora", "artifact": "big", "kind": "checkpoint", "version": "1.0.0"}
        version = registry.push(model, {**spec, "license": "Apache-2.0"})
        state = registry.settled(version["id"])[0]["state"]
        if state != "in_review":
            raise SystemExit(f"the checkpoint ended {state}, not in_review")
        review = reviewer.api.post(f"/versions/{version['id']}/reviews/", json={"decision": "approve"})
        review.raise_for_status()
        deadline = time.monotonic() + 1800
        while (found := registry.api.get(f"/versions/{version['id']}/").json())["state"] != "published":
            publication = found.get("publication") or {}
            if publication.get("status") == "failed" or time.monotonic() > deadline:
                raise SystemExit(f"publication did not finish: {publication}")
            time.sleep(0.2)
        elapsed = stamp(found["publication"]["published_at"]) - stamp(review.json()["created_at"])
        worker_rss = peak_rss_mb(stack.process.pid, b"worker")
        hub_token = (scratch / "var" / "hub-token").read_text().strip()
        baseline = storage_floor(scratch / "var", stack.s3_port, sha256) + hub_baseline(
            stack.hub_url, hub_token, model / "model.safetensors"
        )
    finally:
        os.killpg(stack.process.pid, signal.SIGINT)
        stack.process.wait(60)
        shutil.rmtree(scratch, ignore_errors=True)
    mb = SIZE / 1e6
    print(f"publication: {mb:.0f} MB checkpoint")
    print(f"  approval -> published       {elapsed:7.2f} s  ({mb / elapsed:6.1f} MB/s)")
    print(f"  baseline: S3 GET + one commit from disk {baseline:7.2f} s")
    print(f"  ratio                        {elapsed / baseline:7.2f}")
    print(f"  worker peak RSS              {worker_rss:7.0f} MB  (target <= 300)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
