"""PII scrubbing at ingest: redact or hash sensitive values before anything is written.

Pure Python, no database: the pipeline builds one ``Scrubber`` per project (its custom rules, its
IP setting, its hash secret) and runs it over every decoded record after the limits step.

What is found by default, and the ``[REDACTED:<category>]`` each becomes:

* ``card``: payment card numbers, 13-19 digits, compact or in 4-4-4-4(-3) / 4-6-5 / 4-6-4 groups
  separated by spaces or dashes, Luhn-valid. No IIN prefix is required, so any Luhn-valid number of
  that shape counts, except epoch timestamps (13/16/19 digits from 2001-2036 in ms/us/ns) and values
  of id-, time- and offset-like keys (``order.id``, ``messaging.kafka.message.offset``).
* ``email``: addresses with a dotted domain and an alphabetic TLD (``icon@2x.png`` is not one).
* ``bearer``: ``Bearer <token>`` anywhere (the scheme word stays), and ``Authorization`` attributes.
* ``api_key``: sensitive query/fragment parameters (``api_key``, ``apikey``, ``x-api-key``, ``access_token``,
  ``token``, ``key``, ``secret``, ``sig``, ``X-Amz-Signature`` ...) in URL-like values, only the parameter
  value is replaced, and API-key attributes such as ``http.request.header.x-api-key``.
* ``secret``: whole values of attributes whose key names a secret (``password``, ``passwd``, ``pwd``,
  ``secret``, ``token``, ``cookie``, ``set-cookie``, ``session``, ``credentials``, ``private_key`` ...; the
  last dotted segment, case-insensitive, ``_``/``-``/camelCase variants, e.g. ``db.password``,
  ``clientSecret``, ``http.request.header.x-auth-token``); ``password=...`` / ``"password": "..."`` inside
  text; the password of ``scheme://user:password@host`` URLs. Usage counters are *not* secrets:
  ``token_count``, ``tokens``, ``gen_ai.usage.input_tokens``, ``max_tokens`` keep their values (the last
  word must be the secret word: ``token``, not ``tokens`` or ``count``), and neither do pagination
  cursors (``next_token``, ``page_token``) nor generic ``key`` attributes (``cache.key``).
* ``jwt``: three base64url segments whose first decodes to a JSON object (``eyJ...``).
* ``iban``: country code + check digits + BBAN of that country's length, mod-97 valid.
* ``ip`` (only with ``scrub_ips=True``): IPv4/IPv6 in ``client.address``, ``net.peer.ip``,
  ``http.client_ip``, ``source.address`` (and similar peer keys) and in free text. Server-side keys
  (``server.address``, ``host.ip`` ...) and ``*version`` keys are left alone, as are dotted quads
  right after the word "version".

With ``action="hash"`` (per custom rule, or ``default_action="hash"`` for the defaults) the value becomes
``[HASH:<first 12 hex of HMAC-SHA256(hash_secret, value)>]``, so equal values stay joinable without
being readable. Cards and IBANs are hashed without separators and emails lower-cased, so
``4111 1111 1111 1111`` and ``4111111111111111`` hash alike.

Only the sensitive part of a string is replaced: ``/v1/pay?api_key=abc&page=2`` becomes
``/v1/pay?api_key=[REDACTED:api_key]&page=2``. Strings that already consist of one
redaction token are left alone, so scrubbing twice changes nothing.

Speed: most values are clean, so every detector sits behind a cheap guard (``'=' in s``, ``'@' in s``,
``'eyJ' in s``, ``earer``/``uthori`` in the lower-cased text) or a compiled gate (apps/ingest/scrub_screen.pyx:
a whole word that is a credential name before ``:``/``=``, a 13-digit run, an IBAN-like ``[A-Z]{2}\\d\\d``, a
URL parameter name not known clean), and the expensive expressions run only when it hits. Key decisions
are cached per key, and values found clean are remembered per key kind (bounded, never a value that was
changed), because most attribute values repeat; which attributes and spans need a look at all is decided in
C, which also passes strings the default rules cannot change (``scrub_screen.innocent``: no mark or shape any
of them starts from) and redacts URLs that differ from one already scrubbed only in credential parameters
(``scrub_screen.UrlMasks``). See bench/bench_scrub.py and docs/benchmarks.md.

Custom rules (``ScrubRule``) are checked first: key rules win over the default key names, regex rules
run on every string value before the default detectors. Regexes are validated when the rule is
created (see ``compile_custom_regex``); Python's ``re`` has no match timeout, so patterns that could
backtrack catastrophically (nested unbounded repeats such as ``(a+)+`` or ``(\\w*)*``) are refused up
front and patterns are limited to 500 characters.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import fnmatch
import functools
import hashlib
import hmac
import ipaddress
import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, unquote_plus

from apps.ingest.scrub_screen import (
    CARD_SHAPE,
    IBAN_SHAPE,
    CleanCache,
    UrlMasks,
    names_a_credential,
    needing_a_look,
    params_need_a_look,
    scrub_spans,
    text_shape,
)

if TYPE_CHECKING:
    from apps.otlp.types import Decoded, LogRecord, MetricPoint, Resource, Span

__all__ = ["MAX_PATTERN_LENGTH", "ScrubRule", "Scrubber", "compile_custom_regex", "is_secret_key"]

MAX_PATTERN_LENGTH = 500
BYTES_MARKER = "$bytes"  # apps.otlp.values.BYTES_MARKER; repeated to keep this module dependency-free

_TOKEN_RE = re.compile(r"\[(?:REDACTED:[\w.-]+|HASH:[0-9a-f]{12})\]")
_CATEGORY_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


# --------------------------------------------------------------------------------------------------
# custom rules


def _has_unbounded_repeat(parsed: Any) -> bool:
    from re import _parser as sre  # the documented-internal parser; stable across 3.11-3.13

    for op, arg in parsed:
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            if arg[1] == sre.MAXREPEAT or arg[1] > 50 or _has_unbounded_repeat(arg[2]):
                return True
        elif op == sre.SUBPATTERN:
            if _has_unbounded_repeat(arg[3]):
                return True
        elif op == sre.BRANCH:
            if any(_has_unbounded_repeat(branch) for branch in arg[1]):
                return True
        elif op in (sre.ASSERT, sre.ASSERT_NOT) and _has_unbounded_repeat(arg[1]):
            return True
    return False


def _nested_repeat(parsed: Any) -> bool:
    """True when an unbounded (or large) repeat contains another one: ``(a+)+``, ``(\\w*\\s?)*``, ``(?:x|y+)*``."""
    from re import _parser as sre

    for op, arg in parsed:
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            unbounded = arg[1] == sre.MAXREPEAT or arg[1] > 50
            if op != sre.POSSESSIVE_REPEAT and unbounded and _has_unbounded_repeat(arg[2]):
                return True
            if _nested_repeat(arg[2]):
                return True
        elif op == sre.SUBPATTERN:
            if _nested_repeat(arg[3]):
                return True
        elif op == sre.BRANCH:
            if any(_nested_repeat(branch) for branch in arg[1]):
                return True
        elif op in (sre.ASSERT, sre.ASSERT_NOT) and _nested_repeat(arg[1]):
            return True
    return False


def compile_custom_regex(pattern: str) -> re.Pattern[str]:
    """Validate and compile a custom rule's regex; ``ValueError`` with a message a user can act on.

    Python's ``re`` cannot be interrupted once it matches, and this runs on every ingested string,
    so a pattern that backtracks catastrophically (exponential time on some inputs, e.g. ``(a+)+$``
    against ``"aaaa...!"``) would stall ingest. Instead of a runtime timeout the pattern is refused
    when it is longer than 500 characters, does not compile, matches the empty string, or nests an
    unbounded repeat inside another (the classic cause of catastrophic backtracking). Overlapping
    alternatives under one repeat (``(a|ab)*``) are not detected; keep custom patterns simple and
    anchored on literal text (``ssn=\\d{3}-\\d{2}-\\d{4}``).
    """
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("Regex rule needs a non-empty pattern, e.g. 'EMP-\\d{6}'.")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(
            f"Regex is {len(pattern)} characters long; the limit is {MAX_PATTERN_LENGTH}. "
            "Split it into several rules or use a key rule instead."
        )
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        raise ValueError(f"Invalid regex {pattern!r}: {exc.msg}{where}.") from None
    if compiled.search("") is not None:
        raise ValueError(
            f"Regex {pattern!r} matches the empty string, so it would redact nothing useful; "
            "require at least one character (use + instead of *)."
        )
    try:
        from re import _parser as sre

        nested = _nested_repeat(sre.parse(pattern))
    except Exception:  # the parser is internal: if its shape ever changes, skip this check
        nested = False
    if nested:
        raise ValueError(
            f"Regex {pattern!r} nests a repeat inside another repeat (like '(a+)+' or '(\\w+\\s?)*'), which "
            "can backtrack catastrophically and stall ingest. Rewrite it without the nesting, e.g. "
            "'(?:\\w+\\s)*\\w+' -> '[\\w\\s]+', or bound the inner repeat ('\\w{1,20}')."
        )
    return compiled


@dataclasses.dataclass(frozen=True, slots=True)
class ScrubRule:
    """A per-project rule.

    * ``kind="key"``: ``pattern`` is a glob on the full attribute key (``user.*``, ``*.ssn``) or an
      exact last segment (``ssn`` matches ``customer.ssn``), case-insensitive; the whole value (any
      type) is replaced.
    * ``kind="regex"``: ``pattern`` is searched inside every string value; each match is replaced,
      or only its ``(?P<redact>...)`` group when the pattern has one (``ssn=(?P<redact>\\d+)``).

    ``action`` is ``"replace"`` (``[REDACTED:<category>]``) or ``"hash"`` (``[HASH:<hmac>]``).
    Construction validates everything and raises ``ValueError`` with an actionable message.
    """

    kind: Literal["key", "regex"]
    pattern: str
    action: Literal["replace", "hash"] = "replace"
    category: str = "custom"
    compiled: re.Pattern[str] | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("key", "regex"):
            raise ValueError(f"Rule kind must be 'key' or 'regex', not {self.kind!r}.")
        if self.action not in ("replace", "hash"):
            raise ValueError(f"Rule action must be 'replace' or 'hash', not {self.action!r}.")
        if not isinstance(self.category, str) or not _CATEGORY_RE.match(self.category):
            raise ValueError(
                f"Rule category {self.category!r} must be 1-40 letters, digits, '_', '.' or '-' (e.g. 'ssn')."
            )
        if self.kind == "regex":
            object.__setattr__(self, "compiled", compile_custom_regex(self.pattern))
        elif not isinstance(self.pattern, str) or not self.pattern.strip():
            raise ValueError("Key rule needs a key name or glob, e.g. 'ssn' or 'customer.*'.")
        elif len(self.pattern) > MAX_PATTERN_LENGTH:
            raise ValueError(f"Key pattern is longer than {MAX_PATTERN_LENGTH} characters.")


# --------------------------------------------------------------------------------------------------
# key names


def _words(name: str) -> list[str]:
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return [word for word in re.split(r"[_\-\s.]+", name.lower()) if word]


_SECRET_LAST_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "credential",
        "credentials",
        "cookie",
        "session",
        "sessionid",
        "jsessionid",
        "phpsessid",
        "privatekey",
        "secretkey",
        "jwt",
    }
)
_API_KEY_QUALIFIERS = frozenset({"api", "subscription", "access"})
_SECRET_KEY_QUALIFIERS = frozenset({"private", "secret", "signing", "encryption", "master"})
_CURSOR_QUALIFIERS = frozenset({"next", "page", "continuation", "cursor", "pagination", "sync", "resume", "start"})
_PASSWORD_WORDS = frozenset({"password", "passwd", "pwd", "secret", "passphrase"})
_PASSWORD_SUFFIXES = frozenset({"hash", "confirmation", "confirm", "value", "plain", "plaintext", "again"})


@functools.lru_cache(maxsize=4096)
def _classify_name(name: str) -> str | None:
    """The category a key name (one segment) implies: ``authorization``, ``api_key``, ``secret`` or None."""
    words = _words(name)
    if not words:
        return None
    last = words[-1]
    prev = words[-2] if len(words) > 1 else ""
    category = None
    if last == "authorization":
        category = "authorization"
    elif last == "apikey" or (last == "key" and prev in _API_KEY_QUALIFIERS) or (last == "token" and prev == "api"):
        category = "api_key"
    elif (
        last in _SECRET_LAST_WORDS
        or (last == "token" and prev not in _CURSOR_QUALIFIERS)
        or (last == "key" and prev in _SECRET_KEY_QUALIFIERS)
        or (last == "id" and prev == "session")
        or (last in _PASSWORD_SUFFIXES and prev in _PASSWORD_WORDS)
    ):
        category = "secret"
    return category


@functools.lru_cache(maxsize=4096)
def _param_category(name: str) -> str | None:
    """The category of a URL query/fragment parameter's value, by the parameter's name."""
    normalized = unquote_plus(name).lower().strip().removesuffix("[]").replace("-", "_").replace(".", "_")
    if normalized in _URL_SECRET_PARAMS:
        return "api_key"
    category = _classify_name(normalized)
    if category in ("api_key", "authorization"):
        return "api_key"
    return category


def is_secret_key(key: str) -> bool:
    """Whether the default key-name rules redact this attribute key's whole value."""
    return _classify_name(key.rsplit(".", 1)[-1]) is not None


