"""Benchmark: the eval runner (`jobs.evals.runner`: a subprocess with limits, offline settings and
scores read back as rows) on the demo's tiny checkpoint with the demo eval suite, against a
same-run baseline of lm-evaluation-harness's `simple_evaluate` called directly in a fresh Python
process on the same files with the same arguments. Both are timed from a fresh process (each side
pays Python's and torch's start-up once), alternating, and the medians compared.

Prints the medians, the registry's overhead over the direct run (target: at most 15%) and each
side's peak RSS (the process and its children).

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


def timed(code: str, args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB, the process or any of its children) of a fresh interpreter."""
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-c", code, *args], cwd=cwd, env=env, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"a run failed with status {process.returncode}")
    return elapsed, usage.ru_maxrss / 1024


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
        direct, registry = [], []
        for i in range(RUNS):
            direct.append(timed(DIRECT, [str(model), str(suite)], suite, env))
            run_scratch = Path(scratch) / f"run-{i}"
            run_scratch.mkdir()
            registry.append(timed(REGISTRY, [str(model), str(suite), str(run_scratch)], ROOT, env))
    base = statistics.median(t for t, _ in direct)
    ours = statistics.median(t for t, _ in registry)
    overhead = ours / base - 1
    print(
        f"evals: the demo checkpoint ({model.name}, 95,424 parameters) on the demo suite "
        f"(2 tasks, 24 documents), CPU; median of {RUNS} runs each, alternating"
    )
    rss_direct, rss_registry = max(r for _, r in direct), max(r for _, r in registry)
    print(f"  baseline simple_evaluate in a fresh process   {base:6.2f} s   peak RSS {rss_direct:6.0f} MB")
    print(f"  registry eval runner (subprocess, limits)     {ours:6.2f} s   peak RSS {rss_registry:6.0f} MB")
    verdict = "yes" if overhead <= TARGET else "NO"
    print(f"  overhead {overhead:+.1%} (target at most {TARGET:.0%}): {verdict}")
    return 0 if overhead <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
