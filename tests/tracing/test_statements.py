"""Statements without literals: what groups database calls on the dependencies page."""

from __future__ import annotations

import pytest

from apps.tracing.statements import MAX_LENGTH, normalize_statement

CASES = [
    # literals
    ("SELECT * FROM users WHERE id = 42", "SELECT * FROM users WHERE id = ?"),
    ("SELECT * FROM users WHERE name = 'bob'", "SELECT * FROM users WHERE name = ?"),
    ("SELECT * FROM users WHERE name = 'O''Brien' AND x = 1", "SELECT * FROM users WHERE name = ? AND x = ?"),
    ("SELECT * FROM t WHERE a = 'it\\'s' AND b = 2", "SELECT * FROM t WHERE a = ? AND b = ?"),
    ("SELECT E'line\\n' || 'x'", "SELECT ? || ?"),
    ("SELECT 'one -- not a comment', 2", "SELECT ?, ?"),
    ("SELECT '/* not a comment */' FROM t", "SELECT ? FROM t"),
    ("SELECT $$body with 'quotes' and 1$$", "SELECT ?"),
    ("SELECT $fn$ SELECT $$x$$ $fn$, $1", "SELECT ?, $1"),
    ("SELECT 1.5, .5, 3e10, 2.5E-3, 0xFF", "SELECT ?, ?, ?, ?, ?"),
    ("SELECT x'1F', B'0101', N'name'", "SELECT ?, ?, ?"),
    ("SELECT _utf8mb4'abc'", "SELECT _utf8mb4?"),
    ("SELECT 'unterminated", "SELECT ?"),
    # negative numbers: a sign, not a subtraction
    ("UPDATE t SET x = -1 WHERE y > -2.5", "UPDATE t SET x = ? WHERE y > ?"),
    ("SELECT -1, (-2), a - 3, b-4", "SELECT ?, (?), a - ?, b-?"),
    ("SELECT * FROM t WHERE x BETWEEN -5 AND -1", "SELECT * FROM t WHERE x BETWEEN ? AND ?"),
    # identifiers, keywords and placeholders stay
    ("SELECT t1.a FROM t1 JOIN users_2024 u ON u.id = t1.b", "SELECT t1.a FROM t1 JOIN users_2024 u ON u.id = t1.b"),
    ('SELECT "Order"."col1" FROM "Order 2" WHERE "x" = 3', 'SELECT "Order"."col1" FROM "Order 2" WHERE "x" = ?'),
    ("SELECT `t2`.`id` FROM `t2` WHERE `id` = 9", "SELECT `t2`.`id` FROM `t2` WHERE `id` = ?"),
    ("SELECT * FROM t WHERE a = $1 AND b = $2", "SELECT * FROM t WHERE a = $1 AND b = $2"),
    ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = ? AND b = ?"),
    ("SELECT * FROM t WHERE a = %s AND b = %(name)s", "SELECT * FROM t WHERE a = %s AND b = %(name)s"),
    ("SELECT * FROM t WHERE a = :user_id", "SELECT * FROM t WHERE a = :user_id"),
    ("SELECT * FROM t WHERE ok = TRUE AND gone IS NULL", "SELECT * FROM t WHERE ok = TRUE AND gone IS NULL"),
    ("SELECT '42'::int, now()::date", "SELECT ?::int, now()::date"),
    ("SELECT attributes ->> 'k' FROM s WHERE attributes ? 'k'", "SELECT attributes ->> ? FROM s WHERE attributes ? ?"),
    ("SELECT col FROM t LIMIT 10 OFFSET 20", "SELECT col FROM t LIMIT ? OFFSET ?"),
    # comments and whitespace
    ("/* traceparent='00-abc-01' */ SELECT 1", "SELECT ?"),
    ("SELECT a -- why\nFROM t", "SELECT a FROM t"),
    ("SELECT   a,b ,  c\n\tFROM\n t", "SELECT a, b, c FROM t"),
    ("SELECT a FROM t /* unterminated", "SELECT a FROM t"),
    # lists
    ("SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN (?)"),
    ("SELECT * FROM t WHERE id IN (7)", "SELECT * FROM t WHERE id IN (?)"),
    ("SELECT * FROM t WHERE id in('a','b')", "SELECT * FROM t WHERE id in (?)"),
    ("SELECT * FROM t WHERE id IN ($1, $2, $3, $4)", "SELECT * FROM t WHERE id IN (?)"),
    ("SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4))", "SELECT * FROM t WHERE (a, b) IN (?)"),
    ("SELECT a FROM t WHERE c IN (SELECT b FROM u)", "SELECT a FROM t WHERE c IN (SELECT b FROM u)"),  # a query
    ("SELECT a FROM t WHERE c IN (SELECT b WHERE v=1)", "SELECT a FROM t WHERE c IN (SELECT b WHERE v=?)"),
    ("SELECT * FROM t WHERE id = ANY(ARRAY[1, 2, 3])", "SELECT * FROM t WHERE id = ANY(ARRAY[?])"),
    ("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')", "INSERT INTO t (a, b) VALUES (?, ?)"),
    ("INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)", "INSERT INTO t (a, b) VALUES ($1, $2)"),
    ("INSERT INTO t (a, b) VALUES (1, now())", "INSERT INTO t (a, b) VALUES (?, now())"),
    ("INSERT INTO t VALUES (1, NULL, DEFAULT), (2, 'x'::jsonb, DEFAULT)", "INSERT INTO t VALUES (?, NULL, DEFAULT)"),
    # Redis-like commands: the command, not its keys and values
    ("GET cart:123", "GET ?"),
    ("hgetall session:abc", "HGETALL ?"),
    ("MGET a b c", "MGET ?"),
    ("PING", "PING"),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "expected"), CASES, ids=[c[0][:60] for c in CASES])
