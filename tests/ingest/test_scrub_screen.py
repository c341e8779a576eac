"""The scrubber's compiled gates (apps/ingest/scrub_screen.pyx) never let through what they stand in front of.

Each gate skips a regular expression or the Python look at a value; a gate that said "nothing here" where the
expression would have found something would be a silent PII leak. These hold them to the expressions and to a
Python model of the clean-value rule on generated text, and check the gates do skip the common clean case.
"""

from __future__ import annotations

import copy
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.ingest import scrub
from apps.ingest.scrub_screen import (
    CARD_SHAPE,
    IBAN_SHAPE,
    CleanCache,
    SeenClean,
    innocent,
    names_a_credential,
    needing_a_look,
    params_need_a_look,
    text_shape,
)
from apps.otlp.types import Resource, Scope, Span, SpanEvent

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
IBAN_QUICK = re.compile(r"[A-Z]{2}\d\d")
CARD_QUICK = re.compile(r"\d(?:[ -]?\d){12}")

# Text made of the pieces the expressions care about, so generated strings hit them often.
_SHAPE_PIECES = st.sampled_from(
    ["1", "42", "4111", "411111", "4111 1111", "٣", " ", "-", "--", "DE", "GB8", "x", "Z", ".", "\n", "é"]
)
_KV_PIECES = st.sampled_from([
    *scrub._KV_NAMES.replace("[-_]?", "").replace("[-_]", "_").split("|"), "session", "api-key", "X-Api-Key",
    "Pass", "my_", "-", "_", '"', "'", " ", "\t", ":", "=", "=x", ",", "&", "é", "K", "id", "key",
])  # fmt: skip


