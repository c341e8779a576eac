"""apps/otlp/binary_copy.pyx: what it encodes is what PostgreSQL stores, and bad values are refused whole."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime

import msgspec
import psycopg
import pytest
from django.db import connection

from apps.otlp import binary_copy
from apps.otlp.values import time_of_ns

pytestmark = pytest.mark.django_db

COLUMNS = (
    "a int8, b int4, c int2, d bytea, e text, f timestamptz, g jsonb, h int8[], i int8[], j int4[], k int2[], l text[]"
)
TYPES = "qihbtTjaQIHS"
# int8[] '{7,-3}' in binary: ndim 1, no nulls, element oid 20, 2 elements, lower bound 1, (length, value) each
INT8_ARRAY = struct.pack(">5iiqiq", 1, 0, 20, 2, 1, 8, 7, 8, -3)


def _copy(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE copied ({COLUMNS})")
        try:
            with cursor.copy("COPY copied FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(binary_copy.encode(rows, TYPES))
            cursor.execute("SELECT * FROM copied")
            return cursor.fetchall()
        finally:
            cursor.execute("DROP TABLE copied")


def test_every_type_round_trips_through_postgresql() -> None:
    ns = 1_764_400_000_123_456_789
    document = {"k": "ü", "n": [1, 2.5, None, True], "nested": {"x": "\u2028"}}
    rows = [
        (2**63 - 1, -(2**31), 32767, b"\x00\xff", "text ü 𐀀", ns // 1000, msgspec.json.encode(document), INT8_ARRAY,
         [2**63 - 1, -(2**63), 0], [2**31 - 1, -(2**31)], [32767, -32768, 5], ["ü", "", "𐀀 x"]),
        (-(2**63), 2**31 - 1, -32768, b"", "", 0, b"[]", None, [], [], [], []),
        (None,) * 12,
    ]  # fmt: skip
    # Django reads jsonb back as text
    stored = [tuple(json.loads(v) if i == 6 and v is not None else v for i, v in enumerate(row)) for row in _copy(rows)]
    assert stored[0] == (
        2**63 - 1, -(2**31), 32767, b"\x00\xff", "text ü 𐀀", time_of_ns(ns), document, [7, -3],
        [2**63 - 1, -(2**63), 0], [2**31 - 1, -(2**31)], [32767, -32768, 5], ["ü", "", "𐀀 x"],
    )  # fmt: skip
    empty = ([],) * 4
    assert stored[1] == (-(2**63), 2**31 - 1, -32768, b"", "", datetime(1970, 1, 1, tzinfo=UTC), [], None, *empty)
    assert stored[2] == (None,) * 12


@pytest.mark.parametrize(
    ("column", "value"),
    [
        (0, 2**63), (1, 2**31), (1, -(2**31) - 1), (2, 32768), (2, -32769), (4, "\ud800 lone surrogate"),
        (8, [1, 2**63]), (9, [2**31]), (10, [-32769]), (11, ["ok", "\ud800"]),
    ],
)  # fmt: skip
def test_a_value_that_does_not_fit_raises_data_error_naming_the_column(column: int, value: object) -> None:
    row = [1, 1, 1, b"", "", 0, b"{}", None, [], [], [], []]
    row[column] = value
    with pytest.raises(psycopg.DataError, match=f"column {column + 1}"):
        binary_copy.encode([tuple(row)], TYPES)


def test_wrong_python_types_and_row_lengths_are_refused() -> None:
    with pytest.raises(TypeError, match="column 4: expected bytes, got str"):
        binary_copy.encode([(1, 1, 1, "not bytes", "", 0, b"{}", None, [], [], [], [])], TYPES)
    with pytest.raises(TypeError, match="column 7: expected encoded JSON bytes, got dict"):
        binary_copy.encode([(1, 1, 1, b"", "", 0, {"not": "encoded"}, None, [], [], [], [])], TYPES)
    with pytest.raises(TypeError, match="element is None"):
        binary_copy.encode([(1, 1, 1, b"", "", 0, b"{}", None, [1, None], [], [], [])], TYPES)
    with pytest.raises(ValueError, match="12 columns"):
        binary_copy.encode([(1, 2)], TYPES)


def test_an_empty_batch_is_a_valid_copy() -> None:
    assert _copy([]) == []
