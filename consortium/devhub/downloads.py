"""Downloads: `HEAD`/`GET /{P}{id}/resolve/{rev}/{path}` with the headers huggingface_hub needs
(X-Repo-Commit, ETag, Content-Length), single byte ranges, and the bytes streamed from disk."""

from __future__ import annotations

import mimetypes
import re
from typing import TYPE_CHECKING
from urllib.parse import unquote

from consortium.devhub.api import repo_type_of, visible_repo
from consortium.devhub.store import HubError
from consortium.devhub.wire import Request, Response

if TYPE_CHECKING:
    from consortium.devhub.server import DevHub


def resolve(hub: DevHub, req: Request, p: str | None, ns: str, name: str, rev: str, path: str) -> Response:
    repo = visible_repo(hub, req, repo_type_of(p, plural=False), ns, name)
    if repo.gated and not req.authorized:
        raise HubError(401, f"Access to {repo.type} {repo.id} is restricted. You must be authenticated.", "GatedRepo")
    oid = repo.resolve(unquote(rev))
    path = unquote(path)
    entry = repo.commits[oid].tree.get(path)
    if entry is None:
        raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
    etag = f'"{entry.etag}"'
    headers = {"X-Repo-Commit": oid, "ETag": etag, "Accept-Ranges": "bytes"}
    if entry.lfs:
        headers |= {"X-Linked-Etag": etag, "X-Linked-Size": str(entry.size)}
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if content_type.startswith("text/") or path.endswith((".md", ".json", ".yaml", ".yml", ".txt")):
        content_type = f"{'text/plain' if path.endswith('.md') else content_type}; charset=utf-8"
    start, length, status = _range(req.headers.get("Range"), entry.size)
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{entry.size}"
    file = hub.store.blobs.path(entry.sha256)
    return Response(status, content_type=content_type, headers=headers, file=file, offset=start, length=length)


def _range(header: str | None, size: int) -> tuple[int, int, int]:
    """(offset, length, status) for one `bytes=a-b`, `bytes=a-` or `bytes=-n` range; anything else
    is served whole."""
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", (header or "").strip())
    if match is None or match.groups() == ("", ""):
        return 0, size, 200
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(size - 1, int(last)) if last else size - 1
    if start >= size or end < start:
        raise HubError(416, f"range not satisfiable for {size} bytes")
    return start, end - start + 1, 206
