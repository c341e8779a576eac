# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Rows → one buffer in PostgreSQL's binary COPY format (signature, rows, trailer), for ``copy.write``.

Why: psycopg's ``write_row`` looks up and calls a dumper per value, the jsonb and timestamptz dumpers in Python;
with ~30 columns per span that was ~10 µs per row of an ingest process's CPU. The writers know their column
types, so this encodes a whole batch in one pass from a type string, one character per column:

    q int8, i int4, h int2 (Python int)        b bytea (bytes)        t text (str)
    Q int8[], I int4[], H int2[], S text[] (a list of such values, none None)
    T timestamptz (int: microseconds since the Unix epoch, as ``values.time_of_ns`` truncates)
    j jsonb (bytes: JSON text already encoded, e.g. by msgspec)        a any type (bytes already in its binary form)

None is NULL in any column. A value that does not fit its column (an int out of range, a str that is not
UTF-8-encodable) raises ``psycopg.DataError`` naming the column (by ``names``, else by position), as
PostgreSQL would refuse it; the ingest receiver answers it with 400 and that message.

``encode`` writes its values through ``CopyBuffer``, whose typed methods compiled writers also call directly
(declared in binary_copy.pxd): apps/tracing/span_batch.pyx writes span rows without a tuple per row.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport INT64_MAX, INT64_MIN, int16_t, int32_t, int64_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

from psycopg import DataError

cdef bytes SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # flags and header extension length: both 0
cdef int64_t _POSTGRES_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds


cdef class CopyBuffer:
    """A growing binary COPY buffer: the signature, then rows of values written by type, then ``finish()``.

    Each value method takes its column's position ``i`` (named by ``names``) for the message of a value the
    column cannot hold; None is written as NULL by every method."""

    def __cinit__(self, Py_ssize_t capacity, tuple names=()):
        self.data = <char*>PyMem_Malloc(capacity)
        if self.data is NULL:
            raise MemoryError()
        self.size = 0
        self.capacity = capacity
        self.names = names
        self.reserve(len(SIGNATURE))
        self.put(SIGNATURE, len(SIGNATURE))

    def __dealloc__(self):
        PyMem_Free(self.data)

    cdef int reserve(self, Py_ssize_t extra) except -1:
        cdef Py_ssize_t wanted = self.size + extra
        cdef char* grown
        if wanted <= self.capacity:
            return 0
        while self.capacity < wanted:
            self.capacity *= 2
        grown = <char*>PyMem_Realloc(self.data, self.capacity)
        if grown is NULL:
            raise MemoryError()
        self.data = grown
        return 0

    cdef void put(self, const char* source, Py_ssize_t n):
        memcpy(self.data + self.size, source, n)
        self.size += n

    cdef void be16(self, uint16_t v):
        self.data[self.size] = <char>(v >> 8)
        self.data[self.size + 1] = <char>v
        self.size += 2

    cdef void be32(self, uint32_t v):
        cdef int k
        for k in range(4):
            self.data[self.size + k] = <char>(v >> (24 - 8 * k))
        self.size += 4

    cdef void be64(self, uint64_t v):
        cdef int k
        for k in range(8):
            self.data[self.size + k] = <char>(v >> (56 - 8 * k))
        self.size += 8

    cdef int row(self, Py_ssize_t columns) except -1:
        self.reserve(2)
        self.be16(<uint16_t>columns)
        return 0

    cdef int null(self) except -1:
        self.reserve(4)
        self.be32(0xFFFFFFFF)
        return 0

    cdef int text(self, object value, Py_ssize_t i) except -1:
        cdef const char* text
        cdef Py_ssize_t n
        if value is None:
            return self.null()
        try:
            text = PyUnicode_AsUTF8AndSize(value, &n)
        except UnicodeEncodeError:
            raise DataError(f"{_column(self.names, i)}: the text is not valid Unicode") from None
        self.reserve(4 + n)
        self.be32(<uint32_t>n)
        self.put(text, n)
        return 0

    cdef int int8(self, object value, Py_ssize_t i) except -1:
        return self.fixed(value, 8, INT64_MIN, INT64_MAX, i)

    cdef int int4(self, object value, Py_ssize_t i) except -1:
        return self.fixed(value, 4, -2147483648, 2147483647, i)

    cdef int int2(self, object value, Py_ssize_t i) except -1:
        return self.fixed(value, 2, -32768, 32767, i)

    cdef int fixed(self, object value, int width, int64_t low, int64_t high, Py_ssize_t i) except -1:
        """An integer of ``width`` bytes (int2, int4, int8), refused by name outside ``low``..``high``."""
        cdef int64_t v
        if value is None:
            return self.null()
        v = _integer(value, low, high, self.names, i)
        self.reserve(4 + width)
        self.be32(<uint32_t>width)
        if width == 8:
            self.be64(<uint64_t>v)
        elif width == 4:
            self.be32(<uint32_t><int32_t>v)
        else:
            self.be16(<uint16_t><int16_t>v)
        return 0

    cdef int bytea(self, object value, Py_ssize_t i) except -1:
        """bytea, or a value of any type already in its binary form."""
        return self._encoded(value, i, "bytes", -1)

    cdef int jsonb(self, object value, Py_ssize_t i) except -1:
        """jsonb from JSON text already encoded (bytes)."""
        return self._encoded(value, i, "encoded JSON bytes", 1)  # 1: jsonb's binary format version

    cdef int _encoded(self, object value, Py_ssize_t i, str expected, int version) except -1:
        """A value already encoded (bytes), after a one-byte ``version`` unless it is negative; None is NULL."""
        cdef Py_ssize_t n
        cdef Py_ssize_t head = 0 if version < 0 else 1
        if value is None:
            return self.null()
        if not isinstance(value, bytes):
            raise TypeError(f"{_column(self.names, i)}: expected {expected}, got {type(value).__name__}")
        n = PyBytes_GET_SIZE(value)
        self.reserve(4 + head + n)
        self.be32(<uint32_t>(n + head))
        if head:
            self.data[self.size] = <char>version
            self.size += 1
        self.put(PyBytes_AS_STRING(value), n)
        return 0

    cdef int timestamptz(self, object microseconds, Py_ssize_t i) except -1:
        """timestamptz from microseconds since the Unix epoch."""
        if microseconds is None:
            return self.null()
        self.reserve(12)
        self.be32(8)
        self.be64(<uint64_t>(_integer(microseconds, INT64_MIN, INT64_MAX, self.names, i) - _POSTGRES_EPOCH_US))
        return 0

    cdef bytes finish(self):
        """The buffer with the trailer, as bytes for ``copy.write``."""
        self.reserve(2)
        self.put(b"\xff\xff", 2)
        return PyBytes_FromStringAndSize(self.data, self.size)


