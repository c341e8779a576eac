"""A labeled PII corpus for the ingest scrubber, generated deterministically (seeded) plus hand-written cases.

Each ``Example`` is ``(group, key, value, expected, needle)``:

* ``group``: what the example exercises: a PII category (``card``, ``email``, ``bearer``,
  ``api_key_url``, ``api_key_header``, ``secret_by_key``, ``jwt``, ``iban``, ``ip``, ``url_credentials``)
  or, for negatives, ``neg:<what it imitates>``.
* ``key``/``value``: the attribute as it arrives (``key`` ``"body"`` means free text without key context).
* ``expected``: the category the scrubber must report (``[REDACTED:<expected>]`` appears in the
  output), or None when the value must come out unchanged.
* ``needle``: for positives, the sensitive substring that must no longer appear.

The corpus is meant to be scrubbed with ``Scrubber(scrub_ips=True)``: IP negatives are values that are
not client addresses even with IP scrubbing on (server-side keys, version strings, MACs, times).

Decisions the negatives encode (documented in apps/ingest/scrub.py too): LLM usage counters such as
``token_count``, ``tokens``, ``gen_ai.usage.input_tokens`` are not secrets; pagination cursors
(``next_page_token``) and generic ``key`` attributes (``cache.key``) are not secrets; numbers under id-,
time- and offset-like keys are not card numbers; epoch timestamps in ms/us/ns are not card numbers.
"""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from typing import Any, NamedTuple

SEED = 20261129


class Example(NamedTuple):
    group: str
    key: str
    value: Any
    expected: str | None
    needle: str | None = None


POSITIVE_GROUPS = (
    "card",
    "email",
    "bearer",
    "api_key_url",
    "api_key_header",
    "secret_by_key",
    "jwt",
    "iban",
    "ip",
    "url_credentials",
)

# ---------------------------------------------------------------------------------------------- helpers


def luhn_check_digit(partial: str) -> str:
    total = 0
    for index, char in enumerate(reversed(partial)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def luhn_ok(digits: str) -> bool:
    return luhn_check_digit(digits[:-1]) == digits[-1]


def make_card(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return body + luhn_check_digit(body)


def group_card(digits: str, sep: str) -> str:
    if len(digits) == 15 or len(digits) == 14:
        parts = [digits[:4], digits[4:10], digits[10:]]
    else:
        parts = [digits[i : i + 4] for i in range(0, len(digits), 4)]
    return sep.join(parts)


def iban_check(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    number = int("".join(str(int(char, 36)) for char in rearranged))
    return f"{98 - number % 97:02d}"


IBAN_FORMATS = {  # country: (total length, BBAN layout: 'n' digit, 'a' upper letter, 'c' alnum)
    "DE": (22, "n" * 18),
    "FR": (27, "n" * 10 + "c" * 11 + "n" * 2),
    "GB": (22, "aaaa" + "n" * 14),
    "NL": (18, "aaaa" + "n" * 10),
    "ES": (24, "n" * 20),
    "IT": (27, "a" + "n" * 10 + "c" * 12),
    "BE": (16, "n" * 12),
    "CH": (21, "n" * 5 + "c" * 12),
    "AT": (20, "n" * 16),
    "PL": (28, "n" * 24),
    "SE": (24, "n" * 20),
    "NO": (15, "n" * 11),
    "DK": (18, "n" * 14),
    "FI": (18, "n" * 14),
    "IE": (22, "aaaa" + "n" * 14),
    "PT": (25, "n" * 21),
    "LU": (20, "nnn" + "c" * 13),
    "CZ": (24, "n" * 20),
    "SA": (24, "nn" + "c" * 18),
    "BR": (29, "n" * 23 + "a" + "c"),
}


def make_iban(rng: random.Random, country: str) -> str:
    _, layout = IBAN_FORMATS[country]
    pools = {"n": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}
    bban = "".join(rng.choice(pools[c]) for c in layout)
    return country + iban_check(country, bban) + bban


def spaced(text: str) -> str:
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(rng: random.Random) -> str:
    header = {"alg": rng.choice(["HS256", "RS256", "ES256", "PS384"]), "typ": "JWT"}
    if rng.random() < 0.4:
        header["kid"] = "".join(rng.choice(string.hexdigits.lower()) for _ in range(16))
    payload = {
        "sub": str(rng.randint(1, 10**9)),
        "iat": rng.randint(1_600_000_000, 1_800_000_000),
        "exp": rng.randint(1_800_000_000, 1_900_000_000),
    }
    if rng.random() < 0.5:
        payload["email"] = f"user{rng.randint(1, 999)}@example.com"
    if rng.random() < 0.5:
        payload["scope"] = "read write"
    sig = bytes(rng.getrandbits(8) for _ in range(rng.choice([32, 48, 64])))
    return ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode()), b64url(sig)])


