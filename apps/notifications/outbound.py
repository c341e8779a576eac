"""Outbound HTTP to user-supplied URLs (webhooks, Slack, Teams), safe against SSRF.

Every URL, and every redirect, is parsed strictly, its host resolved once with
``socket.getaddrinfo`` and each resolved address checked against the address policy
(``apps.notifications.addresses``); the connection then goes to exactly those checked
addresses (pinned: no second lookup, so DNS rebinding cannot swap in an internal address),
with the original ``Host`` header and, for https, SNI and certificate verification against the
host name. Redirects are followed here, never by a library, and checked like the first URL.
``VIGIL_OUTBOUND_ALLOWLIST`` lets self-hosted installs reach internal targets. No proxy is used.

One overall deadline (``timeout``) bounds the whole call, redirects included: every socket
operation waits at most the time left, so a server dripping bytes cannot hold a worker.
Error messages name the host, never the path or query (webhook URLs carry secrets there).
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from ipaddress import IPv4Address, IPv6Address
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.notifications.addresses import (
    AllowList,
    IPAddress,
    inet_aton_meaning,
    is_canonical_ipv4,
    looks_numeric,
    normalise_host_name,
    refusal_reason,
)

MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "Vigil-Notifications/1"

_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_URL_LENGTH = 8192
# Whitespace, control characters and backslashes: parsers disagree about them (WHATWG reads
# ``\\`` as ``/``, urllib does not), so a URL containing any is refused rather than guessed at.
_UNSAFE_CHARACTERS = re.compile(r"[\x00-\x20\x7f\\]")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Headers the connection sets itself; a caller's values are dropped.
_MANAGED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "te", "upgrade"})
# Dropped when a redirect leaves the origin (scheme, host, port).
_CREDENTIAL_HEADER = re.compile(r"auth|cookie|token|secret|signature|key|password|session", re.IGNORECASE)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes  # at most MAX_RESPONSE_BYTES kept
    latency_ms: float


class OutboundError(Exception):
    """A request that did not succeed. ``permanent``: retrying cannot help.

    ``response`` is the answer when the server sent one (non-2xx status), else None.
    """

    def __init__(self, message: str, *, permanent: bool, response: Response | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.response = response


class BlockedURL(OutboundError):
    """Refused by the address policy (always permanent)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class InvalidURL(OutboundError):
    """Not an absolute http(s) URL Vigil can use (always permanent)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


@dataclass(frozen=True)
class _Target:
    """A checked URL: where to connect (``addresses``, pinned) and what to ask for."""

    scheme: str
    host: str  # ASCII, lower-case; an IPv6 literal without brackets
    port: int
    path: str  # path and query, the request target
    addresses: tuple[IPAddress, ...]

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


# --- Checking ------------------------------------------------------------------------


def check_url(url: str) -> None:
    """Raise InvalidURL or BlockedURL unless ``url`` may be requested (resolves its host now).

    For validating a URL when a user saves it. A name that does not resolve raises a transient
    OutboundError. ``request`` checks again at send time (DNS answers change).
    """
    _target(url, _allow_list())


def _allow_list() -> AllowList:
    return _parse_allow_list(tuple(settings.VIGIL_OUTBOUND_ALLOWLIST))


@lru_cache(maxsize=8)
def _parse_allow_list(entries: tuple[str, ...]) -> AllowList:
    try:
        return AllowList.parse(entries)
    except ValueError as exc:
        raise ImproperlyConfigured(f"VIGIL_OUTBOUND_ALLOWLIST: {exc}") from exc


def _target(url: str, allow: AllowList) -> _Target:
    scheme, host, literal, port, path = _parse(url, allow)
    if literal is not None:
        reason = _refusal(literal, allow)
        if reason is not None:
            raise BlockedURL(f"{host} is {reason}")
        return _Target(scheme, host, port, path, (literal,))
    name_allowed = allow.allows_name(host)
    if not name_allowed and (host == "localhost" or host.endswith(".localhost")):
        raise BlockedURL(f"{host} is a loopback name")
    addresses = _resolve(host, port)
    if not name_allowed:
        for address in addresses:
            reason = _refusal(address, allow)
            if reason is not None:
                raise BlockedURL(f"{host} resolves to {address}, {reason}")
    return _Target(scheme, host, port, path, addresses)


def _refusal(address: IPAddress, allow: AllowList) -> str | None:
    return None if allow.allows_address(address) else refusal_reason(address)


def _parse(url: str, allow: AllowList) -> tuple[str, str, IPAddress | None, int, str]:
    """(scheme, host, IP literal or None, port, request target), or InvalidURL/BlockedURL."""
    if not isinstance(url, str) or not url:
        raise InvalidURL("the URL is empty")
    if len(url) > _MAX_URL_LENGTH:
        raise InvalidURL(f"the URL is longer than {_MAX_URL_LENGTH} characters")
    if _UNSAFE_CHARACTERS.search(url):
        raise InvalidURL("the URL contains whitespace, a control character or a backslash")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidURL(f"the URL cannot be parsed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidURL(f"only http and https URLs are allowed, not {scheme + ':' if scheme else 'a relative URL'}")
    netloc = parts.netloc
    if not netloc:
        raise InvalidURL("the URL has no host")
    if "@" in netloc:
        raise InvalidURL("credentials (user:password@) in URLs are not allowed")
    literal: IPAddress | None
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise InvalidURL("unterminated [IPv6] host")
        raw_host, port_part = netloc[1:end], netloc[end + 1 :]
        host, literal = _ipv6_literal(raw_host, allow)
    else:
        raw_host, colon, port_text = netloc.partition(":")
        port_part = colon + port_text
        if ":" in port_text:
            raise InvalidURL("an IPv6 address must be written in brackets: http://[::1]/")
        host, literal = _host(raw_host, allow)
    port = _port(port_part, scheme)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    # Non-ASCII in the path or query is sent percent-encoded (UTF-8), as browsers do.
    path = "".join(c if c.isascii() else "".join(f"%{b:02X}" for b in c.encode()) for c in path)
    return scheme, host, literal, port, path


def _port(port_part: str, scheme: str) -> int:
    if port_part in ("", ":"):
        return _DEFAULT_PORTS[scheme]
    digits = port_part[1:]
    if not (port_part.startswith(":") and digits.isascii() and digits.isdigit() and len(digits) <= 5):
        raise InvalidURL(f"not a valid port: {port_part[1:]!r}")
    port = int(digits)
    if not 1 <= port <= 65535:
        raise InvalidURL(f"the port must be 1-65535, not {port}")
    return port


def _ipv6_literal(raw_host: str, allow: AllowList) -> tuple[str, IPAddress]:
    text, percent, zone = unquote(raw_host).partition("%")
    try:
        address = IPv6Address(text)
    except ValueError:
        raise InvalidURL(f"[{raw_host}] is not an IPv6 address") from None
    if percent:
        reason = _refusal(address, allow)
        if reason is not None:
            raise BlockedURL(f"{text} is {reason}")
        raise InvalidURL(f"IPv6 zone identifiers (%{zone}) are not allowed")
    return str(address), address


def _host(raw_host: str, allow: AllowList) -> tuple[str, IPAddress | None]:
    """A DNS name (normalised) or an IPv4 literal; odd IPv4 forms (``127.1``, ``0x7f.1``) are refused."""
    decoded = unquote(raw_host, errors="strict")
    if not decoded:
        raise InvalidURL("the URL has no host")
    candidate = decoded.lower().removesuffix(".")
    if candidate.isascii() and looks_numeric(candidate):
        if is_canonical_ipv4(candidate):
            return candidate, IPv4Address(candidate)
        meaning = inet_aton_meaning(candidate)
        reason = None if meaning is None else _refusal(meaning, allow)
        if meaning is not None and reason is not None:
            raise BlockedURL(f"{decoded} is read as {meaning}, {reason}")
        raise InvalidURL(f"{decoded} is not a valid host: write an IPv4 address as four decimal numbers a.b.c.d")
    try:
        host = normalise_host_name(decoded)
    except ValueError as exc:
        raise InvalidURL(str(exc)) from None
    return host, None


def _resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    """Every address of ``host``, looked up once (the caller connects only to these)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise OutboundError(f"cannot resolve {host}: {detail}", permanent=False) from None
    addresses: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        try:
            address = ipaddress.ip_address(sockaddr[0])
        except ValueError:
            raise BlockedURL(f"{host} resolves to {sockaddr[0]!r}, not an IP address") from None
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OutboundError(f"cannot resolve {host}: no IPv4 or IPv6 address", permanent=False)
    return tuple(addresses)


