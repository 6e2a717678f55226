"""Datasets and lm-eval suites built on the fly: clean ones every check must pass, and bad ones
(ragged rows, missing splits, unknown metrics, remote data…) the format check must fail."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from tests.corpus import Case

QUESTIONS = [{"question": f"What is {i} + {i}?", "choices": [str(2 * i), str(i)], "label": 0} for i in range(12)]


def jsonl(rows: Sequence[object]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def parquet(columns: Mapping[str, Sequence[object]]) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


def clean_dataset() -> tuple[dict[str, bytes], dict[str, object]]:
    """Files and metadata of a three-format dataset with declared splits."""
    files = {
        "data/train-00000-of-00001.parquet": parquet({"text": ["a", "b", "c"], "score": [0.5, 0.25, 1.0]}),
        "data/validation.jsonl": jsonl([{"text": "d", "score": 1}, {"text": "e", "score": None}]),
        "data/test.csv": b'text,score\nf,0.5\n"g, quoted",1\n',
        "README.md": b"# tiny\n\nA tiny dataset.\n",
    }
    splits = {"train": "data/train-00000-of-00001.parquet", "validation": "data/validation.jsonl", "test": "data/*.csv"}
    return files, {"splits": splits}


MC_TASK = """\
task: tiny_arith_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: data/mc.jsonl
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{question}}\\nAnswer:"
doc_to_choice: "{{choices}}"
doc_to_target: label
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""

GEN_TASK = """\
include: _default_template_yaml
task: tiny_arith_gen
output_type: generate_until
doc_to_target: "{{answer}}"
process_docs: !function utils.process_docs
generation_kwargs: {until: ["\\n"], max_gen_toks: 8, do_sample: false}
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
    ignore_case: true
"""

TEMPLATE = """\
dataset_path: parquet
dataset_kwargs:
  data_files:
    test: data/gen.parquet
test_split: test
doc_to_text: "Q: {{question}}\\nA:"
"""


def clean_eval_suite() -> dict[str, bytes]:
    """Two tasks (multiple choice on JSONL, generation on Parquet via an include and a !function)."""
    return {
        "tasks/mc.yaml": MC_TASK.encode(),
        "tasks/gen.yaml": GEN_TASK.encode(),
        "tasks/_default_template_yaml": TEMPLATE.encode(),
        "tasks/utils.py": b"def process_docs(dataset):\n    return dataset\n",
        "tasks/group.yaml": b"group: tiny_arith\ntask: [tiny_arith_mc, tiny_arith_gen]\n",
        "data/mc.jsonl": jsonl(QUESTIONS),
        "data/gen.parquet": parquet({"question": ["1+1", "2+2"], "answer": ["2", "4"]}),
    }


def _suite_with(task: str) -> dict[str, bytes]:
    return {"tasks/mc.yaml": task.encode(), "data/mc.jsonl": jsonl(QUESTIONS)}


CASES = [
    Case(
        "csv-ragged-row",
        "dataset",
        {"data/train.csv": b"a,b\n1,2\n3\n4,5\n"},
        "data/train.csv",
        ("line 3", "1 fields", "header has 2"),
    ),
    Case(
        "jsonl-ragged-keys",
        "dataset",
        {"train.jsonl": jsonl([{"a": 1, "b": 2}, {"a": 3}, {"a": 4, "b": 5}])},
        "train.jsonl",
        ("line 2", "keys differ", "missing 'b'"),
    ),
    Case(
        "jsonl-not-an-object",
        "dataset",
        {"train.jsonl": b'{"a": 1}\n[1, 2]\n'},
        "train.jsonl",
        ("line 2", "array", "expected an object"),
    ),
    Case(
        "jsonl-invalid-json",
        "dataset",
        {"train.jsonl": b'{"a": 1}\n{"a": 2}\n{"a": \n'},
        "train.jsonl",
        ("line 3", "not valid json"),
    ),
    Case(
        "missing-declared-split",
        "dataset",
        {"train.jsonl": jsonl([{"a": 1}])},
        "test.jsonl",
        ("split 'test'",),
        metadata={"splits": {"train": "train.jsonl", "test": "test.jsonl"}},
    ),
    Case("no-data-files", "dataset", {"README.md": b"# nothing\n"}, "", ("no data files",)),
    Case(
        "corrupt-parquet",
        "dataset",
        {"data.parquet": b"PAR1" + b"\x00" * 32 + (8).to_bytes(4, "little") + b"PAR1"},
        "data.parquet",
        ("parquet",),
    ),
    Case("not-gzip", "dataset", {"train.jsonl.gz": b"plain text, not gzip\n"}, "train.jsonl.gz", ("gzip",)),
    Case(
        "eval-missing-data-file",
        "eval_suite",
        {"tasks/mc.yaml": MC_TASK.replace("data/mc.jsonl", "data/absent.jsonl").encode()},
        "tasks/mc.yaml",
        ("data_files.test", "data/absent.jsonl", "not among"),
    ),
    Case(
        "eval-unknown-metric",
        "eval_suite",
        _suite_with(MC_TASK.replace("metric: acc", "metric: accuracyy")),
        "tasks/mc.yaml",
        ("metric_list[0].metric", "accuracyy"),
    ),
    Case(
        "eval-unknown-output-type",
        "eval_suite",
        _suite_with(MC_TASK.replace("output_type: multiple_choice", "output_type: multiple_choices")),
        "tasks/mc.yaml",
        ("output_type", "multiple_choices"),
    ),
    Case(
        "eval-hub-dataset",
        "eval_suite",
        {"tasks/mmlu.yaml": MC_TASK.replace("dataset_path: json", "dataset_path: cais/mmlu").encode()},
        "tasks/mmlu.yaml",
        ("dataset_path", "cais/mmlu", "hub dataset"),
    ),
    Case(
        "eval-absolute-data-path",
        "eval_suite",
        _suite_with(MC_TASK.replace("data/mc.jsonl", "/etc/passwd")),
        "tasks/mc.yaml",
        ("/etc/passwd", "absolute"),
    ),
    Case(
        "eval-template-unknown-field",
        "eval_suite",
        _suite_with(MC_TASK.replace("{{question}}", "{{questoin}}")),
        "tasks/mc.yaml",
        ("doc_to_text", "questoin"),
    ),
]
