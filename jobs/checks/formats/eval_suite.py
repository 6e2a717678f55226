"""Format of an eval suite: lm-evaluation-harness task YAMLs that run offline on the version's files.

Every `*.yaml`/`*.yml` is a task config, a group (`group:` with a `task:` list) or a template other
configs `include:`. Each task needs a name, a known `output_type` (lm-eval's default,
generate_until, when absent), the `doc_to_*` fields that type uses, metrics lm-eval registers, a
test or validation split, and data that is local: `dataset_path: json|csv|parquet` with
`dataset_kwargs.data_files`, or a directory of the version. Paths resolve against the YAML's
directory, then the version root; absolute paths, `..` and URLs fail. A Hub dataset fails unless
the version declares it in `metadata.hub_datasets` and the task pins `dataset_kwargs.revision`.
Data files are read with the dataset check's readers; Jinja templates are parsed (never rendered)
to check the fields they use exist; `!function` code is parsed, never imported.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import meta

from jobs.checks.base import CheckContext, FileRef
from jobs.checks.formats.dataset import Table, data_files, format_of, is_parquet, read_table, split_files
from jobs.checks.formats.documents import FunctionRef, load_mapping, problem_count
from jobs.checks.formats.pysource import Trees, check_entry_point
from jobs.checks.schemas.common import COMMIT

OUTPUT_TYPES = ("loglikelihood", "loglikelihood_rolling", "multiple_choice", "generate_until")
DEFAULT_OUTPUT_TYPE = "generate_until"  # lm_eval.api.task.TaskConfig's default
# Names registered with @register_metric in lm-eval 0.4.x (lm_eval/api/metrics.py), plus
# matthews_corrcoef, which 0.4.x resolves through its aggregation of the same name.
METRICS = frozenset(
    {
        "acc", "acc_norm", "acc_mutual_info", "acc_all", "brier_score", "bypass", "exact_match", "mae",
        "perplexity", "word_perplexity", "byte_perplexity", "bits_per_byte",
        "f1", "mcc", "matthews_corrcoef", "bleu", "chrf", "ter",
    }
)  # fmt: skip
# @register_aggregation names in the same module.
AGGREGATIONS = frozenset(
    {
        "mean", "median", "nanmean", "bypass", "perplexity", "weighted_perplexity", "bits_per_byte",
        "f1", "matthews_corrcoef", "bleu", "chrf", "ter", "brier_score",
    }
)  # fmt: skip
NEEDS = {
    "loglikelihood": ("doc_to_text", "doc_to_target"),
    "multiple_choice": ("doc_to_text", "doc_to_target", "doc_to_choice"),
    "generate_until": ("doc_to_text", "doc_to_target"),
    "loglikelihood_rolling": ("doc_to_target",),
}
BUILDERS = {"json": ("jsonl", "json"), "csv": ("csv", "tsv"), "parquet": ("parquet",)}
SPLIT_KEYS = ("training_split", "validation_split", "test_split", "fewshot_split")
TEMPLATE_KEYS = ("doc_to_text", "doc_to_target", "doc_to_choice")
REMOTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(//)?")  # http://, hf://, s3://, zip::… (Windows C:\ too)
MAX_INCLUDE_DEPTH = 8


@dataclass
class Suite:
    ctx: CheckContext
    configs: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    trees: Trees = field(default_factory=dict)
    included: set[str] = field(default_factory=set)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)

    def config(self, file: FileRef) -> dict[str, Any] | None:
        if file.path not in self.configs:
            self.configs[file.path] = load_mapping(self.ctx, file)
        return self.configs[file.path]

    def table(self, file: FileRef, fmt: str) -> Table:
        if file.path not in self.tables:
            self.tables[file.path] = read_table(self.ctx, file, fmt)
        return self.tables[file.path]


def resolve(ctx: CheckContext, ref: str, base: str) -> tuple[list[str], str]:
    """(matching version paths, "") or ([], why not) for a path or glob written in a YAML in `base`."""
    if REMOTE.match(ref):
        return [], f"'{ref}' is remote; evals run offline on the version's own files"
    if ref.startswith(("/", "\\", "~")):
        return [], f"'{ref}' is absolute; write it relative to the YAML's directory"
    if ".." in ref.replace("\\", "/").split("/"):
        return [], f"'{ref}' leaves the version ('..')"
    paths = [f.path for f in ctx.files]
    for candidate in dict.fromkeys([posixpath.normpath(posixpath.join(base, ref)), posixpath.normpath(ref)]):
        if any(c in candidate for c in "*?["):
            found = [
                p
                for p in paths
                if posixpath.dirname(p) == posixpath.dirname(candidate) and fnmatch.fnmatchcase(p, candidate)
            ]
        else:
            found = [p for p in paths if p == candidate or p.startswith(candidate.rstrip("/") + "/")]
        if found:
            return sorted(found), ""
    return [], f"'{ref}' is not among the version's files"


def merged(suite: Suite, file: FileRef, depth: int = 0) -> dict[str, Any] | None:
    """The config with its `include:` chain applied (the including file's keys win), as lm-eval does."""
    config = suite.config(file)
    if config is None or "include" not in config:
        return config
    target, own = config["include"], {k: v for k, v in config.items() if k != "include"}
    if not isinstance(target, str) or depth >= MAX_INCLUDE_DEPTH:
        why = "expected a file name" if not isinstance(target, str) else f"nested more than {MAX_INCLUDE_DEPTH} deep"
        suite.ctx.fail("invalid_include", f"include: {why}", path=file.path)
        return own
    found, why = resolve(suite.ctx, target, posixpath.dirname(file.path))
    base_file = suite.ctx.file(found[0]) if len(found) == 1 else None
    if base_file is None:
        suite.ctx.fail("missing_include", f"include: {why or f'{target!r} is a directory'}", path=file.path)
        return own
    suite.included.add(base_file.path)
    base = merged(suite, base_file, depth + 1) or {}
    return {**base, **own}


def _data(suite: Suite, file: FileRef, config: dict[str, Any], task: dict[str, Any]) -> dict[str, list[str]] | None:
    """split → local data files of the task (None when they cannot be known), every problem failed."""
    ctx, where = suite.ctx, posixpath.dirname(file.path)
    dataset_path, kwargs = config.get("dataset_path"), config.get("dataset_kwargs") or {}
    if not isinstance(kwargs, dict):
        ctx.fail("invalid_task", "dataset_kwargs: expected a mapping", path=file.path)
        kwargs = {}
    if not isinstance(dataset_path, str) or not dataset_path:
        ctx.fail("invalid_task", "dataset_path: required (json, csv or parquet with local data_files)", path=file.path)
        return None
    if dataset_path in BUILDERS:
        if kwargs.get("data_files") is None:
            ctx.fail(
                "missing_data", f"dataset_kwargs.data_files: required with dataset_path {dataset_path}", path=file.path
            )
            return None
        return _data_files(suite, file, dataset_path, kwargs["data_files"])
    found, why = resolve(ctx, dataset_path, where)
    if found:
        local = data_files([f for f in ctx.files if f.path in set(found)])
        for data, fmt in local:
            suite.table(data, fmt)
        paths = [data.path for data, _ in local]
        if not paths:
            ctx.fail("missing_data", f"dataset_path: '{dataset_path}' holds no data files", path=file.path)
        splits = {s: files for s in ("train", "validation", "test") if (files := split_files(paths, s))}
        return splits or {"train": paths}
    if REMOTE.match(dataset_path) or dataset_path.startswith(("/", ".", "~")):
        ctx.fail(
            "remote_data" if REMOTE.match(dataset_path) else "missing_data", f"dataset_path: {why}", path=file.path
        )
        return None
    declared = ctx.version.metadata.get("hub_datasets") if isinstance(ctx.version.metadata, dict) else None
    if isinstance(declared, list) and dataset_path in declared:
        task["hub_dataset"] = dataset_path
        if not (isinstance(kwargs.get("revision"), str) and COMMIT.fullmatch(kwargs["revision"])):
            ctx.fail("unpinned_data", "dataset_kwargs.revision: pin the Hub dataset to a 40-hex commit", path=file.path)
        return None
    ctx.fail(
        "remote_data",
        f"dataset_path: '{dataset_path}' is a Hub dataset, downloaded at eval time; ship its files in this version"
        " (dataset_path: json with dataset_kwargs.data_files) or declare it in metadata.hub_datasets",
        path=file.path,
    )
    return None


def _data_files(suite: Suite, file: FileRef, builder: str, value: Any) -> dict[str, list[str]] | None:
    ctx = suite.ctx
    by_split = {"train": value} if isinstance(value, str | list) else value
    if not isinstance(by_split, dict):
        ctx.fail("invalid_task", "dataset_kwargs.data_files: expected a path, a list or {split: path}", path=file.path)
        return None
    splits: dict[str, list[str]] = {}
    for split, refs in by_split.items():
        splits[split] = []
        for ref in [refs] if isinstance(refs, str) else refs if isinstance(refs, list) else [None]:
            label = f"dataset_kwargs.data_files.{split}"
            if not isinstance(ref, str):
                ctx.fail("invalid_task", f"{label}: expected file paths", path=file.path)
                continue
            found, why = resolve(ctx, ref, posixpath.dirname(file.path))
            if not found:
                ctx.fail("missing_data", f"{label}: {why}", path=file.path)
            for data in (f for f in ctx.files if f.path in set(found)):
                path = data.path
                fmt = "parquet" if is_parquet(data) else format_of(data)
                if fmt not in BUILDERS[builder]:
                    ctx.fail("wrong_format", f"{label}: {path} is not {builder} data", path=file.path)
                    continue
                suite.table(data, fmt)
                splits[split].append(path)
    return splits


def _template_problems(value: Any, columns: set[str], env: jinja2.Environment) -> list[str]:
    """Problems of a `doc_to_*` value: a column name, a Jinja template over columns, or a literal."""
    if isinstance(value, list):
        return [p for item in value for p in _template_problems(item, columns, env)]
    if not isinstance(value, str) or isinstance(value, FunctionRef) or value in columns:
        return []
    try:
        used = meta.find_undeclared_variables(env.parse(value))
    except jinja2.TemplateSyntaxError as exc:
        return [f"template error at line {exc.lineno}: {exc.message}"]
    except (jinja2.TemplateError, RecursionError) as exc:
        return [f"template error: {str(exc)[:200]}"]
    missing = sorted(used - columns)
    return [f"uses {', '.join(repr(m) for m in missing[:5])}, not a column of the data"] if missing else []


def _functions(value: Any, key: str = "") -> list[tuple[str, FunctionRef]]:
    if isinstance(value, FunctionRef):
        return [(key, value)]
    if isinstance(value, dict):
        return [f for k, v in value.items() for f in _functions(v, f"{key}.{k}".lstrip("."))]
    if isinstance(value, list):
        return [f for i, v in enumerate(value) for f in _functions(v, f"{key}[{i}]")]
    return []


def _metrics(ctx: CheckContext, file: FileRef, config: dict[str, Any]) -> list[str]:
    metric_list = config.get("metric_list")
    if metric_list is None:
        return []
    if not isinstance(metric_list, list):
        ctx.fail("invalid_task", "metric_list: expected a list of {metric: name}", path=file.path)
        return []
    names: list[str] = []
    for i, item in enumerate(metric_list):
        metric = item.get("metric") if isinstance(item, dict) else None
        aggregation = item.get("aggregation") if isinstance(item, dict) else None
        if isinstance(metric, FunctionRef):
            names.append(f"!function {metric}")
        elif isinstance(metric, str) and metric in METRICS:
            names.append(metric)
        else:
            ctx.fail(
                "unknown_metric",
                f"metric_list[{i}].metric: {metric!r} is not a metric lm-eval 0.4 registers"
                f" ({', '.join(sorted(METRICS))}) nor a !function",
                path=file.path,
            )
        if (
            isinstance(aggregation, str)
            and not isinstance(aggregation, FunctionRef)
            and aggregation not in AGGREGATIONS
        ):
            ctx.fail(
                "unknown_metric",
                f"metric_list[{i}].aggregation: '{aggregation}' is not an lm-eval aggregation",
                path=file.path,
            )
    return names


def check_task(suite: Suite, file: FileRef, config: dict[str, Any]) -> None:
    ctx = suite.ctx
    name = config.get("task")
    if not isinstance(name, str) or not name.strip():
        ctx.fail("invalid_task", "task: required: the task's name", path=file.path)
        name = ""
    declared_type = config.get("output_type", DEFAULT_OUTPUT_TYPE)
    if not isinstance(declared_type, str) or declared_type not in OUTPUT_TYPES:
        ctx.fail(
            "unknown_output_type",
            f"output_type: {declared_type!r} is not an lm-eval output type ({', '.join(OUTPUT_TYPES)})",
            path=file.path,
        )
    output_type = str(declared_type)[:100]
    for key in NEEDS.get(output_type, ()):
        if config.get(key) is None:
            ctx.fail("invalid_task", f"{key}: required for output_type {output_type}", path=file.path)
    task: dict[str, Any] = {"task": name, "file": file.path, "output_type": output_type}
    task["metrics"] = _metrics(ctx, file, config)
    splits = _data(suite, file, config, task)
    declared = {key: config[key] for key in SPLIT_KEYS if config.get(key) is not None}
    if "test_split" not in declared and "validation_split" not in declared:
        ctx.fail("invalid_task", "test_split: required (or validation_split): the split to evaluate", path=file.path)
    for key, split in declared.items():
        if not isinstance(split, str):
            ctx.fail("invalid_task", f"{key}: expected a split name", path=file.path)
        elif splits is not None and split not in splits:
            known = ", ".join(map(str, splits)) or "none"
            ctx.fail("missing_split", f"{key}: split '{split}' is not in the task's data ({known})", path=file.path)
    for key, ref in _functions(config):
        module, _, attr = ref.strip().rpartition(".")
        check_entry_point(
            ctx, f"{module}:{attr}", suite.trees, field=f"{key} (!function {ref})", path=file.path,
            base=posixpath.dirname(file.path),
        )  # fmt: skip
    paths = [p for files in (splits or {}).values() for p in files]
    tables = [suite.tables[p] for p in paths if p in suite.tables]
    if tables and "process_docs" not in config and all(not t.problems for t in tables):
        columns = set.intersection(*(set(t.columns) for t in tables))
        env = jinja2.Environment(autoescape=False)  # noqa: S701 - parsed only, never rendered
        for key in TEMPLATE_KEYS:
            for problem in _template_problems(config.get(key), columns, env):
                ctx.fail("unknown_field", f"{key}: {problem}", path=file.path)
    task["data_files"] = paths[:50]
    task["splits"] = {
        s: sum(suite.tables[p].rows for p in files if p in suite.tables) for s, files in (splits or {}).items()
    }
    suite.tasks.append(task)


def check(ctx: CheckContext) -> None:
    suite = Suite(ctx)
    yamls = [f for f in ctx.files if f.name.endswith((".yaml", ".yml"))]
    configs = {f.path: merged(suite, f) for f in yamls}
    for i, file in enumerate(yamls, 1):
        config = configs[file.path]
        if config is None:
            pass
        elif "group" in config and isinstance(config.get("task"), list):
            _group(suite, file, config)
        elif "task" in config or file.path not in suite.included:
            check_task(suite, file, config)
        ctx.progress(i, len(yamls), "files")
    names = [t["task"] for t in suite.tasks if t["task"]]
    for dupe in sorted({n for n in names if names.count(n) > 1}):
        files = ", ".join(t["file"] for t in suite.tasks if t["task"] == dupe)
        ctx.fail("duplicate_task", f"task '{dupe}' is defined more than once ({files})")
    known = set(names) | {g["group"] for g in suite.groups}
    for group in suite.groups:
        for i, member in enumerate(group["tasks"]):
            if member not in known:
                ctx.fail(
                    "unknown_task",
                    f"task[{i}]: '{member}' is not defined in this suite (built-in lm-eval tasks download their data)",
                    path=group["file"],
                )
    if not suite.tasks and not ctx.reasons:
        ctx.fail("no_tasks", "no lm-eval task YAML (*.yaml with a `task:` name) in this version")
    ctx.details = {
        "tasks": suite.tasks[:200],
        "groups": suite.groups[:50],
        "data_files": [t.as_dict() for t in list(suite.tables.values())[:200]],
        "rows": sum(t.rows for t in suite.tables.values()),
    }
    types = sorted({t["output_type"] for t in suite.tasks})
    ctx.summary = (
        f"{len(suite.tasks)} tasks ({', '.join(types)}), {len(suite.tables)} data files, {ctx.details['rows']} rows"
        if ctx.passed
        else f"{problem_count(ctx)} in {len(yamls)} task YAMLs"
    )[:299]


def _group(suite: Suite, file: FileRef, config: dict[str, Any]) -> None:
    members: list[str] = []
    for i, entry in enumerate(config["task"]):
        if isinstance(entry, str):
            members.append(entry)
        elif isinstance(entry, dict):
            check_task(suite, file, entry)
            members.append(str(entry.get("task", "")))
        else:
            suite.ctx.fail("invalid_task", f"task[{i}]: expected a task name or an inline task", path=file.path)
    suite.groups.append({"group": str(config["group"]), "file": file.path, "tasks": members})