cdef str _column(tuple names, Py_ssize_t i):
    return names[i] if i < len(names) else f"column {i + 1}"


cdef object _out_of_range(object value, int64_t low, int64_t high, tuple names, Py_ssize_t i):
    return DataError(f"{_column(names, i)}: {value} is out of range (the column holds {low} to {high})")


cdef int64_t _integer(object value, int64_t low, int64_t high, tuple names, Py_ssize_t i) except? -1:
    cdef int64_t v
    try:
        v = value
    except OverflowError:
        raise _out_of_range(value, low, high, names, i) from None
    if v < low or v > high:
        raise _out_of_range(value, low, high, names, i)
    return v


cdef int _array(CopyBuffer out, char c, object values, Py_ssize_t i) except -1:
    """A one-dimensional array without NULLs (codes Q int8[], I int4[], H int2[], S text[]) from a list: its
    length, then ndim, has-nulls, element type, and for a non-empty array its size and lower bound 1."""
    cdef uint32_t oid = 20 if c == b"Q" else 23 if c == b"I" else 21 if c == b"H" else 25
    cdef Py_ssize_t start, count = len(values)
    out.reserve(24)
    start = out.size
    out.size += 4  # the array's length, known at the end
    out.be32(1 if count else 0)
    out.be32(0)
    out.be32(oid)
    if count:
        out.be32(<uint32_t>count)
        out.be32(1)
    for value in values:
        if value is None:
            raise TypeError(f"{_column(out.names, i)}: an array element is None")
        if c == b"Q":
            out.int8(value, i)
        elif c == b"I":
            out.int4(value, i)
        elif c == b"H":
            out.int2(value, i)
        else:
            out.text(value, i)
    cdef uint32_t length = <uint32_t>(out.size - start - 4)
    cdef Py_ssize_t k
    for k in range(4):
        out.data[start + k] = <char>(length >> (24 - 8 * k))
    return 0


def encode(rows, str types, tuple names=()):
    """The rows (sequences of values in the order of ``types``; ``names``: the columns, for messages) as one
    binary COPY buffer."""
    cdef bytes codes = types.encode("ascii")
    cdef const char* code = PyBytes_AS_STRING(codes)
    cdef Py_ssize_t columns = len(codes), i
    cdef CopyBuffer out = CopyBuffer(65536, names)
    cdef char c
    cdef object value
    for row in rows:
        if len(row) != columns:
            raise ValueError(f"a row has {len(row)} values for {columns} columns")
        out.row(columns)
        for i in range(columns):
            value = row[i]
            c = code[i]
            if value is None:
                out.null()
            elif c == b"t":
                out.text(value, i)
            elif c == b"q":
                out.int8(value, i)
            elif c == b"b" or c == b"a":
                out.bytea(value, i)
            elif c == b"j":
                out.jsonb(value, i)
            elif c == b"T":
                out.timestamptz(value, i)
            elif c == b"i":
                out.int4(value, i)
            elif c == b"h":
                out.int2(value, i)
            elif c == b"Q" or c == b"I" or c == b"H" or c == b"S":
                _array(out, c, value, i)
            else:
                raise ValueError(f"unknown column type {chr(c)!r}")
    return out.finish()

