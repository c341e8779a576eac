"""Shared fixtures of the notification tests: a local HTTP(S) receiver, fake DNS, a connection log.

- ``receiver`` / ``make_receiver``: a threaded HTTP server on 127.0.0.1 (optionally TLS) that
  records every request (method, path with query, lower-case headers, body) and answers with a
  configurable ``Reply`` per path (status, body, headers, redirects, delays, slow drip).
- ``fake_dns``: replaces ``socket.getaddrinfo``: names you add answer what you say (optionally a
  different answer per lookup, for DNS rebinding); IP literals answer themselves; any other name
  fails as unknown, so no test ever reaches real DNS. Every lookup is recorded.
- ``connections``: records every TCP connect made in the process and refuses (ECONNREFUSED)
  any to a non-loopback address, so no test reaches the network.
- ``allow_loopback``: ``VIGIL_OUTBOUND_ALLOWLIST = ["127.0.0.1/32"]``, so outbound requests may
  reach the receiver (the default policy refuses loopback).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Reply:
    """What the receiver answers. ``drip`` > 0 sends the body one byte per ``drip`` seconds."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drip: float = 0.0

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls(status=status, body=b"", headers={"Location": location})


@dataclass
class Received:
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # lower-case names
    body: bytes


class Receiver:
    """A local HTTP(S) server; ``replies`` maps a path (without query) to a Reply or a callable."""

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Received] = []
        self.replies: dict[str, Reply | Callable[[Received], Reply]] = {}
        self.default = Reply()
        self.sni: list[str | None] = []
        self._stop = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("_Server", (ThreadingHTTPServer,), {"address_family": family, "daemon_threads": True})
        self._server = server_class((host, 0), self._handler_class())
        if tls is not None:
            tls.sni_callback = self._record_sni
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.host = host
        self.port = self._server.server_address[1]
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://{'[' + host + ']' if ':' in host else host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def reply(self, path: str, reply: Reply | Callable[[Received], Reply]) -> None:
        self.replies[path] = reply

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def _record_sni(self, _sock: Any, name: str | None, _context: Any) -> None:
        self.sni.append(name)

    def _answer(self, received: Received) -> Reply:
        self.requests.append(received)
        reply = self.replies.get(received.path.split("?", 1)[0], self.default)
        return reply(received) if callable(reply) else reply

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {name.lower(): value for name, value in self.headers.items()}
                reply = receiver._answer(Received(self.command, self.path, headers, body))
                if reply.delay:
                    receiver._stop.wait(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    if self.command == "HEAD":
                        return
                    if not reply.drip:
                        self.wfile.write(reply.body)
                        return
                    for i in range(len(reply.body)):
                        if receiver._stop.wait(reply.drip):
                            return
                        self.wfile.write(reply.body[i : i + 1])
                        self.wfile.flush()
                except OSError:
                    pass  # the client gave up (timeouts are what some tests check)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        return Handler


@pytest.fixture
def make_receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def make(host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> Receiver:
        receiver = Receiver(host, tls)
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.stop()


@pytest.fixture
def receiver(make_receiver: Callable[..., Receiver]) -> Receiver:
    return make_receiver()


class FakeDNS:
    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {"localhost": [["127.0.0.1", "::1"]]}
        self.lookups: list[str] = []
        self._real = socket.getaddrinfo

    def add(self, name: str, *addresses: str) -> None:
        """``name`` answers ``addresses`` at every lookup."""
        self.answers[name] = [list(addresses)]

    def sequence(self, name: str, *answers: list[str]) -> None:
        """Lookup n of ``name`` answers ``answers[n]`` (the last one from then on): DNS rebinding."""
        self.answers[name] = [list(answer) for answer in answers]

    def count(self, name: str) -> int:
        return self.lookups.count(name)

    def getaddrinfo(
        self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[tuple[Any, ...]]:
        name = host.decode() if isinstance(host, bytes) else host
        self.lookups.append(name)
        if name not in self.answers:
            try:  # IP literals only: never a DNS query
                return self._real(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
            except socket.gaierror:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        answers = self.answers[name]
        answer = answers[min(self.lookups.count(name) - 1, len(answers) - 1)]
        port_number = int(port or 0)
        results: list[tuple[Any, ...]] = []
        for text in answer:
            address = ipaddress.ip_address(text)
            if address.version == 4 and family in (0, socket.AF_INET):
                results.append((socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (text, port_number)))
            elif address.version == 6 and family in (0, socket.AF_INET6):
                results.append((socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (text, port_number, 0, 0)))
        if not results:
            raise socket.gaierror(socket.EAI_NODATA, "No address associated with hostname")
        return results


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    dns = FakeDNS()
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
    return dns


class ConnectionLog:
    def __init__(self) -> None:
        self.attempts: list[tuple[str, int]] = []

    def addresses(self) -> list[str]:
        return [address for address, _port in self.attempts]


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> ConnectionLog:
    log = ConnectionLog()
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def allowed(sock: socket.socket, address: Any) -> bool:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return True
        host = str(address[0]).split("%", 1)[0]
        log.attempts.append((host, int(address[1])))
        return ipaddress.ip_address(host).is_loopback

    def connect(sock: socket.socket, address: Any) -> None:
        if not allowed(sock, address):
            raise ConnectionRefusedError(errno.ECONNREFUSED, f"test: no network ({address[0]})")
        original_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        return original_connect_ex(sock, address) if allowed(sock, address) else errno.ECONNREFUSED

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return log