# Query/fragment parameter names that hold credentials (normalised: lower case, '-'/'.' -> '_').
_URL_SECRET_PARAMS = frozenset(
    {
        "api_key",
        "apikey",
        "x_api_key",
        "api_token",
        "access_token",
        "accesstoken",
        "auth_token",
        "refresh_token",
        "id_token",
        "token",
        "key",
        "secret",
        "client_secret",
        "auth",
        "sig",
        "signature",
        "x_amz_signature",
        "x_amz_security_token",
        "x_amz_credential",
        "x_goog_signature",
        "x_goog_credential",
        "code",
        "private_token",
        "subscription_key",
    }
)

_URL_KEYS = frozenset(
    {"url.full", "url.original", "http.url", "http.target", "url.query", "url.fragment", "http.request.uri"}
)
_IP_KEYS = frozenset(
    {
        "client.address",
        "client.ip",
        "client.socket.address",
        "net.peer.ip",
        "net.sock.peer.addr",
        "network.peer.address",
        "http.client_ip",
        "source.address",
        "source.ip",
        "enduser.ip",
        "user.ip",
        "http.request.header.x-forwarded-for",
        "http.request.header.x-real-ip",
        "http.request.header.forwarded",
        "http.request.header.true-client-ip",
        "http.request.header.cf-connecting-ip",
    }
)
# Addresses of our own side of the connection: not a person's.
_IP_EXEMPT_KEYS = frozenset(
    {
        "server.address",
        "server.socket.address",
        "host.ip",
        "net.host.ip",
        "net.sock.host.addr",
        "network.local.address",
        "destination.address",
        "k8s.pod.ip",
    }
)
_ID_LIKE_LAST_WORDS = frozenset(
    {
        "id",
        "ids",
        "uuid",
        "guid",
        "timestamp",
        "time",
        "ts",
        "ns",
        "ms",
        "us",
        "nanos",
        "millis",
        "seq",
        "sequence",
        "offset",
        "count",
        "size",
        "bytes",
        "hash",
        "checksum",
        "crc",
        "nonce",
        "epoch",
    }
)


