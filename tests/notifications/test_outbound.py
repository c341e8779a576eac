"""SSRF protection of outbound HTTP (apps/notifications/outbound.py, apps/notifications/addresses.py).

No test reaches real DNS or the network: ``fake_dns`` answers every lookup and ``connections``
records every TCP connect in the process, refusing those to non-loopback addresses. The corpus
asserts, for each refused URL, the exception AND that no connection was attempted at all (and
that sentinel listeners on 127.0.0.1 / ::1 / 127.0.0.2 accepted nothing).
"""

from __future__ import annotations

import contextlib
import ipaddress
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.notifications import outbound
from apps.notifications.addresses import AllowList, inet_aton_meaning, refusal_reason
from apps.notifications.outbound import BlockedURL, InvalidURL, OutboundError, check_url, request
from tests.notifications.conftest import ConnectionLog, FakeDNS, Receiver, Reply

# Names the fake resolver knows (anything else fails as unknown, like an NXDOMAIN).
FAKE_NAMES: dict[str, tuple[str, ...]] = {
    "evil.test": ("127.0.0.1",),
    "evil6.test": ("::1",),
    "metadata.test": ("169.254.169.254",),
    "rr.test": ("93.184.216.34", "10.0.0.5"),  # round robin: one public, one private
    "rr6.test": ("2606:2800:220:1::1", "fd00::1"),
    "127.0.0.1.nip.io": ("127.0.0.1",),
    "169.254.169.254.nip.io": ("169.254.169.254",),
    "mapped.test": ("::ffff:10.0.0.1",),
    "sixtofour.test": ("2002:c0a8:101::1",),  # 6to4 of 192.168.1.1
    "nat64.test": ("64:ff9b::a00:1",),  # NAT64 of 10.0.0.1
    "cgnat.test": ("100.64.0.1",),
    "private6.test": ("fd12:3456::1",),
    "linklocal6.test": ("fe80::1",),
    "zero.test": ("0.0.0.0",),  # noqa: S104 (an answer, not a bind)
    "public.test": ("93.184.216.34",),
    "public6.test": ("2606:2800:220:1::1",),
}

B, I = BlockedURL, InvalidURL  # noqa: E741 (short names keep the corpus table readable)

