"""Pages for people: the repo list, a repo, a commit and a tree, so whoever runs `make run` can
watch publication land without Hub credentials. Server-rendered, no JavaScript, and every piece of
repo content (card text, paths, commit messages) is escaped: it comes from users."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from consortium.devhub import cards
from consortium.devhub.api import PREFIXED, listing
from consortium.devhub.store import Commit, Entry, HubError, Repo
from consortium.devhub.wire import Request, Response, html_response

if TYPE_CHECKING:
    from consortium.devhub.server import DevHub

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;max-width:64rem;margin:1.5rem auto;padding:0 1rem;color:#222}
a{color:#0b5cad;text-decoration:none}a:hover{text-decoration:underline}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
td,th{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #e5e5e5;vertical-align:top}
code,pre{font:13px/1.4 ui-monospace,monospace}
pre{background:#f6f6f6;padding:.75rem;white-space:pre-wrap;overflow-wrap:anywhere}
.badge{display:inline-block;border:1px solid #bbb;border-radius:.6rem;padding:0 .5rem;font-size:12px;margin-left:.3rem}
.muted{color:#777}.added{color:#17752a}.deleted{color:#b3261e}.modified{color:#8a5a00}
"""


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)} · local Hub</title>"
        f"<style>{_STYLE}</style></head><body><p class=muted><a href='/'>local Hub</a></p>{body}</body></html>"
    )


def _href(*parts: str) -> str:
    """A link from URL-safe parts: pass paths through `_path` and revisions through `_rev`."""
    return escape("/" + "/".join(parts), quote=True)


def _path(path: str) -> str:
    return quote(path, safe="/")


def _rev(rev: str) -> str:
    return quote(rev, safe="")


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def _badges(repo: Repo) -> str:
    badges = [repo.type, "private" if repo.private else "public"]
    if repo.gated:
        badges.append(f"gated: {repo.gated}")
    return "".join(f"<span class=badge>{escape(str(b))}</span>" for b in badges)


def _readme(hub: DevHub, tree: dict[str, Entry]) -> str:
    entry = tree.get("README.md")
    if entry is None:
        return "<p class=muted>No README.md.</p>"
    text = hub.store.blobs.read(entry.sha256)[: 512 * 1024].decode("utf-8", "replace")
    front, body = cards.split(text)
    parts = ["<h2>README.md</h2>"]
    if front is not None:
        parts.append(f"<p class=muted>Metadata (YAML front matter)</p><pre><code>{escape(front)}</code></pre>")
    parts.append(f"<pre>{escape(body.strip())}</pre>")
    return "".join(parts)


def _note(message: str) -> str:
    return f" <span class=muted>{escape(message)}</span>" if message else ""


def _visible(hub: DevHub, req: Request, repo: Repo) -> bool:
    return not repo.private or bool(req.authorized) or hub.show_private_pages


def _repo(hub: DevHub, req: Request, p: str | None, ns: str, name: str) -> Repo:
    repo = hub.store.get(PREFIXED[p], f"{unquote(ns)}/{unquote(name)}")
    if not _visible(hub, req, repo):
        raise HubError(404, "Repository not found", "RepoNotFound")
    return repo


def _commit_row(repo: Repo, commit: Commit) -> str:
    link = _href(repo.url_path, "commit", commit.oid)
    return (
        f"<tr><td><a href='{link}'><code>{commit.oid[:10]}</code></a></td><td>{escape(commit.title)}</td>"
        f"<td class=muted>{escape(commit.author)}</td><td class=muted>{escape(commit.date)}</td></tr>"
    )


def index(hub: DevHub, req: Request) -> Response:
    repos = sorted(hub.store.repos.values(), key=lambda r: (r.type, r.id))
    shown = [r for r in repos if _visible(hub, req, r)]
    rows = "".join(
        f"<tr><td><a href='{_href(r.url_path)}'>{escape(r.id)}</a>{_badges(r)}</td>"
        f"<td class=muted>{escape(r.commits[r.branches['main']].date)}</td></tr>"
        for r in shown
    )
    hidden = len(repos) - len(shown)
    note = f"<p class=muted>{hidden} private repo(s) hidden: they need the token.</p>" if hidden else ""
    body = f"<h1>Repositories</h1><table><tr><th>repo</th><th>last commit</th></tr>{rows}</table>{note}"
    return html_response(_page("Repositories", body if repos else "<h1>Repositories</h1><p>None yet.</p>"))