@dataclasses.dataclass(frozen=True, slots=True)
class _KeyInfo:
    category: str | None  # whole-value redaction: "authorization", "api_key", "secret" or a custom category
    action: str | None  # for a custom key rule: its action (None: the scrubber's default)
    url: bool = False
    query_start: bool = False  # the value is a bare query string (url.query)
    ip_key: bool = False
    ip_exempt: bool = False
    no_card: bool = False

    mode: int = dataclasses.field(default=0, init=False, compare=False)  # the five flags above as one number

    MODES = 32

    def __post_init__(self) -> None:
        flags = (self.url, self.query_start, self.ip_key, self.ip_exempt, self.no_card)
        object.__setattr__(self, "mode", sum(1 << index for index, flag in enumerate(flags) if flag))


_FREE_TEXT = _KeyInfo(None, None)
_URL_MODES, _URL_MODE = 3, 1  # the mode bits of url and query_start; a URL's mode has url only (scrub_screen._URL)
_CLEAN_CACHE_ENTRIES = 50_000
_CLEAN_CACHE_MAX_LENGTH = 512


# --------------------------------------------------------------------------------------------------
# value detectors

_IP_QUICK = re.compile(r"\d\.\d|[0-9A-Fa-f]:[0-9A-Fa-f]{0,4}:")

