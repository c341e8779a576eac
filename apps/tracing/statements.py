"""Database statements without their literals: the key that groups the calls of the dependencies page.

``SELECT * FROM users WHERE id = 42`` and ``... WHERE id = 7`` are one statement, run twice. The normaliser
replaces every literal (strings, dollar-quoted strings, numbers) by ``?``, collapses ``IN (...)`` lists, array
literals and multi-row ``VALUES`` to one element (their length is data too), drops comments (sqlcommenter
puts a trace id in every statement) and normalises whitespace. Identifiers (``t1``, ``users_2024``,
``"Order"``), keywords (``TRUE``, ``NULL``) and driver placeholders (``$1``, ``?``, ``%s``, ``%(name)s``,
``:name``) stay: they are the statement's shape. Redis-like commands keep their command only
(``GET cart:123`` → ``GET ?``): the arguments are keys and values.

A tokenizer rather than a chain of regular-expression substitutions, because a substitution cannot tell a
number inside a string or an identifier from a literal one. Dialects: PostgreSQL and MySQL. Backslash
escapes inside strings are honoured (MySQL, PostgreSQL ``E''``); a PostgreSQL string ending in a backslash
then runs to the next quote, which still yields a stable key. Double quotes delimit identifiers unless the
system is MySQL/MariaDB (strings there by default).
"""

from __future__ import annotations

import re
from functools import lru_cache

MAX_INPUT = 20_000  # characters read: bounds the work per statement (an unterminated literal ends the scan)
MAX_LENGTH = 2_000  # characters kept: the key is shown in a table and held in memory per group

# What the statement's shape does not include: comments, literals; quoted identifiers are matched so that
# their insides are left alone. A number preceded or followed by a word character is part of an identifier
# (``t1``, ``users_2024``) or a placeholder (``$1``). One pass with ``re.sub``: Python scans far faster than a
# token loop written in Python; the leading lookahead lets most positions fail at once (5x faster).
_LITERAL = re.compile(
    r"""
    (?=[-/$'"`0-9.EeNnBbXxUu])
    (?:(?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z0-9_]*|)\$.*?(?:\$(?P=tag)\$|\Z))
  | (?P<string>(?:(?<![\w$])(?:[EeNnBbXx]|[Uu]&))?'(?:[^'\\]+|\\.|'')*(?:'|\Z))
  | (?P<dquoted>"(?:[^"\\]+|\\.|"")*(?:"|\Z))
  | (?P<backtick>`(?:[^`]+|``)*(?:`|\Z))
  | (?P<number>(?<![\w$.])(?:0[xX][0-9A-Fa-f]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?![\w$])))
    """,
    re.VERBOSE | re.DOTALL,
)
_SPACE = re.compile(r"\s+")
# A minus before a literal is its sign (so -5 and 5 are one statement) at the start, after an operator, an
# opening bracket or a comma, or after a keyword a value follows; after a value (``a - 1``) it subtracts.
_MINUS = re.compile(r"- ?\?")
_OPERATORS = frozenset("=<>(,+*/%|&^~![")
_LAST_WORD = re.compile(r"[A-Za-z]+\Z")
_VALUE_AFTER = frozenset({"SELECT", "WHERE", "AND", "OR", "NOT", "WHEN", "THEN", "ELSE", "BY", "BETWEEN", "LIKE",
                          "IS", "ON", "SET", "VALUES", "IN", "CASE", "HAVING", "LIMIT", "OFFSET", "RETURN",
                          "RETURNING"})  # fmt: skip
_LIST_SPACING = [(re.compile(r" ?, ?"), ", "), (re.compile(r"([(\[]) "), r"\1"), (re.compile(r" ([)\]])"), r"\1")]

# One element of a list that collapses: a literal, a placeholder or a keyword constant, optionally cast.
_VAL = r"(?:\?|\$\d+|%s|%\([^)\s]*\)s|:[A-Za-z_]\w*|NULL|TRUE|FALSE|DEFAULT)(?:::[A-Za-z_][\w ]*?(?:\[\])?)?"
_VALS = rf"{_VAL}(?:, {_VAL})*"
_IN_LIST = re.compile(rf"(?=[Ii][Nn])\b(IN) ?\((?:{_VALS}|\({_VALS}\)(?:, \({_VALS}\))*)\)", re.IGNORECASE)
_ARRAY = re.compile(rf"(?=[Aa][Rr])\b(ARRAY) ?\[{_VALS}\]", re.IGNORECASE)
_VALUES = re.compile(rf"(?=[Vv][Aa])\b(VALUES) ?(\({_VALS}\))(?:, \({_VALS}\))+", re.IGNORECASE)