# (url, expected exception). {port}, {port6} and {port2} are sentinel listeners on 127.0.0.1, ::1, 127.0.0.2.
CORPUS: list[tuple[str, type[OutboundError]]] = [
    # loopback in every spelling
    ("http://127.0.0.1", B),
    ("http://127.0.0.1:{port}/", B),
    ("https://127.0.0.1:{port}/", B),
    ("http://127.0.0.1./", B),
    ("http://127.0.0.2:{port2}/", B),
    ("http://localhost", B),
    ("http://localhost:{port}/", B),
    ("http://localhost./", B),
    ("HTTP://LOCALHOST/", B),
    ("http://foo.localhost/", B),
    ("http://%6c%6fcalhost/", B),
    ("http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/", B),
    ("http://ｌｏｃａｌｈｏｓｔ/", B),  # fullwidth letters
    ("http://0X7F.0.0.1/", B),
    ("http://[::ffff:127.0.0.1%25lo]/", B),
    ("http://public.test＠127.0.0.1/", I),  # fullwidth @: NFKC turns it into userinfo
    ("http://[::1]/", B),
    ("http://[::1]:{port6}/", B),
    ("http://[0:0:0:0:0:0:0:1]/", B),
    # IPv4 literals in the odd forms inet_aton accepts
    ("http://0.0.0.0", B),
    ("http://0/", B),
    ("http://2130706433/", B),
    ("http://2130706433:{port}/", B),
    ("http://0x7f000001/", B),
    ("http://0177.0.0.1/", B),
    ("http://017700000001/", B),
    ("http://127.1/", B),
    ("http://127.1:{port}/", B),
    ("http://0x7f.1/", B),
    ("http://0x7f.0x0.0x0.0x1/", B),
    ("http://127.000.000.001/", B),
    ("http://134744072/", I),  # 8.8.8.8 in decimal: public, but only a.b.c.d is accepted
    ("http://1.2.3.4.5/", I),
    ("http://127。0。0。1/", I),  # ideographic full stops
    ("http://①②⑦.0.0.1/", I),  # NFKC digits
    # IPv6 transition forms carrying a refused IPv4 address
    ("http://[::ffff:127.0.0.1]/", B),
    ("http://[::ffff:7f00:1]/", B),
    ("http://[0:0:0:0:0:ffff:169.254.169.254]/", B),
    ("http://[::ffff:a9fe:a9fe]:80/", B),
    ("http://[::ffff:0:127.0.0.1]/", B),  # IPv4-translated
    ("http://[::127.0.0.1]/", B),  # IPv4-compatible
    ("http://[2002:7f00:1::]/", B),  # 6to4 of 127.0.0.1
    ("http://[2002:a9fe:a9fe::]/", B),  # 6to4 of 169.254.169.254
    ("http://[64:ff9b::7f00:1]/", B),  # NAT64 of 127.0.0.1
    ("http://[64:ff9b::a9fe:a9fe]/", B),
    ("http://[64:ff9b:1::a00:1]/", B),  # local-use NAT64
    ("http://[2001:0::1]/", B),  # Teredo
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", B),
    ("http://[2001:4860::5efe:7f00:1]/", B),  # ISATAP identifier carrying 127.0.0.1
    ("http://[::]/", B),
    # private, link-local, metadata, multicast, broadcast, reserved
    ("http://169.254.169.254/latest/meta-data/", B),
    ("http://[fe80::1%25eth0]/", B),
    ("http://[fe80::1]/", B),
    ("http://10.0.0.1", B),
    ("http://172.16.5.4", B),
    ("http://192.168.1.1", B),
    ("http://100.64.0.1", B),
    ("http://[fc00::1]/", B),
    ("http://[fd12:3456::1]/", B),
    ("http://[fec0::1]/", B),
    ("http://224.0.0.1", B),
    ("http://[ff02::1]/", B),
    ("http://255.255.255.255", B),
    ("http://192.0.0.1/", B),
    ("http://198.18.0.1/", B),
    ("http://240.0.0.1/", B),
    ("http://192.0.2.1/", B),
    ("http://[2001:db8::1]/", B),
    # names resolving to refused addresses
    ("http://evil.test/", B),
    ("http://evil.test:{port}/", B),
    ("http://EVIL.test./", B),
    ("http://evil6.test/", B),
    ("http://metadata.test/latest/meta-data/", B),
    ("http://rr.test/", B),
    ("http://rr6.test/", B),
    ("http://127.0.0.1.nip.io/", B),
    ("http://169.254.169.254.nip.io/", B),
    ("http://mapped.test/", B),
    ("http://sixtofour.test/", B),
    ("http://nat64.test/", B),
    ("http://cgnat.test/", B),
    ("http://private6.test/", B),
    ("http://linklocal6.test/", B),
    ("http://zero.test/", B),
    # not an absolute http(s) URL Vigil may use
    ("http://user:pass@public.test/", I),
    ("http://user@public.test/", I),
    ("http://public.test@127.0.0.1/", I),
    ("ftp://public.test/", I),
    ("file:///etc/passwd", I),
    ("gopher://127.0.0.1:70/_GET%20/", I),
    ("dict://127.0.0.1:11211/stat", I),
    ("javascript:alert(1)", I),
    ("//public.test/", I),
    ("/relative/path", I),
    ("http:///path", I),
    ("http:public.test", I),
    ("http://public.test:0/", I),
    ("http://public.test:99999/", I),
    ("http://public.test:-1/", I),
    ("http://public.test:8o/", I),
    ("http://public.test\\@127.0.0.1/", I),
    (" http://127.0.0.1/", I),
    ("http://127.0.0.1\t/", I),
    ("http://[127.0.0.1]/", I),
    ("http://[::1/", I),
    ("http://::1/", I),
    ("http://exa mple.test/", I),
    ("", I),
]


