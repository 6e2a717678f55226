"""Format of a checkpoint: weights whose headers hold up, shard indexes that match their shards, a
config transformers can dispatch on, tokenizers that load, and no remote code unless declared.

Weights are never loaded: safetensors headers are read with bounded size, and pickle-format files
are only noted here (the safety step scans them).
"""

from __future__ import annotations

import json
import posixpath
from collections import Counter
from typing import Any

import sentencepiece
import tokenizers
from django.conf import settings

from jobs.checks.base import CheckContext, FileRef
from jobs.checks.safetensors_header import Header, read_header
from jobs.checks.sniff import HEAD_BYTES, Format, sniff

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
INDEX_SUFFIX = ".safetensors.index.json"
PLAIN_JSON = ("tokenizer_config.json", "special_tokens_map.json", "generation_config.json")
# Bytes that are no other known format: a broken safetensors file reports its header problems.
_NOT_ANOTHER_FORMAT = frozenset({Format.SAFETENSORS, Format.BINARY, Format.TEXT, Format.EMPTY})
MAX_LISTED = 5  # names quoted in one message; the count says how many more


def json_max_bytes() -> int:
    return settings.CHECK_JSON_MAX_BYTES


def tokenizer_max_bytes() -> int:
    return settings.CHECK_TOKENIZER_MAX_BYTES


def load_json(file: FileRef) -> tuple[Any, str | None]:
    """(value, None), or (None, why not) for an oversized, non-UTF-8 or malformed JSON file."""
    limit = json_max_bytes()
    if file.size > limit:
        return None, f"{file.size} bytes, over the {limit}-byte limit for JSON files"
    try:
        return json.loads(file.read(0, file.size).decode("utf-8")), None
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8: byte {exc.start} is invalid"
    except (ValueError, RecursionError) as exc:
        return None, f"not valid JSON: {exc}"


def listed(names: list[str]) -> str:
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return ", ".join(repr(n[:120]) for n in names[:MAX_LISTED]) + more


def bounded(value: Any, limit: int = 2000) -> Any:
    """`value` for the step's details, or its truncated JSON text when that would be too long."""
    text = json.dumps(value, default=str)
    return value if len(text) <= limit else text[:limit] + "…"


def sniffed(file: FileRef) -> Format:
    return sniff(file.read(0, min(HEAD_BYTES, file.size)), file.size)


def read_weights(ctx: CheckContext) -> dict[str, Header]:
    """Every safetensors header (each problem a reason), judged by bytes as well as by name: a
    `.safetensors` that is a pickle says so, and a `.bin` that is safetensors is read as such.
    Pickle-format files are only noted: the safety step scans them."""
    candidates = [f for f in ctx.files if f.name.endswith((".safetensors", *PICKLE_SUFFIXES))]
    headers: dict[str, Header] = {}
    pickles: list[str] = []
    for i, file in enumerate(candidates, 1):
        named = file.name.endswith(".safetensors")
        found = None if named else sniffed(file)
        if named or found == Format.SAFETENSORS:
            parsed = read_header(file)
            if isinstance(parsed, Header):
                headers[file.path] = parsed
            elif (found := sniffed(file)) not in _NOT_ANOTHER_FORMAT:
                ctx.fail("format_mismatch", f"named .safetensors but its bytes are {found}", path=file.path)
            else:
                ctx.reasons.extend(parsed)
        elif found in (Format.PICKLE, Format.ZIP):  # torch.save writes a pickle, or a zip of pickles
            pickles.append(file.path)
        else:
            ctx.fail("format_mismatch", f"named like pickle weights but its bytes are {found}", path=file.path)
        ctx.progress(i, len(candidates), "files")
    if not candidates:
        ctx.fail("no_weights", "no weights file: expected *.safetensors (or a pickle-format *.bin)")
    formats = [name for name, found in (("safetensors", headers), ("pickle", pickles)) if found]
    ctx.details["weights"] = {
        "format": "+".join(formats) or None,
        "safetensors": [
            {"path": path, "tensors": len(h.tensors), "parameters": h.parameters, "header_bytes": h.header_bytes}
            for path, h in list(headers.items())[:100]
        ],
        "pickle": pickles[:100],
    }
    return headers


def check_indexes(ctx: CheckContext, headers: dict[str, Header]) -> None:
    """A sharded index lists shards that exist, and each shard holds the tensors mapped to it."""
    indexes = {}
    for file in ctx.files:
        if not file.name.endswith(INDEX_SUFFIX):
            continue
        data, error = load_json(file)
        weight_map = data.get("weight_map") if isinstance(data, dict) else None
        if error or not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            why = error or "it needs a weight_map object mapping tensor names to shard files"
            ctx.fail("index_invalid", f"shard index unusable: {why}", path=file.path)
            continue
        folder = posixpath.dirname(file.path)
        shards: dict[str, list[str]] = {}
        for name, shard in weight_map.items():
            shards.setdefault(posixpath.normpath(posixpath.join(folder, shard)), []).append(name)
        holders = Counter(name for shard in shards if shard in headers for name in headers[shard].tensors)
        for shard, names in shards.items():
            if ctx.file(shard) is None:
                ctx.fail(
                    "index_missing_shard",
                    f"lists shard {shard[:200]!r} ({len(names)} tensors), which is not among the version's files",
                    path=file.path,
                )
            elif shard in headers and (missing := [n for n in names if n not in headers[shard].tensors]):
                ctx.fail(
                    "index_mismatch",
                    f"{len(missing)} tensors the index maps to {shard[:200]!r} are not in that shard: "
                    f"{listed(missing)}",
                    path=file.path,
                )
        if twice := sorted(name for name, count in holders.items() if count > 1):
            ctx.fail("index_mismatch", f"tensors stored in more than one shard: {listed(twice)}", path=file.path)
        declared = data.get("metadata", {}).get("total_size") if isinstance(data.get("metadata"), dict) else None
        indexes[file.path] = {"shards": len(shards), "tensors": len(weight_map), "total_size": declared}
    if indexes:
        ctx.details["indexes"] = indexes


