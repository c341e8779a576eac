# The scrubber's compiled screen (apps/ingest/scrub_screen.pyx), for the trace decoder that asks it
# (apps/ingest/fast_traces.pyx).

cdef class CleanCache:
    cdef readonly list sets
    cdef Py_ssize_t size, max_entries, max_length

    cpdef remember(self, Py_ssize_t mode, str value)


cdef class AttributeScreen:
    cdef dict modes
    cdef CleanCache clean
    cdef Py_ssize_t min_len
    cdef frozenset kv_names

    cdef bint is_clean(self, object key, object value) except -1