def token(rng: random.Random, length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    out = "".join(rng.choice(alphabet) for _ in range(length))
    if not any(c.isdigit() for c in out):
        out = out[:-1] + rng.choice(string.digits)
    return out


FIRST = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "oscar",
    "peggy",
    "trent",
    "victor",
    "walter",
    "zoe",
    "li.wei",
    "maria",
    "jose",
    "anna-lena",
    "o'neil",
]
LAST = ["smith", "jones", "garcia", "müller", "nguyen", "kowalski", "rossi", "dubois", "tanaka", "okafor"]
DOMAINS = [
    "example.com",
    "mail.example.co.uk",
    "corp.example.org",
    "gmail.com",
    "outlook.com",
    "acme.io",
    "sub.domain.example.travel",
    "uni-example.edu",
    "example.de",
    "x.museum",
]


def make_email(rng: random.Random) -> str:
    first = rng.choice(FIRST).replace("'", "")
    last = rng.choice(LAST).replace("ü", "u")
    local = rng.choice(
        [
            f"{first}.{last}",
            f"{first}{rng.randint(1, 99)}",
            f"{first}+{rng.choice(['tag', 'news'])}",
            f"{first[0]}{last}",
            f"{first}_{last}",
            last.upper(),
        ]
    )
    return f"{local}@{rng.choice(DOMAINS)}"


def rand_ipv4(rng: random.Random) -> str:
    first = rng.choice([rng.randint(1, 9), rng.randint(11, 126), rng.randint(128, 223), 203, 198, 192, 100, 10, 172])
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def rand_ipv6(rng: random.Random) -> str:
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    style = rng.randint(0, 3)
    if style == 0:
        return ":".join(groups)
    if style == 1:
        return f"2001:db8::{groups[6]}:{groups[7]}"
    if style == 2:
        return f"fe80::{groups[4]}:{groups[5]}:{groups[6]}:{groups[7]}"
    return ":".join(g.zfill(4) for g in groups)


# ---------------------------------------------------------------------------------------------- positives


def _cards(rng: random.Random) -> list[Example]:
    issuers = [
        ("4", 16),
        ("4", 13),
        ("4", 19),
        ("51", 16),
        ("55", 16),
        ("2221", 16),
        ("2720", 16),
        ("34", 15),
        ("37", 15),
        ("6011", 16),
        ("65", 16),
        ("35", 16),
        ("36", 14),
        ("62", 17),
        ("62", 19),
        ("9", 16),
        ("8", 18),
        ("5018", 16),
    ]
    contexts = [
        ("body", "charge failed for card {c} (insufficient funds)"),
        ("app.payment.card_number", "{c}"),
        ("payment.pan", "{c}"),
        ("exception.message", "CardDeclined: {c} was declined by issuer"),
        ("db.statement", "INSERT INTO payments (pan, amount) VALUES ('{c}', 1299)"),
        ("body", '{{"card": "{c}", "exp": "12/29"}}'),
        ("body", "pan={c}&exp=1229"),
        ("http.request.body", "number={c}"),
        ("log.message", "Card: {c}."),
        ("body", "card ({c})"),
    ]
    out = []
    for i in range(90):
        prefix, length = issuers[i % len(issuers)]
        digits = make_card(rng, prefix, length)
        sep = ["", " ", "-", ""][i % 4]
        shown = digits if not sep else group_card(digits, sep)
        key, template = contexts[i % len(contexts)]
        out.append(Example("card", key, template.format(c=shown), "card", shown))
    tricky = [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5500 0000 0000 0004",
        "378282246310005",
        "3782 822463 10005",
        "371449635398431",
        "6011111111111117",
        "3530111333300000",
        "30569309025904",
        "3056 930902 5904",
        "4222222222222",
        "5105105105105100",
        "2223003122003222",
        "6200000000000005",
    ]
    for shown in tricky:
        out.append(Example("card", "body", f"paid 100 with {shown} today", "card", shown))
    return out