class Sentinel:
    """A TCP listener that should never see a connection."""

    def __init__(self, host: str) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]

    def accepted(self) -> int:
        count = 0
        while True:
            try:
                connection, _ = self.sock.accept()
            except BlockingIOError:
                return count
            connection.close()
            count += 1


@pytest.fixture
def sentinels() -> Iterator[dict[str, Sentinel]]:
    made = {"port": Sentinel("127.0.0.1"), "port2": Sentinel("127.0.0.2")}
    with contextlib.suppress(OSError):  # without IPv6 loopback the connection log still covers [::1]
        made["port6"] = Sentinel("::1")
    yield made
    for sentinel in made.values():
        sentinel.sock.close()


@pytest.fixture
def dns(fake_dns: FakeDNS) -> FakeDNS:
    for name, addresses in FAKE_NAMES.items():
        fake_dns.add(name, *addresses)
    return fake_dns


@pytest.fixture(autouse=True)
def _no_network(connections: ConnectionLog, dns: FakeDNS) -> None:
    """Every test here runs with the fake resolver and the connection log."""


def _fill(url: str, sentinels: dict[str, Sentinel]) -> str:
    ports = {name: sentinel.port for name, sentinel in sentinels.items()}
    ports.setdefault("port6", 9)
    return url.format(**ports) if "{" in url else url


@pytest.mark.parametrize(("url", "expected"), CORPUS, ids=[repr(url) for url, _ in CORPUS])
def test_corpus_is_refused_without_any_connection(
    url: str, expected: type[OutboundError], sentinels: dict[str, Sentinel], connections: ConnectionLog
) -> None:
    url = _fill(url, sentinels)
    with pytest.raises(expected) as checked:
        check_url(url)
    with pytest.raises(expected) as sent:
        request("POST", url, body=b"{}", timeout=2)
    assert checked.value.permanent
    assert sent.value.permanent
    assert str(checked.value) == str(sent.value)
    assert connections.attempts == []
    assert all(sentinel.accepted() == 0 for sentinel in sentinels.values())


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 50


def test_messages_say_why(dns: FakeDNS) -> None:
    with pytest.raises(BlockedURL, match=r"^rr\.test resolves to 10\.0\.0\.5, a private address$"):
        check_url("https://rr.test/hook")
    with pytest.raises(BlockedURL, match="the cloud metadata address"):
        check_url("http://169.254.169.254/latest/meta-data/")
    with pytest.raises(BlockedURL, match=r"0x7f\.1 is read as 127\.0\.0\.1, a loopback address"):
        check_url("http://0x7f.1/")
    with pytest.raises(BlockedURL, match=r"6to4 address of 127\.0\.0\.1, a loopback address"):
        check_url("http://[2002:7f00:1::]/")
    with pytest.raises(InvalidURL, match="credentials"):
        check_url("https://user:secret@public.test/")


def test_public_addresses_pass_without_connecting(dns: FakeDNS, connections: ConnectionLog) -> None:
    check_url("https://public.test/services/T0/B0/secret")
    check_url("https://public6.test/")
    check_url("http://93.184.216.34:8080/x")
    check_url("https://[2606:4700:4700::1111]/")
    dns.add("xn--mnchen-3ya.test", "93.184.216.34")
    check_url("https://MÜNCHEN.test./")
    assert "xn--mnchen-3ya.test" in dns.lookups
    assert connections.attempts == []


def test_unknown_name_is_a_transient_error(dns: FakeDNS) -> None:
    with pytest.raises(OutboundError) as error:
        check_url("https://does-not-exist.test/")
    assert type(error.value) is OutboundError
    assert not error.value.permanent


