"""The socket side of the local Hub: routing, faults, the request log and the DevHub object that
tests and `make run` start. Stdlib only (`ThreadingHTTPServer` on HTTP/1.1 with keep-alive)."""

from __future__ import annotations

import contextlib
import re
import secrets
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from consortium.devhub import api, downloads, pages, uploads
from consortium.devhub.faults import Fault, Faults, RequestLog
from consortium.devhub.store import HubError, Repo, Store
from consortium.devhub.wire import CHUNK, Request, Response, error_response

_T = r"(?P<t>models|datasets|spaces)"
_P = r"(?:(?P<p>datasets|spaces)/)?"
_ID = r"(?P<ns>[^/]+)/(?P<name>[^/?]+?)"
_SEG = r"[^/]+"

Handler = Callable[..., Response]
# (methods, path pattern, handler, holds the store lock while handling). The commit, the LFS upload
# and validate-yaml stream or parse first and take the lock themselves when they need it.
_TABLE: list[tuple[str, str, Handler, bool]] = [
    ("GET", r"/api/whoami-v2", api.whoami, True),
    ("POST", r"/api/repos/create", api.repo_create, True),
    ("DELETE", r"/api/repos/delete", api.repo_delete, True),
    ("POST", r"/api/validate-yaml", api.validate_yaml, False),
    ("GET", rf"/api/{_T}/{_ID}", api.repo_info, True),
    ("GET", rf"/api/{_T}/{_ID}/revision/(?P<rev>{_SEG})", api.repo_info, True),
    ("PUT", rf"/api/{_T}/{_ID}/settings", api.repo_settings, True),
    ("GET", rf"/api/{_T}/{_ID}/tree/(?P<rev>{_SEG})(?:/(?P<path>.*))?", api.repo_tree, True),
    ("POST", rf"/api/{_T}/{_ID}/paths-info/(?P<rev>{_SEG})", api.paths_info, True),
    ("GET", rf"/api/{_T}/{_ID}/refs", api.refs, True),
    ("GET", rf"/api/{_T}/{_ID}/commits/(?P<rev>{_SEG})", api.commits, True),
    ("POST", rf"/api/{_T}/{_ID}/preupload/(?P<rev>{_SEG})", uploads.preupload, True),
    ("POST", rf"/api/{_T}/{_ID}/commit/(?P<rev>{_SEG})", uploads.commit, False),
    ("POST", rf"/api/{_T}/{_ID}/tag/(?P<rev>{_SEG})", api.tag_create, True),
    ("DELETE", rf"/api/{_T}/{_ID}/tag/(?P<rev>{_SEG})", api.tag_delete, True),
    ("POST", rf"/api/{_T}/{_ID}/branch/(?P<branch>{_SEG})", api.branch_create, True),
    ("DELETE", rf"/api/{_T}/{_ID}/branch/(?P<branch>{_SEG})", api.branch_delete, True),
    ("POST", rf"/{_P}{_ID}\.git/info/lfs/objects/batch", uploads.lfs_batch, True),
    ("POST", rf"/{_P}{_ID}\.git/info/lfs/objects/verify", uploads.lfs_verify, True),
    ("PUT", r"/-/lfs/(?P<oid>[0-9a-f]{64})", uploads.lfs_put, False),
    ("GET HEAD", rf"/{_P}{_ID}/resolve/(?P<rev>{_SEG})/(?P<path>.+)", downloads.resolve, True),
    ("GET", r"/", pages.index, True),
    ("GET", rf"/{_P}{_ID}", pages.repo_page, True),
    ("GET", rf"/{_P}{_ID}/commit/(?P<oid>{_SEG})", pages.commit_page, True),
    ("GET", rf"/{_P}{_ID}/tree/(?P<rev>{_SEG})(?:/(?P<path>.*))?", pages.tree_page, True),
]
ROUTES = [(frozenset(m.split()), re.compile(pattern), handler, locked) for m, pattern, handler, locked in _TABLE]
UPLOAD_TTL = 3600.0


