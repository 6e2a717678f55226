"""safetensors headers, read with bounded memory and validated without reading any tensor data.

Two opinions must agree. Our own pass over the JSON names every problem (duplicate names, which
the library silently resolves last-wins; offsets; dtype and shape against byte length; holes and
trailing bytes), one reason each. Then the `safetensors` library judges the same header against
the real file size: the header is written to a sparse temp file truncated to that size (no data
blocks on disk), and `safe_open` validates it without touching the data.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from safetensors import safe_open

from jobs.checks.base import FileRef, Reason

# The spec's limit (the Rust library refuses more regardless of this setting).
MAX_REASONS_PER_FILE = 20

# Bits per element for every dtype safetensors 0.8.0 knows (its deserializer's own list).
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}
_FIELDS = {"dtype", "shape", "data_offsets"}


@dataclass(frozen=True)
class Tensor:
    dtype: str
    shape: tuple[int, ...]
    begin: int  # byte offsets into the data buffer (which starts after the header)
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


@dataclass(frozen=True)
class Header:
    tensors: dict[str, Tensor]
    metadata: dict[str, str]
    header_bytes: int

    @property
    def parameters(self) -> int:
        return sum(t.numel for t in self.tensors.values())

    def dtype_bytes(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tensors.values():
            out[t.dtype] = out.get(t.dtype, 0) + t.nbytes
        return out


class _Object(dict[str, Any]):
    """A JSON object that remembers the keys it saw more than once."""

    duplicates: list[str]


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    obj.duplicates = []
    for key, value in pairs:
        if key in obj and key not in obj.duplicates:
            obj.duplicates.append(key)
        obj[key] = value
    return obj


def max_header_bytes() -> int:
    return settings.SAFETENSORS_MAX_HEADER_BYTES


def read_header(file: FileRef) -> Header | list[Reason]:
    """The file's parsed header, or every problem found (as reasons naming the file)."""
    path, size, cap = file.path, file.size, max_header_bytes()
    if size < 8:
        return [Reason("safetensors_truncated", f"{size} bytes: too short for safetensors (8-byte length)", path)]
    prefix = file.read(0, 8)
    n = int.from_bytes(prefix, "little")
    if n > cap:
        return [
            Reason(
                "safetensors_header_too_large",
                f"header length field says {n} bytes, over the {cap}-byte limit (corrupt, or not safetensors)",
                path,
            )
        ]
    if 8 + n > size:
        return [
            Reason(
                "safetensors_header_too_large",
                f"header length field says {n} bytes but the file has only {size - 8} bytes after it",
                path,
            )
        ]
    return parse_header(prefix + file.read(8, n), size, path=path)


def parse_header(head: bytes, size: int, *, path: str = "") -> Header | list[Reason]:
    """Validate `head` (the 8-byte length and the JSON header) against a file of `size` bytes."""
    n = int.from_bytes(head[:8], "little")
    raw = head[8 : 8 + n]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [Reason("safetensors_header_encoding", f"header is not UTF-8: byte {exc.start} is invalid", path)]
    try:
        obj = json.loads(text, object_pairs_hook=_object)
    except (ValueError, RecursionError) as exc:
        return [Reason("safetensors_header_json", f"header is not valid JSON: {exc}", path)]
    if not isinstance(obj, _Object):
        return [Reason("safetensors_header_json", f"header is a JSON {type(obj).__name__}, not an object", path)]

    problems = _diagnose(obj, size - 8 - n)
    if problems:
        if len(problems) > MAX_REASONS_PER_FILE:
            more = len(problems) - MAX_REASONS_PER_FILE
            problems = [*problems[:MAX_REASONS_PER_FILE], ("safetensors_invalid", f"… and {more} more problems")]
        return [Reason(code, message, path) for code, message in problems]
    read = _library_read(head, size)
    if isinstance(read, str):
        return [Reason("safetensors_invalid", f"the safetensors library rejects the header: {read}", path)]
    views, metadata = read
    tensors = {name: Tensor(dtype, shape, *obj[name]["data_offsets"]) for name, (dtype, shape) in views.items()}
    return Header(tensors=tensors, metadata=metadata, header_bytes=n)


