"""Outbound HTTP for webhooks, safe against server-side request forgery.

A webhook URL is chosen by a member, so a careless client would let it make the worker POST to
Redis on loopback, a cloud metadata endpoint or anything else on the private network. Here every
hop is parsed (http or https only, no credentials), its host resolved once, and refused if any
address is not public unicast, unless it lies in WEBHOOK_ALLOWED_NETWORKS. The connection then goes
to the checked address itself, so a DNS answer that changes between check and connect (rebinding)
is never used; TLS is still verified against the host name. Only 307 and 308 are followed (they
keep the POST and its body), each re-checked. No environment proxies are used.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.client import HTTPException
from urllib.parse import urljoin, urlsplit

import structlog
import urllib3
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

log = structlog.get_logger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = {"http": 80, "https": 443}
FOLLOWED_STATUSES = frozenset({307, 308})
REFUSAL_HINT = (
    "webhooks are not sent to loopback, private, link-local or metadata addresses "
    "(an operator may allow a network in WEBHOOK_ALLOWED_NETWORKS)"
)

# Ranges that deserve a name of their own, or that `is_global` (Python 3.11) wrongly calls global.
# Checked in order, before the generic properties.
SPECIAL_NETWORKS: list[tuple[Network, str]] = [
    (ipaddress.ip_network(cidr), label)
    for cidr, label in (
        ("169.254.169.254/32", "a cloud metadata address (link-local)"),
        ("fd00:ec2::254/128", "a cloud metadata address (private)"),
        ("100.100.100.200/32", "a cloud metadata address (shared)"),
        ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
        ("0.0.0.0/8", "an unspecified ('this network') address"),
        ("192.0.0.0/24", "an IETF protocol assignment address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("2001:2::/48", "a benchmarking address"),
        ("192.0.2.0/24", "a documentation address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("2001:db8::/32", "a documentation address"),
        ("3fff::/20", "a documentation address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
    )
]
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class OutboundRefused(Exception):
    """The URL, or an address it resolves to, is not allowed. str(exc) is the clear reason."""


class OutboundFailed(Exception):
    """Sending failed: DNS failure, connection refused, timeout, TLS error, too many redirects...
    str(exc) is the reason."""


@dataclass(frozen=True)
class OutboundResponse:
    status_code: int
    latency_ms: int
    body_prefix: str  # at most WEBHOOK_RESPONSE_PREFIX_BYTES of the body, decoded utf-8 with errors="replace"
    url: str  # the URL that answered (after followed redirects)


@dataclass(frozen=True)
class Hop:
    """One checked request: the address to connect to and the name to present there."""

    url: str
    scheme: str
    host: str  # ASCII host name or IP literal, without brackets
    port: int
    target: str  # path and query, as sent in the request line
    address: str  # the checked IP the connection goes to

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, in the resolver's order, without duplicates."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise OutboundFailed(f"cannot resolve {host}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def url_check(url: str) -> None:
    """Refuse a webhook URL at save time: its scheme, host, port and every address it resolves to now."""
    allowed = allowed_networks()
    try:
        hop_check(url, allowed)
    except (OutboundRefused, OutboundFailed) as exc:
        log.warning("webhook.url_refused", reason=str(exc))
        raise OutboundRefused(str(exc)) from exc


def post(url: str, *, body: bytes, headers: Mapping[str, str]) -> OutboundResponse:
    """POST `body` with `headers` to `url`, following at most WEBHOOK_MAX_REDIRECTS 307/308s. Any
    answer is a response (the caller judges the status); refusals and failures raise."""
    allowed = allowed_networks()
    try:
        return _post(url, body=body, headers=headers, allowed=allowed)
    except OutboundRefused as exc:
        log.warning("webhook.outbound_refused", reason=str(exc))
        raise
    except OutboundFailed as exc:
        log.warning("webhook.outbound_failed", reason=str(exc))
        raise


def _post(url: str, *, body: bytes, headers: Mapping[str, str], allowed: Sequence[Network]) -> OutboundResponse:
    timeout = float(settings.WEBHOOK_TIMEOUT_SECONDS)
    max_redirects = int(settings.WEBHOOK_MAX_REDIRECTS)
    limit = int(settings.WEBHOOK_RESPONSE_PREFIX_BYTES)
    started = time.monotonic()
    hop = hop_check(url, allowed)
    redirects = 0
    while True:
        status, location, prefix = _exchange(hop, body=body, headers=headers, timeout=timeout, limit=limit)
        if location is None:
            return OutboundResponse(
                status_code=status,
                latency_ms=round((time.monotonic() - started) * 1000),
                body_prefix=prefix.decode("utf-8", errors="replace"),
                url=hop.url,
            )
        if redirects == max_redirects:
            raise OutboundFailed(f"{display(url)} redirected more than {max_redirects} times (WEBHOOK_MAX_REDIRECTS)")
        redirects += 1
        hop = _redirect_check(hop, urljoin(hop.url, location), allowed)


def allowed_networks() -> list[Network]:
    """settings.WEBHOOK_ALLOWED_NETWORKS, parsed now (so tests and operators can change it)."""
    networks: list[Network] = []
    for entry in settings.WEBHOOK_ALLOWED_NETWORKS:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"WEBHOOK_ALLOWED_NETWORKS has {entry!r}, which is not a network: {exc}"
            ) from exc
    return networks


def display(url: str) -> str:
    """The scheme, host and port of `url`, for reasons and logs: paths and queries can carry secrets."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "a malformed URL"
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/"


