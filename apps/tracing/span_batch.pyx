# cython: language_level=3, boundscheck=False, wraparound=False
"""A batch of spans as COPY rows and rollup sums, compiled: the span writer's per-span work.

Used by apps/tracing/writers.py (``SpanBatch``: the rows and the sums of a write) and apps/tracing/deltas.py (the
sums). In Python, building the rows and summing the RED and service-map deltas was ~20 µs of the writer's ~27 µs
per span (bench/ingest_phases.py); most of it was the interpreter's calls and tuple handling, not the work. Rows
are written straight into the COPY buffer, so the span row is defined once, here (as fast as building row tuples
for ``binary_copy.encode``, docs/benchmarks.md). Values from the wire stay Python ints here, so a value no column
can hold still reaches the COPY encoder, which refuses it by name, instead of overflowing a C integer.
"""

from cpython.dict cimport PyDict_GetItem
from cpython.long cimport PyLong_FromUnsignedLongLong
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memmove

import msgspec

from apps.otlp.binary_copy cimport CopyBuffer
from apps.otlp.span cimport Span
from apps.otlp.types import SpanKind, StatusCode
from apps.otlp.values import NS_PER_MINUTE
from apps.tracing.histogram import SIZE, UPPER_BOUNDS

# The span table's COPY columns, in the order of a row.
COLUMNS = (
    "organization_id", "project_id", "start_time", "trace_id", "span_id", "parent_span_id", "start_ns", "duration_ns",
    "service_name", "name", "kind", "status_code", "status_message", "trace_state", "flags", "resource_fingerprint",
    "scope_name", "scope_version", "scope_attributes", "attributes", "events", "links", "dropped_attributes_count",
    "dropped_events_count", "dropped_links_count", "http_route", "http_status_code", "db_system", "enduser_id",
    "peer", "peer_kind",
)  # fmt: skip

cdef Py_ssize_t _WIDTH = len(COLUMNS)
cdef object _encode = msgspec.json.Encoder().encode
cdef frozenset _CACHES = frozenset({"redis", "memcached", "valkey"})
cdef object _CLIENT = int(SpanKind.CLIENT)
cdef object _PRODUCER = int(SpanKind.PRODUCER)
cdef object _ERROR = int(StatusCode.ERROR)
cdef object _NS_PER_MINUTE = NS_PER_MINUTE
cdef object _US_PER_DAY = 86_400_000_000


# ----- rollup sums

cdef int64_t _BOUNDS[1024]
cdef Py_ssize_t _BOUND_COUNT = len(UPPER_BOUNDS)
assert _BOUND_COUNT == SIZE - 1 and _BOUND_COUNT <= 1024
for _i, _bound in enumerate(UPPER_BOUNDS):
    _BOUNDS[_i] = _bound
cdef object _LAST_BOUND = UPPER_BOUNDS[_BOUND_COUNT - 1]


cdef Py_ssize_t _bucket_of(object duration_ns) except -1:
    """``histogram.bucket_index`` of an integer duration: the first bucket whose upper bound
    (``histogram.UPPER_BOUNDS``) is ≥ it, by a binary search (tests/tracing/test_span_batch.py checks they agree)."""
    if duration_ns > _LAST_BOUND:
        return _BOUND_COUNT
    cdef int64_t d = duration_ns
    cdef Py_ssize_t low = 0, high = _BOUND_COUNT, middle
    while low < high:
        middle = (low + high) >> 1
        if _BOUNDS[middle] < d:
            low = middle + 1
        else:
            high = middle
    return low


cdef class _Sum:
    """One series' sums; its histogram as packed bins, ``(bucket << 32) | count`` in bucket order, the form the
    delta tables store (a dict of Python ints, sorted and packed at the end, was ~3 % of an ingest process)."""

    cdef Py_ssize_t count, errors
    cdef object duration_ns  # a Python int: the sum of wire values may outgrow int8, refused by the encoder
    cdef uint64_t* bins
    cdef Py_ssize_t used, capacity

    def __cinit__(self):
        self.duration_ns = 0
        self.capacity = 4
        self.bins = <uint64_t*>PyMem_Malloc(self.capacity * sizeof(uint64_t))
        if self.bins is NULL:
            raise MemoryError()

    def __dealloc__(self):
        PyMem_Free(self.bins)

    cdef int count_in(self, uint64_t bucket) except -1:
        """One more in ``bucket``: a binary search of the bins, a new bin inserted in order if none."""
        cdef Py_ssize_t low = 0, high = self.used, middle
        cdef uint64_t* grown
        while low < high:
            middle = (low + high) >> 1
            if (self.bins[middle] >> 32) < bucket:
                low = middle + 1
            else:
                high = middle
        if low < self.used and (self.bins[low] >> 32) == bucket:
            self.bins[low] += 1  # a batch never counts 2^32 spans in one bucket
            return 0
        if self.used == self.capacity:
            grown = <uint64_t*>PyMem_Realloc(self.bins, 2 * self.capacity * sizeof(uint64_t))
            if grown is NULL:
                raise MemoryError()
            self.bins = grown
            self.capacity *= 2
        memmove(&self.bins[low + 1], &self.bins[low], (self.used - low) * sizeof(uint64_t))
        self.bins[low] = (bucket << 32) | 1
        self.used += 1
        return 0


