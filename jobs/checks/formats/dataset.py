"""Format of a dataset: every data file (JSON Lines, CSV/TSV, Parquet; `.gz` text too) is readable,
with its record schema and row count, and every declared split exists and reads cleanly.

Parquet is recognised by content (the `PAR1` magic at both ends) and only its footer is read; text
formats go by extension and are streamed line by line with bounded memory. Rows must agree on their
shape: a CSV row with another field count than the header, or a JSON Lines row whose keys differ
from the first row's, is ragged and fails naming its line. (JSON Lines loaders fill missing keys with
null silently, so one dataset would load differently by tool; write an explicit `null` instead.)

Splits come from `metadata["splits"]`: a mapping of split name to a file path or list of paths (or
globs), or a list of split names matched against file names as the Hub does (`train.jsonl`,
`data/train-00000-of-00002.parquet`, `test/part-0.csv`).
"""

from __future__ import annotations

import csv
import fnmatch
import gzip
import io
import json
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.checks.base import CheckContext, FileRef
from jobs.checks.formats.documents import max_document_bytes, problem_count

MAGIC = b"PAR1"
SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
NOT_DATA = (".md", ".txt", ".yaml", ".yml", ".py", ".json", ".gitattributes", ".gitignore", ".cff")
MAX_LINE = 16 * 1024 * 1024  # one JSON Lines row or CSV field
MAX_FOOTER = 64 * 1024 * 1024  # Parquet footers of very wide tables reach a few MB
MAX_INFLATION = 100  # a .gz text file may decompress to at most 100 times its size (+64 MB)
MAX_REASONS_PER_FILE = 20
MAX_LISTED_COLUMNS = 200
PROGRESS_EVERY = 10_000

csv.field_size_limit(MAX_LINE)  # process-wide: the default 128 KiB rejects long documents


@dataclass
class Table:
    """One readable data file: its format, rows and columns (name → type; JSON types for text)."""

    path: str
    format: str
    rows: int = 0
    columns: dict[str, str] = field(default_factory=dict)
    problems: int = 0

    def as_dict(self) -> dict[str, Any]:
        listed = dict(list(self.columns.items())[:MAX_LISTED_COLUMNS])
        return {"path": self.path, "format": self.format, "rows": self.rows, "columns": listed, "ok": not self.problems}


class _Reporter:
    """Reasons for one file, the first MAX_REASONS_PER_FILE in full and the rest counted."""

    def __init__(self, ctx: CheckContext, table: Table) -> None:
        self.ctx, self.table = ctx, table

    def __call__(self, code: str, message: str) -> None:
        self.table.problems += 1
        if self.table.problems <= MAX_REASONS_PER_FILE:
            self.ctx.fail(code, message, path=self.table.path)

    def close(self) -> None:
        extra = self.table.problems - MAX_REASONS_PER_FILE
        if extra > 0:
            self.ctx.fail("more_problems", f"{extra} more problems like the above are not listed", path=self.table.path)


def format_of(file: FileRef) -> str | None:
    """The data format a file's name claims (`.gz` stripped), or None."""
    name = file.name.lower().removesuffix(".gz")
    return next((fmt for suffix, fmt in SUFFIXES.items() if name.endswith(suffix)), None)


def is_parquet(file: FileRef) -> bool:
    return file.size >= 12 and file.read(0, 4) == MAGIC


