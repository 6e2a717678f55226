"""The local Hub's storage: content-addressed blobs on disk and one JSON state file per repo.

Blobs live under `blobs/<sha256>` and are shared by every repo; they are only written after their
digest is checked, and removed only by `Store.reset()` (a development server needs no collector).
A repo's state (settings, refs and every commit with its full tree) is one JSON file replaced
atomically, so a crash leaves either the old state or the new one.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

REPO_TYPES = ("model", "dataset", "space")
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
# The Hub's rule of thumb: big files and binary formats go to LFS. Empty files never do.
LFS_THRESHOLD = 10 * 1024 * 1024
LFS_PATTERNS = (
    "*.safetensors",
    "*.bin",
    "*.pt",
    "*.pth",
    "*.gguf",
    "*.parquet",
    "*.arrow",
    "*.zip",
    "*.tar*",
    "*.npz",
)
# One segment of a repo id: letters, digits, '.', '_', '-', not starting or ending with '.' or '-'.
_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?")
_REF = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}")
_OID = re.compile(r"[0-9a-f]{40}")
_RESERVED_NAMESPACES = {"api", "datasets", "spaces", "models", "-"}


class HubError(Exception):
    """An answer other than success: its HTTP status, a message for people and the Hub's
    `X-Error-Code` (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo) when it has one."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def now_iso() -> str:
    """The Hub's timestamp format, which the client parses strictly (`%Y-%m-%dT%H:%M:%S.%fZ`)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def is_lfs(path: str, size: int) -> bool:
    if size == 0:
        return False
    name = path.rsplit("/", 1)[-1]
    return size >= LFS_THRESHOLD or any(fnmatch.fnmatchcase(name, pattern) for pattern in LFS_PATTERNS)


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The Git LFS pointer that stands in the git tree for an LFS file."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def git_blob_sha1(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()  # noqa: S324 - git's object id


def check_repo_id(repo_id: str) -> tuple[str, str]:
    parts = repo_id.split("/")
    if (
        len(parts) != 2
        or not all(_NAME.fullmatch(p) and ".." not in p and "--" not in p for p in parts)
        or repo_id.endswith(".git")
    ):
        raise HubError(400, f"'{repo_id}' is not a valid repo id: expected 'namespace/name' of [A-Za-z0-9._-]")
    if parts[0] in _RESERVED_NAMESPACES:
        raise HubError(400, f"'{parts[0]}' is a reserved namespace")
    return parts[0], parts[1]


def check_ref_name(name: str, what: str) -> str:
    if not _REF.fullmatch(name) or ".." in name or "//" in name or name.endswith(("/", ".lock")):
        raise HubError(400, f"'{name}' is not a valid {what} name")
    if _OID.fullmatch(name):
        raise HubError(400, f"a {what} name cannot look like a commit id: '{name}'")
    return name


def check_path(path: str) -> str:
    """A path inside a repo: relative, '/'-separated, no '.', '..' or empty segments, not in .git/."""
    segments = path.split("/")
    bad = not path or len(path) > 1000 or "\\" in path or "\0" in path
    if bad or any(s in ("", ".", "..") for s in segments) or segments[0] == ".git":
        raise HubError(400, f"invalid path in repo: {path!r}")
    return path


@dataclass(frozen=True)
class Entry:
    """A file in a tree. `oid` is the git blob id: of the content for a regular file, of the LFS
    pointer for an LFS file (as in git and on the Hub); `sha256` always names the content."""

    size: int
    sha256: str
    oid: str
    lfs: bool

    @property
    def etag(self) -> str:
        """The download's ETag, and the `oid` preupload reports so the client skips unchanged files."""
        return self.sha256 if self.lfs else self.oid


@dataclass(frozen=True)
class Commit:
    oid: str
    parent: str | None
    title: str
    message: str
    date: str
    author: str
    tree: dict[str, Entry]