# name=value / name: value / "name": "value" in free text (log lines, SQL, JSON in strings).
_KV_NAMES = (
    r"password|passwd|pwd|passphrase|secret|client[-_]?secret|api[-_]?key|x[-_]api[-_]key|api[-_]?token"
    r"|access[-_]?token|refresh[-_]?token|id[-_]?token|auth[-_]?token|x[-_]auth[-_]token|token|private[-_]?key"
    r"|secret[-_]?key|session[-_]?id|sessionid|jsessionid|phpsessid|credentials|subscription[-_]?key"
)
_KV_RE = re.compile(
    r"(?<![\w-])([\"']?)(" + _KV_NAMES + r")\1(\s*[:=]\s*)"
    r"(?:\"((?:[^\"\\]|\\.)*)\"|'([^']*)'|([^\s&,;\"'}<>)\]]+))",
    re.IGNORECASE,
)
# The names above without '-' and '_', for the compiled gate in front of _KV_RE (scrub_screen.names_a_credential).
_KV_NAME_SET = frozenset(re.sub(r"\[-_\]\??", "", name) for name in _KV_NAMES.split("|"))
_PLACEHOLDER_RE = re.compile(
    r"^(?:\?|\$\d+|%s|%\(\w+\)s|:\w+|@\w+|\*+|null|none|nil|true|false|\{\{?\w*\}?\}|<\w+>)$", re.I
)
_PARAM_RE = re.compile(r"(?:(?<=[?&;#])|^)([^=&#?;\s/]+)=([^&#;?\s]*)")
_PARAM_FREE_RE = re.compile(r"(?<=[?&;#])([^=&#?;\s/]+)=([^&#;?\s\"'<>]*)")
_AUTH_RE = re.compile(
    r"(?<![\w-])((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?:([A-Za-z][\w-]*)\s+)?([^\s\"',;]+)", re.IGNORECASE
)
_USERINFO_RE = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^/\s:@?#]*:)([^/\s@?#]+)(@)")
_BEARER_RE = re.compile(r"\b(bearer\s+)([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)
_JWT_RE = re.compile(r"(?<![\w-])(eyJ[A-Za-z0-9_-]{4,})\.([A-Za-z0-9_-]{2,})(?:\.[A-Za-z0-9_-]*){1,3}")
_EMAIL_RE = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9_%+-](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})(?![A-Za-z0-9-])"
)
_NOT_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "js", "css", "map", "html", "json", "md"})
_IBAN_RE = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2})(\d{2})((?: ?[A-Z0-9]){11,32})")
_IBAN_PREFIX_RE = re.compile(r"[A-Z]{2}\d\d $")  # the digits after it are an IBAN's BBAN, not a card
_DIGIT_RUN_RE = re.compile(r"(?<![\w.,-])\d+(?:[ -]\d+)*(?!\w|[.,]\d)")
_IPV4 = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}"
_IP_RE = re.compile(
    r"(?<![\w.:])(?:"
    r"(" + _IPV4 + r")(?!\.?\d|\w)"
    r"|((?:[0-9A-Fa-f]{1,4}:|::?){1,7}(?:" + _IPV4 + r"|[0-9A-Fa-f]{1,4}|:)(?:%[\w.]+)?)(?![\w:])"
    r")"
)
_VERSION_BEFORE_RE = re.compile(r"(?i)(?:version|ver|release|build)\s*[:=]?\s*$")

