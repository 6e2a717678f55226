"""The webhook HTTP client against real sockets on loopback: 127.0.0.1 plays the host's own
services (which must never be reached), 127.0.0.2 a receiver the operator allowed."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import ImproperlyConfigured

from jobs.webhooks import outbound
from jobs.webhooks.outbound import OutboundFailed, OutboundRefused

RECEIVER = "127.0.0.2"
HEADERS = {"Content-Type": "application/json", "X-Consortium-Signature": "t=1,v1=abc"}
BODY = b'{"event": "version.published"}'


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Receiver:
    """An HTTP server that records each request and answers with `respond(path)`."""

    server: http.server.ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/hook", scheme: str = "http") -> str:
        return f"{scheme}://{RECEIVER}:{self.port}{path}"


class Listener:
    """A bare listening socket standing for a loopback service; `touched()` says whether anyone connected."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sock = socket.create_server((host, port))
        self.port = int(self.sock.getsockname()[1])

    def touched(self) -> bool:
        return bool(select.select([self.sock], [], [], 0.1)[0])


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """The client hangs up after the prefix or on a failed TLS handshake, by design."""


@pytest.fixture
def serve() -> Iterator[Callable[..., Receiver]]:
    """serve(respond, tls=None) → a Receiver on 127.0.0.2, stopped after the test."""
    servers: list[QuietServer] = []

    def start(respond: Callable[[str], Answer], tls: ssl.SSLContext | None = None) -> Receiver:
        receiver: Receiver

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                status, headers, answer = respond(self.path)
                self.send_response(status)
                for name, value in {"Content-Length": str(len(answer)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = QuietServer((RECEIVER, 0), Handler)
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        receiver = Receiver(server)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return receiver

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    sock = Listener()
    yield sock
    sock.sock.close()


@pytest.fixture
def allow_receiver(settings: Any) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = [f"{RECEIVER}/32"]


def ok(path: str) -> Answer:
    return 200, {}, b"ok"


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Make `outbound.resolve` answer for the named hosts (the real resolver for the rest); returns
    the hosts asked for, in order."""
    asked: list[str] = []
    real = outbound.resolve

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[host] if host in answers else real(host, port)

    monkeypatch.setattr(outbound, "resolve", resolve)
    return asked


SSRF_CORPUS = [
    ("http://127.0.0.1:{port}/", ["127.0.0.1", "a loopback address", "WEBHOOK_ALLOWED_NETWORKS"]),
    ("http://[::1]:{port}/", ["::1", "a loopback address"]),
    ("http://10.0.0.5/", ["10.0.0.5", "a private address"]),
    ("http://169.254.169.254/latest/meta-data/", ["169.254.169.254", "metadata"]),
    ("http://100.100.100.200/", ["100.100.100.200", "metadata"]),
    ("http://100.64.1.1/", ["100.64.1.1", "shared"]),
    ("http://0.0.0.0/", ["0.0.0.0", "unspecified"]),  # noqa: S104 (a URL, not a bind)
    ("http://2130706433/", ["http://2130706433/ resolves to a loopback address"]),
    ("http://[::ffff:127.0.0.1]/", ["IPv4-mapped", "127.0.0.1", "loopback"]),
    ("http://[64:ff9b::a00:5]/", ["NAT64", "10.0.0.5", "private"]),
    ("http://[2002:a9fe:a9fe::]/", ["6to4", "169.254.169.254", "metadata"]),
    ("http://[fd12::1]/", ["fd12::1", "private"]),
    ("http://224.0.0.1/", ["multicast"]),
    ("http://localhost:{port}/", ["http://localhost:", "loopback"]),
    ("http://intranet.example/", ["resolves to a private address"]),
    ("file:///etc/passwd", ["scheme 'file'", "http or https"]),
    ("gopher://127.0.0.1:6379/_INFO", ["scheme 'gopher'"]),
    ("ftp://x/", ["scheme 'ftp'"]),
    ("http://user:pw@example.com/", ["credentials"]),
    ("http://example.com:99999/", ["malformed", "Port"]),
    ("http:///hook", ["no host"]),
]


@pytest.mark.parametrize(("template", "expected"), SSRF_CORPUS)
def test_ssrf_corpus_is_refused_by_url_check_and_post(
    template: str, expected: list[str], listener: Listener, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    fake_dns(monkeypatch, {"intranet.example": ["93.184.215.14", "192.168.1.10"]})  # any bad answer refuses
    url = template.format(port=listener.port)
    with pytest.raises(OutboundRefused) as checked:
        outbound.url_check(url)
    with pytest.raises(OutboundRefused) as posted:
        outbound.post(url, body=BODY, headers=HEADERS)
    for reason in (str(checked.value), str(posted.value)):
        for part in expected:
            assert part in reason
        assert "pw" not in reason
        assert "192.168.1.10" not in reason, "a name's DNS answer is never echoed to members"
    assert not listener.touched()


@pytest.mark.parametrize(
    "address",
    ["93.184.215.14", "2606:2800:21f:cb07::1", "::ffff:93.184.215.14", "2002:5db8:d70e::", "64:ff9b::5db8:d70e"],
)
def test_public_addresses_pass_url_check(address: str, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    fake_dns(monkeypatch, {"hooks.example": [address]})
    outbound.url_check("https://hooks.example/in?x=1")


def test_url_check_refuses_a_name_that_does_not_resolve(settings: Any) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    with pytest.raises(OutboundRefused, match=r"cannot resolve nowhere\.invalid"):
        outbound.url_check("https://nowhere.invalid/")


def test_an_allowed_network_admits_its_addresses_only(settings: Any) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = ["10.1.0.0/16", "fd00::1"]
    networks = outbound.allowed_networks()
    assert outbound.address_refusal(ipaddress.ip_address("10.1.200.3"), networks) is None
    assert outbound.address_refusal(ipaddress.ip_address("::ffff:10.1.0.1"), networks) is None
    assert outbound.address_refusal(ipaddress.ip_address("fd00::1"), networks) is None
    assert outbound.address_refusal(ipaddress.ip_address("10.2.0.1"), networks) == "a private address"


def test_malformed_allowed_network_is_improperly_configured(settings: Any) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.2/32", "10.0.0.0/33"]
    with pytest.raises(ImproperlyConfigured, match=r"WEBHOOK_ALLOWED_NETWORKS has '10\.0\.0\.0/33'"):
        outbound.url_check("http://127.0.0.2/")
    with pytest.raises(ImproperlyConfigured, match=r"'10\.0\.0\.0/33'"):
        outbound.post("http://127.0.0.2/", body=BODY, headers=HEADERS)


def test_post_to_an_allowed_receiver_arrives_exactly(serve: Callable[..., Receiver], allow_receiver: None) -> None:
    receiver = serve(ok)
    response = outbound.post(receiver.url("/hook?id=7"), body=BODY, headers=HEADERS)
    assert (response.status_code, response.body_prefix, response.url) == (200, "ok", receiver.url("/hook?id=7"))
    assert response.latency_ms >= 0
    [got] = receiver.received
    assert (got.path, got.body) == ("/hook?id=7", BODY)
    assert got.headers["Host"] == f"{RECEIVER}:{receiver.port}"
    for name, value in HEADERS.items():
        assert got.headers[name] == value


def test_307_is_followed_with_the_body(serve: Callable[..., Receiver], allow_receiver: None) -> None:
    receiver = serve(lambda path: (307, {"Location": "/moved"}, b"") if path == "/hook" else ok(path))
    response = outbound.post(receiver.url(), body=BODY, headers=HEADERS)
    assert (response.status_code, response.url) == (200, receiver.url("/moved"))
    assert [(got.path, got.body) for got in receiver.received] == [("/hook", BODY), ("/moved", BODY)]


def test_302_is_returned_not_followed(serve: Callable[..., Receiver], allow_receiver: None) -> None:
    receiver = serve(lambda path: (302, {"Location": "/elsewhere"}, b"moved"))
    response = outbound.post(receiver.url(), body=BODY, headers=HEADERS)
    assert (response.status_code, response.body_prefix) == (302, "moved")
    assert [got.path for got in receiver.received] == ["/hook"]


def test_too_many_redirects_fail(serve: Callable[..., Receiver], allow_receiver: None, settings: Any) -> None:
    settings.WEBHOOK_MAX_REDIRECTS = 2
    receiver = serve(lambda path: (308, {"Location": "/hook"}, b""))
    with pytest.raises(OutboundFailed, match="redirected more than 2 times"):
        outbound.post(receiver.url(), body=BODY, headers=HEADERS)
    assert len(receiver.received) == 3


def test_redirect_to_loopback_is_refused(
    serve: Callable[..., Receiver], allow_receiver: None, listener: Listener
) -> None:
    receiver = serve(lambda path: (307, {"Location": f"http://127.0.0.1:{listener.port}/"}, b""))
    with pytest.raises(OutboundRefused) as refused:
        outbound.post(receiver.url(), body=BODY, headers=HEADERS)
    assert f"the redirect from {receiver.url('/')} to http://127.0.0.1:{listener.port}/ was refused" in str(
        refused.value
    )
    assert "a loopback address" in str(refused.value)
    assert len(receiver.received) == 1
    assert not listener.touched()


def test_dns_rebinding_cannot_move_the_connection(
    serve: Callable[..., Receiver], allow_receiver: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = serve(ok)
    local = Listener("127.0.0.1", receiver.port)  # where a second lookup would send the request
    try:
        asked: list[str] = []
        real = outbound.resolve

        def rebinding(host: str, port: int) -> list[str]:
            if host != "rebind.example":
                return real(host, port)
            asked.append(host)
            return [RECEIVER] if len(asked) == 1 else ["127.0.0.1"]

        monkeypatch.setattr(outbound, "resolve", rebinding)
        response = outbound.post(f"http://rebind.example:{receiver.port}/hook", body=BODY, headers=HEADERS)
        assert response.status_code == 200
        [got] = receiver.received
        assert (got.headers["Host"], got.body) == (f"rebind.example:{receiver.port}", BODY)
        assert asked == ["rebind.example"]
        assert not local.touched()
    finally:
        local.sock.close()


def test_body_prefix_is_cut_at_the_setting(serve: Callable[..., Receiver], allow_receiver: None, settings: Any) -> None:
    settings.WEBHOOK_RESPONSE_PREFIX_BYTES = 100
    receiver = serve(lambda path: (500, {}, b"x" * 1_000_000))
    response = outbound.post(receiver.url(), body=BODY, headers=HEADERS)
    assert (response.status_code, response.body_prefix) == (500, "x" * 100)


def test_silent_receiver_times_out(allow_receiver: None, settings: Any) -> None:
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    silent = Listener(RECEIVER)  # the kernel accepts the connection; nobody ever answers
    try:
        started = time.monotonic()
        with pytest.raises(OutboundFailed, match="timed out"):
            outbound.post(f"http://{RECEIVER}:{silent.port}/", body=BODY, headers=HEADERS)
        assert time.monotonic() - started < 3
    finally:
        silent.sock.close()


def test_refused_connection_fails(allow_receiver: None) -> None:
    closed = Listener(RECEIVER)
    closed.sock.close()
    with pytest.raises(OutboundFailed, match="cannot connect"):
        outbound.post(f"http://{RECEIVER}:{closed.port}/", body=BODY, headers=HEADERS)


def self_signed_tls(tmp_path: Path) -> ssl.SSLContext:
    """A server context whose certificate names 127.0.0.2 correctly but is signed by nobody trusted."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, RECEIVER)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(RECEIVER))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


def test_tls_certificates_are_verified(serve: Callable[..., Receiver], allow_receiver: None, tmp_path: Path) -> None:
    receiver = serve(ok, tls=self_signed_tls(tmp_path))
    with pytest.raises(OutboundFailed, match="certificate") as failed:
        outbound.post(receiver.url(scheme="https"), body=BODY, headers=HEADERS)
    assert "TLS" in str(failed.value)
    assert receiver.received == []
