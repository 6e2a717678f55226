"""The Hub's HTTP API as huggingface_hub 2.4.0 calls it with Xet disabled: the account, repos,
settings, info, trees, refs, history and card validation (uploads and downloads have their modules).

Every handler takes the DevHub and the request plus the route's named groups (still
percent-encoded: a revision like `refs%2Fpr%2F1` is one path segment) and returns a Response or
raises HubError.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode

from consortium.devhub import cards
from consortium.devhub.store import (
    REPO_TYPES,
    URL_PREFIX,
    Entry,
    HubError,
    Repo,
    check_ref_name,
    lfs_pointer,
)
from consortium.devhub.wire import Request, Response, error_response, json_response

if TYPE_CHECKING:
    from consortium.devhub.server import DevHub

PLURAL = {"models": "model", "datasets": "dataset", "spaces": "space"}
PREFIXED = {None: "model", "datasets": "dataset", "spaces": "space"}


def repo_type_of(t: str | None, *, plural: bool) -> str:
    return PLURAL[t or ""] if plural else PREFIXED[t]


def visible_repo(hub: DevHub, req: Request, repo_type: str, ns: str, name: str) -> Repo:
    """The repo, or RepoNotFound: a private repo does not exist for a request without the token."""
    repo = hub.store.get(repo_type, f"{unquote(ns)}/{unquote(name)}")
    if repo.private and not req.authorized:
        raise HubError(404, "Repository not found", "RepoNotFound")
    return repo


def api_repo(hub: DevHub, req: Request, t: str, ns: str, name: str) -> Repo:
    return visible_repo(hub, req, repo_type_of(t, plural=True), ns, name)


def repo_url(req: Request, repo: Repo) -> str:
    return f"{req.base}/{repo.url_path}"


# --- account and repos -------------------------------------------------------------------------


def whoami(hub: DevHub, req: Request) -> Response:
    req.require_write()  # the one token is the one user
    return json_response(
        {
            "type": "user",
            "id": hub.store.user,
            "name": hub.store.user,
            "fullname": "Local Hub user",
            "isPro": False,
            "canPay": False,
            "orgs": [],
            "auth": {"type": "access_token", "accessToken": {"displayName": "devhub", "role": "write"}},
        }
    )


def _repo_ref(hub: DevHub, req: Request) -> tuple[str, str, dict[str, Any]]:
    req.require_write()
    body = req.body.json(default={})
    repo_type = body.get("type") or "model"
    if repo_type not in REPO_TYPES:
        raise HubError(400, f"unknown repo type {repo_type!r}")
    name = body.get("name")
    if not isinstance(name, str):
        raise HubError(400, "'name' is required")
    return repo_type, f"{body.get('organization') or hub.store.user}/{name}", body


def repo_create(hub: DevHub, req: Request) -> Response:
    repo_type, repo_id, body = _repo_ref(hub, req)
    url = f"{req.base}/{URL_PREFIX[repo_type]}{repo_id}"
    if (repo_type, repo_id) in hub.store.repos:
        # huggingface_hub reads "url" even from the 409 when exist_ok=True.
        return error_response(409, f"You already created this {repo_type} repo", url=url)
    private = body.get("visibility") == "private" or body.get("private") is True
    hub.store.create(repo_type, repo_id, private=private)
    return json_response({"url": url, "name": repo_id, "id": repo_id})


def repo_delete(hub: DevHub, req: Request) -> Response:
    repo_type, repo_id, _ = _repo_ref(hub, req)
    hub.store.delete(repo_type, repo_id)
    return json_response({})


def repo_settings(hub: DevHub, req: Request, t: str, ns: str, name: str) -> Response:
    req.require_write()
    repo = api_repo(hub, req, t, ns, name)
    body = req.body.json(default={})
    gated, visibility = body.get("gated", repo.gated), body.get("visibility")
    if gated is not False and gated not in ("auto", "manual"):
        raise HubError(400, f"gated must be false, 'auto' or 'manual', not {gated!r}")
    if visibility not in (None, "private", "public"):
        raise HubError(400, "visibility must be 'private' or 'public'")
    if visibility is not None:
        repo.private = visibility == "private"
    elif isinstance(body.get("private"), bool):  # what clients before 1.0 sent
        repo.private = body["private"]
    repo.gated = gated
    hub.store.save(repo)
    return json_response({})


def _readme_metadata(hub: DevHub, tree: dict[str, Entry]) -> dict[str, Any] | None:
    entry = tree.get("README.md")
    if entry is None or entry.size > 1024 * 1024:
        return None
    return cards.metadata(hub.store.blobs.read(entry.sha256).decode("utf-8", "replace"))


def repo_info(hub: DevHub, req: Request, t: str, ns: str, name: str, rev: str = "main") -> Response:
    repo = api_repo(hub, req, t, ns, name)
    commit = repo.commits[repo.resolve(unquote(rev))]
    with_blobs = req.flag("blobs")
    siblings = []
    for path, entry in sorted(commit.tree.items()):
        sibling: dict[str, Any] = {"rfilename": path}
        if with_blobs:
            sibling |= {"size": entry.size, "blobId": entry.oid}
            if entry.lfs:
                sibling["lfs"] = _lfs_info(entry, key="sha256")
        siblings.append(sibling)
    card = _readme_metadata(hub, commit.tree)
    tags = card.get("tags") if card else None
    info = {
        "_id": hashlib.sha1(f"{repo.type}/{repo.id}".encode()).hexdigest()[:24],  # noqa: S324 - an id
        "id": repo.id,
        "author": repo.id.split("/")[0],
        "sha": commit.oid,
        "lastModified": commit.date,
        "createdAt": repo.created,
        "private": repo.private,
        "gated": repo.gated,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "tags": [str(tag) for tag in tags] if isinstance(tags, list) else [],
        "siblings": siblings,
        "usedStorage": sum(e.size for e in commit.tree.values()),
    }
    if card is not None:
        info["cardData"] = card
    return json_response(info)


def _lfs_info(entry: Entry, *, key: str) -> dict[str, Any]:
    return {key: entry.sha256, "size": entry.size, "pointerSize": len(lfs_pointer(entry.sha256, entry.size))}


# --- trees, refs and history -------------------------------------------------------------------


def _file_item(path: str, entry: Entry) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "file", "path": path, "size": entry.size, "oid": entry.oid}
    if entry.lfs:
        item["lfs"] = _lfs_info(entry, key="oid")
    return item


def _folder_item(tree: dict[str, Entry], path: str) -> dict[str, Any]:
    inside = sorted((p, e.oid) for p, e in tree.items() if p.startswith(path + "/"))
    oid = hashlib.sha1(json.dumps(inside).encode()).hexdigest()  # noqa: S324 - stands in for git's tree id
    return {"type": "directory", "path": path, "oid": oid}


def listing(tree: dict[str, Entry], base: str, *, recursive: bool) -> list[dict[str, Any]]:
    """The tree below `base` ("" for the root): direct children, or everything when recursive."""
    prefix = f"{base}/" if base else ""
    inside = {p: e for p, e in tree.items() if p.startswith(prefix)}
    if base and not inside:
        raise HubError(404, f"Entry not found: {base} is not a folder at this revision", "EntryNotFound")
    folders: set[str] = set()
    files = []
    for path, entry in inside.items():
        parts = path[len(prefix) :].split("/")
        for depth in range(1, len(parts) if recursive else min(2, len(parts))):
            folders.add(prefix + "/".join(parts[:depth]))
        if recursive or len(parts) == 1:
            files.append(_file_item(path, entry))
    items = [_folder_item(tree, f) for f in folders] + files
    return sorted(items, key=lambda item: item["path"])


def _paged(hub: DevHub, req: Request, items: list[dict[str, Any]]) -> Response:
    """One page and, when more remain, a `Link: <…>; rel="next"` that keeps the other query
    parameters (the client sends them only with the first page). The cursor is an offset."""
    try:
        start = max(0, int(req.arg("cursor") or 0))
    except ValueError:
        raise HubError(400, "invalid cursor") from None
    end = start + hub.page_size
    headers = {}
    if end < len(items):
        query = [(k, v) for k, v in req.query if k != "cursor"] + [("cursor", str(end))]
        headers["Link"] = f'<{req.base}{req.path}?{urlencode(query)}>; rel="next"'
    return json_response(items[start:end], headers=headers)


def repo_tree(hub: DevHub, req: Request, t: str, ns: str, name: str, rev: str, path: str | None = None) -> Response:
    repo = api_repo(hub, req, t, ns, name)
    tree = repo.tree(unquote(rev))
    return _paged(hub, req, listing(tree, unquote(path or "").strip("/"), recursive=req.flag("recursive")))


def paths_info(hub: DevHub, req: Request, t: str, ns: str, name: str, rev: str) -> Response:
    repo = api_repo(hub, req, t, ns, name)
    tree = repo.tree(unquote(rev))
    raw = req.body.read_all(1024 * 1024).decode()
    form = json.loads(raw) if raw.lstrip().startswith("{") else {"paths": _form_values(raw, "paths")}
    paths = form.get("paths") or []
    items = []
    for path in [paths] if isinstance(paths, str) else paths:
        path = path.strip("/")
        if path in tree:
            items.append(_file_item(path, tree[path]))
        elif any(p.startswith(path + "/") for p in tree):
            items.append(_folder_item(tree, path))
    return json_response(items)


def _form_values(raw: str, name: str) -> list[str]:
    return [v for k, v in parse_qsl(raw) if k == name]


def refs(hub: DevHub, req: Request, t: str, ns: str, name: str) -> Response:
    repo = api_repo(hub, req, t, ns, name)

    def ref(kind: str, name: str, oid: str) -> dict[str, str]:
        return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": oid}

    return json_response(
        {
            "branches": [ref("heads", n, o) for n, o in sorted(repo.branches.items())],
            "tags": [ref("tags", n, o) for n, o in sorted(repo.tags.items())],
            "converts": [],
            "pullRequests": [],
        }
    )


def commits(hub: DevHub, req: Request, t: str, ns: str, name: str, rev: str) -> Response:
    repo = api_repo(hub, req, t, ns, name)
    items = [
        {"id": c.oid, "title": c.title, "message": c.message, "date": c.date, "authors": [{"user": c.author}]}
        for c in repo.history(unquote(rev))
    ]
    return _paged(hub, req, items)


def tag_create(hub: DevHub, req: Request, t: str, ns: str, name: str, rev: str) -> Response:
    req.require_write()
    repo = api_repo(hub, req, t, ns, name)
    body = req.body.json(default={})
    tag = check_ref_name(str(body.get("tag") or ""), "tag")
    oid = repo.resolve(unquote(rev))
    if tag in repo.tags:
        raise HubError(409, f"Tag '{tag}' already exists (on {repo.tags[tag]})")
    if tag in repo.branches:
        raise HubError(400, f"'{tag}' is a branch; choose another tag name")
    repo.tags[tag] = oid
    repo.tag_messages[tag] = str(body.get("message") or "")
    hub.store.save(repo)
    return json_response({"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": oid})


def tag_delete(hub: DevHub, req: Request, t: str, ns: str, name: str, rev: str) -> Response:
    req.require_write()
    repo = api_repo(hub, req, t, ns, name)
    tag = unquote(rev)
    if tag not in repo.tags:
        raise HubError(404, f"Tag '{tag}' not found", "RevisionNotFound")
    del repo.tags[tag]
    repo.tag_messages.pop(tag, None)
    hub.store.save(repo)
    return json_response({})


def branch_create(hub: DevHub, req: Request, t: str, ns: str, name: str, branch: str) -> Response:
    req.require_write()
    repo = api_repo(hub, req, t, ns, name)
    body = req.body.json(default={})
    branch = check_ref_name(unquote(branch), "branch")
    oid = repo.resolve(str(body.get("startingPoint") or "main"))
    if branch in repo.branches:
        raise HubError(409, f"Reference already exists: refs/heads/{branch}")
    if branch in repo.tags:
        raise HubError(400, f"'{branch}' is a tag; choose another branch name")
    repo.branches[branch] = oid
    hub.store.save(repo)
    return json_response({})


def branch_delete(hub: DevHub, req: Request, t: str, ns: str, name: str, branch: str) -> Response:
    req.require_write()
    repo = api_repo(hub, req, t, ns, name)
    branch = unquote(branch)
    if branch == "main":
        raise HubError(403, "The default branch cannot be deleted")
    if branch not in repo.branches:
        raise HubError(404, f"Branch '{branch}' not found", "RevisionNotFound")
    del repo.branches[branch]
    hub.store.save(repo)
    return json_response({})


def validate_yaml(hub: DevHub, req: Request) -> Response:
    body = req.body.json(default={})
    errors, warnings = cards.validate(str(body.get("content") or ""), str(body.get("repoType") or "model"))
    answer = {"errors": [{"message": e} for e in errors], "warnings": [{"message": w} for w in warnings]}
    return json_response(answer, 400 if errors else 200)