# --- The address policy -------------------------------------------------------------------

ALLOWED_ADDRESSES = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",  # IPv4-mapped public
    "2002:808:808::1",  # 6to4 of 8.8.8.8
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
]
REFUSED_ADDRESSES = [
    "0.0.0.0",  # noqa: S104 (an address under test, not a bind)
    "0.1.2.3",
    "127.0.0.1",
    "127.255.255.254",
    "10.255.255.255",
    "172.31.255.255",
    "192.168.0.1",
    "169.254.0.1",
    "169.254.169.254",
    "100.127.255.255",
    "192.0.0.8",
    "198.19.255.255",
    "198.51.100.7",
    "203.0.113.9",
    "192.88.99.1",
    "224.0.0.251",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:0:a9fe:a9fe",
    "::8.8.8.8",  # IPv4-compatible: refused whatever it carries
    "fe80::1",
    "febf::1",
    "fec0::1",
    "fc00::1",
    "fdff::1",
    "ff02::1",
    "ff0e::1",
    "100::1",
    "2001::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "2001:10::1",
    "2001:db8::1",
    "3fff::1",
    "2002:a00:1::1",
    "2002:7f00:1::",
    "64:ff9b::7f00:1",
    "64:ff9b::a00:1",
    "64:ff9b:1::808:808",
    "2001:4860::5efe:a00:1",
    "2001:4860::200:5efe:7f00:1",
    "4000::1",  # outside global unicast 2000::/3
]


@pytest.mark.parametrize("text", ALLOWED_ADDRESSES)
def test_policy_allows_public_addresses(text: str) -> None:
    assert refusal_reason(ipaddress.ip_address(text)) is None


@pytest.mark.parametrize("text", REFUSED_ADDRESSES)
def test_policy_refuses(text: str) -> None:
    assert refusal_reason(ipaddress.ip_address(text)) is not None


@pytest.mark.parametrize(
    "host",
    ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.1", "127.0.1", "0", "017700000001", "1.0x10.0300.4"],
)
def test_odd_ipv4_forms_read_as_the_resolver_reads_them(host: str) -> None:
    assert inet_aton_meaning(host) == ipaddress.IPv4Address(socket.inet_aton(host))


@pytest.mark.parametrize("host", ["256.0.0.1", "1.2.3.4.5", "08.0.0.1", "0x.0x.0x.0x100", "4294967296"])
def test_odd_forms_the_resolver_refuses_are_not_addresses(host: str) -> None:
    with pytest.raises(OSError, match="illegal IP address"):
        socket.inet_aton(host)
    assert inet_aton_meaning(host) is None


def test_allow_list_parsing() -> None:
    allow = AllowList.parse(["10.0.0.0/8", "fd00::/8", "hooks.Corp.Example.", "*.internal.example", " "])
    assert allow.allows_address(ipaddress.ip_address("10.1.2.3"))
    assert allow.allows_address(ipaddress.ip_address("fd00::5"))
    assert not allow.allows_address(ipaddress.ip_address("::ffff:10.1.2.3"))
    assert not allow.allows_address(ipaddress.ip_address("11.0.0.1"))
    assert allow.allows_name("hooks.corp.example")
    assert allow.allows_name("a.b.internal.example")
    assert not allow.allows_name("internal.example")
    assert not allow.allows_name("evilinternal.example")
    with pytest.raises(ValueError, match="not a CIDR network or host name"):
        AllowList.parse(["10.0.0.0/33x"])


# --- Requests to a local receiver (reachable only through the allow-list) -------------------


@pytest.fixture
def hooks(dns: FakeDNS, receiver: Receiver) -> str:
    """Base URL of the receiver under a public-looking name (resolving to 127.0.0.1)."""
    dns.add("hooks.example.test", "127.0.0.1")
    dns.add("other.example.test", "127.0.0.1")
    return f"http://hooks.example.test:{receiver.port}"


