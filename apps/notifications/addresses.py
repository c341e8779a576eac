"""The address policy of outbound HTTP: which IP addresses a user-supplied URL may reach.

Pure functions, no I/O and no Django: ``apps.notifications.outbound`` applies them to every
address a URL resolves to (and to every redirect). ``ipaddress``'s ``is_private``/``is_global``
are only the last net: each refused range is listed here explicitly, with the reason shown to
the user, and the IPv6 forms that carry an IPv4 address (IPv4-mapped, IPv4-translated, 6to4,
NAT64, ISATAP) are judged by the IPv4 address they carry.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

_V4 = IPv4Network
_V6 = IPv6Network

# Order matters only for the wording (the more specific reason first).
_REFUSED_V4: tuple[tuple[IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "an unspecified (this-network) address"),
    (_V4("127.0.0.0/8"), "a loopback address"),
    (_V4("10.0.0.0/8"), "a private address"),
    (_V4("172.16.0.0/12"), "a private address"),
    (_V4("192.168.0.0/16"), "a private address"),
    (_V4("169.254.169.254/32"), "the cloud metadata address"),
    (_V4("169.254.0.0/16"), "a link-local address"),
    (_V4("100.64.0.0/10"), "a shared (carrier-grade NAT) address"),
    (_V4("192.0.0.0/24"), "an IETF protocol assignment address"),
    (_V4("192.0.2.0/24"), "a documentation address"),
    (_V4("198.51.100.0/24"), "a documentation address"),
    (_V4("203.0.113.0/24"), "a documentation address"),
    (_V4("198.18.0.0/15"), "a benchmarking address"),
    (_V4("192.88.99.0/24"), "a 6to4 relay anycast address"),
    (_V4("224.0.0.0/4"), "a multicast address"),
    (_V4("255.255.255.255/32"), "the broadcast address"),
    (_V4("240.0.0.0/4"), "a reserved address"),
)

_REFUSED_V6: tuple[tuple[IPv6Network, str], ...] = (
    (_V6("::/128"), "the unspecified address"),
    (_V6("::1/128"), "a loopback address"),
    (_V6("fe80::/10"), "a link-local address"),
    (_V6("fec0::/10"), "a site-local address"),
    (_V6("fc00::/7"), "a private (unique local) address"),
    (_V6("ff00::/8"), "a multicast address"),
    (_V6("100::/64"), "a discard-only address"),
    (_V6("64:ff9b:1::/48"), "a local-use NAT64 address"),
    (_V6("2001::/32"), "a Teredo address"),
    (_V6("2001:10::/28"), "an ORCHID address"),
    (_V6("2001:20::/28"), "an ORCHIDv2 address"),
    (_V6("2001::/23"), "an IETF protocol assignment address"),
    (_V6("2001:db8::/32"), "a documentation address"),
    (_V6("3fff::/20"), "a documentation address"),
)
_GLOBAL_UNICAST_V6 = _V6("2000::/3")
_IPV4_MAPPED = _V6("::ffff:0:0/96")
_IPV4_TRANSLATED = _V6("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = _V6("::/96")
_NAT64 = _V6("64:ff9b::/96")
_SIX_TO_FOUR = _V6("2002::/16")
_CARRIERS: tuple[tuple[IPv6Network, str], ...] = (
    (_IPV4_MAPPED, "an IPv4-mapped address"),
    (_IPV4_TRANSLATED, "an IPv4-translated address"),
    (_NAT64, "a NAT64 address"),
)


def refusal_reason(address: IPAddress) -> str | None:
    """Why Vigil must not connect to ``address`` (e.g. "a private address"), or None when it may."""
    if isinstance(address, IPv4Address):
        return _refusal_reason_v4(address)
    return _refusal_reason_v6(address)


def _refusal_reason_v4(address: IPv4Address) -> str | None:
    for network, reason in _REFUSED_V4:
        if address in network:
            return reason
    if not address.is_global:
        return "a non-global address"
    return None


def _embedded(kind: str, v4: IPv4Address) -> str | None:
    reason = _refusal_reason_v4(v4)
    return None if reason is None else f"{kind} of {v4}, {reason}"


def _carried_ipv4(address: IPv6Address) -> tuple[str, IPv4Address] | None:
    """The IPv4 address an IPv6 transition form carries, and the form's name."""
    value = int(address)
    low32 = IPv4Address(value & 0xFFFFFFFF)
    for network, kind in _CARRIERS:
        if address in network:
            return kind, low32
    if address in _SIX_TO_FOUR:
        return "a 6to4 address", IPv4Address((value >> 80) & 0xFFFFFFFF)
    return None


def _refusal_reason_v6(address: IPv6Address) -> str | None:
    carried = _carried_ipv4(address)
    if carried is not None:  # judged by the IPv4 address it carries
        return _embedded(*carried)
    reason = next((reason for network, reason in _REFUSED_V6 if address in network), None)
    return reason if reason is not None else _other_refusal_reason_v6(address)