@dataclass
class Repo:
    type: str
    id: str
    private: bool
    gated: bool | str
    created: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    tag_messages: dict[str, str] = field(default_factory=dict)

    @property
    def url_path(self) -> str:
        return f"{URL_PREFIX[self.type]}{self.id}"

    def resolve(self, rev: str) -> str:
        """A branch, a tag (also as refs/heads/x, refs/tags/x) or a full commit id → commit id."""
        name = rev.removeprefix("refs/heads/")
        if name in self.branches:
            return self.branches[name]
        name = rev.removeprefix("refs/tags/")
        if name in self.tags:
            return self.tags[name]
        if rev in self.commits:
            return rev
        raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")

    def tree(self, rev: str = "main") -> dict[str, Entry]:
        return self.commits[self.resolve(rev)].tree

    def history(self, rev: str = "main") -> list[Commit]:
        """Commits reachable from `rev`, newest first."""
        found: list[Commit] = []
        oid: str | None = self.resolve(rev)
        while oid is not None:
            found.append(self.commits[oid])
            oid = self.commits[oid].parent
        return found

    @property
    def commit_list(self) -> list[Commit]:
        """The history of main, newest first (the usual question in a test)."""
        return self.history("main")

    def copy(self) -> Repo:
        """A snapshot: commits are immutable, so copying the containers is enough."""
        snapshot = copy.copy(self)
        for name in ("commits", "branches", "tags", "tag_messages"):
            setattr(snapshot, name, dict(getattr(self, name)))
        return snapshot

    def to_json(self) -> dict[str, Any]:
        return {
            "format": 1,
            "type": self.type,
            "id": self.id,
            "private": self.private,
            "gated": self.gated,
            "created": self.created,
            "branches": self.branches,
            "tags": self.tags,
            "tag_messages": self.tag_messages,
            "commits": {
                oid: {**asdict(c), "tree": {p: asdict(e) for p, e in c.tree.items()}} for oid, c in self.commits.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Repo:
        commits = {
            oid: Commit(**{**c, "tree": {p: Entry(**e) for p, e in c["tree"].items()}})
            for oid, c in data["commits"].items()
        }
        return cls(
            type=data["type"],
            id=data["id"],
            private=data["private"],
            gated=data["gated"],
            created=data["created"],
            commits=commits,
            branches=data["branches"],
            tags=data["tags"],
            tag_messages=data.get("tag_messages", {}),
        )


@dataclass(frozen=True)
class Operation:
    """One line of a commit: `add` an entry at `path`, `delete` a file, or `delete_folder`."""

    kind: str
    path: str
    entry: Entry | None = None


def gitattributes() -> bytes:
    lines = [f"{pattern} filter=lfs diff=lfs merge=lfs -text" for pattern in LFS_PATTERNS]
    return ("\n".join(lines) + "\n").encode()


class Blobs:
    """Content-addressed files. Writers stream into a temporary file beside the store and move it
    into place only once its sha256 is known, so a reader never sees a partial blob."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "blobs"
        self.tmp = root / "tmp"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise HubError(400, f"not a sha256: {sha256!r}")
        return self.dir / sha256

    def size(self, sha256: str) -> int | None:
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def put(self, content: bytes) -> Entry:
        """Store `content` as a regular file's blob."""
        sha256 = hashlib.sha256(content).hexdigest()
        if self.size(sha256) != len(content):
            with self._temp() as (tmp, path):
                tmp.write(content)
                tmp.close()
                os.replace(path, self.path(sha256))
        return Entry(size=len(content), sha256=sha256, oid=git_blob_sha1(content), lfs=False)

    def receive(self, chunks: Iterator[bytes], *, sha256: str, size: int) -> None:
        """Store a streamed upload if it has exactly `size` bytes with digest `sha256`."""
        digest, received = hashlib.sha256(), 0
        with self._temp() as (tmp, path):
            for chunk in chunks:
                digest.update(chunk)
                received += len(chunk)
                tmp.write(chunk)
            tmp.close()
            if received != size:
                raise HubError(400, f"received {received} bytes, the upload was announced with {size}")
            if digest.hexdigest() != sha256:
                raise HubError(400, f"content does not match its oid: sha256 is {digest.hexdigest()}, not {sha256}")
            os.replace(path, self.path(sha256))

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def _temp(self) -> _TempFile:
        return _TempFile(self.tmp)


class _TempFile:
    """A named temporary file that is removed on exit unless it was moved away."""

    def __init__(self, directory: Path) -> None:
        fd, name = tempfile.mkstemp(dir=directory)
        self.file: IO[bytes] = os.fdopen(fd, "wb")
        self.path = Path(name)

    def __enter__(self) -> tuple[IO[bytes], Path]:
        return self.file, self.path

    def __exit__(self, *exc: object) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


class Store:
    """All repos, kept in memory and written through to disk. `lock` serialises every change, and
    readers take it too so that they never see a half-applied one."""

    def __init__(self, root: Path, *, user: str) -> None:
        self.root = root
        self.user = user
        self.lock = threading.RLock()
        shutil.rmtree(root / "tmp", ignore_errors=True)  # uploads cut short by a crash (one server per root)
        self.blobs = Blobs(root)
        self.repos: dict[tuple[str, str], Repo] = {}
        for path in sorted((root / "repos").glob("*/*/*.json")):
            repo = Repo.from_json(json.loads(path.read_text()))
            self.repos[(repo.type, repo.id)] = repo

    def get(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    def create(self, repo_type: str, repo_id: str, *, private: bool) -> Repo:
        """A new repo whose first commit holds a `.gitattributes`, like the Hub's."""
        check_repo_id(repo_id)
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                raise HubError(409, "You already created this repo")
            date = now_iso()
            repo = Repo(type=repo_type, id=repo_id, private=private, gated=False, created=date)
            entry = self.blobs.put(gitattributes())
            first = self._new_commit(repo, None, {".gitattributes": entry}, "initial commit", "", date)
            repo.commits[first.oid] = first
            repo.branches["main"] = first.oid
            self.repos[(repo_type, repo_id)] = repo
            self.save(repo)
            return repo

    def delete(self, repo_type: str, repo_id: str) -> None:
        with self.lock:
            self.get(repo_type, repo_id)
            del self.repos[(repo_type, repo_id)]
            self._file(repo_type, repo_id).unlink(missing_ok=True)

    def commit(
        self, repo: Repo, branch: str, operations: list[Operation], *, title: str, message: str, parent: str | None
    ) -> Commit:
        """Apply `operations` on top of `branch`. A commit is made even when the tree does not change,
        as the Hub does (huggingface_hub skips unchanged files on its side, not the server)."""
        with self.lock:
            if branch not in repo.branches:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            head = repo.branches[branch]
            if parent is not None and parent != head:
                raise HubError(412, f"A commit has happened since. Please refresh and try again. (head is {head})")
            tree = dict(repo.commits[head].tree)
            for op in operations:
                _apply(tree, op)
            _check_no_file_dir_clash(tree)
            new = self._new_commit(repo, head, tree, title, message, now_iso())
            repo.commits[new.oid] = new
            repo.branches[branch] = new.oid
            self.save(repo)
            return new

    def save(self, repo: Repo) -> None:
        path = self._file(repo.type, repo.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.blobs._temp() as (tmp, tmp_path):
            tmp.write(json.dumps(repo.to_json(), sort_keys=True).encode())
            tmp.flush()
            os.fsync(tmp.fileno())
            tmp.close()
            os.replace(tmp_path, path)

    def reset(self) -> None:
        with self.lock:
            self.repos.clear()
            for name in ("repos", "blobs", "tmp"):
                shutil.rmtree(self.root / name, ignore_errors=True)
            self.blobs = Blobs(self.root)

    def _file(self, repo_type: str, repo_id: str) -> Path:
        namespace, name = check_repo_id(repo_id)
        return self.root / "repos" / repo_type / namespace / f"{name}.json"

    def _new_commit(
        self, repo: Repo, parent: str | None, tree: dict[str, Entry], title: str, message: str, date: str
    ) -> Commit:
        canonical = {
            "repo": f"{repo.type}/{repo.id}",
            "parent": parent,
            "tree": {p: e.oid for p, e in sorted(tree.items())},
            "title": title,
            "message": message,
            "date": date,
            "author": self.user,
        }
        oid = hashlib.sha1(json.dumps(canonical, sort_keys=True).encode()).hexdigest()  # noqa: S324 - an id, like git's
        return Commit(oid, parent, title, message, date, self.user, tree)


def _apply(tree: dict[str, Entry], op: Operation) -> None:
    if op.entry is not None:
        tree[op.path] = op.entry
    elif op.kind == "delete":
        if tree.pop(op.path, None) is None:
            raise HubError(404, f"A file with this name doesn't exist: {op.path}", "EntryNotFound")
    else:
        prefix = op.path.rstrip("/") + "/"
        inside = [p for p in tree if p.startswith(prefix)]
        if not inside:
            raise HubError(404, f"A folder with this name doesn't exist: {op.path}", "EntryNotFound")
        for path in inside:
            del tree[path]


def _check_no_file_dir_clash(tree: dict[str, Entry]) -> None:
    for path in tree:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in tree:
                raise HubError(400, f"'{path}' needs '{parent}' to be a folder, but it is a file")
