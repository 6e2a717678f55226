"""Uploads as huggingface_hub sends them with Xet off: preupload (regular or LFS per file), the Git
LFS batch API with one-time upload links (the PUT carries no Authorization), and the NDJSON commit."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode

from consortium.devhub.api import api_repo, repo_type_of, repo_url, visible_repo
from consortium.devhub.store import Entry, HubError, Operation, check_path, git_blob_sha1, is_lfs, lfs_pointer
from consortium.devhub.wire import Request, Response, json_response

if TYPE_CHECKING:
    from consortium.devhub.server import DevHub

LFS_JSON = "application/vnd.git-lfs+json"
MAX_LINE = 64 * 1024 * 1024  # one NDJSON line: an inline file of up to 10 MB in base64, with room


def preupload(hub: DevHub, req: Request, t: str, ns: str, name: str, rev: str) -> Response:
    req.require_write()
    if req.flag("create_pr"):
        raise HubError(400, "pull requests are not supported by the local Hub")
    repo = api_repo(hub, req, t, ns, name)
    oid = repo.resolve(unquote(rev))
    tree = repo.commits[oid].tree
    answers = []
    for item in req.body.json(default={}).get("files") or []:
        path, size = check_path(str(item.get("path"))), item.get("size")
        if not isinstance(size, int) or size < 0:
            raise HubError(400, f"{path}: size must be a non-negative integer")
        existing = tree.get(path)
        answers.append(
            {
                "path": path,
                "uploadMode": "lfs" if is_lfs(path, size) else "regular",
                "shouldIgnore": False,
                "oid": existing.etag if existing else None,
            }
        )
    return json_response({"files": answers, "commitOid": oid})


def lfs_batch(hub: DevHub, req: Request, p: str | None, ns: str, name: str) -> Response:
    req.require_write()
    repo = visible_repo(hub, req, repo_type_of(p, plural=False), ns, name)
    body = req.body.json(default={})
    if body.get("operation") != "upload":
        raise HubError(422, "the local Hub's LFS batch API only takes uploads (downloads go through /resolve/)")
    objects = []
    for obj in body.get("objects") or []:
        oid, size = obj.get("oid"), obj.get("size")
        if not (isinstance(oid, str) and re.fullmatch(r"[0-9a-f]{64}", oid) and isinstance(size, int) and size >= 0):
            objects.append({"oid": str(oid), "size": size if isinstance(size, int) else 0, "error": _lfs_error(obj)})
        elif hub.store.blobs.size(oid) == size:
            objects.append({"oid": oid, "size": size})  # stored: no actions, so the client skips it
        else:
            upload = f"{req.base}/-/lfs/{oid}?{urlencode({'size': size, 'token': hub.upload_token(oid, size)})}"
            verify = f"{req.base}/{repo.url_path}.git/info/lfs/objects/verify"
            objects.append(
                {
                    "oid": oid,
                    "size": size,
                    "authenticated": True,
                    "actions": {"upload": {"href": upload, "expires_in": 3600}, "verify": {"href": verify}},
                }
            )
    return json_response({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}, content_type=LFS_JSON)


def _lfs_error(obj: dict[str, Any]) -> dict[str, Any]:
    return {"code": 422, "message": f"invalid object: oid must be a sha256 and size an integer, got {obj!r}"}


def lfs_put(hub: DevHub, req: Request, oid: str) -> Response:
    """The basic-transfer upload. It carries no Authorization header: the one-time token in the
    link is the permission, and it is spent only when the bytes were stored."""
    token = req.arg("token") or ""
    size = hub.upload_size(token, oid)
    if req.body.length is not None and req.body.length != size:
        raise HubError(400, f"Content-Length is {req.body.length}, the batch call announced {size} bytes")
    hub.store.blobs.receive(req.body.chunks(), sha256=oid, size=size)
    hub.upload_done(token)
    return Response(200, content_type="text/plain")


def lfs_verify(hub: DevHub, req: Request, p: str | None, ns: str, name: str) -> Response:
    req.require_write()
    visible_repo(hub, req, repo_type_of(p, plural=False), ns, name)
    body = req.body.json(default={})
    oid, size = str(body.get("oid")), body.get("size")
    if hub.store.blobs.size(oid) != size:
        raise HubError(404, f"object {oid} of {size} bytes is not stored")
    return json_response({"oid": oid, "size": size}, content_type=LFS_JSON)


def _parse_commit_line(hub: DevHub, key: str, value: dict[str, Any]) -> Operation:
    path = str(value.get("path") or "")
    path = check_path(path.rstrip("/") if key == "deletedFolder" else path)
    if key == "file":
        if value.get("encoding", "base64") != "base64":
            raise HubError(400, f"{path}: only base64 content is supported")
        try:
            content = base64.b64decode(value.get("content") or "", validate=True)
        except (binascii.Error, ValueError):
            raise HubError(400, f"{path}: content is not valid base64") from None
        if is_lfs(path, len(content)):
            raise HubError(400, f"{path} must be uploaded with LFS (preupload said 'lfs' for it)")
        return Operation("add", path, hub.store.blobs.put(content))
    if key == "lfsFile":
        oid, size = str(value.get("oid")), value.get("size")
        stored = hub.store.blobs.size(oid)
        if stored is None:
            raise HubError(422, f"{path}: LFS object {oid} was never uploaded (batch API, then PUT the bytes)")
        if size is not None and size != stored:
            raise HubError(422, f"{path}: LFS object {oid} has {stored} bytes, the commit says {size}")
        pointer_oid = git_blob_sha1(lfs_pointer(oid, stored))
        return Operation("add", path, Entry(size=stored, sha256=oid, oid=pointer_oid, lfs=True))
    if key == "deletedFile":
        return Operation("delete", path)
    if key == "deletedFolder":
        return Operation("delete_folder", path)
    raise HubError(400, f"unknown commit operation {key!r}")


def commit(hub: DevHub, req: Request, t: str, ns: str, name: str, rev: str) -> Response:
    """Read the NDJSON (storing inline files as blobs as they come), then apply it under the lock."""
    req.require_write()
    if req.flag("create_pr"):
        raise HubError(400, "pull requests are not supported by the local Hub")
    repo_type, repo_id = repo_type_of(t, plural=True), f"{unquote(ns)}/{unquote(name)}"
    with hub.store.lock:
        visible_repo(hub, req, repo_type, ns, name)
    header: dict[str, Any] | None = None
    operations = []
    for line in req.body.lines(MAX_LINE):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if not isinstance(value, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise HubError(400, "each line of a commit must be JSON {'key': ..., 'value': {...}}") from None
        if header is None:
            if key != "header":
                raise HubError(400, "the first line of a commit must be its header")
            header = value
        else:
            operations.append(_parse_commit_line(hub, key, value))
    if header is None or not str(header.get("summary") or "").strip():
        raise HubError(400, "a commit needs a header with a non-empty summary")
    branch = unquote(rev).removeprefix("refs/heads/")
    with hub.store.lock:
        repo = hub.store.get(repo_type, repo_id)
        if branch not in repo.branches:
            repo.resolve(branch)  # RevisionNotFound unless it is a tag or commit, which cannot move
            raise HubError(400, f"'{branch}' is not a branch: commits go to a branch")
        new = hub.store.commit(
            repo,
            branch,
            operations,
            title=str(header["summary"]).strip(),
            message=str(header.get("description") or ""),
            parent=header.get("parentCommit"),
        )
        url = f"{repo_url(req, repo)}/commit/{new.oid}"
    return json_response({"success": True, "commitOid": new.oid, "commitUrl": url, "commitMessage": new.title})
