"""Benchmark: the eval step on the demo's tiny checkpoint with the demo eval suite, against a
same-run baseline of lm-evaluation-harness's `simple_evaluate` called directly in a fresh Python
process on the same files with the same arguments.

Three sides, each timed from a fresh process (each pays Python's and torch's start-up once),
alternating, medians compared:
- the baseline, direct;
- the eval runner alone (`jobs.evals.runner`: the sandboxed subprocess, scores read back as rows);
- the whole eval step as a gpu worker runs it (`pipeline.step_execute`): Django, the claim and
  heartbeat, suites resolved, the checkpoint and the suite fetched from S3 (a SeaweedFS started
  here, on a SQLite database), the runner, the scores and lineage stored with the step's result.

Prints the medians, each side's overhead over the direct run (target for the step: at most 15%)
and peak RSS (the process and its children).

    make bench            # BENCH_EVAL_RUNS=5 for more runs (default 3)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from consortium.embedded import Service

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RUNS = int(os.environ.get("BENCH_EVAL_RUNS", "3"))
TARGET = 0.15

# The same call as jobs/evals/harness.py makes, without the registry around it.
DIRECT = """
import sys, lm_eval
from lm_eval.tasks import TaskManager
model, suite = sys.argv[1], sys.argv[2]
manager = TaskManager(include_path=suite, include_defaults=False)
lm_eval.simple_evaluate(
    model="hf", model_args={"pretrained": model, "dtype": "float32", "trust_remote_code": False},
    tasks=sorted(manager.all_subtasks), task_manager=manager, device="cpu", batch_size=8, num_fewshot=0,
    bootstrap_iters=100, log_samples=False, random_seed=0, numpy_random_seed=0, torch_random_seed=0,
    fewshot_random_seed=0,
)
"""

# The registry's side: the runner, as the eval step calls it.
REGISTRY = """
import sys
from pathlib import Path
from jobs.evals.runner import evaluate
outcome = evaluate(
    model=Path(sys.argv[1]), suite=Path(sys.argv[2]), scratch=Path(sys.argv[3]), time_limit=600, memory_limit=8 * 2**30
)
assert outcome.scores, "no scores"
"""


# The step's stage: the suite (published by borealis, the stewards' default) and the checkpoint
# (aurora's, its checks passed) stored in S3, and the checkpoint's queued evals step.
PREPARE = """
import os, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")
django.setup()
import hashlib
from django.core.management import call_command
from jobs.models import EvalSuiteDefault, PipelineRun, Step
from registry import storage
from registry.demo.files import EXAMPLES, checkpoint_files
from registry.models import Blob, Version, VersionFile
from tests import factories
call_command("migrate", verbosity=0)
storage.bucket_ensure()
def stored(org, kind, slug, files, **fields):
    artifact = factories.ArtifactFactory(organization=org, kind=kind, slug=slug, sharing="consortium")
    version = factories.VersionFactory(artifact=artifact, **fields)
    for path, data in files.items():
        sha = hashlib.sha256(data).hexdigest()
        blob, _ = Blob.objects.get_or_create(organization=org, sha256=sha, defaults={"size": len(data)})
        storage.s3().put_object(Bucket=storage.settings.S3_BUCKET, Key=blob.key, Body=data)
        VersionFile.objects.create(version=version, path=path, size=len(data), sha256=sha, blob=blob)
    return version
suite_dir = EXAMPLES / "eval-suite"
suite_files = {str(p.relative_to(suite_dir)): p.read_bytes() for p in suite_dir.rglob("*") if p.is_file()}
suite = stored(factories.OrganizationFactory(slug="borealis"), "eval_suite", "pico-weather-evals", suite_files,
               state=Version.State.PUBLISHED)
EvalSuiteDefault.objects.create(kind="checkpoint", suite=suite.artifact)
files, metadata = checkpoint_files()
model = stored(factories.OrganizationFactory(slug="aurora"), "checkpoint", "pico-llama", files,
               state=Version.State.IN_REVIEW, metadata=metadata, parameters=metadata["parameters"])