def _joined(pieces: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(pieces, max_size=24).map("".join)


@FUZZ
@given(_joined(_SHAPE_PIECES) | st.text(max_size=60))
def test_text_shape_flags_exactly_what_the_quick_expressions_find(text: str) -> None:
    shape = text_shape(text)
    assert bool(shape & IBAN_SHAPE) == bool(IBAN_QUICK.search(text))
    assert bool(shape & CARD_SHAPE) == bool(CARD_QUICK.search(text))


@FUZZ
@given(_joined(_KV_PIECES) | st.text(max_size=60))
def test_the_credential_gate_passes_everything_the_expression_matches(text: str) -> None:
    if scrub._KV_RE.search(text):
        assert names_a_credential(text.lower(), scrub._KV_NAME_SET)


def test_the_credential_gate_skips_names_that_only_contain_a_word() -> None:
    names = scrub._KV_NAME_SET
    assert not names_a_credential("https://shop.example/cart?session=000079190&my_password=1", names)
    assert names_a_credential("https://shop.example/cart?session_id=000079190", names)
    assert names_a_credential('{"Client-Secret" : "x"}'.lower(), names)
    assert names_a_credential("password\t=hunter2", names)


def _model(attrs: dict[str, object], modes: dict[str, int], clean: list[set[str]], min_len: int) -> list[str] | None:
    pending = []
    for key, value in attrs.items():
        mode = modes.get(key)
        if mode is not None and mode >= 0:
            if type(value) is str and (len(value) < min_len or value in clean[mode]):
                continue
            if type(value) in {int, float, bool}:
                continue
        pending.append(key)
    return pending or None


_VALUES = st.one_of(
    st.sampled_from(["GET", "/cart", "a@b.example", "ok", "x", "https://h/p?q=1"]),
    st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(), st.binary(max_size=3),
    st.lists(st.sampled_from(["GET", "a@b.example"]), max_size=2), st.just({"inner": "GET"}),
)  # fmt: skip


@FUZZ
@given(
    st.dictionaries(st.sampled_from(["a", "b", "c", "d", "password"]), _VALUES, max_size=5),
    st.dictionaries(st.sampled_from(["a", "b", "c", "password"]), st.integers(-1, 2), max_size=4),
    st.integers(0, 6),
)
def test_needing_a_look_matches_the_clean_value_rule(
    attrs: dict[str, object], modes: dict[str, int], min_len: int
) -> None:
    clean: list[set[str]] = [{"GET", "/cart"}, {"ok"}, {"https://h/p?q=1"}]
    assert needing_a_look(attrs, "", modes, _cache(clean), min_len) == _model(attrs, modes, clean, min_len)


@FUZZ
@given(
    st.lists(st.dictionaries(st.sampled_from(["a", "b", "c", "d", "password"]), _VALUES, max_size=5), max_size=6),
    st.dictionaries(st.sampled_from(["a", "b", "c", "password"]), st.integers(-1, 2), max_size=4),
    st.integers(0, 6),
)
def test_the_strings_a_request_has_seen_clean_change_no_verdict(
    request_maps: list[dict[str, object]], modes: dict[str, int], min_len: int
) -> None:
    """One request's maps share their string objects (as the decoder makes them); remembering which were found
    clean, per mode, answers as the rule does for every map, also where a string seen clean under one key's mode
    is not clean under another's."""
    clean: list[set[str]] = [{"GET", "/cart"}, {"ok"}, {"https://h/p?q=1"}]
    cache, seen = _cache(clean), SeenClean(len(clean))
    for attrs in request_maps:
        assert needing_a_look(attrs, "", modes, cache, min_len, seen=seen) == _model(attrs, modes, clean, min_len)


def _cache(sets: list[set[str]]) -> CleanCache:
    cache = CleanCache(len(sets), 100, 512)
    for mode, values in enumerate(sets):
        for value in values:
            cache.remember(mode, value)
    return cache


def test_needing_a_look_prefixes_nested_keys() -> None:
    modes = {"db.statement": 0}
    assert needing_a_look({"statement": "SELECT 1"}, "db.", modes, _cache([{"SELECT 1"}]), 6) is None
    assert needing_a_look({"statement": "SELECT 1"}, "", modes, _cache([{"SELECT 1"}]), 6) == ["statement"]


def test_a_span_of_known_clean_values_is_decided_without_a_look() -> None:
    scrubber = scrub.Scrubber()
    attributes = {"http.request.method": "GET", "http.route": "/api/v1/orders/{id}", "http.response.status_code": 200}
    assert scrubber.scrub_attributes(attributes) is attributes  # first sighting: classified and found clean
    assert needing_a_look(attributes, "", scrubber._modes, scrubber._clean, scrubber._min_len) is None


_SPAN_VALUES = st.sampled_from([
    "GET", "/api/v1/orders/{id}", "jane@example.com", "4111 1111 1111 1111", "Bearer abcdef123456789", "ok", 200,
    "https://shop.example/cart?session=1&api_key=s3cr3t", "SELECT 1", "token=abc123456", None, 1.5, True,
])  # fmt: skip
_SPAN_KEYS = st.sampled_from(["http.request.method", "url.full", "enduser.id", "db.statement", "password", "note"])


def _spans(draw: st.DrawFn, resources: list[Resource]) -> list[Span]:
    spans = []
    for index in range(draw(st.integers(1, 6))):
        events = [
            SpanEvent(1, "log", draw(st.dictionaries(_SPAN_KEYS, _SPAN_VALUES, max_size=3)))
            for _ in range(draw(st.integers(0, 2)))
        ]
        spans.append(Span(
            resource=draw(st.sampled_from(resources)), scope=Scope(), trace_id=bytes(16), span_id=bytes(8),
            parent_span_id=None, name=draw(st.sampled_from(["GET /cart", "mail jane@example.com", ""])), kind=2,
            start_ns=index, end_ns=index + 1, attributes=draw(st.dictionaries(_SPAN_KEYS, _SPAN_VALUES, max_size=5)),
            status_message=draw(st.sampled_from(["", "card 4111111111111111 declined", "timeout"])), events=events,
        ))  # fmt: skip
    return spans


@FUZZ
@given(st.data())
def test_scrubbing_a_batch_through_the_gate_equals_scrubbing_each_span(data: st.DataObject) -> None:
    """The compiled span gate (``scrub_spans``) skips only spans the Python path would leave as they are, also
    once the clean-value caches are warm from earlier batches."""
    resources = [Resource({"service.name": "api", "host.ip": "10.0.0.1"}), Resource({"user.email": "a@b.example"})]
    gated, plain = scrub.Scrubber(), scrub.Scrubber()
    for _ in range(2):  # the second batch meets warm caches
        spans = _spans(data.draw, resources)
        copies = copy.deepcopy(spans)
        changed = gated.scrub_batch(spans=spans)
        plain.reset_cache()
        expected = sum(plain.scrub_span(span) for span in copies)
        assert changed == expected
        assert spans == copies


_QUERY_PIECES = st.sampled_from(
    [
        "?",
        "&",
        "#",
        ";",
        "=",
        "/",
        " ",
        "session",
        "api_key",
        "page",
        "id",
        "%41",
        "+",
        "x",
        "1",
        "é",
        "\t",
        "jane%40example.com",
    ]
)


@FUZZ
@given(_joined(_QUERY_PIECES), st.lists(_joined(_QUERY_PIECES), max_size=4))
def test_the_url_parameter_gate_passes_every_parameter_that_could_change(text: str, seen: list[str]) -> None:
    scrubber = scrub.Scrubber()
    for earlier in seen:  # parameter names met before are remembered as clean when they are
        scrub.Scrubber._url_params(scrubber, "https://h/p?" + earlier)
    for pattern in (scrub._PARAM_RE, scrub._PARAM_FREE_RE):
        if not params_need_a_look(text, scrubber._clean_params):
            assert pattern.sub(scrubber._param_sub, text) == text
        for match in pattern.finditer(text):
            if match.group(1) not in scrubber._clean_params:
                assert params_need_a_look(text, scrubber._clean_params)


def test_the_url_parameter_gate_skips_urls_of_known_names() -> None:
    scrubber = scrub.Scrubber()
    assert scrubber.scrub_value("url.full", "https://h/cart?ref=1&page=2") == "https://h/cart?ref=1&page=2"
    assert not params_need_a_look("?ref=99&page=3", scrubber._clean_params)
    assert params_need_a_look("?ref=99&api_key=3", scrubber._clean_params)
    assert params_need_a_look("?ref=9%209", scrubber._clean_params)
    assert scrubber.scrub_value("url.full", "https://h/cart?ref=1&session=s3") == (
        "https://h/cart?ref=1&session=[REDACTED:secret]"
    )


# Pieces of every kind the default rules look for, in several cases, and innocent ones around them.
_INNOCENCE_PIECES = st.sampled_from([
    "http://", "https://h.example", ":8080", "/v1/", "?", "&", "#", ";", "=", "@", ".", " ", "-", "_", ":", '"',
    "eyJ", "EYJ", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMTIz", "Authorization", "AUTHORI", "Bearer ",
    "bEaReR", "password", "Session_Id", "api-key", "token", "session", "user", "cart", "GET", "SELECT 1",
    "jane@example.com", "4111 1111 1111 1111", "4111111111111111", "DE89370400440532013000", "GB82", "10.0.0.1",
    "::1", "1", "42", "2024", "x", "é", "İ", "K", "\t", "password=", "token=x", "?session_id=1", "api_key: ",
])  # fmt: skip
_INNOCENCE_KEYS = [
    "url.full",
    "url.query",
    "db.statement",
    "note",
    "client.address",
    "exception.message",
    "code.lineno",
]


@FUZZ
@given(_joined(_INNOCENCE_PIECES) | st.text(max_size=60), st.sampled_from(_INNOCENCE_KEYS))
def test_an_innocent_value_is_one_the_scrubber_leaves_as_it_is(text: str, key: str) -> None:
    """``innocent`` stands in front of the scrubber's whole look at a string (default rules): every text it lets
    by, the scrubber would have returned unchanged, under any key not redacted whole."""
    if innocent(text, scrub._KV_NAME_SET):
        assert scrub.Scrubber().scrub_value(key, text) == text
        assert scrub.Scrubber().scrub_text(text) == text


def test_innocent_takes_plain_values_and_leaves_the_rest_to_the_scrubber() -> None:
    names = scrub._KV_NAME_SET
    for text in ("/checkout/1234567", "http://cart.shop.internal:8080/v1/12345678", "GET cart:user-1", "10.0.3.4"):
        assert innocent(text, names)
    for text in ("a=1", "jane@example.com", "x eyJhbGciOi", "AUTHORIZATION", "BeArEr x", "4111 1111 1111 1111",
                 "DE89 3704", "password: hunter2", "café"):  # fmt: skip
        assert not innocent(text, names)


def test_unique_innocent_values_need_no_look_and_are_remembered_clean() -> None:
    scrubber = scrub.Scrubber()
    attributes = {"url.path": "/checkout/1"}
    assert scrubber.scrub_attributes(attributes) is attributes  # classifies the key
    fresh = {"url.path": "/checkout/2"}
    args = (scrubber._modes, scrubber._clean, scrubber._min_len)
    assert needing_a_look(fresh, "", *args) == ["url.path"]  # without the gate: a look
    assert needing_a_look(fresh, "", *args, scrubber._innocence_names) is None
    assert "/checkout/2" in scrubber._clean.sets[scrubber._modes["url.path"]]
    assert scrub.Scrubber(scrub_ips=True)._innocence_names is None  # the gate knows the default rules only


def test_the_clean_cache_is_bounded_in_all_and_keeps_short_values_only() -> None:
    cache = CleanCache(2, 3, 8)
    cache.remember(0, "a")
    cache.remember(1, "b")
    cache.remember(1, "too long a value")
    cache.remember(0, "c")
    assert cache.sets == [{"a", "c"}, {"b"}]
    cache.remember(1, "d")  # the fourth: every set starts again
    assert cache.sets == [set(), {"d"}]


_URL_NAMES = st.sampled_from(["session", "token", "api_key", "page", "ref", "id", "x", "new", "", "a b", "é"])
_URL_VALUES = _joined(st.sampled_from(["1", "42", "x", "é", "/", "=", "[x]", "[REDACTED:secret]", "%41", "+", "\t"]))
_URL_PARAMETERS = st.tuples(st.sampled_from(["?", "&", ";", "#", "/", " ", ""]), _URL_NAMES, st.booleans(), _URL_VALUES)
_KNOWN = "https://h/?session=1&token=2&api_key=3&page=4&ref=5&id=6&x=7&%C3%A9=8"


@FUZZ
@given(st.sampled_from(["https://h/cart", "/p", "", "x=1"]), st.lists(_URL_PARAMETERS, max_size=6))
def test_url_masks_replace_exactly_what_the_url_parameter_expression_replaces(
    base: str, parameters: list[tuple[str, str, bool, str]]
) -> None:
    """``UrlMasks.masked`` stands in for ``Scrubber._url_params`` once the names are learnt: where it answers,
    it answers the same; where a name is new (or a value may be a token or encoded), it leaves it to Python."""
    url = base + "".join(sep + name + ("=" + value if has_value else "") for sep, name, has_value, value in parameters)
    scrubber = scrub.Scrubber()
    scrubber._url_params(_KNOWN)  # the names met so far ("é" percent-encoded: not learnt as "é")
    assert scrubber._url_masks is not None
    masked = scrubber._url_masks.masked(url)
    if masked is not None:
        assert masked == scrubber._url_params(url)


def test_url_masks_answer_for_urls_of_learnt_names_whatever_the_separators() -> None:
    scrubber = scrub.Scrubber()
    scrubber._url_params(_KNOWN)
    assert scrubber._url_masks is not None
    urls = ["https://h/p?session=1;page=2", "https://h/p#x=1&token=t/u=v?ref=2", "https://h/p?page=1 token=2",
            "https://h/p;api_key=k=v&=3&id", "/p?a/token=1&session=2#", "https://h/p?page=\ttoken=3"]  # fmt: skip
    for url in urls:
        masked = scrubber._url_masks.masked(url)
        assert masked is not None, url
        assert masked == scrubber._url_params(url), url


def test_url_masks_leave_to_python_what_they_cannot_tell() -> None:
    scrubber = scrub.Scrubber()
    scrubber._url_params("https://h/p?session=1&page=2")
    masks = scrubber._url_masks
    assert masks is not None
    assert masks.masked("https://h/p?page=3&session=77") == "https://h/p?page=3&session=[REDACTED:secret]"
    assert masks.masked("https://h/p") == "https://h/p"
    for url in ("https://h/p?page=3&sort=1", "https://h/p?session=a%20b", "https://h/p?session=[x]"):
        assert masks.masked(url) is None
    assert scrub.Scrubber(default_action="hash", hash_secret=b"k" * 32)._url_masks is None  # tokens vary by value
    assert scrub.Scrubber(scrub_ips=True)._url_masks is None


def test_urls_differing_only_in_credentials_are_redacted_without_a_look_after_two() -> None:
    """The scrubbed form of a URL becomes known clean on its second sighting; from the third, URLs that differ
    from it only in their credential values are redacted in C, with the same result and count as the look."""
    gated, plain = scrub.Scrubber(), scrub.Scrubber()
    plain._url_masks = None
    urls = [f"https://h/cart?page=2&session={n:09d}" for n in range(4)] + ["https://h/cart?session=1&page=2"]
    for index, url in enumerate(urls):
        attributes = {"url.full": url, "http.request.method": "GET"}
        expected = plain.scrub_attributes(attributes)
        args = (gated._modes, gated._clean, gated._min_len, gated._innocence_names, gated._url_masks)
        replaced: dict[str, str] = {}
        looks = needing_a_look(attributes, "", *args, replaced) if index else ["url.full"]
        assert looks == (None if index in (2, 3) else ["url.full"]), index
        assert gated.scrub_attributes(attributes) == expected
        assert (
            expected["url.full"].endswith("session=[REDACTED:secret]")
            or "session=[REDACTED:secret]&" in (expected["url.full"])
        )