def _emails(rng: random.Random) -> list[Example]:
    contexts = [
        ("enduser.id", "{e}"),
        ("user.email", "{e}"),
        ("exception.message", "User {e} not found"),
        ("body", "password reset mail sent to <{e}>"),
        ("http.route.example", "/api/users/{e}/profile"),
        ("body", "mailto:{e}"),
        ("messaging.destination", "notify:{e}"),
        ("body", '{{"to": "{e}", "template": "welcome"}}'),
        ("db.statement", "SELECT * FROM users WHERE email = '{e}'"),
        ("body", "From: Bob <{e}>, To: ops"),
    ]
    out = []
    for i in range(80):
        email = make_email(rng)
        if i % 9 == 0:
            email = email.upper()
        key, template = contexts[i % len(contexts)]
        out.append(Example("email", key, template.format(e=email), "email", email))
    tricky = [
        ("body", "a@b.co", "a@b.co"),
        ("body", "first.last@sub-domain.example-mail.com.", "first.last@sub-domain.example-mail.com"),
        ("body", "(x_y-z+1@example.info)", "x_y-z+1@example.info"),
        ("url.full", "https://shop.example.com/account?email=bob%40example.com&tab=orders", "bob%40example.com"),
        ("body", "cc: admin@localhost.localdomain", "admin@localhost.localdomain"),
        ("exception.message", "DuplicateKey: email=jane.doe@example.net already exists", "jane.doe@example.net"),
    ]
    out += [Example("email", key, value, "email", needle) for key, value, needle in tricky]
    return out


def _bearers(rng: random.Random) -> list[Example]:
    out = []
    kinds = [
        lambda: token(rng, rng.randint(20, 48)),
        lambda: "ghp_" + token(rng, 36),
        lambda: "sk-" + token(rng, 40),
        lambda: token(rng, 32, string.hexdigits.lower()),
        lambda: make_jwt(rng),
        lambda: token(rng, 24) + "." + token(rng, 12) + "==",
        lambda: "ya29." + token(rng, 60, string.ascii_letters + string.digits + "-_"),
    ]
    contexts = [
        ("http.request.header.authorization", "Bearer {t}"),
        ("body", "calling upstream with Authorization: Bearer {t}"),
        ("body", "curl -H 'Authorization: bearer {t}' https://api.example.com"),
        ("exception.message", "401 for token Bearer {t}"),
        ("rpc.grpc.request.metadata.authorization", "Bearer {t}"),
        ("http.request.header.authorization", ["Bearer {t}"]),
        ("body", "headers={{'Authorization': 'Bearer {t}'}}"),
        ("body", "BEARER {t}"),
    ]
    for i in range(75):
        tok = kinds[i % len(kinds)]()
        key, template = contexts[i % len(contexts)]
        value = [template[0].format(t=tok)] if isinstance(template, list) else template.format(t=tok)
        out.append(Example("bearer", key, value, "bearer", tok))
    return out