# --- Connecting to the pinned addresses, within one deadline ---------------------------


def _time_left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the request's deadline has passed")
    return left


class _DeadlineSocket(socket.socket):
    """A TCP socket whose every read and write waits at most until ``deadline`` (monotonic)."""

    deadline: float = float("inf")

    def recv_into(self, *args: Any, **kwargs: Any) -> int:
        self.settimeout(_time_left(self.deadline))
        return super().recv_into(*args, **kwargs)

    def recv(self, *args: Any, **kwargs: Any) -> bytes:
        self.settimeout(_time_left(self.deadline))
        return super().recv(*args, **kwargs)

    def sendall(self, *args: Any, **kwargs: Any) -> None:
        self.settimeout(_time_left(self.deadline))
        super().sendall(*args, **kwargs)


class _DeadlineSSLSocket(ssl.SSLSocket):
    """The same for TLS (``SSLContext.sslsocket_class``)."""

    deadline: float = float("inf")

    def recv_into(self, *args: Any, **kwargs: Any) -> int:
        self.settimeout(_time_left(self.deadline))
        return super().recv_into(*args, **kwargs)

    def recv(self, *args: Any, **kwargs: Any) -> bytes:
        self.settimeout(_time_left(self.deadline))
        return super().recv(*args, **kwargs)

    def send(self, *args: Any, **kwargs: Any) -> int:
        self.settimeout(_time_left(self.deadline))
        return super().send(*args, **kwargs)

    def sendall(self, *args: Any, **kwargs: Any) -> None:
        self.settimeout(_time_left(self.deadline))
        super().sendall(*args, **kwargs)