def hop_check(url: str, allowed: Sequence[Network]) -> Hop:
    """Parse `url`, resolve its host once and check every address; the hop connects to the first."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"the URL is malformed ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        named = f"the scheme {scheme!r}" if scheme else "a URL without a scheme"
        raise OutboundRefused(f"{named} is not allowed; webhooks are sent only over http or https")
    if parts.username is not None or parts.password is not None:
        raise OutboundRefused(
            "the URL carries credentials (user:password@), which would leak into logs; "
            "receivers authenticate webhooks by their signature"
        )
    if not parts.hostname:
        raise OutboundRefused("the URL has no host")
    if port == 0:
        raise OutboundRefused("the URL has a malformed port (0)")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise OutboundRefused(f"the host {parts.hostname!r} is not a valid host name ({exc})") from exc
    port = port or DEFAULT_PORTS[scheme]
    addresses = resolve(host, port)
    if not addresses:
        raise OutboundFailed(f"cannot resolve {host}: no addresses")
    for address in addresses:
        label = address_refusal(ipaddress.ip_address(address), allowed)
        if label is not None:
            # A name's answer is not echoed: the reason reaches members, who must not map internal DNS.
            what = f"{address}, {label}" if _literal(host) else label
            raise OutboundRefused(f"{display(url)} resolves to {what}; {REFUSAL_HINT}")
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return Hop(url=url, scheme=scheme, host=host, port=port, target=target, address=addresses[0])


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _redirect_check(previous: Hop, url: str, allowed: Sequence[Network]) -> Hop:
    try:
        return hop_check(url, allowed)
    except OutboundRefused as exc:
        raise OutboundRefused(
            f"the redirect from {display(previous.url)} to {display(url)} was refused: {exc}"
        ) from exc
    except OutboundFailed as exc:
        raise OutboundFailed(f"the redirect from {display(previous.url)} to {display(url)} failed: {exc}") from exc


def address_refusal(ip: IPAddress, allowed: Sequence[Network]) -> str | None:
    """None when `ip` may be contacted, else what it is ("a loopback address")."""
    if any(ip in network for network in allowed):
        return None
    if isinstance(ip, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(ip)) is not None:
        kind, ipv4 = embedded
        inner = address_refusal(ipv4, allowed)
        return None if inner is None else f"{kind} of {ipv4}, {inner}"
    for network, label in SPECIAL_NETWORKS:
        if ip in network:
            return label
    checks = (
        (ip.is_loopback, "a loopback address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "a site-local address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "a special-purpose (not globally reachable) address"),
    )
    return next((label for hit, label in checks if hit), None)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 form carries, which is where a packet to it ends up."""
    if ip.ipv4_mapped is not None:
        return "an IPv4-mapped address", ip.ipv4_mapped
    if ip.sixtofour is not None:
        return "a 6to4 address", ip.sixtofour
    if ip in NAT64:
        return "a NAT64 address", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in IPV4_COMPATIBLE and int(ip) > 1:  # :: and ::1 are unspecified and loopback
        return "an IPv4-compatible address", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _exchange(
    hop: Hop, *, body: bytes, headers: Mapping[str, str], timeout: float, limit: int
) -> tuple[int, str | None, bytes]:
    """One POST to the checked address: (status, Location of a followed redirect or None, body prefix)."""
    pool = _pool(hop, timeout)
    sent = {name: value for name, value in headers.items() if name.lower() != "host"}
    sent["Host"] = hop.host_header
    try:
        response = pool.urlopen(
            "POST",
            hop.target,
            body=body,
            headers=sent,
            retries=False,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
        )
        try:
            location = response.headers.get("Location") if response.status in FOLLOWED_STATUSES else None
            prefix = b"" if location is not None else _read_prefix(response, limit, time.monotonic() + timeout)
        finally:
            response.close()  # drops the connection without reading the rest
    except (urllib3.exceptions.HTTPError, HTTPException, OSError) as exc:
        raise OutboundFailed(_failure_reason(hop, exc, timeout)) from exc
    finally:
        pool.close()
    return response.status, location, prefix


def _pool(hop: Hop, timeout: float) -> urllib3.HTTPConnectionPool:
    timeouts = urllib3.Timeout(connect=timeout, read=timeout)
    if hop.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            hop.address,
            hop.port,
            timeout=timeouts,
            retries=False,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",  # against the system's CA certificates
            server_hostname=hop.host,
            assert_hostname=hop.host,
        )
    return urllib3.HTTPConnectionPool(hop.address, hop.port, timeout=timeouts, retries=False, maxsize=1)


def _read_prefix(response: urllib3.BaseHTTPResponse, limit: int, deadline: float) -> bytes:
    """At most `limit` bytes of the body. Stops at the deadline too, so a receiver that dribbles
    its answer holds the worker for one read timeout past it at most."""
    prefix = bytearray()
    while len(prefix) < limit and time.monotonic() < deadline:
        chunk = response.read1(limit - len(prefix), decode_content=False)
        if not chunk:
            break
        prefix += chunk
    return bytes(prefix)


def _failure_reason(hop: Hop, exc: Exception, timeout: float) -> str:
    where = f"{display(hop.url)} ({hop.address})"
    if isinstance(exc, urllib3.exceptions.NewConnectionError):  # a subclass of ConnectTimeoutError
        return f"cannot connect to {where}: {exc.__cause__ or exc}"
    if isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError):
        return f"{where} timed out (WEBHOOK_TIMEOUT_SECONDS={timeout:g})"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return f"TLS with {where} failed: {exc.__cause__ or exc}"
    return f"the request to {where} failed: {exc}"