def test_normalize(sql: str, expected: str) -> None:
    assert normalize_statement(sql) == expected


def test_literals_only_differences_are_one_statement() -> None:
    variants = [
        "SELECT * FROM orders WHERE customer_id = 1 AND status IN ('paid')",
        "SELECT * FROM orders WHERE customer_id = 20 AND status IN ('paid', 'shipped')",
        "SELECT *\n  FROM orders\n WHERE customer_id = -3   AND status IN ('a','b','c') /* app=shop */",
    ]
    assert len({normalize_statement(v) for v in variants}) == 1


def test_identifiers_with_digits_do_not_merge_tables() -> None:
    assert normalize_statement("SELECT * FROM t1") != normalize_statement("SELECT * FROM t2")
    assert normalize_statement("SELECT * FROM users_2024") == "SELECT * FROM users_2024"


def test_mysql_double_quotes_are_strings_postgresql_identifiers() -> None:
    sql = 'SELECT * FROM t WHERE name = "bob"'
    assert normalize_statement(sql, "mysql") == "SELECT * FROM t WHERE name = ?"
    assert normalize_statement(sql, "postgresql") == sql


def test_redis_by_system_even_for_words_shared_with_sql() -> None:
    assert normalize_statement("SET session:1 payload EX 60", "redis") == "SET ?"
    assert normalize_statement("SET search_path TO public") == "SET search_path TO public"  # SQL without a system
    assert normalize_statement("CLIENT SETNAME worker-1", "redis") == "CLIENT SETNAME ?"
    assert normalize_statement("EXEC", "redis") == "EXEC"


def test_redis_pipeline_counts_repeats_once() -> None:
    assert (
        normalize_statement("MULTI\nGET a\nGET b\nGET c\nEXPIRE a 10\nEXEC", "redis") == "MULTI; GET ?; EXPIRE ?; EXEC"
    )


def test_length_is_bounded() -> None:
    sql = "SELECT " + ", ".join(f"column_{i}" for i in range(2000)) + " FROM t"  # noqa: S608  (no database)
    normalized = normalize_statement(sql)
    assert len(normalized) == MAX_LENGTH
    assert normalized.endswith("…")
    huge_literal = "SELECT '" + "x" * 1_000_000 + "' FROM t"
    assert normalize_statement(huge_literal) == "SELECT ?"  # cut while reading: the literal runs to the end


def test_empty() -> None:
    assert normalize_statement("") == ""
    assert normalize_statement("   \n") == ""
