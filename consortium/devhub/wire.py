"""Requests and responses of the local Hub, independent of the socket server: a request body read
as a stream (Content-Length or chunked), and responses that are bytes or a file range on disk."""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from io import BufferedIOBase
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from consortium.devhub.store import HubError

CHUNK = 1024 * 1024
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


class Body:
    """The request body, read at most once, in pieces. `finish()` reads what the handler left so
    the next request on a kept-alive connection starts at the right byte."""

    def __init__(self, rfile: BufferedIOBase, headers: Message) -> None:
        self.rfile = rfile
        self.chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        self.length = None if self.chunked else int(headers.get("Content-Length") or 0)
        self._left = 0 if self.chunked else (self.length or 0)  # of the body, or of the current chunk
        self._ended = not self.chunked and self._left == 0

    def read(self, size: int = CHUNK) -> bytes:
        if self._ended:
            return b""
        if self.chunked and self._left == 0:
            line = self.rfile.readline(1024)
            self._left = int(line.split(b";")[0].strip() or b"0", 16)
            if self._left == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self._ended = True
                return b""
        data = self.rfile.read(min(size, self._left))
        if not data:
            raise ConnectionError("the client closed the connection in the middle of the body")
        self._left -= len(data)
        if self.chunked and self._left == 0:
            self.rfile.readline(16)  # the CRLF after a chunk
        elif not self.chunked and self._left == 0:
            self._ended = True
        return data

    def chunks(self) -> Iterator[bytes]:
        while data := self.read():
            yield data

    def read_all(self, limit: int) -> bytes:
        data = bytearray()
        for chunk in self.chunks():
            data += chunk
            if len(data) > limit:
                raise HubError(413, f"request body larger than {limit} bytes")
        return bytes(data)

    def json(self, limit: int = 16 * CHUNK, *, default: Any = None) -> Any:
        raw = self.read_all(limit)
        if not raw.strip() and default is not None:
            return default
        try:
            return json.loads(raw)
        except ValueError:
            raise HubError(400, "the request body is not valid JSON") from None

    def lines(self, limit: int) -> Iterator[bytes]:
        """NDJSON lines, each at most `limit` bytes, without holding more than one line."""
        buffer = bytearray()
        for chunk in self.chunks():
            buffer += chunk
            start = 0
            while (end := buffer.find(b"\n", start)) >= 0:
                yield bytes(buffer[start:end])
                start = end + 1
            del buffer[:start]
            if len(buffer) > limit:
                raise HubError(413, f"a line of the request is longer than {limit} bytes")
        if buffer.strip():
            yield bytes(buffer)

    def finish(self, limit: int = 64 * CHUNK) -> bool:
        """Read and drop the rest of the body; False when more than `limit` remains (then the
        connection must be closed instead)."""
        dropped = 0
        while not self._ended:
            dropped += len(self.read())
            if dropped > limit:
                return False
        return True


@dataclass
class Request:
    method: str
    path: str  # as sent: percent-encoding intact, no query
    query: list[tuple[str, str]]
    headers: Message
    body: Body
    base: str  # the endpoint URL the client used, for links in answers
    authorized: bool | None  # None: no Authorization header; False: a wrong token

    @classmethod
    def parse(
        cls, method: str, target: str, headers: Message, rfile: BufferedIOBase, *, fallback_base: str, token: str
    ) -> Request:
        path, _, query = target.partition("?")
        host = headers.get("Host", "")
        base = f"http://{host}" if _HOST.fullmatch(host) else fallback_base
        auth = headers.get("Authorization")
        authorized = None
        if auth is not None:
            scheme, _, given = auth.partition(" ")
            authorized = scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
        return cls(
            method=method,
            path=path,
            query=parse_qsl(query, keep_blank_values=True),
            headers=headers,
            body=Body(rfile, headers),
            base=base,
            authorized=authorized,
        )

    def arg(self, name: str, default: str | None = None) -> str | None:
        return next((v for k, v in self.query if k == name), default)

    def flag(self, name: str) -> bool:
        return (self.arg(name) or "").lower() in ("1", "true", "yes")

    def require_write(self) -> None:
        """One token may write anywhere: the local Hub has one user and no organisations."""
        if not self.authorized:
            raise HubError(
                401, "Unauthorized: this request needs `Authorization: Bearer <token>` with the local Hub's token"
            )


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    file: Path | None = None  # streamed from disk instead of `body`
    offset: int = 0
    length: int = 0


def json_response(
    data: Any, status: int = 200, *, headers: dict[str, str] | None = None, content_type: str = ""
) -> Response:
    return Response(
        status,
        json.dumps(data).encode(),
        content_type=content_type or "application/json",
        headers=headers or {},
    )


def error_response(status: int, message: str, code: str | None = None, **extra: Any) -> Response:
    # Header values must be one line of latin-1: user text (paths) is escaped, not dropped.
    header = message.encode("ascii", "backslashreplace").decode().replace("\r", " ").replace("\n", " ")
    headers = {"X-Error-Message": header[:1000]}
    if code:
        headers["X-Error-Code"] = code
    return json_response({"error": message, **extra}, status, headers=headers)


def html_response(page: str, status: int = 200) -> Response:
    return Response(status, page.encode(), content_type="text/html; charset=utf-8")
