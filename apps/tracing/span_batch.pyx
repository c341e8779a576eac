# cython: language_level=3, boundscheck=False, wraparound=False
"""A batch of spans as COPY rows and rollup sums, compiled: the span writer's per-span work.

Used by apps/tracing/writers.py (rows, the edges inside a batch) and apps/tracing/deltas.py (the sums). In
Python, building the rows and summing the RED and service-map deltas was ~20 µs of the writer's ~27 µs per
span (bench/ingest_phases.py); most of it was the interpreter's calls and tuple handling, not the work.
Values from the wire stay Python ints here, so a value no column can hold still reaches the COPY encoder,
which refuses it by name (apps/otlp/binary_copy.pyx), instead of overflowing a C integer.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint64_t

import msgspec

from apps.otlp.types import SpanKind, StatusCode
from apps.otlp.values import NS_PER_MINUTE
from apps.tracing.histogram import SIZE, UPPER_BOUNDS

# The span table's COPY columns and their binary_copy type codes, one per column.
COLUMNS = (
    "organization_id", "project_id", "start_time", "trace_id", "span_id", "parent_span_id", "start_ns", "duration_ns",
    "service_name", "name", "kind", "status_code", "status_message", "trace_state", "flags", "resource_fingerprint",
    "scope_name", "scope_version", "scope_attributes", "attributes", "events", "links", "dropped_attributes_count",
    "dropped_events_count", "dropped_links_count", "http_route", "http_status_code", "db_system", "enduser_id",
    "peer", "peer_kind",
)  # fmt: skip
TYPES = "qqTbbbqqtthhttqbttjjjjiiititttt"
assert len(TYPES) == len(COLUMNS)
# Positions in a row.
START, TRACE, SPAN, PARENT, START_NS, DURATION, SERVICE, NAME, KIND, STATUS, RESOURCE, PEER, PEER_KIND = (
    COLUMNS.index(c)
    for c in (
        "start_time", "trace_id", "span_id", "parent_span_id", "start_ns", "duration_ns", "service_name", "name",
        "kind", "status_code", "resource_fingerprint", "peer", "peer_kind",
    )
)  # fmt: skip

cdef object _encode = msgspec.json.Encoder().encode
cdef frozenset _CACHES = frozenset({"redis", "memcached", "valkey"})
cdef object _CLIENT = int(SpanKind.CLIENT)
cdef object _PRODUCER = int(SpanKind.PRODUCER)
cdef object _ERROR = int(StatusCode.ERROR)
cdef object _NS_PER_MINUTE = NS_PER_MINUTE
cdef Py_ssize_t _START = START, _TRACE = TRACE, _SPAN = SPAN, _PARENT = PARENT, _START_NS = START_NS
cdef Py_ssize_t _DURATION = DURATION, _SERVICE = SERVICE, _NAME = NAME, _KIND = KIND, _STATUS = STATUS
cdef Py_ssize_t _PEER = PEER, _PEER_KIND = PEER_KIND


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


def peer_of(kind, dict attributes not None, db_system):
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


def span_row(organization_id, project_id, span, resource_fingerprint):
    """One COPY row (``TYPES``); hot attributes are copied into their own columns (they stay in ``attributes``
    too). ``start_time`` is in Unix microseconds (``values.time_of_ns`` truncates alike); jsonb is encoded."""
    cdef dict attributes = span.attributes
    scope = span.scope
    start_ns = span.start_ns
    db_system = attributes.get("db.system.name")
    if db_system is None:
        db_system = attributes.get("db.system")
    db_system = _text(db_system)
    kind = span.kind
    peer, peer_kind = peer_of(kind, attributes, db_system)
    status = attributes.get("http.response.status_code")
    if status is None:
        status = attributes.get("http.status_code")
    enduser = attributes.get("enduser.id")
    if enduser is None:
        enduser = attributes.get("user.id")
    duration = span.end_ns - start_ns
    events = span.events
    links = span.links
    return (
        organization_id, project_id, start_ns // 1000, span.trace_id, span.span_id, span.parent_span_id, start_ns,
        duration if duration > 0 else 0, span.resource.service_name, span.name, kind, span.status_code,
        span.status_message, span.trace_state, span.flags, resource_fingerprint, scope.name, scope.version,
        _encode(scope.attributes) if scope.attributes else None, _encode(attributes),
        _events(events) if events else None, _links(links) if links else None, span.dropped_attributes_count,
        span.dropped_events_count, span.dropped_links_count, _text(attributes.get("http.route")), _int(status),
        db_system, _text(enduser), peer, peer_kind,
    )  # fmt: skip


def rows_by_key(organization_id, project_id, spans, fingerprint_of):
    """The rows of ``spans`` keyed by (trace id, span id, start in µs), the span table's key: a span repeated
    within a batch is one row (the first). ``fingerprint_of(resource)`` is asked once per run of spans that
    share a resource object (a request's spans come grouped by resource)."""
    cdef dict rows = {}
    cdef tuple row
    last_resource = fingerprint = None
    for span in spans:
        resource = span.resource
        if resource is not last_resource:
            fingerprint = fingerprint_of(resource)
            last_resource = resource
        row = span_row(organization_id, project_id, span, fingerprint)
        rows.setdefault((row[_TRACE], row[_SPAN], row[_START]), row)
    return rows


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
    cdef Py_ssize_t count, errors
    cdef object duration_ns  # a Python int: the sum of wire values may outgrow int8, refused by the encoder
    cdef dict histogram  # bucket -> count

    def __cinit__(self):
        self.duration_ns = 0
        self.histogram = {}


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
        bucket = _bucket_of(duration_ns)
        found = PyDict_GetItem(sums.histogram, bucket)
        sums.histogram[bucket] = 1 if found is NULL else <object>found + 1

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
            histograms.extend([(bucket << 32) | sums.histogram[bucket] for bucket in sorted(sums.histogram)])
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


def roll_up_rows(tuple tenant, list rows, SeriesSums red, SeriesSums edges):
    """Add the RED sums of the span ``rows`` and the service-map edges whose both ends are among them.

    Returns ``(services, orphans)``: the service of each (trace id, span id) of the rows, and the rows whose
    parent is not among them (their edge is resolved against stored spans by the writer).
    """
    cdef dict services = {}
    cdef list orphans = []
    cdef tuple row
    cdef PyObject* caller
    for row in rows:
        services[(row[_TRACE], row[_SPAN])] = row[_SERVICE]
    for row in rows:
        duration, service = row[_DURATION], row[_SERVICE]
        minute = row[_START_NS] // _NS_PER_MINUTE
        is_error = row[_STATUS] == _ERROR
        red.add((tenant, minute, service, row[_NAME], row[_KIND]), duration, is_error)
        peer = row[_PEER]
        if peer is not None:
            _edge(edges, tenant, minute, service, peer, row[_PEER_KIND], duration, is_error)
        parent = row[_PARENT]
        if parent is not None:
            caller = PyDict_GetItem(services, (row[_TRACE], parent))
            if caller is not NULL:
                _edge(edges, tenant, minute, <object>caller, service, "service", duration, is_error)
            else:
                orphans.append(row)
    return services, orphans