def test_loopback_receiver_is_refused_by_default(hooks: str, receiver: Receiver, connections: ConnectionLog) -> None:
    with pytest.raises(BlockedURL, match=r"hooks\.example\.test resolves to 127\.0\.0\.1, a loopback address"):
        request("POST", hooks + "/in", body=b"x")
    assert receiver.requests == []
    assert connections.attempts == []


@pytest.mark.usefixtures("allow_loopback")
def test_post_arrives_intact_with_the_original_host(
    hooks: str, receiver: Receiver, dns: FakeDNS, connections: ConnectionLog
) -> None:
    body = bytes(range(256)) * 40
    receiver.reply("/in", Reply(status=202, body=b'{"ok":true}', headers={"X-Request-Id": "abc"}))
    response = request(
        "post",
        hooks + "/in?team=ops&x=%20y",
        body=body,
        headers={"Content-Type": "application/octet-stream", "Authorization": "Bearer t", "Host": "evil.test"},
    )
    assert response.status == 202
    assert response.body == b'{"ok":true}'
    assert response.headers["x-request-id"] == "abc"
    assert response.latency_ms > 0
    [received] = receiver.requests
    assert received.method == "POST"
    assert received.path == "/in?team=ops&x=%20y"
    assert received.headers["host"] == f"hooks.example.test:{receiver.port}"
    assert received.headers["authorization"] == "Bearer t"
    assert received.headers["user-agent"] == outbound.USER_AGENT
    assert received.body == body
    assert connections.attempts == [("127.0.0.1", receiver.port)]
    assert dns.count("hooks.example.test") == 1


@pytest.mark.usefixtures("allow_loopback")
def test_ip_literal_in_the_allow_list(receiver: Receiver) -> None:
    response = request("GET", receiver.url + "/ping")
    assert response.status == 200
    assert receiver.requests[0].headers["host"] == f"127.0.0.1:{receiver.port}"
    assert "content-length" not in receiver.requests[0].headers


@pytest.mark.usefixtures("allow_loopback")
@pytest.mark.parametrize(("status", "method", "has_body"), [(307, "POST", True), (308, "PUT", True)])
def test_307_and_308_keep_method_and_body(
    hooks: str, receiver: Receiver, status: int, method: str, has_body: bool
) -> None:
    receiver.reply("/a", Reply.redirect("/b", status))
    response = request(method, hooks + "/a", body=b"payload", headers={"Content-Type": "text/plain"})
    assert response.status == 200
    _first, second = receiver.requests
    assert (second.method, second.path, second.body) == (method, "/b", b"payload")
    assert second.headers["content-type"] == "text/plain"


@pytest.mark.usefixtures("allow_loopback")
@pytest.mark.parametrize("status", [301, 302, 303])
def test_301_302_303_switch_to_get_without_body(hooks: str, receiver: Receiver, status: int) -> None:
    receiver.reply("/a", Reply.redirect(hooks + "/b?q=1", status))
    request("POST", hooks + "/a", body=b"payload", headers={"Content-Type": "text/plain"})
    second = receiver.requests[1]
    assert (second.method, second.path, second.body) == ("GET", "/b?q=1", b"")
    assert "content-type" not in second.headers
    assert "content-length" not in second.headers


@pytest.mark.usefixtures("allow_loopback")
def test_cross_host_redirect_drops_credentials(hooks: str, receiver: Receiver) -> None:
    receiver.reply("/a", Reply.redirect("/b", 307))
    receiver.reply("/b", Reply.redirect(f"http://other.example.test:{receiver.port}/c", 307))
    credentials = {"Authorization": "Bearer t", "X-Vigil-Signature": "s", "Cookie": "c", "X-Api-Key": "k"}
    request("POST", hooks + "/a", body=b"{}", headers={**credentials, "Content-Type": "application/json"})
    same_host, other_host = receiver.requests[1], receiver.requests[2]
    assert all(name.lower() in same_host.headers for name in credentials)
    assert not any(name.lower() in other_host.headers for name in credentials)
    assert other_host.headers["host"] == f"other.example.test:{receiver.port}"
    assert other_host.headers["content-type"] == "application/json"
    assert other_host.body == b"{}"


