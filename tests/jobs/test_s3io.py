"""Stored objects read as files from SeaweedFS: positions, seeks and the end of the object."""

from __future__ import annotations

import io
import os

import pytest
from django.conf import settings

from jobs.checks.s3io import StoredObject
from registry import storage


@pytest.fixture
def stored(s3_bucket: str) -> tuple[str, bytes]:
    data = os.urandom(3 * StoredObject.READ_AHEAD + 12345)
    storage.s3().put_object(Bucket=settings.S3_BUCKET, Key="tests/s3io.bin", Body=data)
    return "tests/s3io.bin", data


def test_a_stored_object_reads_like_the_bytes_it_holds(stored: tuple[str, bytes]) -> None:
    key, data = stored
    with StoredObject(key, len(data)) as handle:
        assert isinstance(handle, io.BufferedIOBase)
        assert handle.read(512) == data[:512]
        assert handle.tell() == 512
        assert handle.seek(0) == 0
        pieces = []
        while chunk := handle.read(65536):
            pieces.append(chunk)
        assert b"".join(pieces) == data
        assert (handle.tell(), handle.read(10)) == (len(data), b"")
        handle.seek(-100, io.SEEK_END)
        assert handle.read() == data[-100:]
        handle.seek(1000)
        handle.seek(10, io.SEEK_CUR)
        buffer = bytearray(2 * StoredObject.READ_AHEAD)
        assert handle.readinto(buffer) == len(buffer)
        assert bytes(buffer) == data[1010 : 1010 + len(buffer)]