class DevHub:
    """A Hugging Face Hub stand-in that the real huggingface_hub client (Xet disabled) works against.

    State lives under `root` and survives restarts. Where the Hub's behaviour had to be chosen:
    - one user (`user`) with one `token`, which may write to any namespace (there are no orgs);
      reads of public repos need no token, private repos do not exist without it (404 RepoNotFound),
      and a gated repo's files need it (401 GatedRepo) while its info and listings stay public;
    - a commit whose tree equals its parent's is still made, as the Hub does: huggingface_hub
      itself drops unchanged files before committing (huggingface/huggingface_hub#1411);
    - files of 10 MiB or more, or named like weights, archives or tables (store.LFS_PATTERNS), go
      to LFS; the `.gitattributes` of the first commit mirrors that list and is not read back;
    - pull requests, Xet, multipart LFS transfers and LFS downloads are not implemented.
    Tests break it through `faults` and watch it through `requests`.
    """

    def __init__(
        self,
        root: Path,
        *,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        user: str = "devhub",
        show_private_pages: bool = False,
        echo: bool = False,
    ) -> None:
        if not token:
            raise ValueError("the local Hub needs a token")
        self.root, self.token, self.host, self.port = Path(root), token, host, port
        self.store = Store(self.root, user=user)
        self.faults = Faults()
        self.requests = RequestLog()
        self.page_size = 1000  # items per page of tree and commit listings; tests lower it
        self.show_private_pages = show_private_pages  # make run: the person at the keyboard owns the token
        self.echo = echo  # one line per request on stdout (the CLI)
        self._uploads: dict[str, tuple[str, int, float]] = {}
        self._uploads_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.bound_url = ""  # set by start(); unlike `url`, still readable while stopping

    # --- life cycle

    def start(self) -> DevHub:
        server = _Server((self.host, self.port), _handler_for(self))
        self._server = server
        self.port = server.server_address[1]
        self.bound_url = f"http://{f'[{self.host}]' if ':' in self.host else self.host}:{self.port}"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.name = f"devhub:{self.port}"
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the local Hub is not started")
        return self.bound_url

    def __enter__(self) -> DevHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- inspection for tests

    def repo(self, repo_type: str, repo_id: str) -> Repo | None:
        """A snapshot of a repo's state (settings, branches, tags, commits with trees), or None."""
        with self.store.lock:
            repo = self.store.repos.get((repo_type, repo_id))
            return repo.copy() if repo else None

    def read_file(self, repo_type: str, repo_id: str, path: str, revision: str = "main") -> bytes:
        with self.store.lock:
            entry = self.store.get(repo_type, repo_id).tree(revision)[path]
        return self.store.blobs.read(entry.sha256)

    def reset(self) -> None:
        """Forget every repo, blob, fault, upload link and logged request."""
        self.faults.clear()
        self.requests.clear()
        with self._uploads_lock:
            self._uploads.clear()
        self.store.reset()

    # --- LFS upload links

    def upload_token(self, oid: str, size: int) -> str:
        token = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._uploads_lock:
            for key in [k for k, (_, _, expires) in self._uploads.items() if expires < now]:
                del self._uploads[key]
            self._uploads[token] = (oid, size, now + UPLOAD_TTL)
        return token

    def upload_size(self, token: str, oid: str) -> int:
        with self._uploads_lock:
            planned = self._uploads.get(token)
        if planned is None or planned[0] != oid or planned[2] < time.monotonic():
            raise HubError(403, "this upload link is invalid, already used or expired: ask the LFS batch API again")
        return planned[1]

    def upload_done(self, token: str) -> None:
        with self._uploads_lock:
            self._uploads.pop(token, None)

    # --- requests

    def dispatch(self, req: Request) -> Response:
        try:
            if req.authorized is False:
                raise HubError(401, "Invalid credentials in Authorization header")
            for methods, pattern, handler, locked in ROUTES:
                match = pattern.fullmatch(req.path)
                if match is None or req.method not in methods:
                    continue
                params = match.groupdict()
                if not locked:
                    return handler(self, req, **params)
                with self.store.lock:
                    return handler(self, req, **params)
            raise HubError(404, f"the local Hub does not implement {req.method} {req.path}")
        except HubError as exc:
            return error_response(exc.status, exc.message, exc.code)

    def log(self, method: str, path: str, status: int | None, started: float) -> None:
        if self.echo:
            ms = (time.monotonic() - started) * 1000
            print(f"devhub method={method} path={path} status={status or 'dropped'} ms={ms:.1f}", flush=True)


class _Server(ThreadingHTTPServer):
    """Tracks open connections so that `stop()` also ends idle keep-alive ones."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def _handler_for(hub: DevHub) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass

    Handler.hub = hub
    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each answer waits ~40 ms for the client's delayed ACK
    server_version = "devhub"
    timeout = 120  # an idle keep-alive connection is closed after this long
    hub: DevHub

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # DevHub.log writes one structured line per request instead

    def _handle(self) -> None:
        hub, started = self.hub, time.monotonic()
        req = Request.parse(
            self.command, self.path, self.headers, self.rfile, fallback_base=hub.bound_url, token=hub.token
        )
        fault = hub.faults.take(req.method, req.path)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and not fault.after_apply and (fault.drop or fault.status is not None):
            response = None if fault.drop else _fault_response(fault)
        else:
            try:
                response = hub.dispatch(req)
            except Exception:  # a bug in the server: answer 500, keep serving
                traceback.print_exc(file=sys.stderr)
                response = error_response(500, "internal error in the local Hub (see its log)")
            if fault is not None and fault.after_apply and (fault.drop or fault.status is not None):
                response = None if fault.drop else _fault_response(fault)
        status = response.status if response is not None else None
        hub.requests.record(req.method, req.path, status)
        try:
            if response is None:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            else:
                if not req.body.finish():
                    self.close_connection = True
                self._send(response, head=req.method == "HEAD")
        except (ConnectionError, OSError):
            self.close_connection = True
        hub.log(req.method, req.path, status, started)

    def _send(self, response: Response, *, head: bool) -> None:
        length = response.length if response.file is not None else len(response.body)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if head:
            return
        if response.file is None:
            self.wfile.write(response.body)
            return
        with response.file.open("rb") as source:
            source.seek(response.offset)
            left = length
            while left > 0 and (data := source.read(min(CHUNK, left))):
                self.wfile.write(data)
                left -= len(data)


def _fault_response(fault: Fault) -> Response:
    status = fault.status or 500
    return error_response(status, fault.message or f"injected fault: {status}", fault.error_code)