@pytest.mark.usefixtures("allow_loopback")
def test_redirect_loop_stops_after_max_redirects(hooks: str, receiver: Receiver) -> None:
    receiver.reply("/loop", Reply.redirect("/loop"))
    with pytest.raises(OutboundError, match="more than 3 redirects") as error:
        request("GET", hooks + "/loop")
    assert error.value.permanent
    assert len(receiver.requests) == 4
    with pytest.raises(OutboundError, match="more than 0 redirects") as error:
        request("GET", hooks + "/loop", max_redirects=0)
    assert error.value.response is not None
    assert error.value.response.status == 302
    assert error.value.response.headers["location"] == "/loop"


@pytest.mark.usefixtures("allow_loopback")
@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.2:{port2}/",
        "http://[::1]:{port6}/",
        "http://localhost:{port}/",
        "http://2130706433:{port}/",
        "http://10.0.0.1/",
        "http://metadata.test/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "gopher://127.0.0.1:{port}/",
        "http://user:pw@hooks.example.test/",
    ],
)
def test_redirect_to_a_refused_address_is_not_followed(
    hooks: str, receiver: Receiver, target: str, sentinels: dict[str, Sentinel], connections: ConnectionLog
) -> None:
    receiver.reply("/hook", Reply.redirect(_fill(target, sentinels), 307))
    with pytest.raises((BlockedURL, InvalidURL), match=r"redirect from hooks\.example\.test refused"):
        request("POST", hooks + "/hook", body=b"{}")
    assert len(receiver.requests) == 1
    assert connections.attempts == [("127.0.0.1", receiver.port)]
    assert all(sentinel.accepted() == 0 for sentinel in sentinels.values())


def test_public_site_redirecting_to_loopback(
    settings: Any, dns: FakeDNS, receiver: Receiver, connections: ConnectionLog
) -> None:
    """The allow-list names only public.example (played by the receiver): its redirect to 127.0.0.1 is refused."""
    settings.VIGIL_OUTBOUND_ALLOWLIST = ["public.example"]
    dns.add("public.example", "127.0.0.1")
    receiver.reply("/hook", Reply.redirect(f"http://127.0.0.1:{receiver.port}/admin", 302))
    with pytest.raises(BlockedURL, match=r"127\.0\.0\.1 is a loopback address"):
        request("GET", f"http://public.example:{receiver.port}/hook")
    assert [r.path for r in receiver.requests] == ["/hook"]
    assert connections.attempts == [("127.0.0.1", receiver.port)]


def test_host_name_allow_list(settings: Any, dns: FakeDNS, receiver: Receiver) -> None:
    settings.VIGIL_OUTBOUND_ALLOWLIST = ["*.corp.test", "hooks.exact.test"]
    for name in (
        "a.corp.test",
        "b.a.corp.test",
        "hooks.exact.test",
        "corp.test",
        "evilcorp.test",
        "x.hooks.exact.test",
    ):
        dns.add(name, "127.0.0.1")
    for name in ("a.corp.test", "b.a.corp.test", "hooks.exact.test"):
        assert request("GET", f"http://{name}:{receiver.port}/").status == 200
    for name in ("corp.test", "evilcorp.test", "x.hooks.exact.test"):
        with pytest.raises(BlockedURL):
            request("GET", f"http://{name}:{receiver.port}/")
    assert [r.headers["host"].split(":")[0] for r in receiver.requests] == [
        "a.corp.test",
        "b.a.corp.test",
        "hooks.exact.test",
    ]