run = PipelineRun.objects.create(version=model, status=PipelineRun.Status.PASSED)
print(Step.objects.create(run=run, name="evals", gating=False, queue="gpu").pk)
"""

# The registry's whole step, as a gpu worker runs it (the step queued again first). A worker is
# a long-lived process: its start-up (Django, the app's imports) is timed apart, on stderr's last line.
STEP = """
import os, sys, time
started = time.monotonic()
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")
django.setup()
from jobs import pipeline
from jobs.models import Step
step_id = int(sys.argv[1])
Step.objects.filter(pk=step_id).update(status="queued", attempts=0, lease_token=None, not_before=None)
ready = time.monotonic()
assert pipeline.step_execute(step_id) == "passed", Step.objects.get(pk=step_id).reasons
print(ready - started, time.monotonic() - ready, file=sys.stderr)
"""


def stage(scratch: Path) -> tuple[dict[str, str], int, Service]:
    """SeaweedFS and a SQLite database in `scratch` holding the step's stage; the environment a
    Django process needs to use them, the step's id and the S3 service (stopped by the caller)."""
    from consortium.embedded import S3Ports, free_port_block, seaweed_start

    ports = S3Ports(free_port_block(S3Ports.SIZE))
    secret = "bench-" + os.urandom(8).hex()
    weed = seaweed_start(
        data_dir=scratch / "seaweedfs", ports=ports, access_key="bench", secret_key=secret, log_dir=scratch / "log"
    )
    drop = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "HF_ENDPOINT", "HF_TOKEN"}
    env = {k: v for k, v in os.environ.items() if k not in drop} | {
        "CONSORTIUM_VAR_DIR": str(scratch / "var"),
        "DJANGO_SECRET_KEY": "bench-evals-" + secret,
        "DJANGO_SECURE": "false",
        "S3_ENDPOINT_URL": f"http://127.0.0.1:{ports.s3}",
        "S3_ACCESS_KEY_ID": "bench",
        "S3_SECRET_ACCESS_KEY": secret,
        "S3_BUCKET": "bench-evals",
        "MEASURE_SCRATCH_DIR": str(scratch / "measure"),
        "LOG_LEVEL": "WARNING",
    }
    (scratch / "var").mkdir()
    for _ in range(60):  # SeaweedFS answers S3 a few seconds after it starts
        prepared = subprocess.run(
            [sys.executable, "-c", PREPARE], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if prepared.returncode == 0:
            return env, int(prepared.stdout.split()[-1]), weed
        if "Could not connect" not in prepared.stderr and "EndpointConnectionError" not in prepared.stderr:
            break
        (scratch / "var" / "db.sqlite3").unlink(missing_ok=True)
        time.sleep(1)
    weed.stop(timeout=3)
    raise SystemExit(f"could not stage the step:\n{prepared.stderr[-3000:]}")


def timed(code: str, args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB, the process or any of its children) and the last line of stderr
    of a fresh interpreter."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen([sys.executable, "-c", code, *args], cwd=cwd, env=env, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.monotonic() - started
        stderr.seek(0)
        said = stderr.read().decode(errors="replace").strip()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"a run failed with status {process.returncode}:\n{said[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, said.splitlines()[-1] if said else ""


def main() -> int:
    from jobs.sandbox import OFFLINE
    from registry.demo.files import EXAMPLES, checkpoint_files

    suite = EXAMPLES / "eval-suite"
    with tempfile.TemporaryDirectory(prefix="bench-evals-") as scratch:
        model = Path(scratch) / "checkpoint"
        model.mkdir()
        for name, data in checkpoint_files()[0].items():
            (model / name).write_bytes(data)
        env = {**os.environ, **OFFLINE, "HF_HOME": str(Path(scratch) / "hf")}
        step_env, step_id, weed = stage(Path(scratch))
        direct, runner, step = [], [], []
        try:
            for i in range(RUNS):
                direct.append(timed(DIRECT, [str(model), str(suite)], suite, env))
                run_scratch = Path(scratch) / f"run-{i}"
                run_scratch.mkdir()
                runner.append(timed(REGISTRY, [str(model), str(suite), str(run_scratch)], ROOT, env))
                step.append(timed(STEP, [str(step_id)], ROOT, step_env))
        finally:
            weed.stop(timeout=3)
    base = statistics.median(t for t, _, _ in direct)
    print(
        f"evals: the demo checkpoint ({model.name}, 95,424 parameters) on the demo suite "
        f"(2 tasks, 24 documents), CPU; median of {RUNS} runs each, alternating"
    )
    rss = max(r for _, r, _ in direct)
    print(f"  baseline simple_evaluate in a fresh process    {base:6.2f} s   peak RSS {rss:6.0f} MB")
    # The step's own time, once its worker is up; its start-up is printed apart.
    startup = statistics.median(float(said.split()[0]) for _, _, said in step)
    sides = {
        "eval runner (subprocess, limits)": [(t, r) for t, r, _ in runner],
        "whole eval step (S3, DB, runner)": [(float(said.split()[1]), r) for _, r, said in step],
    }
    overheads = {}
    for label, runs in sides.items():
        median = statistics.median(t for t, _ in runs)
        overheads[label] = median / base - 1
        print(
            f"  {label:<45} {median:6.2f} s   peak RSS {max(r for _, r in runs):6.0f} MB   "
            f"overhead {overheads[label]:+.1%}"
        )
    print(f"  (a worker's start-up before its first step, paid once per worker: {startup:.2f} s)")
    overhead = overheads["whole eval step (S3, DB, runner)"]
    verdict = "yes" if overhead <= TARGET else "NO"
    print(f"  the step's overhead {overhead:+.1%} (target at most {TARGET:.0%}): {verdict}")
    return 0 if overhead <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