def _api_key_urls(rng: random.Random) -> list[Example]:
    params = [
        "api_key",
        "apikey",
        "api-key",
        "x-api-key",
        "access_token",
        "token",
        "key",
        "secret",
        "client_secret",
        "X-Amz-Signature",
        "sig",
        "auth_token",
        "apiKey",
        "API_KEY",
    ]
    keys = ["url.full", "http.url", "http.target", "url.query", "body", "url.original"]
    out = []
    for i in range(80):
        param = params[i % len(params)]
        secret = rng.choice(
            [
                token(rng, 32),
                "AIza" + token(rng, 35, string.ascii_letters + string.digits + "-_"),
                token(rng, 40, string.hexdigits.lower()),
                make_jwt(rng),
            ]
        )
        key = keys[i % len(keys)]
        path = rng.choice(["/v1/maps/geocode", "/api/items", "/hooks/stripe", "/search", "/oauth/callback"])
        query = f"{param}={secret}"
        others = rng.choice(["", "&page=2", "&sort=asc&page=3", "&lang=en"])
        lead = rng.choice(["", "q=coffee&"])
        if key == "url.query":
            value = f"{lead}{query}{others}"
        elif key == "http.target":
            value = f"{path}?{lead}{query}{others}"
        elif key == "body":
            value = f"GET https://api.example.com{path}?{lead}{query}{others} 200 12ms"
        else:
            value = f"https://api.example.com{path}?{lead}{query}{others}"
        out.append(Example("api_key_url", key, value, "api_key", secret))
    tricky = [
        (
            "url.full",
            "https://app.example.com/callback#access_token=Zm9vYmFyYmF6cXV4&token_type=bearer",
            "Zm9vYmFyYmF6cXV4",
        ),
        (
            "url.full",
            "https://bucket.s3.amazonaws.com/f.pdf?X-Amz-Credential=AKIA%2F2024&X-Amz-Signature=abcdef0123456789",
            "abcdef0123456789",
        ),
        ("http.url", "http://internal:8080/metrics?token=s3cr3tT0k3n;x=1", "s3cr3tT0k3n"),
        (
            "url.full",
            "https://maps.example.com/api/js?key=AIzaSyD-abcdefghijklmnop1234567&callback=init",
            "AIzaSyD-abcdefghijklmnop1234567",
        ),
        ("body", "redirecting to /login?next=%2Fhome&api_key=k_live_1234567890", "k_live_1234567890"),
    ]
    out += [Example("api_key_url", key, value, "api_key", needle) for key, value, needle in tricky]
    return out


def _api_key_headers(rng: random.Random) -> list[Example]:
    keys = [
        "http.request.header.x-api-key",
        "http.request.header.api-key",
        "http.request.header.apikey",
        "http.request.header.x-goog-api-key",
        "http.request.header.ocp-apim-subscription-key",
        "http.request.header.X-API-Key",
        "rpc.grpc.request.metadata.x-api-key",
        "http.response.header.x-api-key",
        "app.stripe.api_key",
        "openai.apiKey",
    ]
    out = []
    for i in range(70):
        secret = rng.choice(
            [
                "sk_live_" + token(rng, 24),
                token(rng, 32),
                token(rng, 40, string.hexdigits.lower()),
                "AIza" + token(rng, 35),
            ]
        )
        key = keys[i % len(keys)]
        value: Any = [secret] if i % 3 == 0 and key.startswith("http.") else secret
        out.append(Example("api_key_header", key, value, "api_key", secret))
    free = [
        "X-API-Key: {s}",
        "sending header x-api-key={s}",
        '{{"headers": {{"x-api-key": "{s}"}}}}',
        "api_key: {s}",
        "apikey={s}",
    ]
    for i in range(10):
        secret = token(rng, 28)
        out.append(Example("api_key_header", "body", free[i % len(free)].format(s=secret), "api_key", secret))
    return out


