"""The eval subprocess: lm-evaluation-harness on local files, nothing else.

    python -m jobs.evals.harness --model DIR [--adapter DIR] --suite DIR --out FILE [--task NAME ...]

Run by `jobs.evals.runner` with the suite as its working directory (task configs name their data
files relative to the suite's root), the Hugging Face libraries offline, and time and memory
limits, so a model that crashes or runs away takes down this process and never the worker. It
writes its scores as JSON to `--out`; whatever goes wrong is on stderr and in the exit status.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from jobs.sandbox import ProgressFile

# Keys of a task's results that are not scores.
NOT_SCORES = frozenset({"name", "alias", "sample_len", "samples"})


def scores(results: dict[str, Any]) -> list[dict[str, Any]]:
    """lm-eval's `results` as rows: task, metric, filter, value, stderr (None when not computed),
    and the number of documents scored."""
    rows = []
    for task, found in sorted(results["results"].items()):
        samples = results.get("n-samples", {}).get(task, {}).get("effective")
        for key, value in sorted(found.items()):
            metric, _, filter_ = key.partition(",")
            if metric in NOT_SCORES or metric.endswith("_stderr") or not filter_:
                continue
            stderr = found.get(f"{metric}_stderr,{filter_}")
            rows.append(
                {
                    "task": task,
                    "metric": metric,
                    "filter": filter_,
                    "value": _number(value),
                    "stderr": _number(stderr),
                    "samples": samples,
                    "task_version": str(results.get("versions", {}).get(task, "")),
                }
            )
    return rows


def progress_reported(progress: ProgressFile) -> None:
    """Report lm-eval's requests as they are scored: its Hugging Face model counts them on tqdm
    bars made with a `total` (one per request type, or per batch of rolling windows), so those
    bars report into `progress`, summed."""
    import lm_eval.models.huggingface as hf
    from tqdm import tqdm

    counted = {"done": 0, "total": 0}

    class Reporting(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.counts = kwargs.get("total") is not None
            if self.counts:
                counted["total"] += kwargs["total"]
                progress.write(counted["done"], counted["total"])

        def update(self, n: float | None = 1) -> bool | None:
            if self.counts:
                counted["done"] += int(n or 0)
                progress.write(counted["done"], counted["total"], force=counted["done"] == counted["total"])
            return super().update(n)

    hf.tqdm = Reporting


def _number(value: Any) -> float | None:
    """A finite float, or None for lm-eval's "N/A" and for NaN or infinite values."""
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.evals.harness")
    parser.add_argument(
        "--model", required=True, type=Path, help="the model's files (a checkpoint, or an adapter's base)"
    )
    parser.add_argument("--adapter", type=Path, help="a PEFT adapter's files, evaluated on --model")
    parser.add_argument("--suite", required=True, type=Path, help="the eval suite's files (task YAMLs and data)")
    parser.add_argument("--task", action="append", default=[], help="a task of the suite (default: all of them)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--progress", type=Path, help='where to write "done total" requests as they are scored')
    args = parser.parse_args(argv)
    progress_reported(ProgressFile(args.progress))

    import lm_eval
    import torch
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(args.suite), include_defaults=False)
    tasks = args.task or sorted(manager.all_subtasks)
    if not tasks:
        print("the suite defines no task", file=sys.stderr)
        return 2
    model_args: dict[str, Any] = {"pretrained": str(args.model), "dtype": "float32", "trust_remote_code": False}
    if args.adapter:
        model_args["peft"] = str(args.adapter)
    found = lm_eval.simple_evaluate(
        model="hf",
        model_args=model_args,
        tasks=tasks,
        task_manager=manager,
        device="cuda" if torch.cuda.is_available() else "cpu",  # the gpu worker's accelerator, when it has one
        batch_size=args.batch_size,
        num_fewshot=0,
        bootstrap_iters=100,
        log_samples=False,
        random_seed=0,
        numpy_random_seed=0,
        torch_random_seed=0,
        fewshot_random_seed=0,
    )
    args.out.write_text(json.dumps({"harness_version": lm_eval.__version__, "scores": scores(found)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