cdef class SeriesSums:
    """Request count, error count, duration sum and latency histogram per key ``(tenant, minute, *series)``."""

    cdef dict _sums

    def __cinit__(self):
        self._sums = {}

    def __len__(self):
        return len(self._sums)

    cpdef add(self, tuple key, object duration_ns, bint is_error):
        cdef PyObject* found = PyDict_GetItem(self._sums, key)
        cdef _Sum sums
        if found is NULL:
            sums = _Sum()
            self._sums[key] = sums
        else:
            sums = <_Sum>found
        sums.count += 1
        sums.errors += is_error
        sums.duration_ns += duration_ns
        sums.count_in(<uint64_t>_bucket_of(duration_ns))

    def packed_rows(self, us_per_minute):
        """COPY rows of a packed delta table (sql/0007_packed_deltas.sql), one per tenant and minute:
        ``(organization, project, minute start in µs, a list per series key field, counts, errors, duration sums,
        histogram firsts, histogram lasts, histograms)``; a series' histogram is packed, ``(bucket << 32) | count``
        in bucket order, at ``histograms[first - 1:last]``."""
        cdef dict groups = {}
        cdef list group, histograms
        cdef _Sum sums
        cdef Py_ssize_t width, j
        for key, value in self._sums.items():
            sums = <_Sum>value
            width = len(key) - 2
            group = groups.get((key[0], key[1]))
            if group is None:
                group = [[] for _ in range(width + 6)]
                groups[(key[0], key[1])] = group
            for j in range(width):
                (<list>group[j]).append(key[2 + j])
            (<list>group[width]).append(sums.count)
            (<list>group[width + 1]).append(sums.errors)
            (<list>group[width + 2]).append(sums.duration_ns)
            histograms = group[width + 5]
            (<list>group[width + 3]).append(len(histograms) + 1)
            for j in range(sums.used):
                histograms.append(PyLong_FromUnsignedLongLong(sums.bins[j]))
            (<list>group[width + 4]).append(len(histograms))
        return [
            (tenant[0], tenant[1], minute * us_per_minute, *group) for (tenant, minute), group in groups.items()
        ]


cdef inline void _edge(SeriesSums edges, tuple tenant, object minute, object source, object target, object kind,
                       object duration_ns, bint is_error) except *:
    if source != target:  # calls inside one service are not edges of the map
        edges.add((tenant, minute, source, target, kind), duration_ns, is_error)