def _secrets_by_key(rng: random.Random) -> list[Example]:
    keys = [
        "db.password",
        "password",
        "app.db_password",
        "userPassword",
        "passwd",
        "pwd",
        "client_secret",
        "oauth.clientSecret",
        "token",
        "auth_token",
        "access_token",
        "refresh_token",
        "http.request.header.x-auth-token",
        "http.request.header.cookie",
        "http.response.header.set-cookie",
        "session",
        "sessionid",
        "credentials",
        "private_key",
        "tls.privateKey",
        "app.secret",
        "jwt.signing_key",
        "PHPSESSID",
        "user.password_confirmation",
        "smtp.PASSWORD",
        "http.request.header.x-csrf-token",
        "vault.secret_key",
        "app.session_id",
    ]
    out = []
    for i in range(84):
        key = keys[i % len(keys)]
        kind = i % 6
        value: Any
        if "cookie" in key:
            value = f"session={token(rng, 24)}; theme=dark"
            needle = value
        elif kind == 0:
            value = rng.choice(["hunter2", "correct horse battery staple", "P@ssw0rd!", "s3cr3t"])
            needle = value
        elif kind == 1:
            value = token(rng, 32)
            needle = value
        elif kind == 2:
            value = rng.randint(1000, 99_999_999)  # a numeric PIN-like password: any type is redacted by key
            needle = None
        elif kind == 3 and key.startswith("http."):
            value = [token(rng, 20)]
            needle = value[0]
        elif kind == 4:
            value = "-----BEGIN PRIVATE KEY-----\nMIIEv" + token(rng, 40) + "\n-----END PRIVATE KEY-----"
            needle = "MIIEv"
        else:
            value = token(rng, 12, string.ascii_lowercase + string.digits)
            needle = value
        out.append(Example("secret_by_key", key, value, "secret", needle))
    return out


def _jwts(rng: random.Random) -> list[Example]:
    contexts = [
        ("body", "decoded claims from {j}"),
        ("app.debug.assertion", "{j}"),
        ("exception.message", "InvalidSignature: {j}"),
        ("body", '{{"assertion": "{j}"}}'),
        ("messaging.payload_preview", "jwt={j}"),
        ("body", "received {j} from idp"),
    ]
    out = []
    for i in range(70):
        jwt = make_jwt(rng)
        key, template = contexts[i % len(contexts)]
        out.append(Example("jwt", key, template.format(j=jwt), "jwt", jwt))
    return out


def _ibans(rng: random.Random) -> list[Example]:
    contexts = [
        ("body", "Transfer to {i} failed"),
        ("payment.iban", "{i}"),
        ("exception.message", "SEPA mandate rejected for {i}."),
        ("body", '{{"iban": "{i}", "amount": 10}}'),
        ("db.statement", "UPDATE accounts SET iban = '{i}' WHERE id = 7"),
        ("body", "iban={i}"),
    ]
    out = []
    countries = list(IBAN_FORMATS)
    for i in range(80):
        iban = make_iban(rng, countries[i % len(countries)])
        shown = spaced(iban) if i % 2 else iban
        key, template = contexts[i % len(contexts)]
        out.append(Example("iban", key, template.format(i=shown), "iban", shown))
    for known in [
        "DE89370400440532013000",
        "GB82WEST12345698765432",
        "FR1420041010050500013M02606",
        "NL91ABNA0417164300",
        "CH9300762011623852957",
        "BE68539007547034",
    ]:
        out.append(Example("iban", "body", f"pay to {spaced(known)} EUR", "iban", spaced(known)))
    return out


def _ips(rng: random.Random) -> list[Example]:
    keys = ["client.address", "net.peer.ip", "http.client_ip", "source.address", "network.peer.address"]
    out = []
    for i in range(60):
        address = rand_ipv4(rng) if i % 3 else rand_ipv6(rng)
        out.append(Example("ip", keys[i % len(keys)], address, "ip", address))
    templates = [
        ("body", "connection from {a}:51234 refused"),
        ("exception.message", "timeout talking to peer {a}"),
        ("http.request.header.x-forwarded-for", "{a}, 10.1.2.3"),
        ("body", "login from [{a6}]:443 blocked"),
        ("body", "rate limit hit by {a6}"),
    ]
    for i in range(25):
        key, template = templates[i % len(templates)]
        a4, a6 = rand_ipv4(rng), rand_ipv6(rng)
        needle = a6 if "{a6}" in template else a4
        out.append(Example("ip", key, template.format(a=a4, a6=a6), "ip", needle))
    out.append(Example("ip", "client.address", "::ffff:192.0.2.44", "ip", "192.0.2.44"))
    out.append(Example("ip", "client.address", "fe80::1ff:fe23:4567:890a%eth0", "ip", "fe80::1ff:fe23:4567:890a"))
    return out


