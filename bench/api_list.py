"""Benchmark: the authenticated, isolation-filtered `GET /api/v1/versions/?page_size=50` against a
bare DRF list of the same rows, served by the same gunicorn (persistent DB connections) in the same
run, over 10,000 versions in 100 orgs on Postgres. Prints req/s, p50, p99, the ratio, and the query
counts (which must not grow with the page: no N+1).

    make bench            # DATABASE_URL defaults to the local Postgres; the database is recreated
"""

from __future__ import annotations

import http.client
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.database import recreate_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/consortium_bench")
ORGS, VERSIONS, PAGE = 100, 10_000, 50
CLIENTS, SECONDS, ROUNDS = 2, 6, 5
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": BASE_URL,
        "DJANGO_SECURE": "false",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "DATABASE_CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,testserver",
    }
)


def seed() -> str:
    """100 orgs x 100 versions in every state and both sharing levels; a member token of org 0."""
    import django

    django.setup()
    from django.core.management import call_command

    from registry.actors import Actor
    from registry.models import Artifact, Membership, Organization, User, Version
    from registry.permissions import Role
    from registry.services.tokens import token_issue

    call_command("migrate", verbosity=0)
    rng = random.Random(7)
    orgs = Organization.objects.bulk_create(
        Organization(name=f"Lab {i}", slug=f"lab-{i}", country="FR", hub_namespace=f"lab-{i}") for i in range(ORGS)
    )
    user = User.objects.create_user("bench", password="bench-password-123")
    Membership.objects.create(user=user, organization=orgs[0], role=Role.CONTRIBUTOR)
    artifacts = Artifact.objects.bulk_create(
        Artifact(
            organization=org,
            slug=f"model-{j}",
            kind="checkpoint",
            sharing=rng.choice(["org", "consortium"]),
            created_by=user,
        )
        for org in orgs
        for j in range(10)
    )
    states = [s for s in Version.State.values]
    Version.objects.bulk_create(
        Version(
            artifact=artifacts[i % len(artifacts)],
            number=f"1.0.{i}",
            state=rng.choice(states),
            license="Apache-2.0",
            created_by=user,
        )
        for i in range(VERSIONS)
    )
    _, secret = token_issue(actor=Actor.for_user(user), organization=orgs[0], name="bench", scopes=["read"])
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would after a bulk load
    return secret


def query_counts(secret: str) -> dict[str, int]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    counts = {}
    Client().get("/api/v1/versions/", HTTP_AUTHORIZATION=f"Bearer {secret}")  # the token's first use is recorded once
    for size in (10, PAGE, 200):
        with CaptureQueriesContext(connection) as ctx:
            response = Client().get(f"/api/v1/versions/?page_size={size}", HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert response.status_code == 200, response.content
        counts[f"isolated page_size={size}"] = len(ctx.captured_queries)
    return counts


def load_wrk(port: int, path: str, headers: dict[str, str], seconds: float) -> dict[str, float]:
    """wrk (C, its own process) as the load generator: 2 threads, CLIENTS kept-alive connections."""
    command = ["wrk", "-t1", f"-c{CLIENTS}", f"-d{int(seconds)}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*command, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"{path}: non-2xx answers\n{out}")

    def ms(label: str) -> float:
        value = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)$", out, re.MULTILINE)
        return float(value.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[value.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"rps": rps, "p50_ms": ms("50"), "p99_ms": ms("99")}


def load_python(port: int, path: str, headers: dict[str, str], seconds: float) -> dict[str, float]:
    """Fallback when wrk is missing: CLIENTS threads with kept-alive connections."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.monotonic() < stop:
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: HTTP {response.status}")
            mine.append(time.perf_counter() - started)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ordered = sorted(latencies)
    return {
        "rps": len(ordered) / seconds,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
    }


def combine(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {
        "rps": statistics.mean(r["rps"] for r in rounds),
        "p50_ms": statistics.median(r["p50_ms"] for r in rounds),
        "p99_ms": max(r["p99_ms"] for r in rounds),
    }


def main() -> int:
    from consortium.embedded import free_port_block, wait_until

    recreate_database(BASE_URL)
    secret = seed()
    counts = query_counts(secret)
    port = free_port_block(1)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "consortium.wsgi",
            f"--bind=127.0.0.1:{port}",
            # One worker serving one request at a time: every connection reaches the same process, so
            # rounds do not differ by how the kernel spread connections over workers, and no GIL
            # contention blurs the per-request cost. Two connections keep it always busy.
            "--workers=1",
            "--worker-class=gthread",  # keeps connections alive
            "--threads=1",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import urllib.request

        wait_until(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/bare-versions/").status == 200,
            what="gunicorn",
            timeout=30,
        )
        isolated = ("/api/v1/versions/?page_size=50", {"Authorization": f"Bearer {secret}"})
        bare = ("/bench/bare-versions/?page_size=50", {})
        load = load_wrk if shutil.which("wrk") else load_python
        load(port, *isolated, 1)  # warm both: connections, caches
        load(port, *bare, 1)
        samples: dict[str, list[dict[str, float]]] = {"isolated": [], "bare": []}
        for _ in range(ROUNDS):  # interleaved, so drift hits both sides alike
            samples["isolated"].append(load(port, *isolated, SECONDS))
            samples["bare"].append(load(port, *bare, SECONDS))
    finally:
        server.terminate()
        server.wait(10)

    iso, base = combine(samples["isolated"]), combine(samples["bare"])
    # Each round's pair ran back to back; the median of their ratios shrugs off a noisy neighbour.
    ratio = statistics.median(i["rps"] / b["rps"] for i, b in zip(samples["isolated"], samples["bare"], strict=True))
    client = "wrk" if shutil.which("wrk") else "a Python client (install wrk for a lighter load generator)"
    print(
        f"api_list: {VERSIONS} versions in {ORGS} orgs, Postgres, gunicorn 1 worker x 1 thread; "
        f"{CLIENTS} kept-alive connections from {client}, {ROUNDS} interleaved rounds of {SECONDS} s"
    )
    for name, f in (("isolated GET /api/v1/versions/?page_size=50", iso), ("bare DRF list, same rows", base)):
        print(f"  {name:<46} {f['rps']:8.1f} req/s   p50 {f['p50_ms']:6.1f} ms   p99 {f['p99_ms']:6.1f} ms")
    pairs = ", ".join(f"{i['rps'] / b['rps']:.2f}" for i, b in zip(samples["isolated"], samples["bare"], strict=True))
    print(f"  ratio isolated/bare: {ratio:.2f}, median of the rounds' ratios [{pairs}] (target >= 0.80)")
    print("  queries per request: " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    no_n_plus_one = len(set(counts.values())) == 1
    print(f"  no N+1 (query count independent of page size): {'yes' if no_n_plus_one else 'NO'}")
    return 0 if ratio >= 0.8 and no_n_plus_one else 1


if __name__ == "__main__":
    sys.exit(main())