def test_dns_rebinding_connects_only_to_the_checked_address(dns: FakeDNS, connections: ConnectionLog) -> None:
    dns.sequence("rebind.test", ["93.184.216.34"], ["127.0.0.1"])
    with pytest.raises(OutboundError) as error:  # the test network refuses every non-loopback address
        request("POST", "http://rebind.test/hook", body=b"{}")
    assert not error.value.permanent
    assert dns.count("rebind.test") == 1
    assert connections.attempts == [("93.184.216.34", 80)]


@pytest.mark.usefixtures("allow_loopback")
def test_dns_rebinding_is_checked_again_at_each_request(
    dns: FakeDNS, receiver: Receiver, connections: ConnectionLog
) -> None:
    dns.sequence("rebind.test", ["127.0.0.1"], ["10.0.0.1"])
    assert request("GET", f"http://rebind.test:{receiver.port}/").status == 200
    assert dns.count("rebind.test") == 1
    with pytest.raises(BlockedURL, match=r"resolves to 10\.0\.0\.1"):
        request("GET", f"http://rebind.test:{receiver.port}/")
    assert connections.attempts == [("127.0.0.1", receiver.port)]


def test_connection_tries_the_next_checked_address(dns: FakeDNS, receiver: Receiver, settings: Any) -> None:
    settings.VIGIL_OUTBOUND_ALLOWLIST = ["127.0.0.1/32"]
    dns.add("two.test", "93.184.216.34", "127.0.0.1")
    assert request("GET", f"http://two.test:{receiver.port}/").status == 200


@pytest.mark.usefixtures("allow_loopback")
@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        *[(status, True) for status in (400, 401, 403, 404, 410, 300, 304)],
        *[(status, False) for status in (408, 429, 500, 502, 503, 504)],
    ],
)
def test_error_statuses(hooks: str, receiver: Receiver, status: int, permanent: bool) -> None:
    receiver.default = Reply(status=status, body=b"nope", headers={"Retry-After": "7"})
    with pytest.raises(OutboundError) as error:
        request("POST", hooks + "/x", body=b"{}")
    assert type(error.value) is OutboundError
    assert error.value.permanent is permanent
    assert error.value.response is not None
    assert error.value.response.status == status
    assert error.value.response.headers["retry-after"] == "7"
    assert "/x" not in str(error.value)  # messages never show the path (webhook secrets live there)


@pytest.mark.usefixtures("allow_loopback")
def test_timeout_is_transient(hooks: str, receiver: Receiver) -> None:
    receiver.default = Reply(delay=3)
    started = time.monotonic()
    with pytest.raises(OutboundError, match="timed out") as error:
        request("GET", hooks + "/", timeout=0.3)
    assert not error.value.permanent
    assert time.monotonic() - started < 1.5


@pytest.mark.usefixtures("allow_loopback")
def test_slow_drip_cannot_outlast_the_deadline(hooks: str, receiver: Receiver) -> None:
    receiver.default = Reply(body=b"x" * 1000, drip=0.02)  # 20 s in all, each byte well within any socket timeout
    started = time.monotonic()
    with pytest.raises(OutboundError, match="timed out") as error:
        request("GET", hooks + "/", timeout=0.5)
    assert not error.value.permanent
    assert time.monotonic() - started < 1.5


@pytest.mark.usefixtures("allow_loopback")
def test_large_body_is_truncated(hooks: str, receiver: Receiver) -> None:
    receiver.default = Reply(body=b"a" * (outbound.MAX_RESPONSE_BYTES * 3 + 17))
    response = request("GET", hooks + "/")
    assert response.body == b"a" * outbound.MAX_RESPONSE_BYTES


@pytest.mark.usefixtures("allow_loopback")
def test_connection_refused_is_transient(dns: FakeDNS) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OutboundError) as error:
        request("GET", f"http://127.0.0.1:{port}/")
    assert not error.value.permanent