def _open_socket(address: IPAddress, port: int, deadline: float) -> _DeadlineSocket:
    """A TCP connection to exactly ``address`` (an IPv4-mapped IPv6 address is dialled as IPv4)."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    family = socket.AF_INET if isinstance(address, IPv4Address) else socket.AF_INET6
    sock = _DeadlineSocket(family, socket.SOCK_STREAM)
    sock.deadline = deadline
    try:
        sock.settimeout(_time_left(deadline))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect((str(address), port))
    except BaseException:
        sock.close()
        raise
    return sock


def _connect(target: _Target, deadline: float) -> _DeadlineSocket:
    """Connect to the first pinned address that answers; never looks the name up again."""
    last_error: OSError | None = None
    for address in target.addresses:
        try:
            return _open_socket(address, target.port, deadline)
        except TimeoutError:
            raise
        except OSError as exc:
            last_error = exc
    assert last_error is not None
    raise last_error


@cache
def _system_tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def _tls_context() -> ssl.SSLContext:
    """The TLS context (system CAs, hostname checking). Tests replace this to trust their own CA."""
    return _system_tls_context()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: _Target, deadline: float) -> None:
        super().__init__(target.host, target.port)
        self._target = target
        self._deadline = deadline

    def connect(self) -> None:
        self.sock = _connect(self._target, self._deadline)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: _Target, deadline: float) -> None:
        context = _tls_context()
        context.sslsocket_class = _DeadlineSSLSocket
        super().__init__(target.host, target.port, context=context)
        self._target = target
        self._deadline = deadline
        self._tls = context

    def connect(self) -> None:
        raw = _connect(self._target, self._deadline)
        try:
            raw.settimeout(_time_left(self._deadline))  # bounds the handshake
            tls = self._tls.wrap_socket(raw, server_hostname=self._target.host)
        except BaseException:
            raw.close()
            raise
        if isinstance(tls, _DeadlineSSLSocket):
            tls.deadline = self._deadline
        self.sock = tls


# --- Requests -----------------------------------------------------------------------


def request(
    method: str,
    url: str,
    *,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    max_redirects: int = 3,
) -> Response:
    """Send one request to a user-supplied URL; a 2xx answer is returned, anything else raised.

    Raises InvalidURL/BlockedURL (the URL or a redirect target is refused), or OutboundError:
    ``permanent`` for 4xx other than 408/429, other 3xx and too many redirects, transient for
    timeouts, connection and TLS errors, 5xx, 408 and 429 (``response`` holds the answer).
    """
    started = time.monotonic()
    deadline = started + timeout
    method = method.upper()
    if not _TOKEN.match(method):
        raise OutboundError(f"not an HTTP method: {method!r}", permanent=True)
    send_headers = _clean_headers(headers or {})
    allow = _allow_list()
    target = _target(url, allow)
    current_url = url
    for hop in range(max_redirects + 1):
        status, response_headers, data = _exchange(target, method, body, send_headers, deadline)
        response = Response(status, response_headers, data, (time.monotonic() - started) * 1000)
        location = response_headers.get("location")
        if status in _REDIRECTS and location:
            if hop == max_redirects:
                message = f"{target.host}: more than {max_redirects} redirects"
                raise OutboundError(message, permanent=True, response=response)
            current_url = urljoin(current_url, location)
            try:
                next_target = _target(current_url, allow)
            except (BlockedURL, InvalidURL) as exc:
                raise type(exc)(f"redirect from {target.host} refused: {exc}") from None
            if target.scheme == "https" and next_target.scheme == "http":
                raise BlockedURL(f"redirect from {target.host} refused: it goes from https to plain http")
            if status in (301, 302, 303) and method != "HEAD":
                method, body = "GET", b""
                send_headers = {k: v for k, v in send_headers.items() if not k.lower().startswith("content-")}
            if next_target.origin != target.origin:
                send_headers = {k: v for k, v in send_headers.items() if not _CREDENTIAL_HEADER.search(k)}
            target = next_target
            continue
        if 200 <= status < 300:
            return response
        transient = status >= 500 or status in (408, 429)
        raise OutboundError(f"{target.host} answered {status}", permanent=not transient, response=response)
    raise AssertionError("unreachable")  # pragma: no cover


def _clean_headers(headers: Mapping[str, str]) -> dict[str, str]:
    cleaned = {"User-Agent": USER_AGENT}
    for name, value in headers.items():
        if not _TOKEN.match(name) or any(c in value for c in "\r\n\x00") or not _latin1(value):
            raise OutboundError(f"invalid header {name!r}", permanent=True)
        if name.lower() in _MANAGED_HEADERS:
            continue
        if name.lower() == "user-agent":
            cleaned.pop("User-Agent", None)
        cleaned[name] = value
    return cleaned


def _latin1(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _exchange(
    target: _Target, method: str, body: bytes, headers: Mapping[str, str], deadline: float
) -> tuple[int, dict[str, str], bytes]:
    """One request/response on a fresh connection to the pinned addresses: (status, headers, body)."""
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = _PinnedHTTPSConnection(target, deadline)
    else:
        connection = _PinnedHTTPConnection(target, deadline)
    try:
        connection.putrequest(method, target.path, skip_accept_encoding=True)
        for name, value in {**headers, "Accept-Encoding": "identity", "Connection": "close"}.items():
            connection.putheader(name, value)
        if body or method in ("POST", "PUT", "PATCH"):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        answer = connection.getresponse()
        response_headers: dict[str, str] = {}
        for name, value in answer.getheaders():
            key = name.lower()
            response_headers[key] = f"{response_headers[key]}, {value}" if key in response_headers else value
        if answer.status in _REDIRECTS and "location" in response_headers:
            return answer.status, response_headers, b""
        data = answer.read(MAX_RESPONSE_BYTES)
        return answer.status, response_headers, data
    except TimeoutError:
        raise OutboundError(f"{target.host}: timed out", permanent=False) from None
    except ssl.SSLCertVerificationError as exc:
        message = f"{target.host}: TLS certificate not valid: {exc.verify_message}"
        raise OutboundError(message, permanent=False) from None
    except (OSError, http.client.HTTPException) as exc:
        raise OutboundError(f"{target.host}: {type(exc).__name__}: {exc}", permanent=False) from None
    finally:
        connection.close()