def check_config(ctx: CheckContext) -> dict[str, Any] | None:
    """config.json: a JSON object naming a model_type or architectures (what transformers dispatches on)."""
    file = ctx.file("config.json")
    if file is None:
        ctx.fail("config_missing", "config.json is missing: loaders need it to know the architecture")
        return None
    config, error = load_json(file)
    if error or not isinstance(config, dict):
        ctx.fail(
            "config_invalid", error or f"config.json is a JSON {type(config).__name__}, not an object", path=file.path
        )
        return None
    architectures, model_type = config.get("architectures"), config.get("model_type")
    if architectures is not None and (
        not isinstance(architectures, list) or not all(isinstance(a, str) and a for a in architectures)
    ):
        ctx.fail("config_invalid", "architectures must be a list of class names", path=file.path)
    elif model_type is not None and (not isinstance(model_type, str) or not model_type):
        ctx.fail("config_invalid", "model_type must be a non-empty string", path=file.path)
    elif not architectures and not model_type:
        ctx.fail("config_invalid", "names neither model_type nor architectures", path=file.path)
    ctx.details["config"] = {"architectures": bounded(architectures), "model_type": bounded(model_type)}
    return config


def architecture_of(config: Any) -> str | None:
    """The config's first architecture class, else its model_type (None when it names neither)."""
    if not isinstance(config, dict):
        return None
    architectures = config.get("architectures")
    if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        return architectures[0]
    model_type = config.get("model_type")
    return model_type if isinstance(model_type, str) and model_type else None


def tokenizer_vocab(file: FileRef) -> tuple[int | None, str | None]:
    """(vocabulary size, None) from tokenizer.json or tokenizer.model, or (None, why it does not load)."""
    limit = tokenizer_max_bytes()
    if file.size > limit:
        return None, f"{file.size} bytes, over the {limit}-byte limit for tokenizer files"
    data = file.read(0, file.size)
    try:
        if file.name == "tokenizer.json":
            tokenizer = tokenizers.Tokenizer.from_str(data.decode("utf-8"))
            return tokenizer.get_vocab_size(with_added_tokens=True), None
        pieces = sentencepiece.SentencePieceProcessor(model_proto=data).get_piece_size()
    except Exception as exc:  # Rust/C++ parsers raise assorted types on bad input
        library = "tokenizers" if file.name == "tokenizer.json" else "sentencepiece"
        return None, f"does not load with {library}: {str(exc)[:300] or type(exc).__name__}"
    return (pieces, None) if pieces else (None, "sentencepiece model holds no pieces")


def check_tokenizers(ctx: CheckContext) -> dict[str, dict[str, Any]]:
    """Tokenizer files present at the root load with their own libraries; returns the JSON ones parsed."""
    found: dict[str, Any] = {}
    for name in ("tokenizer.json", "tokenizer.model"):
        if (file := ctx.file(name)) is not None:
            vocab, error = tokenizer_vocab(file)
            if error:
                ctx.fail("tokenizer_invalid", f"{name} {error}", path=name)
            found[name] = {"vocab_size": vocab}
    configs: dict[str, dict[str, Any]] = {}
    for name in PLAIN_JSON:
        if (file := ctx.file(name)) is not None:
            data, error = load_json(file)
            if error or not isinstance(data, dict):
                ctx.fail("json_invalid", error or f"{name} is a JSON {type(data).__name__}, not an object", path=name)
            else:
                configs[name] = data
            found[name] = {"valid": name in configs}
    ctx.details["tokenizer"] = found
    return configs


def check_remote_code(ctx: CheckContext, configs: dict[str, Any]) -> None:
    """Code that loaders would run (auto_map classes, *.py files) needs metadata remote_code: true."""
    auto_maps = {path: c["auto_map"] for path, c in configs.items() if isinstance(c, dict) and "auto_map" in c}
    python = [f.path for f in ctx.files if f.path.endswith(".py")]
    if not auto_maps and not python:
        return
    if ctx.version.metadata.get("remote_code") is True:
        auto_map = {path: bounded(m) for path, m in auto_maps.items()}
        ctx.details["remote_code"] = {"declared": True, "auto_map": auto_map, "python_files": python[:100]}
        return
    hint = "loaders would run it with trust_remote_code; declare metadata remote_code: true to submit code"
    for path, auto_map in auto_maps.items():
        ctx.fail("remote_code", f"auto_map {str(auto_map)[:200]} names custom code: {hint}", path=path)
    for path in python:
        ctx.fail("remote_code", f"Python source file: {hint}", path=path)


def check(ctx: CheckContext) -> None:
    headers = read_weights(ctx)
    check_indexes(ctx, headers)
    config = check_config(ctx)
    json_configs = check_tokenizers(ctx)
    check_remote_code(ctx, {"config.json": config, **json_configs})
    tensors = sum(len(h.tensors) for h in headers.values())
    paths = {r.path for r in ctx.reasons} - {""}
    ctx.summary = (
        f"{len(headers)} safetensors files ({tensors} tensors), {architecture_of(config)}: format checks pass"
        if ctx.passed
        else f"{len(ctx.reasons)} format problems" + (f" in {len(paths)} files" if paths else "")
    )[:299]