def data_files(files: list[FileRef]) -> list[tuple[FileRef, str]]:
    """The data files among `files`: known text extensions, and Parquet by magic whatever the name
    (`.json` files count only when declared as a split: they are usually metadata)."""
    found: list[tuple[FileRef, str]] = []
    for file in files:
        fmt = format_of(file)
        if fmt == "parquet" or (fmt is None and not file.name.lower().endswith(NOT_DATA) and is_parquet(file)):
            found.append((file, "parquet"))
        elif fmt is not None and fmt != "json":
            found.append((file, fmt))
    return found


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}[type(value)]


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_lines(stream: IO[bytes]) -> Iterator[tuple[int, Any, str]]:
    """(line number, value, "") per non-blank line, or (line number, None, why) when it does not parse."""
    number = 0
    while line := stream.readline(MAX_LINE + 1):
        number += 1
        if len(line) > MAX_LINE:
            while line and not line.endswith(b"\n"):
                line = stream.readline(MAX_LINE)
            yield number, None, f"longer than {MAX_LINE} bytes"
            continue
        if not line.strip():
            continue
        try:
            yield number, json.loads(line.decode("utf-8"), parse_constant=_no_constants), ""
        except UnicodeDecodeError as exc:
            yield number, None, f"not UTF-8 (byte {exc.start})"
        except (ValueError, RecursionError) as exc:
            yield number, None, f"not valid JSON: {str(exc)[:200]}"


def _rows_of_objects(rows: Iterator[tuple[int, Any, str]], table: Table, fail: _Reporter, unit: str) -> None:
    first: tuple[int, frozenset[str]] | None = None
    types: dict[str, set[str]] = {}
    for number, row, why in rows:
        if why:
            fail("invalid_json", f"{unit} {number}: {why}")
            continue
        if not isinstance(row, dict):
            fail("not_an_object", f"{unit} {number}: a JSON {json_type(row)}, expected an object (one record)")
            continue
        table.rows += 1
        keys = frozenset(row)
        if first is None:
            first = (number, keys)
        elif keys != first[1]:
            missing, extra = sorted(first[1] - keys), sorted(keys - first[1])
            what = "; ".join(
                f"{label} {', '.join(repr(k[:60]) for k in names[:5])}"
                for label, names in (("missing", missing), ("extra", extra))
                if names
            )
            fail("ragged_row", f"{unit} {number}: keys differ from {unit} {first[0]} ({what})")
        for key, value in row.items():
            types.setdefault(key, set()).add(json_type(value))
    table.columns = {key: "|".join(sorted(kinds)) for key, kinds in types.items()}


def _cell_type(value: str) -> str:
    if value == "":
        return "null"
    if re.fullmatch(r"[+-]?\d+", value):
        return "integer"
    try:
        float(value)
    except ValueError:
        return "string"
    return "number"