def add_edge(SeriesSums edges, tuple tenant, start_ns, source, target, target_kind, duration_ns, bint is_error):
    """A call from ``source`` to ``target``, timed by the callee's (or the client span's) start and duration."""
    _edge(edges, tenant, start_ns // _NS_PER_MINUTE, source, target, target_kind, duration_ns, is_error)


# ----- rows


cdef inline object _text(object value):
    return value if type(value) is str else None


cdef inline object _int(object value):
    if type(value) is int and -(2**31) <= value < 2**31:
        return value
    return None


cdef object _as_text(object value):
    """An attribute as text: strings as they are, other values as JSON (like PostgreSQL's ``->>``)."""
    if value is None or type(value) is str:
        return value
    return _encode(value).decode()


cdef tuple _peer_of(object kind, dict attributes, object db_system):
    """The dependency a client or producer span calls and its kind (database, cache, queue, external), or
    (None, None). Stored with the span: the service map counts it at ingest and GDPR erasure subtracts it."""
    if kind != _CLIENT and kind != _PRODUCER:
        return None, None
    if db_system is not None:
        namespace = _as_text(attributes.get("db.namespace"))
        if namespace is None:
            namespace = _as_text(attributes.get("db.name"))
        peer = db_system if namespace is None else f"{db_system}:{namespace}"
        return peer, "cache" if db_system in _CACHES else "database"
    system = _as_text(attributes.get("messaging.system"))
    if system is not None:
        destination = _as_text(attributes.get("messaging.destination.name"))
        return (system if destination is None else f"{system}:{destination}"), "queue"
    host = _as_text(attributes.get("server.address"))
    if host is None:
        host = _as_text(attributes.get("net.peer.name"))
    return (host, "external") if host is not None else (None, None)


cdef inline object _hex_id(object raw):
    return raw.hex() if raw else None


cdef object _events(list events):
    return _encode([
        {"time_unix_nano": e.time_ns, "name": e.name, "attributes": e.attributes,
         "dropped_attributes_count": e.dropped_attributes_count}
        for e in events
    ])  # fmt: skip


cdef object _links(list links):
    return _encode([
        {"trace_id": _hex_id(link.trace_id), "span_id": _hex_id(link.span_id), "trace_state": link.trace_state,
         "attributes": link.attributes, "dropped_attributes_count": link.dropped_attributes_count,
         "flags": link.flags}
        for link in links
    ])  # fmt: skip


cdef class SpanBatch:
    """The spans of one write as the span table's binary COPY rows, with their RED and service-map sums.

    One compiled pass: each row is encoded straight into the COPY buffer (apps/otlp/binary_copy.pyx), the hot
    attributes copied into their own columns (they stay in ``attributes`` too), and added to the sums. A span
    repeated within the batch (same trace id, span id and start µs, the table's key) is one row, the first.
    ``fingerprint_of(resource)`` is asked once per run of spans that share a resource object (a request's spans
    come grouped by resource). Values that no column can hold raise ``psycopg.DataError`` naming the column.

    - ``copy``: the rows (``COLUMNS``) as one binary COPY buffer; ``spans``: the spans of the rows, in order.
    - ``red`` and ``edges``: the sums of the rows, and of the service-map edges whose both ends are rows.
    - ``orphans``: ``(trace id, parent span id, span id, service, start ns, duration ns, is error)`` of the rows
      whose parent is not among them (their edge is resolved against stored spans by the writer); ``ids``: each
      (trace id, span id) of the rows once, concatenated; ``service_of(trace_id, span_id)``.
    - ``first_seen``: the earliest start (µs) per resource fingerprint; ``days``: the Unix days of the starts.
    """

    cdef readonly bytes copy
    cdef readonly list spans
    cdef readonly SeriesSums red
    cdef readonly SeriesSums edges
    cdef readonly list orphans
    cdef readonly bytes ids
    cdef readonly dict first_seen
    cdef readonly set days
    cdef dict _rows  # (trace id, span id) -> the position of its (first) row
    cdef list _services  # the service of each row

    def __init__(self, organization_id, project_id, spans, fingerprint_of):
        cdef tuple tenant = (organization_id, project_id)
        cdef CopyBuffer out = CopyBuffer(65536, COLUMNS)
        cdef bytearray ids = bytearray()
        cdef dict rows = {}
        cdef list services = []
        cdef list kept = []
        cdef set repeats = None
        cdef PyObject* found
        cdef Py_ssize_t position
        cdef Span span
        cdef _ScopeColumns scope_columns = _ScopeColumns()
        self.red = SeriesSums()
        self.edges = SeriesSums()
        self.first_seen = {}
        self.days = set()
        last_resource = fingerprint = service = None
        for span in spans:
            start_ns = span.start_ns
            start_us = start_ns // 1000
            key = (span.trace_id, span.span_id)
            found = PyDict_GetItem(rows, key)
            if found is NULL:
                rows[key] = len(kept)
                ids += key[0]
                ids += key[1]
            else:  # a span id seen before in the batch: the same row again unless it starts elsewhere (rare)
                if (<Span>kept[<Py_ssize_t><object>found]).start_ns // 1000 == start_us:
                    continue
                if repeats is None:
                    repeats = set()
                elif (key, start_us) in repeats:
                    continue
                repeats.add((key, start_us))
            resource = span.resource
            if resource is not last_resource:
                fingerprint = fingerprint_of(resource)
                service = resource.service_name
                last_resource = resource
            _row(out, organization_id, project_id, span, start_us, fingerprint, service, tenant, self.red, self.edges,
                 scope_columns)
            kept.append(span)
            services.append(service)
            first = self.first_seen.get(fingerprint)
            if first is None or start_us < first:
                self.first_seen[fingerprint] = start_us
            self.days.add(start_us // _US_PER_DAY)
        self.copy = out.finish()
        self.spans = kept
        self.ids = bytes(ids)
        self._rows = rows
        self._services = services
        self.orphans = []
        for position in range(len(kept)):  # the edges inside the batch: a parent may come after its child
            span = kept[position]
            parent = span.parent_span_id
            if parent is None:
                continue
            duration = span.end_ns - span.start_ns
            if duration < 0:
                duration = 0
            is_error = span.status_code == _ERROR
            found = PyDict_GetItem(rows, (span.trace_id, parent))
            if found is not NULL:
                _edge(self.edges, tenant, span.start_ns // _NS_PER_MINUTE, services[<Py_ssize_t><object>found],
                      services[position], "service", duration, is_error)
            else:
                self.orphans.append(
                    (span.trace_id, parent, span.span_id, services[position], span.start_ns, duration, is_error)
                )

    def __len__(self):
        return len(self.spans)

    def service_of(self, trace_id, span_id):
        """The service of the row of (trace_id, span_id); KeyError if none."""
        return self._services[self._rows[(trace_id, span_id)]]


cdef class _ScopeColumns:
    """The scope columns of the last scope seen: a request's spans come grouped by scope, so each scope's fields
    are read (and its attributes encoded) once per run of spans instead of once per span."""

    cdef object scope, name, version, attributes

    cdef inline int of(self, object scope) except -1:
        if scope is not self.scope:
            self.scope = None  # set last: a scope whose attributes failed to encode is never taken as read
            self.name = scope.name
            self.version = scope.version
            self.attributes = _encode(scope.attributes) if scope.attributes else None
            self.scope = scope
        return 0


cdef int _row(CopyBuffer out, organization_id, project_id, Span span, start_us, fingerprint, service, tuple tenant,
              SeriesSums red, SeriesSums edges, _ScopeColumns scope) except -1:
    """One span's row (``COLUMNS``, in order) and its RED sums and dependency edge."""
    cdef dict attributes = span.attributes
    scope.of(span.scope)
    start_ns = span.start_ns
    db_system = attributes.get("db.system.name")
    if db_system is None:
        db_system = attributes.get("db.system")
    db_system = _text(db_system)
    kind = span.kind
    peer, peer_kind = _peer_of(kind, attributes, db_system)
    status = attributes.get("http.response.status_code")
    if status is None:
        status = attributes.get("http.status_code")
    enduser = attributes.get("enduser.id")
    if enduser is None:
        enduser = attributes.get("user.id")
    duration = span.end_ns - start_ns
    if duration < 0:
        duration = 0
    events = span.events
    links = span.links
    status_code = span.status_code
    out.row(_WIDTH)
    out.int8(organization_id, 0)
    out.int8(project_id, 1)
    out.timestamptz(start_us, 2)
    out.bytea(span.trace_id, 3)
    out.bytea(span.span_id, 4)
    out.bytea(span.parent_span_id, 5)
    out.int8(start_ns, 6)
    out.int8(duration, 7)
    out.text(service, 8)
    out.text(span.name, 9)
    out.int2(kind, 10)
    out.int2(status_code, 11)
    out.text(span.status_message, 12)
    out.text(span.trace_state, 13)
    out.int8(span.flags, 14)
    out.bytea(fingerprint, 15)
    out.text(scope.name, 16)
    out.text(scope.version, 17)
    out.jsonb(scope.attributes, 18)
    out.jsonb(_encode(attributes), 19)
    out.jsonb(_events(events) if events else None, 20)
    out.jsonb(_links(links) if links else None, 21)
    out.int4(span.dropped_attributes_count, 22)
    out.int4(span.dropped_events_count, 23)
    out.int4(span.dropped_links_count, 24)
    out.text(_text(attributes.get("http.route")), 25)
    out.int4(_int(status), 26)
    out.text(db_system, 27)
    out.text(_text(enduser), 28)
    out.text(peer, 29)
    out.text(peer_kind, 30)
    minute = start_ns // _NS_PER_MINUTE
    is_error = status_code == _ERROR
    red.add((tenant, minute, service, span.name, kind), duration, is_error)
    if peer is not None:
        _edge(edges, tenant, minute, service, peer, peer_kind, duration, is_error)
    return 0