# Redis and memcached: command names that are no SQL keyword, so a statement starting with one is a command
# even when the span did not say which system it called. Names shared with SQL dialects (SET, EXEC, RENAME,
# MULTI) count as commands only when the span names a key-value system.
_KEY_VALUE_SYSTEMS = frozenset({"redis", "valkey", "keydb", "memcached", "dragonfly"})
_COMMAND_NAMES = """
    GET MGET GETEX GETDEL GETSET GETRANGE SETEX SETNX PSETEX MSET MSETNX APPEND STRLEN INCR INCRBY INCRBYFLOAT
    DECR DECRBY DEL UNLINK EXISTS EXPIRE EXPIREAT PEXPIRE PEXPIREAT PERSIST TTL PTTL TYPE KEYS SCAN HGET HSET HMGET
    HMSET HGETALL HDEL HEXISTS HINCRBY HINCRBYFLOAT HKEYS HVALS HLEN HSCAN HSETNX LPUSH RPUSH LPOP RPOP LRANGE LLEN
    LINDEX LREM LSET LTRIM BLPOP BRPOP LMOVE BLMOVE SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER
    SINTER SUNION SDIFF SSCAN ZADD ZREM ZRANGE ZREVRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE ZSCORE ZINCRBY ZCARD ZCOUNT
    ZRANK ZREVRANK ZSCAN ZPOPMIN ZPOPMAX ZREMRANGEBYSCORE ZREMRANGEBYRANK XADD XREAD XREADGROUP XACK XLEN XRANGE
    XTRIM PUBLISH SUBSCRIBE PSUBSCRIBE EVAL EVALSHA UNWATCH PING ECHO AUTH HELLO FLUSHDB FLUSHALL DBSIZE PFADD
    PFCOUNT GEOADD GEORADIUS GEOSEARCH SETRANGE BITCOUNT GETBIT SETBIT
"""
_COMMANDS = frozenset(_COMMAND_NAMES.split())
# Commands whose second word names what they do (``CLIENT SETNAME``, ``CONFIG GET``).
_CONTAINERS = frozenset({"CLIENT", "CONFIG", "CLUSTER", "SCRIPT", "OBJECT", "MEMORY", "XINFO", "XGROUP", "ACL",
                         "FUNCTION", "COMMAND", "MODULE", "PUBSUB", "SLOWLOG", "LATENCY"})  # fmt: skip


def normalize_statement(sql: str, system: str | None = None) -> str:
    """``sql`` without literals, comments and list lengths, whitespace collapsed, at most ``MAX_LENGTH``
    characters. ``system`` (``db.system``) selects MySQL's string quotes and Redis-like commands."""
    return _normalize(sql[:MAX_INPUT], (system or "").lower())


# Most programs run a few hundred distinct statement texts: the page normalises tens of thousands of calls.
@lru_cache(maxsize=4096)
def _normalize(sql: str, system: str) -> str:
    if _is_command(sql, system):
        text = _command(sql)
    else:
        text = _sql(sql, double_quoted_strings=system in ("mysql", "mariadb"))
    return text if len(text) <= MAX_LENGTH else text[: MAX_LENGTH - 1] + "…"


def _is_command(sql: str, system: str) -> bool:
    if system in _KEY_VALUE_SYSTEMS:
        return True
    first = sql.split(None, 1)[0].upper() if sql.strip() else ""
    return first in _COMMANDS


def _command(text: str) -> str:
    """One normalised command per line (a pipeline is one command a line); repeats in a row count once, so
    pipelines of 3 and of 30 ``GET``s are one statement."""
    commands: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        name, rest = words[0].upper(), words[1:]
        if name in _CONTAINERS and rest:
            name, rest = f"{name} {rest[0].upper()}", rest[1:]
        command = f"{name} ?" if rest else name
        if not commands or commands[-1] != command:
            commands.append(command)
    return "; ".join(commands)


def _sql(sql: str, *, double_quoted_strings: bool) -> str:
    def literal(match: re.Match[str]) -> str:
        kind = match.lastgroup
        if kind == "comment":
            return " "
        if kind == "backtick" or (kind == "dquoted" and not double_quoted_strings):
            return match.group()
        return "?"

    text = _SPACE.sub(" ", _LITERAL.sub(literal, sql)).strip()
    if "-" in text:
        text = _MINUS.sub(lambda match: _signed(text, match), text)
    # Canonical list spacing first, so that the list patterns below see one form.
    for pattern, replacement in _LIST_SPACING:
        text = pattern.sub(replacement, text)
    text = _IN_LIST.sub(r"\1 (?)", text)
    text = _ARRAY.sub(r"\1[?]", text)
    return _VALUES.sub(r"\1 \2", text)


def _signed(text: str, minus: re.Match[str]) -> str:
    """``?`` when the minus of ``-?`` is a sign, else the match unchanged."""
    before = text[max(minus.start() - 12, 0) : minus.start()].rstrip()
    if not before or before[-1] in _OPERATORS:
        return "?"
    word = _LAST_WORD.search(before)
    return "?" if word is not None and word.group().upper() in _VALUE_AFTER else minus.group()
