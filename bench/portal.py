"""Benchmark: the server time of the portal's main pages over 10,000 versions (400 artifacts in 8
orgs, with files, lineage, reviews and check runs) on Postgres, signed in as a member and as a
reviewer, against a same-run baseline of `/healthz`. Requests go through Django's test Client in
this process (the whole middleware stack and templates, no network), so the figures are the
server's own time. Prints the median and p95 of each page, its ratio to the baseline, and its
query count (target: every page under 100 ms).

    make bench            # BENCH_DATABASE_URL, else DATABASE_URL's server; the database is recreated
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from bench.database import recreate_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _database_url() -> str:
    if url := os.environ.get("BENCH_DATABASE_URL"):
        return url
    server = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    if not server.scheme.startswith("postgres"):
        server = urlparse("postgres://postgres@127.0.0.1:5432/postgres")
    return server._replace(path="/consortium_bench_portal").geturl()


BASE_URL = _database_url()
ORGS, ARTIFACTS_PER_ORG, VERSIONS_PER_ARTIFACT, FILES_PER_VERSION = 8, 50, 25, 3
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "30"))
TARGET_MS = 100.0
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "consortium.settings",
        "DATABASE_URL": BASE_URL,
        "DJANGO_SECURE": "false",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "DATABASE_CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
        "DJANGO_ALLOWED_HOSTS": "testserver",
    }
)
WORDS = (  # noqa: SIM905 (one sentence reads better than a column of words)
    "instruction tuned multilingual code math reasoning distilled long context safety aligned preference "
    "web crawl filtered deduplicated synthetic dialogue summarisation retrieval vision speech chemistry "
    "biology legal medical finance tiny small base chat reward model curriculum annealing warmup"
).split()
COUNTRIES = ("FR", "DE", "CA", "GB", "US", "JP", "CH", "NL")
ARCHITECTURES = ("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "GPT2LMHeadModel", "GemmaForCausalLM")
LICENSES = ("Apache-2.0", "MIT", "CC-BY-4.0", "LicenseRef-Llama-3.1", "OpenRAIL-M")
KINDS = ("checkpoint", "checkpoint", "checkpoint", "adapter", "dataset", "pretraining_recipe", "eval_suite")
STATES = ["published"] * 10 + ["in_review"] * 3 + ["checking", "draft", "changes_requested", "approved", "rejected"]


def seed() -> dict[str, object]:
    """The catalogue, bulk-created; returns the people and the objects the pages are timed on."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from jobs.models import PipelineRun, Step
    from registry.models import (
        Artifact,
        LineageEdge,
        Membership,
        Organization,
        Review,
        User,
        Version,
        VersionFile,
    )
    from registry.permissions import Role

    call_command("migrate", verbosity=0)
    rng = random.Random(7)
    orgs = Organization.objects.bulk_create(
        Organization(name=f"Lab {i}", slug=f"lab-{i}", country=COUNTRIES[i], hub_namespace=f"lab-{i}")
        for i in range(ORGS)
    )
    member = User.objects.create_user("bench-member", password="bench-password-123")
    reviewer = User.objects.create_user("bench-reviewer", password="bench-password-123", is_reviewer=True)
    Membership.objects.create(user=member, organization=orgs[0], role=Role.CONTRIBUTOR)
    Membership.objects.create(user=reviewer, organization=orgs[1], role=Role.VIEWER)
    artifacts = Artifact.objects.bulk_create(
        Artifact(
            organization=org,
            slug=f"{rng.choice(WORDS)}-{j}",
            kind=KINDS[j % len(KINDS)],
            sharing=rng.choice(["org", "consortium"]),
            description=" ".join(rng.choices(WORDS, k=12)),
            created_by=member,
        )
        for org in orgs
        for j in range(ARTIFACTS_PER_ORG)
    )
    versions = []
    for artifact in artifacts:
        model = artifact.kind in ("checkpoint", "adapter")
        architecture = rng.choice(ARCHITECTURES) if artifact.kind == "checkpoint" else ""
        for n in range(VERSIONS_PER_ARTIFACT):
            versions.append(
                Version(
                    artifact=artifact,
                    number=f"1.{n}.0",
                    state=rng.choice(STATES),
                    license=rng.choice(LICENSES),
                    readme="# " + artifact.slug + "\n\n" + " ".join(rng.choices(WORDS, k=80)),
                    metadata={"description": " ".join(rng.choices(WORDS, k=8)), "context_length": 4096},
                    architecture=architecture,
                    parameters=int(10 ** rng.uniform(3, 11.5)) if model else None,
                    manifest_sha256="0" * 64,
                    created_by=member,
                )
            )
    versions = Version.objects.bulk_create(versions, batch_size=2000)
    VersionFile.objects.bulk_create(
        (
            VersionFile(version=v, path=f"file-{i}.safetensors", size=rng.randint(1, 10**9), sha256=f"{i:064x}")
            for v in versions
            for i in range(FILES_PER_VERSION)
        ),
        batch_size=5000,
    )
    by_kind: dict[str, list[Version]] = {}
    for v in versions:
        by_kind.setdefault(v.artifact.kind, []).append(v)
    edges = []
    for v in versions:
        kind = v.artifact.kind
        if kind in ("checkpoint", "adapter"):
            parents = {
                "derived_from": rng.choice(by_kind["checkpoint"]),
                "trained_on": rng.choice(by_kind["dataset"]),
                "produced_by": rng.choice(by_kind["pretraining_recipe"]),
            }
            # Marked as the child's move into review marks its edges.
            edges += [
                LineageEdge(child=v, relation=relation, parent=parent, child_in_review=v.state == "in_review")
                for relation, parent in parents.items()
            ]
    LineageEdge.objects.bulk_create([e for e in edges if e.parent_id != e.child_id], batch_size=5000)
    runs = PipelineRun.objects.bulk_create(
        (PipelineRun(version=v, status="passed") for v in versions if v.state != "draft"), batch_size=5000
    )
    Step.objects.bulk_create(
        (
            Step(run=run, name=name, position=i, status="passed", summary=f"{name} passed", details={"ok": True})
            for run in runs
            for i, name in enumerate(("integrity", "safety", "format", "license", "metadata"))
        ),
        batch_size=5000,
    )
    reviewed = [
        v for v in versions if v.state in ("approved", "published") and v.artifact.organization_id != orgs[1].pk
    ]
    Review.objects.bulk_create(
        (
            Review(version=v, reviewer=reviewer, organization=orgs[1], decision="approve", comment="looks good")
            for v in reviewed
        ),
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # as autovacuum does after a bulk load
    mine = next(a for a in artifacts if a.organization_id == orgs[0].pk and a.kind == "checkpoint")
    shown = next(v for v in versions if v.artifact_id == mine.pk and v.state == "published")
    return {"member": member, "reviewer": reviewer, "artifact": mine, "version": shown, "versions": len(versions)}


def timed(client: object, path: str) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        started = time.perf_counter()
        response = client.get(path)  # type: ignore[attr-defined]
        elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{path}: HTTP {response.status_code}")
    return elapsed * 1000, len(ctx.captured_queries)


def measure(get: Callable[[], tuple[float, int]]) -> dict[str, float]:
    get()  # warm: templates, connections, caches
    samples = [get() for _ in range(REQUESTS)]
    times = sorted(ms for ms, _ in samples)
    return {
        "p50": statistics.median(times),
        "p95": times[max(0, int(len(times) * 0.95) - 1)],
        "queries": max(q for _, q in samples),
    }


def start_storage(scratch: Path) -> object:
    """SeaweedFS, as the embedded default runs it, so the baseline's storage check answers."""
    from consortium.embedded import S3Ports, free_port_block, seaweed_start

    ports = S3Ports(free_port_block(S3Ports.SIZE))
    access, secret = "bench", secrets.token_urlsafe(16)
    service = seaweed_start(
        data_dir=scratch / "seaweedfs", ports=ports, access_key=access, secret_key=secret, log_dir=scratch / "log"
    )
    os.environ.update(
        {
            "S3_ENDPOINT_URL": f"http://127.0.0.1:{ports.s3}",
            "S3_ACCESS_KEY_ID": access,
            "S3_SECRET_ACCESS_KEY": secret,
            "S3_BUCKET": "bench-portal",
        }
    )
    return service


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    storage = start_storage(scratch)
    try:
        return run()
    finally:
        storage.stop(timeout=5)  # type: ignore[attr-defined]
        shutil.rmtree(scratch, ignore_errors=True)


def run() -> int:
    recreate_database(BASE_URL)
    started = time.monotonic()
    world = seed()
    from django.conf import settings
    from django.test.utils import override_settings

    from registry.storage import bucket_ensure

    bucket_ensure()
    # Static files from the apps: no collectstatic manifest in a scratch checkout (as in the tests).
    static = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    override_settings(STORAGES={**settings.STORAGES, "staticfiles": static}).enable()
    seeded = time.monotonic() - started
    from django.test import Client

    clients = {}
    for role in ("member", "reviewer"):
        clients[role] = Client()
        clients[role].force_login(world[role])
    artifact, version = world["artifact"], world["version"]
    pages = {
        "home": "/",
        "browse": "/browse/",
        "browse, search": "/browse/?q=instruction+tuned",
        "browse, facets": "/browse/?kind=checkpoint&architecture=LlamaForCausalLM&size=1b-10b&state=published"
        "&sort=updated",
        "artifact page": f"/artifacts/{artifact.public_id}/",  # type: ignore[attr-defined]
        "version page": f"/versions/{version.public_id}/",  # type: ignore[attr-defined]
        "review queue": "/review/",
    }
    anonymous = Client()
    baseline = measure(lambda: timed(anonymous, "/healthz"))
    results = {}
    for role, client in clients.items():
        for name, path in pages.items():
            results[(role, name)] = measure(lambda c=client, p=path: timed(c, p))  # type: ignore[misc]

    print(
        f"portal: {world['versions']} versions in {ORGS * ARTIFACTS_PER_ORG} artifacts of {ORGS} orgs, "
        f"{FILES_PER_VERSION} files each, with lineage, reviews and check runs (seeded in {seeded:.0f} s); "
        "Postgres (JIT off, as the settings have it); "
        f"Django test Client in-process, {REQUESTS} requests per page after one warm-up"
    )
    print(f"  baseline GET /healthz             p50 {baseline['p50']:6.1f} ms   p95 {baseline['p95']:6.1f} ms")
    slow = []
    for (role, name), f in results.items():
        ratio = f["p50"] / baseline["p50"] if baseline["p50"] else float("inf")
        flag = "" if f["p95"] < TARGET_MS else "  OVER TARGET"
        if flag:
            slow.append(f"{role} {name}")
        print(
            f"  {role:<8} {name:<24} p50 {f['p50']:6.1f} ms   p95 {f['p95']:6.1f} ms   "
            f"x{ratio:6.1f} healthz   {f['queries']:3.0f} queries{flag}"
        )
    print(f"  target: p95 < {TARGET_MS:.0f} ms on every page: {'yes' if not slow else 'NO (' + ', '.join(slow) + ')'}")
    return 0 if not slow else 1


if __name__ == "__main__":
    sys.exit(main())