def _diagnose(obj: _Object, buffer: int) -> list[tuple[str, str]]:
    """Every problem in a header object, given the data buffer's length in bytes."""
    problems: list[tuple[str, str]] = [
        ("safetensors_duplicate_key", f"duplicate tensor name {_q(name)}: it appears more than once in the header")
        for name in obj.duplicates
    ]
    metadata = obj.get("__metadata__") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        problems.append(("safetensors_metadata", "__metadata__ must be an object of string values"))
    elif repeated := getattr(metadata, "duplicates", None):
        problems.append(("safetensors_duplicate_key", f"__metadata__ repeats key(s) {_q(repeated)}"))
    ranges: list[tuple[int, int, str]] = []
    entries = 0
    for name, entry in obj.items():
        if name != "__metadata__":
            entries += 1
            problems += _diagnose_tensor(name, entry, buffer, ranges)
    if len(ranges) < entries or any(end > buffer for _, end, _ in ranges):
        return problems  # holes and trailing bytes mean nothing while some offsets are unusable

    covered, last = 0, ""
    for begin, end, name in sorted(ranges):
        if begin < covered:
            problems.append(
                (
                    "safetensors_overlap",
                    f"tensors {_q(last)} and {_q(name)} overlap: {_q(name)} starts at byte {_q(begin)}, "
                    f"before {_q(last)} ends at {covered}",
                )
            )
        elif begin > covered:
            problems.append(("safetensors_offsets", f"bytes [{covered}, {begin}) of the data belong to no tensor"))
        if end >= covered:
            covered, last = end, name
    if covered < buffer:
        problems.append(
            (
                "safetensors_trailing_bytes",
                f"{buffer - covered} trailing bytes after the last tensor (data ends at byte {covered} of {buffer})",
            )
        )
    return problems


def _diagnose_tensor(name: str, entry: Any, buffer: int, ranges: list[tuple[int, int, str]]) -> list[tuple[str, str]]:
    if not isinstance(entry, dict):
        return [("safetensors_tensor", f"tensor {_q(name)}: entry is a {type(entry).__name__}, not an object")]
    problems: list[tuple[str, str]] = []
    duplicates = getattr(entry, "duplicates", [])
    if duplicates:
        problems.append(("safetensors_duplicate_key", f"tensor {_q(name)}: field(s) {_q(duplicates)} repeated"))
    if missing := sorted(_FIELDS - entry.keys()):
        return [*problems, ("safetensors_tensor", f"tensor {_q(name)}: missing field(s) {missing}")]
    if extra := sorted(entry.keys() - _FIELDS):
        problems.append(("safetensors_tensor", f"tensor {_q(name)}: unexpected field(s) {_q(extra)}"))
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    bits = DTYPE_BITS.get(dtype) if isinstance(dtype, str) else None
    if bits is None:
        problems.append(("safetensors_dtype", f"tensor {_q(name)}: unknown dtype {_q(dtype)}"))
    if not isinstance(shape, list) or not all(_is_uint(d) for d in shape):
        problems.append(("safetensors_shape", f"tensor {_q(name)}: shape {_q(shape)} is not a list of sizes"))
        shape = None
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_uint(o) for o in offsets)):
        return [
            *problems,
            ("safetensors_offsets", f"tensor {_q(name)}: data_offsets {_q(offsets)} is not [begin, end]"),
        ]
    begin, end = offsets
    if end < begin:
        return [
            *problems,
            ("safetensors_offsets", f"tensor {_q(name)}: data_offsets {_q([begin, end])} end before begin"),
        ]
    if end > buffer:
        problems.append(
            (
                "safetensors_offsets",
                f"tensor {_q(name)}: data_offsets {_q([begin, end])} out of range: beyond the {buffer}-byte data",
            )
        )
    ranges.append((begin, end, name))
    if bits is not None and shape is not None:
        total_bits = math.prod(shape) * bits
        if total_bits % 8 or total_bits // 8 != end - begin:
            needs = f"{total_bits // 8} bytes" if total_bits < 2**64 and not total_bits % 8 else "a size no file has"
            problems.append(
                (
                    "safetensors_size",
                    f"tensor {_q(name)}: shape {_q(shape)} of {dtype} needs {needs}, "
                    f"data_offsets span {_q(end - begin)}",
                )
            )
    return problems


def _q(value: Any, limit: int = 80) -> str:
    """A repr short enough for a message, whatever the header put there."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else f"<{value.bit_length()}-bit int>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_uint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _library_read(head: bytes, size: int) -> tuple[dict[str, tuple[str, tuple[int, ...]]], dict[str, str]] | str:
    """Each tensor's (dtype, shape) and the metadata as `safetensors.safe_open` reads this header in a
    file of `size` bytes, or the library's error message."""
    with tempfile.NamedTemporaryFile(suffix=".safetensors") as tmp:
        tmp.write(head)
        tmp.truncate(size)  # sparse: the data region takes no disk space and is never read
        tmp.flush()
        try:
            with safe_open(tmp.name, framework="numpy") as st:
                views = {}
                for key in st.keys():  # noqa: SIM118 (safe_open is not iterable)
                    view = st.get_slice(key)
                    views[key] = (view.get_dtype(), tuple(view.get_shape()))
                return views, dict(st.metadata() or {})
        except Exception as exc:  # SafetensorError, or whatever else the library raises on bad input
            return str(exc)
