"""SSRF protection for every outbound HTTP request a connector makes.

:class:`GuardedTransport` wraps httpx's transport. For each request — the first one *and every
redirect hop*, since httpx sends each hop through the transport — it resolves the host once,
refuses the request if any resolved address is not a public unicast address (unless the
allowlist opens it), then connects to the vetted IP itself: the URL handed to the connection
pool carries the IP, while the ``Host`` header and the TLS SNI / certificate check keep the
original name. There is no second DNS lookup for a rebinding attack to race.

Refused: loopback (127/8, ::1), private (10/8, 172.16/12, 192.168/16), carrier-grade NAT
(100.64/10), link-local (169.254/16 including the 169.254.169.254 metadata address, fe80::/10),
unique-local fc00::/7, unspecified (0.0.0.0, ::), multicast, reserved and documentation ranges,
and IPv6 forms that embed an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible
``::a.b.c.d``, NAT64 ``64:ff9b::/96`` and ``64:ff9b:1::/48``, 6to4 ``2002::/16``) whose embedded
address is refused; Teredo is refused outright. Odd IPv4 spellings (``2130706433``,
``0x7f.0.0.1``, ``127.1``) are what the system resolver turns them into, so they are checked as
the address they name.

The allowlist (``FLOWWRIGHT_HTTP_ALLOW_HOSTS``, comma-separated) holds host names (exact, or
``*.example.com`` for sub-domains) whose every address is allowed, and IPs / CIDRs
(``127.0.0.1``, ``10.0.0.0/8``, ``fd00::/8``) that are allowed whatever name led there.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.errors import ConnectorError, SsrfBlockedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_COMPAT = ipaddress.IPv6Network("::/96")
_TEREDO = ipaddress.IPv6Network("2001::/32")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _NAT64) or (ip in _COMPAT and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why this address may not be reached (``None`` when it is a public unicast address)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        if ip in _TEREDO:
            return "a Teredo tunnel address"
        inner = embedded_ipv4(ip)
        if inner is not None:
            reason = blocked_reason(inner)
            return f"an IPv6 form of {inner}, {reason}" if reason else None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_link_local:
        return "a link-local address (this includes cloud metadata endpoints)"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.IPv6Network("fc00::/7"):
        return "a unique-local address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a reserved or non-public address"
    return None


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class SsrfPolicy:
    """What may be reached besides public addresses (the allowlist)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()
    enabled: bool = True
    resolve_timeout_s: float = 10.0

    @classmethod
    def parse(cls, entries: str | Iterable[str] | None, *, enabled: bool = True) -> SsrfPolicy:
        """Parse allowlist entries: host names, ``*.suffix``, IP addresses or CIDRs."""
        if entries is None:
            items: list[str] = []
        elif isinstance(entries, str):
            items = entries.split(",")
        else:
            items = list(entries)
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in items:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry)
        return cls(frozenset(hosts), tuple(networks), enabled)

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host in self.hosts or any(
            h.startswith("*.") and host.endswith(h[1:]) for h in self.hosts
        )

    def ip_allowed(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.networks)

    async def vet(self, host: str, port: int) -> IPAddress:
        """Resolve ``host`` once and return the address to connect to, or raise SsrfBlockedError."""
        return (await self.vet_all(host, port))[0]

    async def vet_all(self, host: str, port: int) -> list[IPAddress]:
        """Resolve ``host`` once; every address must pass. Returns them in the resolver's order."""
        literal = _parse_ip(host)
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            loop = asyncio.get_running_loop()
            try:
                infos = await asyncio.wait_for(
                    loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP),
                    self.resolve_timeout_s,
                )
            except (socket.gaierror, UnicodeError) as exc:
                raise ConnectorError(f"cannot resolve host {host!r}: {exc}", code="dns_error",
                                     retryable=isinstance(exc, socket.gaierror)
                                     and exc.errno == socket.EAI_AGAIN) from None
            except TimeoutError:
                raise ConnectorError(f"resolving host {host!r} timed out", code="dns_timeout") from None
            addresses = []
            for info in infos:
                ip = _parse_ip(str(info[4][0]))
                if ip is not None and ip not in addresses:
                    addresses.append(ip)
            if not addresses:
                raise ConnectorError(f"host {host!r} has no address", code="dns_error", retryable=False)
        if not self.enabled or self.host_allowed(host):
            return addresses
        for ip in addresses:  # every address must pass, or DNS could hand us a bad one later
            reason = blocked_reason(ip)
            if reason and not self.ip_allowed(ip):
                raise SsrfBlockedError(
                    f"refused to connect to {host!r}: it resolves to {ip}, {reason}. "
                    "Add the host or network to FLOWWRIGHT_HTTP_ALLOW_HOSTS to allow it.",
                    host=host, address=str(ip),
                )
        return addresses


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi's CAs), built once: building one costs ~50 ms."""
    return httpx.create_ssl_context(verify=True, trust_env=False)


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that vets and pins the destination of every request (see module doc)."""

    def __init__(self, policy: SsrfPolicy, *, verify: ssl.SSLContext | str | bool = True,
                 **transport_options: Any) -> None:
        self.policy = policy
        self._verify = verify
        self._options = transport_options
        # One pool per host name: a TLS connection made for one name (its SNI, its certificate
        # check) must never be reused for another name that happens to share the IP.
        self._inner: dict[str, httpx.AsyncHTTPTransport] = {}

    def _transport(self, host: str) -> httpx.AsyncHTTPTransport:
        inner = self._inner.get(host)
        if inner is None:
            verify = default_ssl_context() if self._verify is True else self._verify
            inner = httpx.AsyncHTTPTransport(verify=verify, trust_env=False, **self._options)
            self._inner[host] = inner
        return inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise SsrfBlockedError(f"refused URL scheme {url.scheme!r}: only http and https",
                                   code="url_scheme_refused")
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = await self.policy.vet_all(host, port)
        for i, ip in enumerate(addresses):
            pinned = httpx.Request(
                request.method, url.copy_with(host=str(ip)), headers=request.headers,
                stream=request.stream,
                extensions={**request.extensions, **({"sni_hostname": host} if url.scheme == "https" else {})},
            )
            try:
                return await self._transport(host).handle_async_request(pinned)
            except httpx.ConnectError:
                # Nothing was sent yet: try the host's next vetted address (an AAAA record
                # whose network is down, a dead A record), as browsers do.
                if i == len(addresses) - 1:
                    raise
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        for inner in self._inner.values():
            await inner.aclose()
        self._inner.clear()


@dataclass(frozen=True)
class HttpClients:
    """The HTTP client factory connectors get in ``ctx.services.http``: every client it makes sends
    each request (and each redirect hop) through :class:`GuardedTransport` under ``policy``."""

    policy: SsrfPolicy = field(default_factory=SsrfPolicy)
    verify: ssl.SSLContext | str | bool = True  # TLS trust: a context, a CA bundle path, or a bool

    @classmethod
    def allowing(cls, hosts: str | Iterable[str] | None, *, protection: bool = True,
                 verify: ssl.SSLContext | str | bool = True) -> HttpClients:
        """A factory whose allowlist is ``hosts`` (comma string or list of hosts / ``*.suffix`` /
        IPs / CIDRs; ``FLOWWRIGHT_HTTP_ALLOW_HOSTS``); ``protection=False`` turns the guard off."""
        return cls(SsrfPolicy.parse(hosts, enabled=protection), verify)

    def client(self, *, timeout: float, follow_redirects: bool = True, max_redirects: int = 5) -> httpx.AsyncClient:
        """An AsyncClient whose every hop goes through the host policy; no proxies from env."""
        return httpx.AsyncClient(
            transport=GuardedTransport(self.policy, verify=self.verify),
            timeout=timeout, follow_redirects=follow_redirects, max_redirects=max_redirects,
            trust_env=False,
        )


async def open_vetted_socket(policy: SsrfPolicy, host: str, port: int, *, timeout_s: float,
                             what: str) -> socket.socket:
    """A TCP socket connected to a vetted address of ``host`` (for non-HTTP connectors: SMTP).

    Errors name the host and the kind of failure (refused, timed out, unreachable), never
    anything the remote end sent.
    """
    addresses = await policy.vet_all(host, port)
    loop = asyncio.get_running_loop()
    kind = "unreachable"
    for ip in addresses:
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (str(ip), port)), timeout_s)
            return sock
        except TimeoutError:
            kind = "timed out"
        except ConnectionRefusedError:
            kind = "connection refused"
        except OSError:
            kind = "unreachable"
        sock.close()
    raise ConnectorError(f"{what}: cannot connect to {host}:{port}: {kind}", code="connect_failed",
                         host=host, port=port)