@pytest.mark.usefixtures("allow_loopback")
@pytest.mark.parametrize(
    "headers", [{"X-Bad": "a\r\nInjected: 1"}, {"Bad Name": "x"}, {"X-Uni": "snowman ☃"}, {"X-Nul": "a\x00"}]
)
def test_invalid_headers_are_refused_before_connecting(
    hooks: str, headers: dict[str, str], connections: ConnectionLog
) -> None:
    with pytest.raises(OutboundError, match="invalid header") as error:
        request("POST", hooks + "/", headers=headers)
    assert error.value.permanent
    assert connections.attempts == []


# --- HTTPS to a pinned address: SNI and certificate verification against the host name ------

TLS_NAME = "hooks.vigil.test"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for hooks.vigil.test (made with the openssl command line)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
            *("-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={TLS_NAME}"),
            *("-addext", f"subjectAltName=DNS:{TLS_NAME}"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_receiver(
    tls_files: tuple[Path, Path], make_receiver: Callable[..., Receiver], dns: FakeDNS, settings: Any
) -> Receiver:
    cert, key = tls_files
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    dns.add(TLS_NAME, "127.0.0.1")
    dns.add("other.vigil.test", "127.0.0.1")
    settings.VIGIL_OUTBOUND_ALLOWLIST = ["127.0.0.1/32"]
    receiver: Receiver = make_receiver(tls=server)
    return receiver


@pytest.fixture
def trust_test_ca(tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    client = ssl.create_default_context(cafile=str(tls_files[0]))
    monkeypatch.setattr(outbound, "_tls_context", lambda: client)


@pytest.mark.usefixtures("trust_test_ca")
def test_https_to_pinned_address_verifies_the_host_name(tls_receiver: Receiver, connections: ConnectionLog) -> None:
    response = request("POST", f"https://{TLS_NAME}:{tls_receiver.port}/hook", body=b'{"a":1}')
    assert response.status == 200
    [received] = tls_receiver.requests
    assert received.headers["host"] == f"{TLS_NAME}:{tls_receiver.port}"
    assert received.body == b'{"a":1}'
    assert tls_receiver.sni == [TLS_NAME]
    assert connections.attempts == [("127.0.0.1", tls_receiver.port)]


@pytest.mark.usefixtures("trust_test_ca")
def test_https_certificate_for_another_name_is_refused(tls_receiver: Receiver) -> None:
    with pytest.raises(OutboundError, match="TLS certificate not valid") as error:
        request("GET", f"https://other.vigil.test:{tls_receiver.port}/")
    assert not error.value.permanent
    assert tls_receiver.requests == []
    with pytest.raises(OutboundError, match="TLS certificate not valid"):
        request("GET", f"https://127.0.0.1:{tls_receiver.port}/")


def test_https_self_signed_is_refused_with_the_system_cas(tls_receiver: Receiver) -> None:
    with pytest.raises(OutboundError, match="TLS certificate not valid"):
        request("GET", f"https://{TLS_NAME}:{tls_receiver.port}/")
    assert tls_receiver.requests == []


@pytest.mark.usefixtures("trust_test_ca")
def test_https_redirect_to_plain_http_is_refused(tls_receiver: Receiver, receiver: Receiver) -> None:
    tls_receiver.reply("/hook", Reply.redirect(f"http://{TLS_NAME}:{receiver.port}/plain", 307))
    with pytest.raises(BlockedURL, match="from https to plain http"):
        request("POST", f"https://{TLS_NAME}:{tls_receiver.port}/hook", body=b"secret")
    assert receiver.requests == []


@pytest.mark.usefixtures("trust_test_ca")
def test_https_slow_drip_cannot_outlast_the_deadline(tls_receiver: Receiver) -> None:
    tls_receiver.default = Reply(body=b"x" * 1000, drip=0.02)
    started = time.monotonic()
    with pytest.raises(OutboundError, match="timed out"):
        request("GET", f"https://{TLS_NAME}:{tls_receiver.port}/", timeout=0.5)
    assert time.monotonic() - started < 1.5