def _url_credentials(rng: random.Random) -> list[Example]:
    out = []
    for _ in range(20):
        password = token(rng, 14)
        scheme = rng.choice(["postgres", "postgresql", "mysql", "redis", "amqp", "https", "mongodb+srv"])
        value = f"{scheme}://app_user:{password}@db-{rng.randint(1, 9)}.internal.example.com:5432/app"
        out.append(
            Example(
                "url_credentials", rng.choice(["db.connection_string", "body", "url.full"]), value, "secret", password
            )
        )
    return out


# ---------------------------------------------------------------------------------------------- negatives


def _neg(group: str, key: str, value: Any) -> Example:
    return Example("neg:" + group, key, value, None)


def _negatives(rng: random.Random) -> list[Example]:  # noqa: PLR0912 - one long list of templates
    out: list[Example] = []
    # Luhn-invalid card-shaped numbers
    while len([e for e in out if e.group == "neg:luhn_invalid"]) < 60:
        digits = make_card(rng, rng.choice(["4", "5", "37", "6011"]), rng.choice([15, 16]))
        wrong = digits[:-1] + str((int(digits[-1]) + rng.randint(1, 9)) % 10)
        assert not luhn_ok(wrong)
        shown = rng.choice([wrong, group_card(wrong, " "), group_card(wrong, "-")])
        key, template = rng.choice(
            [("body", "card {c} declined"), ("app.reference", "{c}"), ("exception.message", "lookup failed for {c}")]
        )
        out.append(_neg("luhn_invalid", key, template.format(c=shown)))
    # numeric ids (any digits) under id-like keys, and order ids in text
    for _ in range(40):
        number = str(rng.randint(10**12, 10**19 - 1))
        out.append(
            _neg(
                "numeric_id",
                rng.choice(
                    [
                        "order.id",
                        "app.order_id",
                        "user.id",
                        "messaging.message.id",
                        "messaging.kafka.message.offset",
                        "db.row_count",
                        "payment.id",
                    ]
                ),
                number,
            )
        )
    # Random 13-19 digit numbers in free text: about 1 in 10 is Luhn-valid and IS redacted as a card (no IIN
    # check, by design: recall first). Kept here so the corpus measures that cost instead of hiding it.
    for _ in range(20):
        number = str(rng.randint(10**12, 10**19 - 1))
        out.append(_neg("numeric_id_text", "body", f"reference {number} processed"))
    for _ in range(25):
        out.append(
            _neg(
                "order_id",
                "body",
                rng.choice(
                    [
                        f"order ORD-{rng.randint(2019, 2026)}-{rng.randint(0, 999999):06d} shipped",
                        f"order #{rng.randint(10**6, 10**8)} paid",
                        f"invoice INV{rng.randint(10**9, 10**10)}",
                    ]
                ),
            )
        )
    # timestamps
    for _ in range(40):
        seconds = rng.randint(1_420_000_000, 2_000_000_000)
        value = rng.choice(
            [
                str(seconds * 1000 + rng.randint(0, 999)),
                str(seconds * 10**6 + rng.randint(0, 10**6 - 1)),
                str(seconds * 10**9 + rng.randint(0, 10**9 - 1)),
                str(seconds),
            ]
        )
        key, template = rng.choice(
            [("body", "ts={v}"), ("event.time", "{v}"), ("body", "received at {v} ns"), ("app.started", "{v}")]
        )
        out.append(_neg("timestamp", key, template.format(v=value)))
    for _ in range(15):
        out.append(
            _neg(
                "timestamp",
                "body",
                f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
                f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}."
                f"{rng.randint(0, 999999):06d}Z request done",
            )
        )
    # UUIDs, trace and span ids, hashes
    for _ in range(30):
        out.append(
            _neg(
                "uuid",
                rng.choice(["session.id", "request.id", "body", "app.correlation_id"]),
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            )
        )
    for _ in range(10):
        digits = "".join(rng.choice(string.digits) for _ in range(32))
        out.append(
            _neg("uuid", "body", f"id {digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}")
        )
    for _ in range(30):
        out.append(
            _neg(
                "trace_id",
                rng.choice(["body", "trace.parent", "link.trace_id"]),
                f"{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}",
            )
        )
    for _ in range(15):
        out.append(_neg("hash", "body", f"sha256:{rng.getrandbits(256):064x}"))
    # version strings, server-side addresses, MACs, times (with IP scrubbing on)
    for _ in range(30):
        version = ".".join(str(rng.randint(0, 20)) for _ in range(rng.choice([3, 4])))
        key, template = rng.choice(
            [
                ("service.version", "{v}"),
                ("telemetry.sdk.version", "{v}"),
                ("body", "v{v}"),
                ("body", "upgraded to version {v}"),
                ("process.runtime.version", "{v}"),
                ("body", "release {v} deployed"),
            ]
        )
        out.append(_neg("version", key, template.format(v=version)))
    for _ in range(20):
        out.append(
            _neg(
                "server_address",
                rng.choice(["server.address", "host.ip", "net.host.ip", "network.local.address"]),
                rand_ipv4(rng),
            )
        )
    for _ in range(10):
        mac = ":".join(f"{rng.getrandbits(8):02x}" for _ in range(6))
        out.append(
            _neg(
                "mac",
                "body",
                f"interface eth0 mac {mac} up at {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00",
            )
        )
    out += [_neg("code", "code.function", "std::vector<int>::push_back"), _neg("code", "body", "Foo::Bar::baz failed")]
    # not quite emails
    fake_emails = [
        "user@",
        "@mention",
        "user@localhost",
        "foo@bar",
        "icon@2x.png",
        "logo@3x.webp",
        "npm i @scope/pkg@1.2.3",
        "@Override",
        "name@host",
        "email: (none)",
        "contact us at support at example dot com",
        "image@sha256:abcd",
        "@everyone please review",
        "a@b",
        "user@@example",
    ]
    for i in range(30):
        out.append(
            _neg("not_email", rng.choice(["body", "code.function", "app.note"]), fake_emails[i % len(fake_emails)])
        )
    # base64 blobs that are not JWTs
    for _ in range(30):
        blob = base64.b64encode(bytes(rng.getrandbits(8) for _ in range(rng.randint(12, 60)))).decode()
        out.append(_neg("base64", rng.choice(["body", "messaging.payload_preview", "app.blob"]), blob))
    for _ in range(10):
        body = b64url(json.dumps({"page": rng.randint(1, 9), "size": 50}).encode())
        out.append(_neg("base64", "body", f"cursor={body}"))
        out.append(_neg("base64", "body", f"eyJ{token(rng, 10)}.{token(rng, 10)}.{token(rng, 10)}"))
    # IBAN-like with a wrong checksum, or the wrong length
    for i in range(40):
        country = list(IBAN_FORMATS)[i % len(IBAN_FORMATS)]
        iban = make_iban(rng, country)
        wrong = iban[:2] + f"{(int(iban[2:4]) + rng.randint(1, 50)) % 100:02d}" + iban[4:]
        if i % 4 == 3:
            wrong = iban + "7"  # one character too many
        out.append(_neg("iban_bad_checksum", "body", f"account {rng.choice([wrong, spaced(wrong)])} closed"))
    # SQL statements
    sql = [
        "SELECT * FROM users WHERE id = $1",
        "UPDATE accounts SET password_hash = $1 WHERE id = $2",
        "SELECT token_count FROM usage WHERE project_id = ?",
        "INSERT INTO orders (id, total) VALUES (?, ?)",
        "SELECT * FROM users WHERE password = ? AND email = ?",
        "DELETE FROM sessions WHERE expires_at < now()",
        "SELECT key, value FROM settings WHERE key = :key",
        "UPDATE users SET token = NULL WHERE id = 42",
        "SELECT api_key_id, created_at FROM api_keys LIMIT 50",
        "SELECT count(*) FROM events WHERE ts > 1732848000000",
    ]
    for i in range(30):
        out.append(_neg("sql", "db.statement", sql[i % len(sql)]))
    # URLs with harmless query params
    for _ in range(40):
        params = "&".join(
            rng.sample(
                [
                    "page=2",
                    "sort=asc",
                    "q=shoes",
                    "limit=20",
                    "lang=en",
                    "tokenizer=bpe",
                    "keyword=coffee",
                    "key_type=rsa",
                    "order=desc",
                    "monkey=1",
                    "ref=home",
                    "utm_source=newsletter",
                    "offset=100",
                    "session_count=3",
                ],
                k=rng.randint(1, 4),
            )
        )
        key = rng.choice(["url.full", "http.url", "http.target", "url.query", "body"])
        value = (
            params
            if key == "url.query"
            else f"/api/v2/products?{params}"
            if key == "http.target"
            else f"https://shop.example.com/api?{params}"
        )
        out.append(_neg("harmless_url", key, value))
    # keys that merely look secret-ish, with values that are not
    lookalikes = [
        ("gen_ai.usage.input_tokens", "1234"),
        ("gen_ai.usage.output_tokens", "88"),
        ("llm.token_count.total", "532"),
        ("token_count", "17"),
        ("tokens", "2048"),
        ("gen_ai.request.max_tokens", "4096"),
        ("max_tokens", "512"),
        ("http.status_code", "200"),
        ("cache.key", "user:42:profile"),
        ("messaging.kafka.message.key", "order-123"),
        ("db.redis.key", "sess:abc"),
        ("pagination.next_page_token", "CiAKGjBpNDd2Nmp2Zml2cXRnYjB1dXRyZWZyZXNo"),
        ("aws.next_token", "eyJsYXN0IjoxfQ"),
        ("password_policy", "min-length-12"),
        ("password.length", "12"),
        ("auth.method", "bearer"),
        ("token_type", "Bearer"),
        ("http.request.header.accept", "application/json"),
        ("k8s.secret.name", "db-credentials"),
        ("session.id", "7f0c1d2e-aaaa-4bbb-8ccc-0123456789ab"),
        ("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.6099.109"),
        ("public_key_fingerprint", "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8"),
        ("primary_key", "id"),
        ("idempotency_key", "a1b2c3"),
        ("secret_count", "3"),
        ("cookie_name", "theme"),
        ("authorization_type", "rbac"),
        ("keyboard.layout", "de"),
    ]
    for key, value in lookalikes:
        out.append(_neg("lookalike_key", key, value))
    # free text that mentions the words without secrets
    prose = [
        "Bearer token expired",
        "the bearer authentication failed",
        "token refreshed successfully",
        "password reset requested",
        "invalid api key format",
        "Processing 1,234,567 records",
        "Phone +1 (555) 123-4567",
        "ISBN 978-3-16-148410-0",
        "retry=3&backoff=2",
        "key=user:42 not found in cache",
        "tokens: 512 prompt, 88 completion",
        "C:\\Users\\build\\AppData",
        "pod web-6d4cf56db6-xk2lp restarted",
        "commit 3f2a9c1b7e",
        "elapsed 12.5ms",
        "SELECT 1",
        "status=ok code=200",
        "session expired after 30m",
        "secret rotation scheduled",
        "use ?page=2 for more",
        "temperature=0.7 top_p=0.9",
        "Password: ********",
        "password=?",
        "token=$1",
        "api_key: <redacted by client>",
        "Authorization header missing",
        "sum 12345678 + 87654321",
        "range 10-20-30-40",
        "1 2 3 4 5 6 7 8 9 10 11 12 13",
        "GB pound 12 pence",
        "AB12 is a form code",
        "DE is the country",
        "UTF8 decoding error",
        "amount=1999.99 currency=EUR",
        "latency p99=1234567 us",
    ]
    for i in range(70):
        out.append(_neg("prose", rng.choice(["body", "exception.message", "event.name"]), prose[i % len(prose)]))
    return out


def build_corpus(seed: int = SEED) -> list[Example]:
    rng = random.Random(seed)
    examples = []
    for builder in (
        _cards,
        _emails,
        _bearers,
        _api_key_urls,
        _api_key_headers,
        _secrets_by_key,
        _jwts,
        _ibans,
        _ips,
        _url_credentials,
        _negatives,
    ):
        examples += builder(rng)
    return examples


CORPUS = build_corpus()
