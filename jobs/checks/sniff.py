"""What a stream is, judged by its bytes, never by its name: a pickle called `model.safetensors` is a
pickle. `sniff(head, size)` needs only the first `HEAD_BYTES` of the stream and its total size."""

from __future__ import annotations

import codecs
import tarfile
from enum import StrEnum

HEAD_BYTES = 64 * 1024
SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024  # the spec's limit

# The first pickle of a legacy (non-zip) `torch.save` file: the magic number, protocol 2.
TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."


class Format(StrEnum):
    EMPTY = "empty"
    SAFETENSORS = "safetensors"
    ZIP = "zip"
    SEVEN_Z = "7z"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    TAR = "tar"
    PICKLE = "pickle"
    NPY = "npy"
    GGUF = "gguf"
    HDF5 = "hdf5"
    PARQUET = "parquet"
    ARROW = "arrow"
    TEXT = "text"
    BINARY = "binary"


ARCHIVES = frozenset({Format.ZIP, Format.TAR, Format.GZIP, Format.BZIP2, Format.XZ})
COMPRESSED = frozenset({Format.GZIP, Format.BZIP2, Format.XZ})

_MAGIC: tuple[tuple[bytes, Format], ...] = (
    (b"PK\x03\x04", Format.ZIP),
    (b"PK\x05\x06", Format.ZIP),  # an empty zip is only its end record
    (b"7z\xbc\xaf\x27\x1c", Format.SEVEN_Z),
    (b"\x1f\x8b", Format.GZIP),
    (b"BZh", Format.BZIP2),
    (b"\xfd7zXZ\x00", Format.XZ),
    (b"\x93NUMPY", Format.NPY),
    (b"GGUF", Format.GGUF),
    (b"PAR1", Format.PARQUET),
    (b"ARROW1", Format.ARROW),
)
_HDF5 = b"\x89HDF\r\n\x1a\n"


def sniff(head: bytes, size: int) -> Format:
    """The format of a stream of `size` bytes whose first bytes are `head` (up to HEAD_BYTES)."""
    if size == 0 or not head:
        return Format.EMPTY
    if _is_safetensors(head, size):
        return Format.SAFETENSORS
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        return Format.PICKLE  # a PROTO opcode: protocol 2+ pickles start with it
    if any(head[offset : offset + 8] == _HDF5 for offset in (0, 512, 1024, 2048)):
        return Format.HDF5  # the superblock may follow a user block of 512 * 2^n bytes
    if _is_arrow_stream(head, size):
        return Format.ARROW
    if is_tar(head):
        return Format.TAR
    if _is_text(head, size):
        return Format.TEXT
    return Format.BINARY


def _is_safetensors(head: bytes, size: int) -> bool:
    """8-byte little-endian header length n, a sane n, then a JSON object."""
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= min(SAFETENSORS_MAX_HEADER, size - 8) and head[8:9] == b"{"


def _is_arrow_stream(head: bytes, size: int) -> bool:
    """Arrow IPC stream (what `datasets` writes): a continuation marker, then a metadata length."""
    if len(head) < 8 or head[:4] != b"\xff\xff\xff\xff":
        return False
    return 0 < int.from_bytes(head[4:8], "little", signed=True) < size


def is_tar(head: bytes) -> bool:
    """A tar header: the POSIX magic, or (pre-POSIX) a header whose checksum holds."""
    if head[257:262] == b"ustar":
        return True
    if len(head) < 512:
        return False
    try:  # a pre-POSIX (v7) header has no magic, only a checksum
        tarfile.TarInfo.frombuf(head[:512], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _is_text(head: bytes, size: int) -> bool:
    if b"\x00" in head:
        return False
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:  # a multi-byte character cut by the end of `head` is fine unless the stream ends there too
        decoder.decode(head, final=len(head) >= size)
    except UnicodeDecodeError:
        return False
    return True