def _other_refusal_reason_v6(address: IPv6Address) -> str | None:
    value = int(address)
    low32 = IPv4Address(value & 0xFFFFFFFF)
    if address in _IPV4_COMPATIBLE:
        # ::a.b.c.d is deprecated (RFC 4291) and nothing legitimate uses it: refused whatever it carries.
        return f"an IPv4-compatible address of {low32} (deprecated)"
    # ISATAP: the interface identifier 0:5efe:a.b.c.d / 200:5efe:a.b.c.d carries an IPv4 address.
    isatap = _embedded("an ISATAP address", low32) if (value >> 32) & 0xFDFFFFFF == 0x00005EFE else None
    if isatap is not None:
        return isatap
    if address not in _GLOBAL_UNICAST_V6:
        return "a reserved address"
    return None if address.is_global else "a non-global address"


# --- Host names that are IPv4 addresses in forms resolvers accept ------------------

_NUMERIC_PART = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_CANONICAL_V4 = re.compile(
    r"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$"
)


def looks_numeric(host: str) -> bool:
    """True when the last label is a number (decimal or 0x hex): such a host is an IPv4 address or invalid.

    Resolvers (``inet_aton``) read ``2130706433``, ``0x7f.1``, ``0177.0.0.1`` and ``127.1`` as
    127.0.0.1, and the WHATWG URL standard refuses any other host ending in a number.
    """
    return bool(_NUMERIC_PART.match(host.rsplit(".", 1)[-1]))


def is_canonical_ipv4(host: str) -> bool:
    """``a.b.c.d`` with four decimal parts 0-255 and no leading zeros."""
    return bool(_CANONICAL_V4.match(host))


def inet_aton_meaning(host: str) -> IPv4Address | None:
    """The address ``inet_aton`` (so ``getaddrinfo``) makes of ``host``, or None when it makes none.

    One to four parts, each decimal, ``0``-prefixed octal or ``0x`` hex; the last part fills the
    remaining bytes (``127.1`` is 127.0.0.1, ``2130706433`` is 127.0.0.1).
    """
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        try:
            if part.startswith("0x"):
                numbers.append(int(part[2:] or "0", 16))
            elif part.startswith("0") and len(part) > 1:
                numbers.append(int(part[1:], 8))
            else:
                numbers.append(int(part, 10))
        except ValueError:
            return None
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (4 - len(leading)):
        return None
    value = 0
    for n in leading:
        value = value << 8 | n
    value = value << 8 * (4 - len(leading)) | last
    return IPv4Address(value)


# --- The allow-list (VIGIL_OUTBOUND_ALLOWLIST) -------------------------------------


@dataclass(frozen=True)
class AllowList:
    """Networks whose addresses, and host names whose every address, are allowed despite the policy.

    Host names are exact (``hooks.corp.example``) or suffix patterns (``*.corp.example``, which
    matches ``a.corp.example`` and ``a.b.corp.example`` but not ``corp.example`` itself). Names
    must be given as their ASCII (IDNA) form, lower-case; a trailing dot is ignored.
    """

    networks: tuple[IPNetwork, ...] = ()
    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        networks: list[IPNetwork] = []
        names: set[str] = set()
        suffixes: list[str] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            try:
                if entry.startswith("*."):
                    suffixes.append("." + normalise_host_name(entry[2:]))
                else:
                    names.add(normalise_host_name(entry))
            except ValueError:
                raise ValueError(f"not a CIDR network or host name: {raw!r}") from None
        return cls(tuple(networks), frozenset(names), tuple(suffixes))

    def allows_name(self, host: str) -> bool:
        return host in self.names or any(host.endswith(suffix) for suffix in self.suffixes)

    def allows_address(self, address: IPAddress) -> bool:
        return any(address.version == network.version and address in network for network in self.networks)


_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def normalise_host_name(host: str) -> str:
    """The ASCII, lower-case form of a DNS name (IDNA: ``ⓛⓞⓒⓐⓛⓗⓞⓢⓣ`` is ``localhost``), one trailing dot dropped.

    Raises ValueError unless the result is labels of letters, digits, ``-`` (not at the ends) and
    ``_``, and its last label is not a number (such hosts are IPv4 addresses or invalid).
    """
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError(f"not a valid host name: {host!r}") from None
    if ascii_host.endswith("."):
        ascii_host = ascii_host[:-1]
    if not (ascii_host and len(ascii_host) <= 253 and all(_LABEL.match(label) for label in ascii_host.split("."))):
        raise ValueError(f"not a valid host name: {host!r}")
    if looks_numeric(ascii_host):
        raise ValueError(f"a host name may not end in a number: {host!r}")
    return ascii_host
