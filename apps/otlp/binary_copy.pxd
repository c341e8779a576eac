# The COPY buffer of apps/otlp/binary_copy.pyx, for compiled writers that encode their rows themselves
# (apps/tracing/span_batch.pyx) instead of building row tuples for ``encode``.
from libc.stdint cimport int64_t, uint16_t, uint32_t, uint64_t


cdef class CopyBuffer:
    cdef char* data
    cdef Py_ssize_t size
    cdef Py_ssize_t capacity
    cdef tuple names  # the columns, for messages

    cdef int reserve(self, Py_ssize_t extra) except -1
    cdef void put(self, const char* source, Py_ssize_t n)
    cdef void be16(self, uint16_t v)
    cdef void be32(self, uint32_t v)
    cdef void be64(self, uint64_t v)
    cdef int row(self, Py_ssize_t columns) except -1
    cdef int null(self) except -1
    cdef int text(self, object value, Py_ssize_t i) except -1
    cdef int int8(self, object value, Py_ssize_t i) except -1
    cdef int int4(self, object value, Py_ssize_t i) except -1
    cdef int int2(self, object value, Py_ssize_t i) except -1
    cdef int fixed(self, object value, int width, int64_t low, int64_t high, Py_ssize_t i) except -1
    cdef int bytea(self, object value, Py_ssize_t i) except -1
    cdef int jsonb(self, object value, Py_ssize_t i) except -1
    cdef int _encoded(self, object value, Py_ssize_t i, str expected, int version) except -1
    cdef int timestamptz(self, object microseconds, Py_ssize_t i) except -1
    cdef bytes finish(self)