def _delimited(stream: IO[bytes], table: Table, fail: _Reporter, delimiter: str, tick: Callable[[], None]) -> None:
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    reader = csv.reader(text, delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            fail("empty_file", "empty: no header row")
            return
        for i, name in enumerate(header):
            if not name.strip():
                fail("bad_header", f"line 1: column {i + 1} has no name")
        if dupes := sorted({n for n in header if header.count(n) > 1}):
            fail("bad_header", f"line 1: duplicate column names {', '.join(repr(d) for d in dupes[:5])}")
        types: list[set[str]] = [set() for _ in header]
        for row in reader:
            if not row:
                continue  # blank line
            table.rows += 1
            if table.rows % PROGRESS_EVERY == 0:
                tick()
            if len(row) != len(header):
                fail("ragged_row", f"line {reader.line_num}: {len(row)} fields, the header has {len(header)}")
                continue
            for kinds, value in zip(types, row, strict=True):
                kinds.add(_cell_type(value))
        table.columns = {name: "|".join(sorted(kinds)) or "null" for name, kinds in zip(header, types, strict=True)}
    except UnicodeDecodeError as exc:
        fail("not_utf8", f"line {reader.line_num + 1}: not UTF-8 (byte {exc.start} of a chunk)")
    except csv.Error as exc:
        fail("invalid_csv", f"line {reader.line_num}: {exc}")


def _parquet(file: FileRef, table: Table, fail: _Reporter) -> None:
    """Schema and row count from the footer alone. The footer bytes are fetched here and pyarrow
    parses them from memory, so a pyarrow error is always about the file, never about storage."""
    if file.size < 12 or file.read(0, 4) != MAGIC:
        fail("not_parquet", "not a Parquet file: it does not start with the PAR1 magic")
        return
    tail = file.read(file.size - 8, 8)
    length = int.from_bytes(tail[:4], "little")
    if tail[4:] != MAGIC:
        fail("not_parquet", "truncated Parquet file: it does not end with the PAR1 magic")
        return
    if length + 12 > file.size or length > MAX_FOOTER:
        fail("invalid_parquet", f"footer length {length} does not fit a {file.size}-byte file (limit {MAX_FOOTER})")
        return
    footer = file.read(file.size - 8 - length, length + 8)
    try:
        parquet = pq.ParquetFile(io.BytesIO(MAGIC + footer))
        schema = parquet.schema_arrow
        table.rows = parquet.metadata.num_rows
    except (pa.ArrowException, OSError, ValueError) as exc:
        fail("invalid_parquet", f"unreadable Parquet footer: {str(exc).strip()[:300]}")
        return
    table.columns = {f.name: str(f.type) for f in schema}


class _Inflation(io.RawIOBase):
    """A gzip stream that stops at MAX_INFLATION times the compressed size (a bomb is not a dataset)."""

    def __init__(self, inner: gzip.GzipFile, limit: int) -> None:
        super().__init__()
        self.inner, self.left = inner, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(min(len(buffer), self.left + 1))
        self.left -= len(data)
        if self.left < 0:
            raise _TooLarge
        buffer[: len(data)] = data
        return len(data)


class _TooLarge(Exception):
    pass


def read_table(ctx: CheckContext, file: FileRef, fmt: str, progress: Callable[[int], None] | None = None) -> Table:
    """Read `file` as `fmt`, reporting every problem as a reason on it; `table.problems` counts them.
    `progress(bytes)` hears how far into the stored (compressed) file the reader is."""
    table = Table(path=file.path, format=fmt)
    fail = _Reporter(ctx, table)
    if fmt == "parquet":
        _parquet(file, table, fail)
        fail.close()
        return table
    if fmt not in ("jsonl", "json", "csv", "tsv"):
        fail("unknown_format", f"not a data format this registry reads ({fmt})")
        return table
    with file.open() as raw:
        stream = raw
        if file.name.lower().endswith(".gz"):
            limit = MAX_INFLATION * file.size + 64 * 1024 * 1024
            stream = io.BufferedReader(_Inflation(gzip.GzipFile(fileobj=raw, mode="rb"), limit))

        def tick() -> None:
            if progress is not None:
                progress(raw.tell())

        try:
            if fmt in ("csv", "tsv"):
                _delimited(stream, table, fail, "\t" if fmt == "tsv" else ",", tick)
            elif fmt == "json" and stream.peek(64).lstrip()[:1] == b"[":
                _json_array(stream, table, fail)
            else:
                _rows_of_objects(_ticking(json_lines(stream), tick), table, fail, "line")
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            fail("invalid_gzip", f"not a readable gzip stream: {exc}")
        except _TooLarge:
            fail("too_large", f"decompresses to more than {MAX_INFLATION} times its size; refusing to read further")
    if table.rows == 0 and not table.problems:
        fail("empty_file", "no rows")
    fail.close()
    return table


def _ticking(rows: Iterator[tuple[int, Any, str]], tick: Callable[[], None]) -> Iterator[tuple[int, Any, str]]:
    for i, row in enumerate(rows, 1):
        if i % PROGRESS_EVERY == 0:
            tick()
        yield row


def _json_array(stream: IO[bytes], table: Table, fail: _Reporter) -> None:
    """A `.json` file holding one array of records, read whole (bounded like any document)."""
    limit = max_document_bytes()
    data = stream.read(limit + 1)
    if len(data) > limit:
        fail("too_large", f"a JSON array over {limit} bytes; use JSON Lines for large data")
        return
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constants)
    except UnicodeDecodeError as exc:
        fail("not_utf8", f"not UTF-8 (byte {exc.start})")
        return
    except (ValueError, RecursionError) as exc:
        fail("invalid_json", f"not valid JSON: {str(exc)[:200]}")
        return
    _rows_of_objects(((i, row, "") for i, row in enumerate(value, 1)), table, fail, "record")


SPLIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def split_files(paths: list[str], split: str) -> list[str]:
    """Paths the Hub's naming convention assigns to `split`: a file named `split` (plus `-…`, `_…`
    or an extension), or any file under a directory named `split`."""
    name = re.compile(rf"(?:^|/){re.escape(split)}(?:[-_.][^/]*)?$|(?:^|/){re.escape(split)}/")
    return [p for p in paths if name.search(p)]


def _matches(pattern: str, paths: list[str]) -> list[str]:
    if any(c in pattern for c in "*?["):
        return [p for p in paths if fnmatch.fnmatchcase(p, pattern)]
    return [pattern] if pattern in paths else []


def declared_splits(ctx: CheckContext, data_paths: list[str]) -> dict[str, list[str]]:
    """metadata["splits"] as split → file paths, failing each split or path that is not there."""
    declared = ctx.version.metadata.get("splits") if isinstance(ctx.version.metadata, dict) else None
    if declared is None:
        return {}
    all_paths = [f.path for f in ctx.files]
    splits: dict[str, list[str]] = {}
    if isinstance(declared, list) and all(isinstance(s, str) for s in declared):
        for split in declared:
            splits[split] = split_files(data_paths, split)
            if not splits[split]:
                ctx.fail("missing_split", f"split '{split}' is declared but no data file is named for it")
    elif isinstance(declared, dict):
        for split, value in declared.items():
            patterns = [value] if isinstance(value, str) else value
            if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
                ctx.fail("invalid_splits", f"metadata.splits.{split}: expected a file path or a list of paths")
                continue
            splits[split] = []
            for pattern in patterns:
                found = _matches(pattern, all_paths)
                if not found:
                    ctx.fail(
                        "missing_split", f"split '{split}' names this file, but the version has none", path=pattern
                    )
                splits[split] += found
    else:
        ctx.fail("invalid_splits", "metadata.splits: expected {split: path or [paths]} or a list of split names")
    for split in splits:
        if not SPLIT_NAME.fullmatch(split):
            ctx.fail("invalid_splits", f"metadata.splits: '{split[:80]}' is not a split name (letters, digits, _.-)")
    return splits


def check(ctx: CheckContext) -> None:
    found = dict((f.path, fmt) for f, fmt in data_files(ctx.files))
    splits = declared_splits(ctx, list(found))
    by_path = {f.path: f for f in ctx.files}
    for paths in splits.values():
        for path in paths:
            if path not in found:
                file = by_path[path]
                found[path] = "parquet" if is_parquet(file) else format_of(file) or "unknown"
    if not found:
        ctx.fail("no_data_files", "no data files: expected JSON Lines, CSV/TSV or Parquet files")
        ctx.summary = "no data files"
        return
    total = sum(by_path[p].size for p in found)
    done = 0
    tables: dict[str, Table] = {}
    for path, fmt in found.items():
        file = by_path[path]

        def progress(n: int, base: int = done) -> None:
            ctx.progress(base + n, total)

        tables[path] = read_table(ctx, file, fmt, progress)
        done += file.size
        ctx.progress(done, total)
    split_details = {
        name: {
            "files": paths[:100],
            "rows": sum(tables[p].rows for p in paths),
            "ok": bool(paths) and not any(tables[p].problems for p in paths),
        }
        for name, paths in splits.items()
    }
    rows = sum(t.rows for t in tables.values())
    ctx.details = {
        "files": [t.as_dict() for t in list(tables.values())[:200]],
        "data_files": len(tables),
        "rows": rows,
        "splits": split_details,
    }
    bad = sum(1 for t in tables.values() if t.problems)
    listed = ", ".join(f"{name} ({d['rows']} rows)" for name, d in list(split_details.items())[:8])
    ctx.summary = (
        f"{len(tables)} data files, {rows} rows" + (f"; splits: {listed}" if listed else "")
        if ctx.passed
        else f"{problem_count(ctx)}; {bad} of {len(tables)} data files unreadable or ragged"
    )[:299]
