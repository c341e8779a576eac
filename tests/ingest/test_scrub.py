"""Unit tests for the ingest PII scrubber (pure: no database)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from apps.ingest.scrub import Scrubber, ScrubRule, compile_custom_regex, is_secret_key
from apps.otlp.types import Exemplar, LogRecord, MetricPoint, Resource, Scope, Span, SpanEvent, SpanLink

CARD = "4111 1111 1111 1111"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


def make_span(attributes: dict, resource: Resource | None = None, **kwargs) -> Span:
    return Span(
        resource=resource or Resource({"service.name": "checkout"}),
        scope=Scope("tests"),
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        parent_span_id=None,
        name=kwargs.pop("name", "GET /api/orders"),
        kind=2,
        start_ns=1,
        end_ns=2,
        attributes=attributes,
        **kwargs,
    )


def make_log(body, attributes: dict | None = None, resource: Resource | None = None) -> LogRecord:
    return LogRecord(
        resource=resource or Resource({"service.name": "checkout"}),
        scope=Scope(),
        time_ns=1,
        observed_time_ns=1,
        severity_number=9,
        severity_text="INFO",
        body=body,
        attributes=attributes or {},
    )


# ----------------------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (
            "url.full",
            "https://api.example.com/v1/geo/lookup?q=berlin&api_key=abc123def456&page=2#top",
            "https://api.example.com/v1/geo/lookup?q=berlin&api_key=[REDACTED:api_key]&page=2#top",
        ),
        ("http.target", "/search?page=2&sort=asc&token=t0ps3cret", "/search?page=2&sort=asc&token=[REDACTED:api_key]"),
        ("url.query", "access_token=xyz987654&lang=en", "access_token=[REDACTED:api_key]&lang=en"),
        (
            "http.url",
            "https://x.example.com/cb#access_token=abc123&state=s1",
            "https://x.example.com/cb#access_token=[REDACTED:api_key]&state=s1",
        ),
        (
            "url.full",
            "https://x.example.com/login?next=%2Fhome&password=hunter2",
            "https://x.example.com/login?next=%2Fhome&password=[REDACTED:secret]",
        ),
        (
            "url.full",
            "https://x.example.com/u?email=bob%40example.com&x=1",
            "https://x.example.com/u?email=[REDACTED:email]&x=1",
        ),
        ("http.target", "/app;jsessionid=ABCDEF0123?tab=1", "/app;jsessionid=[REDACTED:secret]?tab=1"),
        ("url.full", "https://user:pa55word@example.com/x?y=1", "https://user:[REDACTED:secret]@example.com/x?y=1"),
        (
            "body",
            "GET /v1/items?api_key=k_live_123456&page=2 200",
            "GET /v1/items?api_key=[REDACTED:api_key]&page=2 200",
        ),
    ],
)
def test_url_only_sensitive_params_are_redacted(key: str, value: str, expected: str) -> None:
    assert Scrubber().scrub_value(key, value) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example.com/api/products?page=2&sort=asc",
        "https://shop.example.com/api?q=shoes&limit=20&tokenizer=bpe&keyword=x&key_type=rsa",
        "/api/v2/orders/{id}?expand=items",
        "https://shop.example.com/",
    ],
)
def test_harmless_urls_are_unchanged(url: str) -> None:
    scrubber = Scrubber()
    assert scrubber.scrub_value("url.full", url) is url
    assert scrubber.scrub_attributes({"url.full": url, "http.status_code": 200}) == {
        "url.full": url,
        "http.status_code": 200,
    }


# ----------------------------------------------------------------------------------------- replacement


def test_only_the_sensitive_part_of_free_text_is_replaced() -> None:
    scrubber = Scrubber()
    assert scrubber.scrub_text(f"charge for {CARD} by bob@example.com failed") == (
        "charge for [REDACTED:card] by [REDACTED:email] failed"
    )
    assert scrubber.scrub_text("Authorization: Bearer abcdef0123456789") == "Authorization: Bearer [REDACTED:bearer]"
    assert scrubber.scrub_text(f"jwt {JWT} ok") == "jwt [REDACTED:jwt] ok"
    assert scrubber.scrub_text("to DE89 3704 0044 0532 0130 00 now") == "to [REDACTED:iban] now"
    assert scrubber.scrub_text('{"password": "hunter2", "user": "bob"}') == (
        '{"password": "[REDACTED:secret]", "user": "bob"}'
    )


def test_luhn_invalid_numbers_and_timestamps_are_not_cards() -> None:
    scrubber = Scrubber()
    for text in [
        "4111 1111 1111 1112",
        "ts 1732848000123",
        "ns 1732848000123456789",
        "uuid 12345678-1234-1234-1234-123456789012",
    ]:
        assert scrubber.scrub_text(text) == text
    assert scrubber.scrub_value("order.id", "4111111111111111") == "4111111111111111"  # id-like key


def test_scrubbing_twice_changes_nothing() -> None:
    scrubber = Scrubber()
    once = scrubber.scrub_text(f"{CARD} bob@example.com Bearer abc123456789 ?api_key=abcdef1")
    assert scrubber.scrub_text(once) is once
    assert scrubber.scrub_value("db.password", "[REDACTED:secret]") == "[REDACTED:secret]"


# ----------------------------------------------------------------------------------------- key names


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "db.password",
        "userPassword",
        "passwd",
        "pwd",
        "client_secret",
        "oauth.clientSecret",
        "token",
        "refresh_token",
        "http.request.header.cookie",
        "http.response.header.set-cookie",
        "session",
        "sessionid",
        "credentials",
        "private_key",
        "http.request.header.x-api-key",
        "app.API_KEY",
        "apikey",
        "Authorization",
    ],
)
def test_secret_key_names(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "token_count",
        "tokens",
        "gen_ai.usage.input_tokens",
        "gen_ai.request.max_tokens",
        "llm.token_count.prompt",
        "http.status_code",
        "cache.key",
        "session.id",
        "next_page_token",
        "password_policy",
        "k8s.secret.name",
        "primary_key",
    ],
)
def test_not_secret_key_names(key: str) -> None:
    assert not is_secret_key(key)


def test_key_rules_redact_any_value_type() -> None:
    scrubber = Scrubber()
    scrubbed = scrubber.scrub_attributes(
        {
            "db.password": 1234,
            "app.secret": True,
            "credentials": {"user": "u", "pass": "p"},
            "http.request.header.authorization": ["Bearer abc.def.ghi", "Basic dXNlcjpwYXNz"],
            "http.request.header.x-api-key": "k-123",
            "gen_ai.usage.input_tokens": 1234,
            "token_count": "17",
            "password": "",
        }
    )
    assert scrubbed == {
        "db.password": "[REDACTED:secret]",
        "app.secret": "[REDACTED:secret]",
        "credentials": "[REDACTED:secret]",
        "http.request.header.authorization": ["Bearer [REDACTED:bearer]", "Basic [REDACTED:secret]"],
        "http.request.header.x-api-key": "[REDACTED:api_key]",
        "gen_ai.usage.input_tokens": 1234,
        "token_count": "17",
        "password": "",
    }


# ----------------------------------------------------------------------------------------- hash mode


def test_hash_mode_is_deterministic_and_joinable() -> None:
    secret = b"project-secret"
    scrubber = Scrubber(hash_secret=secret, default_action="hash")
    one = scrubber.scrub_value("enduser.id", "Bob@Example.com")
    two = scrubber.scrub_value("exception.message", "user bob@example.com not found")
    expected = hmac.new(secret, b"bob@example.com", hashlib.sha256).hexdigest()[:12]
    assert one == f"[HASH:{expected}]"
    assert two == f"user [HASH:{expected}] not found"
    # separators do not change a card's hash; another secret gives another hash
    assert scrubber.scrub_text("4111111111111111") == scrubber.scrub_text("4111-1111-1111-1111")
    other = Scrubber(hash_secret=b"other", default_action="hash")
    assert other.scrub_value("enduser.id", "bob@example.com") != one
    # a second scrubber with the same secret agrees (e.g. another worker process)
    assert Scrubber(hash_secret=secret, default_action="hash").scrub_value("user.email", "bob@example.com") == one


def test_hash_mode_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="hash_secret"):
        Scrubber(default_action="hash")
    with pytest.raises(ValueError, match="hash_secret"):
        Scrubber([ScrubRule("key", "ssn", "hash", "ssn")])


# ----------------------------------------------------------------------------------------- custom rules


def test_custom_key_rules_glob_and_last_segment() -> None:
    scrubber = Scrubber(
        [
            ScrubRule("key", "customer.*", "replace", "customer"),
            ScrubRule("key", "ssn", "hash", "ssn"),
        ],
        hash_secret=b"k",
    )
    scrubbed = scrubber.scrub_attributes(
        {"customer.name": "Bob", "customer.tier": 3, "billing.ssn": "123-45-6789", "ssn_last4": "6789", "x": "y"}
    )
    digest = hmac.new(b"k", b"123-45-6789", hashlib.sha256).hexdigest()[:12]
    assert scrubbed == {
        "customer.name": "[REDACTED:customer]",
        "customer.tier": "[REDACTED:customer]",
        "billing.ssn": f"[HASH:{digest}]",
        "ssn_last4": "6789",
        "x": "y",
    }


def test_custom_regex_rules_replace_match_or_named_group() -> None:
    scrubber = Scrubber(
        [
            ScrubRule("regex", r"EMP-\d{6}", "replace", "employee"),
            ScrubRule("regex", r"ssn=(?P<redact>\d{3}-\d{2}-\d{4})", "replace", "ssn"),
        ]
    )
    assert scrubber.scrub_value("body", "EMP-123456 filed ssn=123-45-6789 today") == (
        "[REDACTED:employee] filed ssn=[REDACTED:ssn] today"
    )
    assert scrubber.scrub_value("short", "EMP-1") == "EMP-1"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(unclosed", "Invalid regex"),
        ("a" * 501, "limit is 500"),
        ("x*", "matches the empty string"),
        ("(a+)+$", "backtrack catastrophically"),
        (r"(\w+\s?)*end", "backtrack catastrophically"),
        (r"(?:x|y+)*z", "backtrack catastrophically"),
        ("", "non-empty"),
    ],
)
def test_invalid_regex_rules_are_refused(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScrubRule("regex", pattern, "replace", "custom")


def test_rule_fields_are_validated() -> None:
    with pytest.raises(ValueError, match="kind"):
        ScrubRule("glob", "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="action"):
        ScrubRule("key", "x", "drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="category"):
        ScrubRule("key", "x", "replace", "has space")
    assert compile_custom_regex(r"\d{3}-\d{2}-\d{4}").pattern == r"\d{3}-\d{2}-\d{4}"


# ----------------------------------------------------------------------------------------- structure


def test_nested_lists_and_kvlists() -> None:
    attrs = {
        "app.recipients": ["ops@example.com", "team", 3],
        "app.request": {"user": {"email": "bob@example.com", "password": "x1"}, "page": 2},
        "app.matrix": [["a", "carol@example.org"], [1, 2]],
    }
    scrubbed = Scrubber().scrub_attributes(attrs)
    assert scrubbed == {
        "app.recipients": ["[REDACTED:email]", "team", 3],
        "app.request": {"user": {"email": "[REDACTED:email]", "password": "[REDACTED:secret]"}, "page": 2},
        "app.matrix": [["a", "[REDACTED:email]"], [1, 2]],
    }
    # the input is not modified (decoders may share attribute dicts)
    assert attrs["app.request"]["user"]["email"] == "bob@example.com"
    assert attrs["app.recipients"][0] == "ops@example.com"


def test_bytes_and_other_non_strings_are_untouched() -> None:
    data = {"$bytes": "Ym9iQGV4YW1wbGUuY29tIDQxMTExMTExMTExMTExMTE="}  # base64 of an email and a card
    attrs = {"app.blob": data, "app.count": 4111111111111111, "app.ratio": 0.5, "app.flag": True}
    scrubbed = Scrubber().scrub_attributes(attrs)
    assert scrubbed is attrs
    assert scrubbed["app.blob"] is data


def test_clean_attributes_are_returned_as_is() -> None:
    attrs = {"http.method": "GET", "http.route": "/api/orders/{id}", "http.status_code": 200}
    assert Scrubber().scrub_attributes(attrs) is attrs


# ----------------------------------------------------------------------------------------- records


def test_scrub_span_covers_events_links_and_resource() -> None:
    resource = Resource({"service.name": "checkout", "deployment.owner": "ops@example.com"})
    span = make_span(
        {"url.full": "https://x.example.com/a?api_key=k123456&page=1", "http.method": "GET", "db.password": "pw"},
        resource,
        status_message="user bob@example.com failed",
        events=[SpanEvent(1, "exception", {"exception.message": "No account for jane@example.com", "x": 1})],
        links=[SpanLink(b"\x03" * 16, b"\x04" * 8, "", {"app.token": "t-123456"})],
    )
    assert Scrubber().scrub_span(span) == 6
    assert span.attributes == {
        "url.full": "https://x.example.com/a?api_key=[REDACTED:api_key]&page=1",
        "http.method": "GET",
        "db.password": "[REDACTED:secret]",
    }
    assert span.status_message == "user [REDACTED:email] failed"
    assert span.events[0].attributes == {"exception.message": "No account for [REDACTED:email]", "x": 1}
    assert span.links[0].attributes == {"app.token": "[REDACTED:secret]"}
    assert span.resource is not resource
    assert span.resource.attributes == {"service.name": "checkout", "deployment.owner": "[REDACTED:email]"}
    assert resource.attributes["deployment.owner"] == "ops@example.com"  # the frozen original is untouched


def test_shared_resources_are_scrubbed_once_per_batch() -> None:
    resource = Resource({"service.name": "checkout", "host.owner": "ops@example.com"})
    clean = Resource({"service.name": "cart"})
    spans = [make_span({"i": i}, resource) for i in range(3)] + [make_span({}, clean)]
    scrubber = Scrubber()
    assert scrubber.scrub_batch(spans=spans) == 1
    assert spans[0].resource is spans[1].resource is spans[2].resource
    assert spans[0].resource.attributes["host.owner"] == "[REDACTED:email]"
    assert spans[3].resource is clean
    # a later batch with the same (already scrubbed) resource objects changes nothing
    assert scrubber.scrub_batch(spans=spans) == 0


def test_clean_span_is_unchanged() -> None:
    attributes = {"http.method": "GET", "http.route": "/api/orders", "http.status_code": 200}
    span = make_span(attributes)
    resource = span.resource
    assert Scrubber().scrub_span(span) == 0
    assert span.attributes is attributes
    assert span.resource is resource


@pytest.mark.parametrize(
    ("body", "expected", "count"),
    [
        ("login failed for bob@example.com", "login failed for [REDACTED:email]", 1),
        (
            {"user": "bob@example.com", "password": "x", "n": 1},
            {"user": "[REDACTED:email]", "password": "[REDACTED:secret]", "n": 1},
            2,
        ),
        (["bob@example.com", 1, {"card": CARD}], ["[REDACTED:email]", 1, {"card": "[REDACTED:card]"}], 2),
        (4111111111111111, 4111111111111111, 0),
        (None, None, 0),
        ({"$bytes": "Ym9iQGV4YW1wbGUuY29t"}, {"$bytes": "Ym9iQGV4YW1wbGUuY29t"}, 0),
    ],
)
def test_scrub_log_body_types(body, expected, count: int) -> None:
    log = make_log(body, {"enduser.id": "carol@example.org"})
    assert Scrubber().scrub_log(log) == count + 1
    assert log.body == expected
    assert log.attributes == {"enduser.id": "[REDACTED:email]"}


def test_scrub_metric_point_attributes_and_exemplars() -> None:
    point = MetricPoint(
        resource=Resource({"service.name": "checkout"}),
        scope=Scope(),
        name="http.server.duration",
        description="",
        unit="ms",
        kind=3,
        attributes={"http.route": "/pay", "user.email": "bob@example.com"},
        start_ns=0,
        time_ns=1,
        exemplars=[Exemplar(1, 2.5, {"client.address": "203.0.113.9", "session": "abc"})],
    )
    assert Scrubber().scrub_metric_point(point) == 2
    assert point.attributes == {"http.route": "/pay", "user.email": "[REDACTED:email]"}
    assert point.exemplars[0].attributes == {"client.address": "203.0.113.9", "session": "[REDACTED:secret]"}


# ----------------------------------------------------------------------------------------- IPs


def test_ip_scrubbing_is_off_by_default_and_on_with_the_flag() -> None:
    attrs = {
        "client.address": "203.0.113.5",
        "net.peer.ip": "2001:db8::8a2e:370:7334",
        "http.client_ip": "::ffff:192.0.2.1",
        "source.address": "198.51.100.7",
        "server.address": "10.0.0.5",
        "service.version": "1.2.3.4",
        "body": "connection from 203.0.113.5:51234 ([2001:db8::1]:443), MAC 00:1a:2b:3c:4d:5e at 12:30:45",
    }
    assert Scrubber().scrub_attributes(attrs) is attrs
    scrubbed = Scrubber(scrub_ips=True).scrub_attributes(attrs)
    assert scrubbed == {
        "client.address": "[REDACTED:ip]",
        "net.peer.ip": "[REDACTED:ip]",
        "http.client_ip": "[REDACTED:ip]",
        "source.address": "[REDACTED:ip]",
        "server.address": "10.0.0.5",
        "service.version": "1.2.3.4",
        "body": "connection from [REDACTED:ip]:51234 ([[REDACTED:ip]]:443), MAC 00:1a:2b:3c:4d:5e at 12:30:45",
    }


def test_client_address_hostnames_are_kept() -> None:
    assert Scrubber(scrub_ips=True).scrub_value("client.address", "api.example.com") == "api.example.com"