# Lengths from the SWIFT IBAN registry.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
    "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """``iban`` without spaces, upper case: right length for its country and mod-97 == 1."""
    if _IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit():
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def _card_shape_ok(lengths: list[int]) -> bool:
    total = sum(lengths)
    if not 13 <= total <= 19:
        return False
    if len(lengths) == 1:
        return True
    if lengths in ([4, 6, 5], [4, 6, 4]):
        return True
    return all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 4


def _looks_like_timestamp(digits: str) -> bool:
    n = len(digits)
    if n not in (13, 16, 19):
        return False
    scale = 10 ** (n - 13)
    return 1_000_000_000_000 * scale <= int(digits) < 2_100_000_000_000 * scale


def _jwt_header_ok(segment: str) -> bool:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        return isinstance(json.loads(raw), dict)
    except (binascii.Error, ValueError):
        return False


# --------------------------------------------------------------------------------------------------
# the scrubber


class Scrubber:
    """Scrubs values, attribute maps and decoded records; build one per project and reuse it.

    ``scrub_span``/``scrub_log``/``scrub_metric_point`` change the record in place and return how many
    values changed. Attribute maps are never modified in place (the decoders may share them); a
    record whose attributes changed gets a new dict. ``Resource`` is frozen and shared by the records
    of one request, so a changed resource is replaced by a new ``Resource``, computed once per
    resource object (cached by identity; ``scrub_batch``/``scrub_decoded`` reset the cache per batch)
    and counted once, on the first record that carries it.
    """

    def __init__(
        self,
        rules: Sequence[ScrubRule] = (),
        *,
        scrub_ips: bool = False,
        hash_secret: bytes = b"",
        default_action: Literal["replace", "hash"] = "replace",
    ) -> None:
        if default_action not in ("replace", "hash"):
            raise ValueError(f"default_action must be 'replace' or 'hash', not {default_action!r}.")
        rules = tuple(rules)
        for rule in rules:
            if not isinstance(rule, ScrubRule):
                raise TypeError(f"rules must be ScrubRule instances, got {type(rule).__name__}")
        uses_hash = default_action == "hash" or any(rule.action == "hash" for rule in rules)
        if uses_hash and not hash_secret:
            raise ValueError(
                "Hash mode needs a hash_secret (the project's HMAC key): without one the hashes of short "
                "values such as card numbers could be reversed by trying every value."
            )
        self.scrub_ips = scrub_ips
        self.default_action = default_action
        self._secret = bytes(hash_secret)
        self._key_rules = [rule for rule in rules if rule.kind == "key"]
        self._regex_rules = [rule for rule in rules if rule.kind == "regex"]
        self._min_len = 1 if self._regex_rules else 3 if scrub_ips else 6
        self._keys: dict[str, _KeyInfo] = {}
        self._modes: dict[str, int] = {}  # per key in _keys: its mode, -1 if redacted whole (for scrub_screen)
        self._clean_params: set[str] = set()  # URL parameter names that are not credentials (scrub_screen)
        self._param_tokens: dict[str, str] = {}  # URL parameter names whose values are replaced, and the token
        # Values found clean, per key mode: most attribute values repeat (methods, routes, statements,
        # user agents), so the second sighting costs one set lookup. Values that were changed are never
        # kept, so no PII stays here.
        self._clean = CleanCache(_KeyInfo.MODES, _CLEAN_CACHE_ENTRIES, _CLEAN_CACHE_MAX_LENGTH)
        self._clean_free_text = self._clean.sets[_FREE_TEXT.mode]  # names and status messages (scrub_spans)
        # scrub_screen.innocent decides for the default rules only: with custom expressions or client IPs, look.
        self._innocence_names = None if self._regex_rules or scrub_ips else _KV_NAME_SET
        # URLs with credential parameters, redacted in C into a string known clean (scrub_screen.UrlMasks): for the
        # default rules replacing, where a credential's token does not depend on its value.
        self._url_masks = (
            UrlMasks(self._clean_params, self._param_tokens)
            if self._innocence_names is not None and default_action == "replace"
            else None
        )
        self._url_candidates: set[str] = set()  # URLs so redacted once: seen again, they are checked (_learn_url)
        self._resources: dict[int, tuple[Resource, Resource, int]] = {}

    # ----- tokens

    def _token(self, category: str, raw: str, action: str | None = None) -> str:
        if (action or self.default_action) == "hash":
            digest = hmac.new(self._secret, raw.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
            return f"[HASH:{digest[:12]}]"
        return f"[REDACTED:{category}]"

    # ----- keys

    def _key_info(self, key: str) -> _KeyInfo:
        info = self._keys.get(key)
        if info is None:
            if len(self._keys) > 20_000:
                self._keys.clear()
                self._modes.clear()
            info = self._keys[key] = self._classify_key(key)
            self._modes[key] = -1 if info.category is not None else info.mode
        return info

    def _classify_key(self, key: str) -> _KeyInfo:
        lower = key.lower()
        last = lower.rsplit(".", 1)[-1]
        for rule in self._key_rules:
            pattern = rule.pattern.lower()
            if fnmatch.fnmatchcase(lower, pattern) or last == pattern or _words(last) == _words(pattern):
                return _KeyInfo(rule.category, rule.action)
        category = _classify_name(key.rsplit(".", 1)[-1])
        last_words = _words(last)
        return _KeyInfo(
            category,
            None,
            url=lower in _URL_KEYS,
            query_start=lower in {"url.query", "url.fragment"},
            ip_key=lower in _IP_KEYS,
            ip_exempt=lower in _IP_EXEMPT_KEYS or (bool(last_words) and last_words[-1] == "version"),
            no_card=bool(last_words) and last_words[-1] in _ID_LIKE_LAST_WORDS,
        )

    # ----- values

    def scrub_value(self, key: str, value: Any) -> Any:
        """The scrubbed value for attribute ``key``; the same object when nothing was found."""
        return self._value(self._key_info(key), key, value)[0]

    def scrub_text(self, text: str) -> str:
        """Scrub free text (no key context), e.g. a log body or an exception message."""
        return self._string(text, _FREE_TEXT)

    def scrub_attributes(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """A scrubbed copy of ``attrs`` (recursing into lists and kvlists); ``attrs`` itself if nothing changed."""
        return self._attrs(attrs, "")[0]

    def _attrs(self, attrs: dict[str, Any], prefix: str) -> tuple[dict[str, Any], int]:
        """The hot loop of ingest, for every attribute map of every record: the common cases (a number, a string
        known clean) are decided in C (``scrub_screen``), and only the rest is looked at here."""
        replaced: dict[str, Any] | None = {} if self._url_masks is not None else None
        pending = needing_a_look(
            attrs, prefix, self._modes, self._clean, self._min_len, self._innocence_names, self._url_masks, replaced
        )
        changed = len(replaced) if replaced else 0
        out: dict[str, Any] | None = {**attrs, **replaced} if replaced else None
        for key in pending or ():
            path = prefix + key if prefix else key
            new, n = self._value(self._key_info(path), path, attrs[key])
            if n:
                if out is None:
                    out = dict(attrs)
                out[key] = new
                changed += n
        return (attrs if out is None else out), changed

    def _value(self, info: _KeyInfo, path: str, value: Any) -> tuple[Any, int]:
        kind = type(value)
        if info.category is not None:
            return self._redact_whole(info, value)
        if kind is str:
            if len(value) < self._min_len:
                return value, 0
            new = self._string(value, info)
            return new, int(new is not value)
        if kind is list:
            out = None
            changed = 0
            for index, item in enumerate(value):
                new, n = self._value(info, path, item)
                if n:
                    if out is None:
                        out = list(value)
                    out[index] = new
                    changed += n
            return (value if out is None else out), changed
        if kind is dict and not (len(value) == 1 and BYTES_MARKER in value):
            return self._attrs(value, path + ".")
        return value, 0

    def _redact_whole(self, info: _KeyInfo, value: Any) -> tuple[Any, int]:
        category = info.category
        assert category is not None
        if isinstance(value, str):
            if not value or _TOKEN_RE.fullmatch(value):
                return value, 0
            if category == "authorization":
                return self._authorization_value(value, info.action), 1
            return self._token(category, value, info.action), 1
        if isinstance(value, list):
            out = list(value)
            changed = 0
            for index, item in enumerate(value):
                out[index], n = self._redact_whole(info, item)
                changed += n
            return (out if changed else value), changed
        if value is None:
            return value, 0
        try:
            raw = json.dumps(value, sort_keys=True, default=str)
        except ValueError:
            raw = repr(value)
        return self._token("secret" if category == "authorization" else category, raw, info.action), 1

    def _authorization_value(self, value: str, action: str | None) -> str:
        """``Bearer abc`` -> ``Bearer [REDACTED:bearer]``: the scheme stays, the credentials go."""
        scheme, sep, credentials = value.partition(" ")
        credentials = credentials.strip()
        if sep and credentials and scheme.isalpha():
            if _TOKEN_RE.fullmatch(credentials):
                return value
            category = "bearer" if scheme.lower() == "bearer" else "secret"
            return f"{scheme} {self._token(category, credentials, action)}"
        return self._token("bearer" if value.startswith("eyJ") else "secret", value, action)

    # ----- strings

    def _string(self, s: str, info: _KeyInfo) -> str:
        if s in self._clean.sets[info.mode]:
            return s
        out = s
        for rule in self._regex_rules:
            out = self._apply_custom(rule, out)
        if _TOKEN_RE.fullmatch(out) is None:
            out = self._credentials(out, info)
            out = self._patterns(out, info)
        if out != s:
            if self._url_masks is not None and info.mode & _URL_MODES == _URL_MODE:
                self._learn_url(s, out, info)
            return out
        self._clean.remember(info.mode, s)
        return s

    def _learn_url(self, url: str, scrubbed: str, info: _KeyInfo) -> None:
        """When the scrubbed ``url`` is just its credential parameters replaced (``UrlMasks.masked``), remember it
        clean once a second URL is scrubbed into it and a look at it finds nothing: later URLs that differ only
        in those credentials (session ids, tokens) are then redacted in C (``needing_a_look``). Checked on the
        second sighting, so a URL seen once costs one set entry, not a second look."""
        assert self._url_masks is not None
        if len(scrubbed) > _CLEAN_CACHE_MAX_LENGTH or self._url_masks.masked(url) != scrubbed:
            return  # too long to be remembered clean, or more than credentials changed
        if scrubbed not in self._url_candidates:
            if len(self._url_candidates) > 10_000:
                self._url_candidates.clear()
            self._url_candidates.add(scrubbed)
            return
        self._url_candidates.discard(scrubbed)
        self._string(scrubbed, info)  # remembers it clean if a look changes nothing

    def _credentials(self, out: str, info: _KeyInfo) -> str:
        """Things recognised by a name next to them: URL parameters, ``name=value``, ``Authorization:``."""
        if "=" in out:
            if info.url:
                out = self._params(_PARAM_RE, out) if info.query_start else self._url_params(out)
            elif "?" in out or "&" in out or "#" in out or ";" in out:
                out = self._params(_PARAM_FREE_RE, out)
        lower = out.lower()
        if ("=" in out or ":" in out) and names_a_credential(lower, _KV_NAME_SET):
            out = _KV_RE.sub(self._kv_sub, out)
        if "uthori" in lower:
            out = _AUTH_RE.sub(self._auth_sub, out)
        if "@" in out and "://" in out:
            out = _USERINFO_RE.sub(self._userinfo_sub, out)
        if "earer" in lower:
            out = _BEARER_RE.sub(self._bearer_sub, out)
        return out

    def _patterns(self, out: str, info: _KeyInfo) -> str:
        """Things recognised by their own shape: JWTs, emails, IBANs, cards, IPs."""
        if "eyJ" in out:
            out = _JWT_RE.sub(self._jwt_sub, out)
        if "@" in out:
            out = _EMAIL_RE.sub(self._email_sub, out)
        shape = text_shape(out)  # the JWT and email tokens above add neither shape
        if shape & IBAN_SHAPE:
            out = _IBAN_RE.sub(self._iban_sub, out)
        if not info.no_card and shape & CARD_SHAPE:
            out = _DIGIT_RUN_RE.sub(self._card_sub, out)
        if self.scrub_ips and not info.ip_exempt and (info.ip_key or _IP_QUICK.search(out)):
            out = self._ips(out, info)
        return out

    def _apply_custom(self, rule: ScrubRule, s: str) -> str:
        compiled = rule.compiled
        assert compiled is not None
        group = "redact" if "redact" in compiled.groupindex else None

        def sub(match: re.Match[str]) -> str:
            text = match.group(0)
            if _TOKEN_RE.fullmatch(text):
                return text
            if group is None:
                return self._token(rule.category, text, rule.action)
            start, end = match.span(group)
            if start < 0 or start == end:
                return text
            offset = match.start()
            inner = match.group(group)
            return text[: start - offset] + self._token(rule.category, inner, rule.action) + text[end - offset :]

        return compiled.sub(sub, s)

    def _url_params(self, url: str) -> str:
        """Query and fragment parameters of a URL; the part before ``?``/``#`` is kept as it is."""
        cut = len(url)
        for mark in "?#;":
            index = url.find(mark)
            if index != -1 and index < cut:
                cut = index
        if cut == len(url):
            return url
        query = url[cut:]
        scrubbed = self._params(_PARAM_RE, query)
        return url if scrubbed is query else url[:cut] + scrubbed

    def _params(self, pattern: re.Pattern[str], text: str) -> str:
        """``pattern`` (a URL-parameter expression) substituted by ``_param_sub``; ``text`` itself when the compiled
        gate shows no parameter can change (names known clean, nothing to decode)."""
        if not params_need_a_look(text, self._clean_params):
            return text
        return pattern.sub(self._param_sub, text)

    def _param_sub(self, match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2)
        if not value or _TOKEN_RE.fullmatch(value):
            return match.group(0)
        category = _param_category(name)
        if category is not None:
            token = self._token(category, unquote_plus(value))
            if self.default_action == "replace":  # the token depends on the name alone (scrub_screen.UrlMasks)
                if len(self._param_tokens) > 10_000:
                    self._param_tokens.clear()
                self._param_tokens[name] = token
            return f"{name}={token}"
        if len(self._clean_params) > 10_000:
            self._clean_params.clear()
        self._clean_params.add(name)  # its values are never redacted by name (a pure function of the name)
        if "%" in value or "+" in value:
            decoded = unquote_plus(value)
            if decoded != value:
                scrubbed = self._string(decoded, _FREE_TEXT)
                if scrubbed != decoded:
                    return f"{name}={quote(scrubbed, safe='[]:')}"
        return match.group(0)

    def _kv_sub(self, match: re.Match[str]) -> str:
        value_group = 4 if match.group(4) is not None else 5 if match.group(5) is not None else 6
        value = match.group(value_group)
        if not value or value.startswith(("[REDACTED:", "[HASH:")) or _PLACEHOLDER_RE.match(value):
            return match.group(0)
        name = match.group(2).lower().replace("-", "_")
        if name == "token" and value.isdigit() and len(value) < 8:
            return match.group(0)
        category = _classify_name(name) or "secret"
        if category == "authorization":
            category = "secret"
        start, end = match.span(value_group)
        offset = match.start()
        text = match.group(0)
        return text[: start - offset] + self._token(category, value) + text[end - offset :]

    def _auth_sub(self, match: re.Match[str]) -> str:
        scheme, credentials = match.group(2), match.group(3)
        if _TOKEN_RE.fullmatch(credentials) or _PLACEHOLDER_RE.match(credentials):
            return match.group(0)
        if scheme is None and len(credentials) < 8:
            return match.group(0)
        category = "bearer" if (scheme or "").lower() == "bearer" else "secret"
        return match.group(1) + (f"{scheme} " if scheme else "") + self._token(category, credentials)

    def _userinfo_sub(self, match: re.Match[str]) -> str:
        password = match.group(2)
        if _TOKEN_RE.fullmatch(password):
            return match.group(0)
        return match.group(1) + self._token("secret", password) + match.group(3)

    def _bearer_sub(self, match: re.Match[str]) -> str:
        token = match.group(2)
        has_digit = any(char.isdigit() for char in token)
        has_symbol = any(char in "-._~+/=" for char in token)
        if len(token) < 8 or not (has_digit or has_symbol or len(token) >= 24):
            return match.group(0)
        return match.group(1) + self._token("bearer", token)

    def _jwt_sub(self, match: re.Match[str]) -> str:
        if not _jwt_header_ok(match.group(1)):
            return match.group(0)
        return self._token("jwt", match.group(0))

    def _email_sub(self, match: re.Match[str]) -> str:
        if match.group(1).lower() in _NOT_TLDS:
            return match.group(0)
        return self._token("email", match.group(0).lower())

    def _iban_sub(self, match: re.Match[str]) -> str:
        text = match.group(0)
        length = _IBAN_LENGTHS.get(match.group(1))
        if length is None:
            return text
        collected = []
        end = 0
        for index, char in enumerate(text):
            if char != " ":
                collected.append(char)
                if len(collected) == length:
                    end = index + 1
                    break
        if len(collected) != length:
            return text
        following = match.string[match.start() + end : match.start() + end + 1]
        if following.isalnum():
            return text
        iban = "".join(collected)
        if not iban_valid(iban):
            return text
        return self._token("iban", iban) + text[end:]

    def _card_sub(self, match: re.Match[str]) -> str:
        text = match.group(0)
        if len(text) < 13 or _IBAN_PREFIX_RE.search(match.string, max(0, match.start() - 5), match.start()):
            return text
        groups = re.split(r"([ -])", text)
        numbers = groups[0::2]
        if len(numbers) == 1:
            if 13 <= len(text) <= 19 and not _looks_like_timestamp(text) and luhn_valid(text):
                return self._token("card", text)
            return text
        separators = groups[1::2]
        out: list[str] = []
        i = 0
        count = len(numbers)
        while i < count:
            found = 0
            for j in range(min(count, i + 5), i, -1):
                window = numbers[i:j]
                if _card_shape_ok([len(n) for n in window]):
                    digits = "".join(window)
                    single = j - i == 1
                    if luhn_valid(digits) and not (single and _looks_like_timestamp(digits)):
                        found = j
                        break
            if found:
                out.append(self._token("card", "".join(numbers[i:found])))
                if found < count:
                    out.append(separators[found - 1])
                i = found
            else:
                out.append(numbers[i])
                if i + 1 < count:
                    out.append(separators[i])
                i += 1
        return "".join(out)

    def _ips(self, s: str, info: _KeyInfo) -> str:
        if info.ip_key:
            stripped = s.strip()
            candidate = stripped[1:-1] if stripped.startswith("[") and stripped.endswith("]") else stripped
            try:
                ipaddress.ip_address(candidate.split("%", 1)[0])
            except ValueError:
                pass
            else:
                return self._token("ip", candidate)
        if not any(char.isdigit() for char in s):
            return s

        def sub(match: re.Match[str]) -> str:
            text = match.group(0)
            if match.group(1) is not None:
                if not info.ip_key and _VERSION_BEFORE_RE.search(match.string, 0, match.start()):
                    return text
                return self._token("ip", text)
            try:
                address = ipaddress.IPv6Address(text.split("%", 1)[0])
            except ValueError:
                return text
            if address.is_unspecified or text.count(":") < 2:
                return text
            return self._token("ip", text)

        return _IP_RE.sub(sub, s)

    # ----- records

    def _resource(self, resource: Resource) -> tuple[Resource, int]:
        cached = self._resources.get(id(resource))
        if cached is not None and cached[0] is resource:
            return cached[1], 0
        attributes, changed = self._attrs(resource.attributes, "")
        new = dataclasses.replace(resource, attributes=attributes) if changed else resource
        if len(self._resources) > 4096:
            self._resources.clear()
        self._resources[id(resource)] = (resource, new, changed)
        if new is not resource:
            self._resources[id(new)] = (new, new, 0)
        return new, changed

    def reset_cache(self) -> None:
        """Forget the resources seen so far (call between batches; ``scrub_batch`` does it for you)."""
        self._resources.clear()

    def scrub_span(self, span: Span) -> int:
        """Attributes, name, status message, event and link attributes, and the resource, in place."""
        changed = self._scrub_span_content(span)
        span.resource, n = self._resource(span.resource)
        return changed + n

    def _scrub_span_content(self, span: Span) -> int:
        """``scrub_span`` but the resource."""
        changed = 0
        span.attributes, n = self._attrs(span.attributes, "")
        changed += n
        for field in ("name", "status_message"):
            text = getattr(span, field)
            if text:
                new = self._string(text, _FREE_TEXT)
                if new is not text:
                    setattr(span, field, new)
                    changed += 1
        for event in span.events:
            event.attributes, n = self._attrs(event.attributes, "")
            changed += n
        for link in span.links:
            link.attributes, n = self._attrs(link.attributes, "")
            changed += n
        return changed

    def scrub_log(self, log: LogRecord) -> int:
        """Body (string, kvlist, list; other types are left alone), attributes and resource, in place."""
        changed = 0
        if log.body is not None:
            log.body, n = self._value(_FREE_TEXT, "", log.body)
            changed += n
        log.attributes, n = self._attrs(log.attributes, "")
        changed += n
        log.resource, n = self._resource(log.resource)
        return changed + n

    def scrub_metric_point(self, point: MetricPoint) -> int:
        """Attributes, exemplar attributes and resource, in place."""
        point.attributes, changed = self._attrs(point.attributes, "")
        for exemplar in point.exemplars:
            exemplar.attributes, n = self._attrs(exemplar.attributes, "")
            changed += n
        point.resource, n = self._resource(point.resource)
        return changed + n

    def scrub_batch(
        self, spans: Iterable[Span] = (), logs: Iterable[LogRecord] = (), metrics: Iterable[MetricPoint] = ()
    ) -> int:
        """Scrub one request's records; resources are scrubbed once each. Returns the values changed."""
        self._resources.clear()
        try:
            changed = scrub_spans(self, spans if isinstance(spans, list) else list(spans))
            changed += sum(self.scrub_log(log) for log in logs)
            changed += sum(self.scrub_metric_point(point) for point in metrics)
        finally:
            self._resources.clear()
        return changed

    def scrub_decoded(self, decoded: Decoded) -> int:
        return self.scrub_batch(decoded.spans, decoded.logs, decoded.metrics)