def repo_page(hub: DevHub, req: Request, p: str | None, ns: str, name: str) -> Response:
    repo = _repo(hub, req, p, ns, name)
    head = repo.commits[repo.branches["main"]]
    files = "".join(
        f"<tr><td><a href='{_href(repo.url_path, 'resolve', head.oid, _path(path))}'>{escape(path)}</a></td>"
        f"<td>{_size(e.size)}</td><td class=muted>{'LFS' if e.lfs else ''}</td></tr>"
        for path, e in sorted(head.tree.items())
    )
    refs = "".join(
        f"<tr><td>{kind} <b>{escape(ref)}</b>{_note(repo.tag_messages.get(ref, '') if kind == 'tag' else '')}</td>"
        f"<td><a href='{_href(repo.url_path, 'commit', oid)}'><code>{oid[:10]}</code></a> "
        f"{escape(repo.commits[oid].title)}</td></tr>"
        for kind, names in (("branch", repo.branches), ("tag", repo.tags))
        for ref, oid in sorted(names.items())
    )
    history = "".join(_commit_row(repo, c) for c in repo.history("main"))
    body = (
        f"<h1>{escape(repo.id)}{_badges(repo)}</h1>"
        f"<h2>Files at <a href='{_href(repo.url_path, 'tree', 'main')}'>main</a></h2><table>{files}</table>"
        f"<h2>Branches and tags</h2><table>{refs}</table>"
        f"{_readme(hub, head.tree)}"
        f"<h2>History of main</h2><table>{history}</table>"
    )
    return html_response(_page(repo.id, body))


def commit_page(hub: DevHub, req: Request, p: str | None, ns: str, name: str, oid: str) -> Response:
    repo = _repo(hub, req, p, ns, name)
    commit = repo.commits[repo.resolve(unquote(oid))]
    before = repo.commits[commit.parent].tree if commit.parent else {}
    changes = []
    for path in sorted(set(before) | set(commit.tree)):
        old, new = before.get(path), commit.tree.get(path)
        if old == new:
            continue
        kind = "added" if old is None else "deleted" if new is None else "modified"
        size = _size(new.size) if new else ""
        changes.append(f"<tr><td class={kind}>{kind}</td><td>{escape(path)}</td><td>{size}</td></tr>")
    parent = (
        f"<a href='{_href(repo.url_path, 'commit', commit.parent)}'><code>{commit.parent[:10]}</code></a>"
        if commit.parent
        else "none"
    )
    tags = ", ".join(escape(t) for t, o in sorted(repo.tags.items()) if o == commit.oid) or "none"
    body = (
        f"<p><a href='{_href(repo.url_path)}'>{escape(repo.id)}</a>{_badges(repo)}</p>"
        f"<h1>{escape(commit.title)}</h1><pre>{escape(commit.message) or '(no description)'}</pre>"
        f"<p>commit <code>{commit.oid}</code> by {escape(commit.author)} on {escape(commit.date)}; "
        f"parent {parent}; tags: {tags}; <a href='{_href(repo.url_path, 'tree', commit.oid)}'>browse files</a></p>"
        f"<h2>Changes</h2><table>{''.join(changes) or '<tr><td>no file changed</td></tr>'}</table>"
        f"{_readme(hub, commit.tree)}"
    )
    return html_response(_page(f"{repo.id} {commit.oid[:10]}", body))


def tree_page(
    hub: DevHub, req: Request, p: str | None, ns: str, name: str, rev: str, path: str | None = None
) -> Response:
    repo = _repo(hub, req, p, ns, name)
    revision = unquote(rev)
    oid = repo.resolve(revision)
    base = unquote(path or "").strip("/")
    rows = []
    for item in listing(repo.commits[oid].tree, base, recursive=False):
        if item["type"] == "directory":
            link, size = _href(repo.url_path, "tree", _rev(revision), _path(item["path"])), "folder"
        else:
            link, size = _href(repo.url_path, "resolve", oid, _path(item["path"])), _size(item["size"])
        rows.append(f"<tr><td><a href='{link}'>{escape(item['path'])}</a></td><td>{size}</td></tr>")
    body = (
        f"<p><a href='{_href(repo.url_path)}'>{escape(repo.id)}</a>{_badges(repo)}</p>"
        f"<h1>{escape(revision)}{escape(' / ' + base) if base else ''}</h1>"
        f"<p>at commit <a href='{_href(repo.url_path, 'commit', oid)}'><code>{oid[:10]}</code></a></p>"
        f"<table>{''.join(rows)}</table>"
    )
    return html_response(_page(f"{repo.id} {revision}", body))
