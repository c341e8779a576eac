# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The compiled fast path of ``decode_protobuf.decode_traces``: OTLP trace request bytes → ``Decoded``.

Why: decoding was the largest share of an ingest process's CPU (bench/ingest.py profile: a third of it, most of
that touching upb's wrapper objects per span and per attribute). This module reads the protobuf wire format
directly and builds the same ``apps.otlp.types`` objects.

Contract: ``decode(body)`` returns exactly what ``decode_protobuf.decode_traces(body)`` returns, or None when it
meets anything outside the common shape, and then the caller runs the Python decoder. "Outside the common
shape" is: any malformed or unusual encoding (truncation, group wire types, a known field with an unexpected
wire type, a singular message repeated (protobuf would merge it), invalid UTF-8, a 10-byte varint with
overflow bits, ``Resource.entity_refs``), more than MAX_ITEMS spans, or any ``DecodeError``. So every error
message and every unusual case stays with the one reference decoder, and this module only has to be right for
well-formed input. Attribute values other than the four scalars (arrays, kvlists, bytes, string
dictionary references) go to the reference ``_kv`` one by one.
It also fills ``Decoded.limits_hint``, which lets the attribute limits skip a request that is within them.
``tests/ingest/test_fast_traces.py`` compares the two on generated and corrupted requests.
"""

import os

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.mem cimport PyMem_Calloc, PyMem_Free
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.math cimport isfinite
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memchr, memcmp, memcpy

from apps.otlp.span cimport new_span


cdef extern from "Python.h":
    dict _PyDict_NewPresized(Py_ssize_t minused)  # CPython's own: a dict sized for ``minused`` keys up front

from apps.otlp.types import Decoded, DecodeError, Resource, Scope, SpanEvent, SpanLink

cdef object _reference = None  # apps.ingest.decode_protobuf, imported on first use (it imports this module)


class _Unhandled(Exception):
    """Not the common shape: the reference decoder takes the whole request."""


cdef struct Field:
    uint32_t number
    int wire
    uint64_t value  # varint, fixed64 or fixed32
    const uint8_t* data  # length-delimited content
    Py_ssize_t size


cdef struct Reader:
    const uint8_t* p
    const uint8_t* end


# The attribute memo's hash: seeded per process, so a sender cannot choose attributes that collide.
cdef uint64_t _SEED = int.from_bytes(os.urandom(8), "little")
# Slots probed before a lookup gives up (the attribute is then decoded, not memoised): a bound on the work
# colliding attributes can cause, whatever the hash does.
cdef Py_ssize_t _MAX_PROBES = 16


cdef struct Memo:
    uint64_t hash
    const uint8_t* data  # the KeyValue's bytes inside the request body, alive while it is decoded
    Py_ssize_t size
    PyObject* kv  # an owned (key, value) tuple; NULL: a free slot


cdef inline uint64_t _hash(const uint8_t* p, Py_ssize_t n):
    """A fast mix of ``n`` bytes, eight at a time (not cryptographic: the memo bounds its probes)."""
    cdef uint64_t h = _SEED ^ (<uint64_t>n * 0x9E3779B97F4A7C15ULL), word
    while n >= 8:
        memcpy(&word, p, 8)
        h = (h ^ word) * 0xFF51AFD7ED558CCDULL
        h ^= h >> 32
        p += 8
        n -= 8
    if n:
        word = 0
        memcpy(&word, p, n)
        h = (h ^ word) * 0xFF51AFD7ED558CCDULL
    # MurmurHash3's finaliser: every input bit reaches the low bits the table indexes by (a multiply alone
    # carries a difference only upwards, and attributes often differ only in their last bytes)
    h ^= h >> 33
    h *= 0xFF51AFD7ED558CCDULL
    h ^= h >> 33
    h *= 0xC4CEB9FE1A85EC53ULL
    h ^= h >> 33
    return h


cdef class _State:
    """One request's decoding state: the attribute memo and what the attribute limits need to know
    (``Decoded.limits_hint``).

    The memo maps a ``KeyValue``'s raw bytes to its ``(key, value)`` (scalars only: those are shared between
    maps safely). Most attributes repeat within a request (methods, routes, services), and a hit used to
    cost a bytes object, its SipHash and a dict lookup per attribute (~15 % of decoding); this table hashes
    the bytes where they lie in the body. ``cache`` is the reference ``_kv``'s own memo, for what it decodes.
    """

    cdef dict cache
    cdef dict scopes  # (name, version, dropped count, schema URL) -> the request's Scope without attributes
    cdef Memo* memo
    cdef Py_ssize_t capacity, used  # capacity: a power of two
    cdef Py_ssize_t longest  # longest string attribute value, in UTF-8 bytes
    cdef Py_ssize_t most  # most attributes in one map
    cdef bint plain  # no NUL in any string, every attribute value a scalar

    def __cinit__(self):
        self.cache = {}
        self.scopes = {}
        self.plain = True
        self.capacity = 1024
        self.memo = <Memo*>PyMem_Calloc(self.capacity, sizeof(Memo))
        if self.memo is NULL:
            raise MemoryError()

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self.memo is not NULL:
            for i in range(self.capacity):
                if self.memo[i].kv is not NULL:
                    Py_DECREF(<object>self.memo[i].kv)
            PyMem_Free(self.memo)

    cdef inline PyObject* lookup(self, uint64_t h, const uint8_t* p, Py_ssize_t n):
        cdef Py_ssize_t mask = self.capacity - 1, i = <Py_ssize_t>(h & mask), probe
        cdef Memo* m
        for probe in range(_MAX_PROBES):
            m = &self.memo[i]
            if m.kv is NULL:
                return NULL
            if m.hash == h and m.size == n and memcmp(m.data, p, n) == 0:
                return m.kv
            i = (i + 1) & mask
        return NULL

    cdef int remember(self, uint64_t h, const uint8_t* p, Py_ssize_t n, tuple kv) except -1:
        cdef Py_ssize_t mask, i, probe
        cdef Memo* m
        if (self.used + 1) * 2 > self.capacity:
            self._grow()
        mask = self.capacity - 1
        i = <Py_ssize_t>(h & mask)
        for probe in range(_MAX_PROBES):
            m = &self.memo[i]
            if m.kv is NULL:
                m.hash = h
                m.data = p
                m.size = n
                Py_INCREF(kv)
                m.kv = <PyObject*>kv
                self.used += 1
                return 0
            i = (i + 1) & mask
        return 0  # a crowded neighbourhood: not memoised

    cdef int _grow(self) except -1:
        cdef Memo* old = self.memo
        cdef Py_ssize_t old_capacity = self.capacity, i, j, mask
        cdef Memo* table = <Memo*>PyMem_Calloc(old_capacity * 2, sizeof(Memo))
        if table is NULL:
            raise MemoryError()
        self.memo = table
        self.capacity = old_capacity * 2
        mask = self.capacity - 1
        for i in range(old_capacity):
            if old[i].kv is NULL:
                continue
            j = <Py_ssize_t>(old[i].hash & mask)
            while table[j].kv is not NULL:
                j = (j + 1) & mask
            table[j] = old[i]  # moves the reference
        PyMem_Free(old)
        return 0


cdef inline bint _has_nul(const uint8_t* p, Py_ssize_t n):
    return memchr(p, 0, n) is not NULL


cdef inline const uint8_t* _varint(const uint8_t* p, const uint8_t* end, uint64_t* out) except NULL:
    if p < end and p[0] < 0x80:  # one byte: most tags and lengths, inlined
        out[0] = p[0]
        return p + 1
    return _long_varint(p, end, out)


cdef const uint8_t* _long_varint(const uint8_t* p, const uint8_t* end, uint64_t* out) except NULL:
    cdef uint64_t acc = 0
    cdef int shift = 0
    cdef uint8_t b
    while p < end:
        b = p[0]
        p += 1
        if shift == 63 and b > 1:
            raise _Unhandled()  # bits beyond 64: leave the judgement to upb
        acc |= (<uint64_t>(b & 0x7F)) << shift
        if b < 0x80:
            out[0] = acc
            return p
        shift += 7
        if shift > 63:
            break
    raise _Unhandled()


cdef inline bint _next(Reader* r, Field* f) except -1:
    """Read the next field of ``r`` into ``f``; False at the end."""
    cdef uint64_t tag, size
    if r.p >= r.end:
        return False
    r.p = _varint(r.p, r.end, &tag)
    if tag >> 3 == 0 or tag >> 3 > 0x1FFFFFFF:
        raise _Unhandled()
    f.number = <uint32_t>(tag >> 3)
    f.wire = <int>(tag & 7)
    if f.wire == 0:
        r.p = _varint(r.p, r.end, &f.value)
    elif f.wire == 2:
        r.p = _varint(r.p, r.end, &size)
        if size > <uint64_t>(r.end - r.p):
            raise _Unhandled()
        f.data = r.p
        f.size = <Py_ssize_t>size
        r.p += size
    elif f.wire == 1:
        if r.end - r.p < 8:
            raise _Unhandled()
        memcpy(&f.value, r.p, 8)  # little-endian, as x86-64 and the wire
        r.p += 8
    elif f.wire == 5:
        if r.end - r.p < 4:
            raise _Unhandled()
        f.value = 0
        memcpy(&f.value, r.p, 4)
        r.p += 4
    else:
        raise _Unhandled()  # groups (3, 4) and invalid wire types
    return True


cdef inline void _expect(Field* f, int wire) except *:
    if f.wire != wire:
        raise _Unhandled()


cdef inline Reader _reader(const uint8_t* data, Py_ssize_t size):
    cdef Reader r
    r.p = data
    r.end = data + size
    return r


cdef inline str _text(Field* f, _State state):
    _expect(f, 2)
    if state.plain and _has_nul(f.data, f.size):
        state.plain = False
    try:
        return PyUnicode_DecodeUTF8(<const char*>f.data, f.size, NULL)
    except UnicodeDecodeError:
        raise _Unhandled()


cdef inline bytes _bytes(Field* f):
    _expect(f, 2)
    return PyBytes_FromStringAndSize(<const char*>f.data, f.size)


cdef inline uint32_t _uint32(Field* f) except? 0xFFFFFFFF:
    _expect(f, 0)
    return <uint32_t>f.value


cdef inline int32_t _int32(Field* f) except? -1:
    _expect(f, 0)
    return <int32_t>f.value


cdef inline uint64_t _fixed64(Field* f) except? 0xFFFFFFFFFFFFFFFF:
    _expect(f, 1)
    return f.value


cdef inline uint32_t _fixed32(Field* f) except? 0xFFFFFFFF:
    _expect(f, 5)
    return <uint32_t>f.value


# --- attributes --------------------------------------------------------------------------------------


cdef object _scalar(const uint8_t* p, const uint8_t* end, _State state):
    """The value of an ``AnyValue`` holding one scalar (or nothing), or NotImplemented for anything else."""
    cdef uint64_t size, v
    cdef double d
    cdef uint8_t tag
    if p == end:
        return None
    tag = p[0]
    p += 1
    if tag == 0x0A:  # string_value
        p = _varint(p, end, &size)
        if size != <uint64_t>(end - p):
            return NotImplemented
        try:
            text = PyUnicode_DecodeUTF8(<const char*>p, <Py_ssize_t>size, NULL)
        except UnicodeDecodeError:
            return NotImplemented
        if <Py_ssize_t>size > state.longest:
            state.longest = <Py_ssize_t>size
        if state.plain and _has_nul(p, <Py_ssize_t>size):
            state.plain = False
        return text
    if tag == 0x18 or tag == 0x10:  # int_value, bool_value
        p = _varint(p, end, &v)
        if p != end:
            return NotImplemented
        if tag == 0x10:
            return v != 0
        return <int64_t>v
    if tag == 0x21 and end - p == 8:  # double_value
        memcpy(&d, p, 8)
        if isfinite(d):
            return d
        return _reference.double_value(d)
    return NotImplemented


cdef tuple _key_value(const uint8_t* p, Py_ssize_t n, uint64_t h, _State state, object where):
    """One raw ``KeyValue``, memoised when its value is a scalar: the common shapes (an optional key, then an
    optional scalar value) here, the rest (other field orders, arrays, kvlists, bytes, invalid UTF-8...) by the
    reference."""
    cdef const uint8_t* end = p + n
    cdef const uint8_t* q = p
    cdef uint64_t size
    cdef object key = "", value = None
    cdef tuple result
    if q < end and q[0] == 0x0A:  # the key (absent when empty, as proto3 encodes it)
        q = _varint(q + 1, end, &size)
        if size > <uint64_t>(end - q):
            raise _Unhandled()
        try:
            key = PyUnicode_DecodeUTF8(<const char*>q, <Py_ssize_t>size, NULL)
        except UnicodeDecodeError:
            key = NotImplemented
        if state.plain and _has_nul(q, <Py_ssize_t>size):
            state.plain = False
        q += size
    if key is not NotImplemented:
        if q < end and q[0] == 0x12:  # the value; absent: null, as the reference reads an unset AnyValue
            q = _varint(q + 1, end, &size)
            value = _scalar(q, end, state) if size == <uint64_t>(end - q) else NotImplemented
        elif q != end:
            value = NotImplemented
        if value is not NotImplemented:
            result = (key, value)
            state.remember(h, p, n, result)
            return result
    state.plain = False  # not the common shape: the limits look at it themselves
    raw = PyBytes_FromStringAndSize(<const char*>p, n)
    result = _reference._kv(raw, state.cache, where() if callable(where) else where)
    if PyDict_GetItem(state.cache, raw) is not NULL:  # the reference memoised it: a scalar
        state.remember(h, p, n, result)
    return result


cdef dict _attributes(const uint8_t* data, Py_ssize_t size, uint32_t number, _State state, object where,
                      Py_ssize_t expected=0):
    """The attributes (repeated KeyValue field ``number``, ``expected`` of them if known) of one message, in wire
    order; the last key wins."""
    cdef Reader r = _reader(data, size)
    cdef Field f
    cdef dict out = _PyDict_NewPresized(expected) if expected > 5 else {}
    cdef PyObject* hit
    cdef tuple kv
    cdef uint64_t h
    while _next(&r, &f):
        if f.number != number:
            continue
        _expect(&f, 2)
        h = _hash(f.data, f.size)
        hit = state.lookup(h, f.data, f.size)
        if hit is NULL:
            kv = _key_value(f.data, f.size, h, state, where)
        else:
            kv = <tuple>hit
        PyDict_SetItem(out, kv[0], kv[1])
    if len(out) > state.most:
        state.most = len(out)
    return out


# --- messages ----------------------------------------------------------------------------------------


cdef object _resource(const uint8_t* data, Py_ssize_t size, str schema_url, _State state, object where):
    cdef Reader r = _reader(data, size)
    cdef Field f
    cdef uint32_t dropped = 0
    while _next(&r, &f):
        if f.number == 1:
            _expect(&f, 2)
        elif f.number == 2:
            dropped = _uint32(&f)
        elif f.number == 3:
            raise _Unhandled()  # entity_refs: not read, so not validated here
    return Resource(_attributes(data, size, 1, state, where), dropped, schema_url)


cdef object _scope(const uint8_t* data, Py_ssize_t size, str schema_url, _State state, object where):
    """The scope; one object for the equal scopes without attributes of a request (a batch repeats its few
    instrumentation scopes in every ResourceSpans: a frozen dataclass each was 1 % of an ingest process's CPU)."""
    cdef Reader r = _reader(data, size)
    cdef Field f
    cdef str name = ""
    cdef str version = ""
    cdef uint32_t dropped = 0
    cdef bint has_attributes = False
    while _next(&r, &f):
        if f.number == 1:
            name = _text(&f, state)
        elif f.number == 2:
            version = _text(&f, state)
        elif f.number == 3:
            _expect(&f, 2)
            has_attributes = True
        elif f.number == 4:
            dropped = _uint32(&f)
    if has_attributes:  # a map of its own per scope: later steps may replace its values
        return Scope(name, version, _attributes(data, size, 3, state, where), dropped, schema_url)
    key = (name, version, dropped, schema_url)
    scope = state.scopes.get(key)
    if scope is None:
        scope = state.scopes[key] = Scope(name, version, {}, dropped, schema_url)
    return scope


cdef tuple _status(const uint8_t* data, Py_ssize_t size, _State state):
    cdef Reader r = _reader(data, size)
    cdef Field f
    cdef str message = ""
    cdef int32_t code = 0
    while _next(&r, &f):
        if f.number == 2:
            message = _text(&f, state)
        elif f.number == 3:
            code = _int32(&f)
    return code, message


cdef object _event(const uint8_t* data, Py_ssize_t size, _State state, object where, bint build=True):
    cdef Reader r = _reader(data, size)
    cdef Field f
    cdef uint64_t time_ns = 0
    cdef str name = ""
    cdef uint32_t dropped = 0
    while _next(&r, &f):
        if f.number == 1:
            time_ns = _fixed64(&f)
        elif f.number == 2:
            name = _text(&f, state)
        elif f.number == 3:
            _expect(&f, 2)
        elif f.number == 4:
            dropped = _uint32(&f)
    if not build:
        return None
    return SpanEvent(time_ns, name, _attributes(data, size, 3, state, where), dropped)


cdef inline bint _valid_id(bytes raw, Py_ssize_t size):
    cdef const uint8_t* p
    cdef Py_ssize_t i
    if len(raw) != size:
        return False
    p = <const uint8_t*><char*>raw
    for i in range(size):
        if p[i]:
            return True
    return False


cdef object _link(const uint8_t* data, Py_ssize_t size, _State state, object where, bint build=True):
    """A link, or None when its trace or span id is invalid (the reference drops and counts it)."""
    cdef Reader r = _reader(data, size)
    cdef Field f
    cdef bytes trace_id = b""
    cdef bytes span_id = b""
    cdef str trace_state = ""
    cdef uint32_t dropped = 0, flags = 0
    while _next(&r, &f):
        if f.number == 1:
            trace_id = _bytes(&f)
        elif f.number == 2:
            span_id = _bytes(&f)
        elif f.number == 3:
            trace_state = _text(&f, state)
        elif f.number == 4:
            _expect(&f, 2)
        elif f.number == 5:
            dropped = _uint32(&f)
        elif f.number == 6:
            flags = _fixed32(&f)
    if not (build and _valid_id(trace_id, 16) and _valid_id(span_id, 8)):
        return None
    return SpanLink(trace_id, span_id, trace_state, _attributes(data, size, 4, state, where), dropped, flags)


cdef class _Where:
    """Where an attribute list is, for the reference's error messages, built only when one is needed (a cdef
    class: one is made per span, and a Python class instance cost a few per cent of decoding)."""

    cdef object path, index, field

    def __init__(self, path, index, field):
        self.path = path
        self.index = index
        self.field = field

    def __call__(self):
        if self.index is None:
            return f"{self.path()}.{self.field}"
        return f"{self.path()}.spans[{self.index}].{self.field}"


cdef object _span(const uint8_t* data, Py_ssize_t size, object resource, object scope, _State state, object out,
                  object spath, Py_ssize_t index, int64_t lo, int64_t hi):
    cdef Reader r = _reader(data, size)
    cdef Field f
    cdef bytes trace_id = b""
    cdef bytes span_id = b""
    cdef bytes parent = b""
    cdef str trace_state = ""
    cdef str name = ""
    cdef int32_t kind = 0
    cdef uint64_t start = 0, end = 0
    cdef uint32_t flags = 0, dropped_attributes = 0, dropped_events = 0, dropped_links = 0
    cdef const uint8_t* status_data = NULL
    cdef Py_ssize_t status_size = 0
    cdef bint has_status = False, has_events = False, has_links = False
    cdef int32_t code = 0
    cdef str message = ""
    cdef list events, links
    cdef object link
    cdef uint32_t n
    cdef Py_ssize_t attribute_count = 0
    while _next(&r, &f):
        n = f.number
        if n == 1:
            trace_id = _bytes(&f)
        elif n == 2:
            span_id = _bytes(&f)
        elif n == 3:
            trace_state = _text(&f, state)
        elif n == 4:
            parent = _bytes(&f)
        elif n == 5:
            name = _text(&f, state)
        elif n == 6:
            kind = _int32(&f)
        elif n == 7:
            start = _fixed64(&f)
        elif n == 8:
            end = _fixed64(&f)
        elif n == 9:
            _expect(&f, 2)
            attribute_count += 1
        elif n == 10:
            dropped_attributes = _uint32(&f)
        elif n == 11:
            _expect(&f, 2)
            has_events = True
        elif n == 12:
            dropped_events = _uint32(&f)
        elif n == 13:
            _expect(&f, 2)
            has_links = True
        elif n == 14:
            dropped_links = _uint32(&f)
        elif n == 15:
            _expect(&f, 2)
            if has_status:
                raise _Unhandled()  # protobuf merges a repeated singular message
            has_status = True
            status_data = f.data
            status_size = f.size
        elif n == 16:
            flags = _fixed32(&f)
    if not (
        _valid_id(trace_id, 16)
        and _valid_id(span_id, 8)
        and (len(parent) == 0 or len(parent) == 8)
        and start <= <uint64_t>hi and end <= <uint64_t>hi and <int64_t>start >= lo and start <= end
    ):
        # upb parsed (and validated) the nested messages of a rejected span too
        if has_status:
            _status(status_data, status_size, state)
        r = _reader(data, size)
        while _next(&r, &f):
            if f.number == 11:
                _event(f.data, f.size, state, None, False)
            elif f.number == 13:
                _link(f.data, f.size, state, None, False)
        path = f"{spath()}.spans[{index}]"
        out.reject(1, _reference.span_problem(path, trace_id, span_id, parent, start=start, end=end, lo=lo, hi=hi) or "")
        return None
    where = _Where(spath, index, "attributes")
    attributes = _attributes(data, size, 9, state, where, attribute_count)
    if has_status:
        code, message = _status(status_data, status_size, state)
    events = []
    links = []
    if has_events or has_links:
        r = _reader(data, size)
        while _next(&r, &f):
            if f.number == 11:
                events.append(_event(f.data, f.size, state, _Where(spath, index, "events")))
            elif f.number == 13:
                link = _link(f.data, f.size, state, _Where(spath, index, "links"))
                if link is None:
                    dropped_links += 1
                else:
                    links.append(link)
    return new_span(
        resource, scope, trace_id, span_id, parent if parent and parent != b"\0" * 8 else None, name, kind, start,
        end, attributes, code, message, trace_state, flags, events, links, dropped_attributes, dropped_events,
        dropped_links,
    )


cdef Py_ssize_t _count_spans(const uint8_t* data, Py_ssize_t size) except -1:
    """Spans in the request (checked against MAX_ITEMS before anything is built, as the reference does)."""
    cdef Reader request = _reader(data, size)
    cdef Reader rs, ss
    cdef Field f, g, h
    cdef Py_ssize_t total = 0
    while _next(&request, &f):
        if f.number != 1:
            continue
        _expect(&f, 2)
        rs = _reader(f.data, f.size)
        while _next(&rs, &g):
            if g.number != 2:
                continue
            _expect(&g, 2)
            ss = _reader(g.data, g.size)
            while _next(&ss, &h):
                if h.number == 2:
                    total += 1
    return total


cdef class _Path:
    """``resourceSpans[i].scopeSpans[j]``, built only when a message needs it."""

    cdef object ri, si

    def __init__(self, ri, si):
        self.ri = ri
        self.si = si

    def __call__(self):
        if self.si is None:
            return f"resourceSpans[{self.ri}]"
        return f"resourceSpans[{self.ri}].scopeSpans[{self.si}]"


cdef object _decode(bytes body):
    cdef const uint8_t* data = <const uint8_t*><char*>body
    cdef Py_ssize_t size = len(body)
    cdef Reader request = _reader(data, size), rs, ss
    cdef Field f, g, h
    cdef const uint8_t* resource_data
    cdef Py_ssize_t resource_size
    cdef const uint8_t* scope_data
    cdef Py_ssize_t scope_size
    cdef bint has_resource, has_scope
    cdef str schema_url
    cdef Py_ssize_t ri = -1, si, i
    cdef _State state = _State()
    cdef list spans
    cdef int64_t lo, hi
    cdef object span
    total = _count_spans(data, size)
    if total > _reference.MAX_ITEMS:
        raise _Unhandled()
    lo, hi = _reference.time_window()
    out = Decoded()
    spans = out.spans
    while _next(&request, &f):
        if f.number != 1:
            continue
        _expect(&f, 2)
        ri += 1
        # ResourceSpans: resource and schema_url first (they may follow the scopes on the wire)
        has_resource = False
        resource_data = NULL
        resource_size = 0
        schema_url = ""
        rs = _reader(f.data, f.size)
        while _next(&rs, &g):
            if g.number == 1:
                _expect(&g, 2)
                if has_resource:
                    raise _Unhandled()
                has_resource = True
                resource_data = g.data
                resource_size = g.size
            elif g.number == 3:
                schema_url = _text(&g, state)
        resource = _resource(resource_data, resource_size, schema_url, state, _Path(ri, None)() + ".resource")
        si = -1
        rs = _reader(f.data, f.size)
        while _next(&rs, &g):
            if g.number != 2:
                continue
            si += 1
            spath = _Path(ri, si)
            has_scope = False
            scope_data = NULL
            scope_size = 0
            schema_url = ""
            ss = _reader(g.data, g.size)
            while _next(&ss, &h):
                if h.number == 1:
                    _expect(&h, 2)
                    if has_scope:
                        raise _Unhandled()
                    has_scope = True
                    scope_data = h.data
                    scope_size = h.size
                elif h.number == 3:
                    schema_url = _text(&h, state)
            scope = _scope(scope_data, scope_size, schema_url, state, _Where(spath, None, "scope"))
            i = -1
            ss = _reader(g.data, g.size)
            while _next(&ss, &h):
                if h.number != 2:
                    continue
                _expect(&h, 2)
                i += 1
                span = _span(h.data, h.size, resource, scope, state, out, spath, i, lo, hi)
                if span is not None:
                    spans.append(span)
    if state.plain:
        out.limits_hint = (state.longest, state.most)
    return out


def decode(bytes body):
    """``decode_protobuf.decode_traces(body)``, or None: then the reference decoder must take ``body``."""
    global _reference
    if _reference is None:
        from apps.ingest import decode_protobuf
        _reference = decode_protobuf
    try:
        return _decode(body)
    except (_Unhandled, DecodeError):
        return None
