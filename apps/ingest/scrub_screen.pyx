# cython: language_level=3, boundscheck=False, wraparound=False
"""The PII scrubber's hot loop, compiled: which attributes of a map need a look (apps/ingest/scrub.py).

Most attribute values are numbers or strings the scrubber has already found clean (methods, routes, statements
and user agents repeat), yet the Python loop spent about a microsecond per attribute deciding so: ~11 µs of
the ~15 µs a benchmark span cost to scrub (bench/ingest.py profile, docs/benchmarks.md). This decides it in C
and hands the few remaining keys back to ``Scrubber._attrs``.
"""

from cpython.dict cimport PyDict_GetItem, PyDict_Next
from cpython.object cimport PyObject
from libc.stdint cimport uint8_t

from apps.otlp.span cimport Span


cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object text)
    const uint8_t* PyUnicode_1BYTE_DATA(object text)


cdef class CleanCache:
    """Strings the scrubber found clean, one set per key mode (``_KeyInfo.mode``): most attribute values repeat,
    and a set lookup is cheaper than a second look. Bounded in all: ``max_entries`` strings of at most
    ``max_length`` characters, and past the bound every set is emptied (the common values return within a
    request). Filled by the Python scrubber and by ``needing_a_look``'s innocent values alike."""

    cdef readonly list sets
    cdef Py_ssize_t size, max_entries, max_length

    def __cinit__(self, Py_ssize_t modes, Py_ssize_t max_entries, Py_ssize_t max_length):
        self.sets = [set() for _ in range(modes)]
        self.max_entries = max_entries
        self.max_length = max_length

    cpdef remember(self, Py_ssize_t mode, str value):
        """Keep ``value`` (found clean under ``mode``, not in its set yet) unless it is too long."""
        if len(value) > self.max_length:
            return
        self.size += 1
        if self.size > self.max_entries:
            for cached in self.sets:
                (<set>cached).clear()
            self.size = 1
        (<set>self.sets[mode]).add(value)


# ``_KeyInfo.mode`` bits: ``url`` and ``query_start`` (apps/ingest/scrub.py); a URL's mode has the first only.
cdef Py_ssize_t _URL = 1, _URL_MODES = 3


cdef class UrlMasks:
    """What the scrubber has learnt about URL query parameters, to redact credentials in a URL without the Python
    look (``Scrubber._url_params``): the names that are not credentials (``clean``) and those whose values are
    replaced, with the token each value becomes (``tokens``). Both filled by ``Scrubber._param_sub``; for the
    default rules in ``replace`` mode only (a hash token depends on the value)."""

    cdef readonly set clean
    cdef readonly dict tokens

    def __cinit__(self, set clean not None, dict tokens not None):
        self.clean = clean
        self.tokens = tokens

    def masked(self, str url not None):
        """``url`` with the values of its credential parameters replaced, as ``Scrubber._url_params`` would (the
        parameters after the first '?', '#' or ';', found as ``_PARAM_RE`` finds them), ``url`` itself when none
        is, or None when that cannot be told from the names learnt so far: a name in neither set, a '%' or '+'
        (values the scrubber decodes), a value starting with '[' (perhaps a token already)."""
        return self._masked(url)

    cdef object _masked(self, str url):
        cdef Py_ssize_t cut = -1, length = len(url), i, name_start, name_end, value_end, copied
        cdef Py_UCS4 char
        cdef list parts = None
        cdef PyObject* token
        for i in range(length):
            char = url[i]
            if char == u"?" or char == u"#" or char == u";":
                cut = i
                break
        if cut < 0:
            return url
        for i in range(cut, length):
            char = url[i]
            if char == u"%" or char == u"+":
                return None
        copied = 0
        i = cut
        while i < length:
            # a parameter starts after one of ?&;# with a name (no =&#?;/ or space) directly followed by '='
            char = url[i]
            i += 1
            if not (char == u"?" or char == u"&" or char == u";" or char == u"#"):
                continue
            name_start = name_end = i
            while name_end < length and not _ends_a_param_name(url[name_end]):
                name_end += 1
            if name_end == name_start or name_end == length or url[name_end] != u"=":
                continue
            value_end = name_end + 1
            while value_end < length and not _ends_a_param_value(url[value_end]):
                value_end += 1
            i = value_end
            if value_end == name_end + 1:
                continue  # no value
            if url[name_end + 1] == u"[":
                return None
            name = url[name_start:name_end]
            token = PyDict_GetItem(self.tokens, name)
            if token is NULL:
                if name in self.clean:
                    continue
                return None
            if parts is None:
                parts = []
            parts.append(url[copied:name_end + 1])
            parts.append(<object>token)
            copied = value_end
        if parts is None:
            return url
        parts.append(url[copied:])
        return "".join(parts)


cdef inline bint _ends_a_param_name(Py_UCS4 char):
    return char == u"=" or char == u"&" or char == u"#" or char == u"?" or char == u";" or char == u"/" or char.isspace()


cdef inline bint _ends_a_param_value(Py_UCS4 char):
    return char == u"&" or char == u"#" or char == u";" or char == u"?" or char.isspace()


cdef class SeenClean:
    """The string objects found clean in one request, per key mode: a request repeats its attribute values as one
    shared object each (apps/ingest/fast_traces.pyx), and finding one here by identity is cheaper than finding it
    in ``CleanCache`` again, whose equal string from an earlier request is compared byte by byte (4-5 % of an
    ingest process's CPU at saturation, bench/ingest.py's profile). Holds the objects, so none is freed and its
    address reused while it is here; made per request, never kept."""

    cdef list sets

    def __cinit__(self, Py_ssize_t modes):
        self.sets = [set() for _ in range(modes)]


def needing_a_look(dict attrs not None, str prefix, dict modes not None, CleanCache clean not None,
                   Py_ssize_t min_len, frozenset kv_names=None, UrlMasks masks=None, dict replaced=None,
                   SeenClean seen=None):
    """The keys of ``attrs`` whose value the scrubber must look at, or None when there are none.

    ``modes`` maps a key path (``prefix + key``) to its ``_KeyInfo.mode``, or to -1 for a key whose value is
    redacted whole; ``clean.sets[mode]`` holds the strings found clean under that mode. A value needs no look
    when its key is known and not redacted whole, and it is a number, a bool, a string shorter than ``min_len``
    or a string in ``clean.sets[mode]``, or, given ``kv_names``, a string ``innocent`` finds nothing in (it is
    then remembered clean). Given ``masks`` and ``replaced``, a URL whose credential parameters ``masks``
    replaces (``UrlMasks.masked``) into a string known clean needs no look either: ``replaced[key]`` is then
    that string, the scrubbed value. Everything else does: unknown keys, lists, maps, bytes and None included.
    ``seen``: the request's strings found clean so far, looked up first and added to.
    """
    cdef list sets = clean.sets
    cdef list seen_sets = seen.sets if seen is not None else None
    cdef Py_ssize_t position = 0
    cdef PyObject* key_ptr
    cdef PyObject* value_ptr
    cdef PyObject* mode_ptr
    cdef list pending = None
    cdef object key, value, kind, masked
    cdef Py_ssize_t mode
    while PyDict_Next(attrs, &position, &key_ptr, &value_ptr):
        key = <object>key_ptr
        value = <object>value_ptr
        mode_ptr = PyDict_GetItem(modes, prefix + key if prefix else key)
        if mode_ptr is not NULL:
            mode = <object>mode_ptr
            if mode >= 0:
                kind = type(value)
                if kind is str:
                    if len(<str>value) < min_len:
                        continue
                    if seen_sets is not None and value in <set>seen_sets[mode]:
                        continue
                    if value in <set>sets[mode]:
                        if seen_sets is not None:
                            (<set>seen_sets[mode]).add(value)
                        continue
                    if kv_names is not None and _innocent(<str>value, kv_names):
                        clean.remember(mode, value)
                        if seen_sets is not None:
                            (<set>seen_sets[mode]).add(value)
                        continue
                    if masks is not None and replaced is not None and mode & _URL_MODES == _URL:
                        masked = masks._masked(<str>value)
                        if masked is not None and masked is not value and masked in <set>sets[mode]:
                            replaced[key] = masked
                            continue
                elif kind is int or kind is float or kind is bool:
                    continue
        if pending is None:
            pending = []
        pending.append(key)
    return pending


# Flags of ``text_shape``.
IBAN_SHAPE = 1
CARD_SHAPE = 2

cdef Py_ssize_t _CARD_MIN_DIGITS = 13


cdef inline bint _is_word(Py_UCS4 char):
    return char.isalnum() or char == u"_" or char == u"-"


cdef inline bint _is_word_at(const uint8_t* data, Py_ssize_t n, Py_ssize_t i, const char* word, Py_ssize_t size):
    """Whether ASCII ``data[i:i + size]``, lower-cased, is ``word``."""
    cdef Py_ssize_t k
    if i + size > n:
        return False
    for k in range(size):
        if (data[i + k] | 0x20) != <uint8_t>word[k]:
            return False
    return True


cdef bint _innocent(str text, frozenset kv_names) except -1:
    cdef const uint8_t* data
    cdef Py_ssize_t i, n = len(text)
    cdef uint8_t c
    cdef bint colon = False
    if not PyUnicode_IS_ASCII(text):
        return False  # lower() of some letters outside ASCII gives ASCII ones ("İ" → "i̇")
    data = PyUnicode_1BYTE_DATA(text)
    for i in range(n):
        c = data[i]
        if c == b"=" or c == b"@":
            return False
        if c == b":":
            colon = True
        elif c == b"e" and i + 2 < n and data[i + 1] == b"y" and data[i + 2] == b"J":
            return False
        elif (c | 0x20) == b"u" and _is_word_at(data, n, i, b"uthori", 6):
            return False
        elif (c | 0x20) == b"e" and _is_word_at(data, n, i, b"earer", 5):
            return False
    if _text_shape(text):
        return False
    return not (colon and names_a_credential(text.lower(), kv_names))


def innocent(str text not None, frozenset kv_names not None):
    """Whether the scrubber's default rules (no custom expressions, client IPs kept) find nothing in ``text``
    under any key that is not redacted whole: ASCII without '=', '@', ``eyJ``, ``authori``/``bearer`` in any
    case, without the IBAN and card shapes, and where a ':' is, without a credential name before it
    (``names_a_credential``). Spares the Python look at values seen once (ids in paths, URLs and statements,
    addresses), which the clean cache cannot help with: each took the scrubber's whole chain of checks."""
    return _innocent(text, kv_names)


def text_shape(str text not None):
    """Which of the scrubber's shape detectors can match ``text``, in one pass (``IBAN_SHAPE | CARD_SHAPE``).

    Gates, not detectors: a flag may be set where the detector then finds nothing, never unset where it would
    find something. IBAN: two ASCII capitals and two digits (``[A-Z]{2}\\d\\d``); card: 13 digits in one run
    whose groups are joined by single spaces or dashes (every card is 13-19 digits so written). Replaces two
    regular-expression scans that cost 2-3 µs each on a URL.
    """
    return _text_shape(text)


cdef int _text_shape(str text) except -1:
    cdef int flags = 0
    cdef Py_ssize_t index, length = len(text), digits = 0
    cdef Py_UCS4 char, previous = 0
    for index in range(length):
        char = text[index]
        if char.isdecimal():
            digits += 1
            if digits >= _CARD_MIN_DIGITS:
                flags |= CARD_SHAPE
            if (
                index >= 3 and previous.isdecimal()
                and u"A" <= text[index - 2] <= u"Z" and u"A" <= text[index - 3] <= u"Z"
            ):
                flags |= IBAN_SHAPE
        elif not ((char == u" " or char == u"-") and previous.isdecimal()
                  and index + 1 < length and text[index + 1].isdecimal()):
            digits = 0
        previous = char
    return flags


def names_a_credential(str lower not None, frozenset names not None):
    """Whether lower-cased ``lower`` has a ``name: value`` or ``name=value`` whose name may be one of ``names``
    (given without '-' and '_'), the gate of the scrubber's ``_KV_RE``.

    That expression's name is a whole run of word characters and dashes (a lookbehind before it, a quote,
    space, ':' or '=' after it), so a run whose letters, without '-' and '_', are not in ``names`` cannot match.
    Replaces a search for the names' common words ('sess', 'key', ...) that let every ``session=`` through to
    the 10 µs expression.
    """
    cdef Py_ssize_t index = 0, start, end, length = len(lower)
    cdef Py_UCS4 char
    while index < length:
        if not _is_word(lower[index]):
            index += 1
            continue
        start = index
        while index < length and _is_word(lower[index]):
            index += 1
        end = index
        if end - start > 32:  # longer than any name
            continue
        if index < length and (lower[index] == u'"' or lower[index] == u"'"):
            index += 1
        while index < length and lower[index].isspace():
            index += 1
        if index < length and (lower[index] == u":" or lower[index] == u"="):
            if lower[start:end].replace(u"-", u"").replace(u"_", u"") in names:
                return True
    return False


cdef bint _text_needs_a_look(object text, set clean_text):
    return bool(text) and text not in clean_text


cdef Py_ssize_t _span_look(Span span, dict modes, CleanCache clean, Py_ssize_t min_len, set clean_text,
                           frozenset kv_names, UrlMasks masks, SeenClean seen) except -2:
    """-1 if the span needs the Python look; else how many attribute values it changed by itself (URLs whose
    credentials ``masks`` replaced into a string known clean)."""
    cdef dict replaced = {} if masks is not None else None
    cdef dict attributes = span.attributes
    if needing_a_look(attributes, "", modes, clean, min_len, kv_names, masks, replaced, seen) is not None:
        return -1
    if _text_needs_a_look(span.name, clean_text) or _text_needs_a_look(span.status_message, clean_text):
        return -1
    for event in span.events:
        if needing_a_look(event.attributes, "", modes, clean, min_len, kv_names, None, None, seen) is not None:
            return -1
    for link in span.links:
        if needing_a_look(link.attributes, "", modes, clean, min_len, kv_names, None, None, seen) is not None:
            return -1
    if not replaced:
        return 0
    attributes = dict(attributes)  # a copy, as the Python path makes: the map may be shared
    attributes.update(replaced)
    span.attributes = attributes
    return len(replaced)


def scrub_spans(scrubber, list spans not None):
    """``Scrubber.scrub_span`` over a request's spans, the common case in C: a span whose attribute maps, name
    and status message hold only values known clean (or URLs ``UrlMasks`` redacts into values known clean) is
    done here; the others go to the scrubber's Python path (``_scrub_span_content``). Resources, shared by runs
    of spans, are scrubbed once per object (``Scrubber._resource``). Returns how many values changed."""
    cdef dict modes = scrubber._modes
    cdef CleanCache clean = scrubber._clean
    cdef Py_ssize_t min_len = scrubber._min_len
    cdef set clean_text = scrubber._clean_free_text
    cdef frozenset kv_names = scrubber._innocence_names
    cdef UrlMasks masks = scrubber._url_masks
    cdef Py_ssize_t changed = 0, found
    cdef Span span
    cdef SeenClean seen = SeenClean(len(clean.sets))
    last_in = last_out = None
    for span in spans:
        found = _span_look(span, modes, clean, min_len, clean_text, kv_names, masks, seen)
        if found < 0:
            changed += scrubber._scrub_span_content(span)
        else:
            changed += found
        resource = span.resource
        if resource is not last_in:
            last_in = resource
            last_out, n = scrubber._resource(resource)
            changed += n
        if last_out is not resource:
            span.resource = last_out
    return changed


def params_need_a_look(str text not None, set clean_names not None):
    """Whether substituting the scrubber's URL-parameter expressions (``_PARAM_RE``, ``_PARAM_FREE_RE``) could
    change ``text``: it holds a '%' or '+' (values the scrubber decodes and looks into), or a parameter name
    not in ``clean_names`` (names whose values are not credentials by their name).

    Those expressions' names are runs of characters other than ``=&#?;/`` and whitespace ending at '=', so every
    name they match is such a maximal run before some '=' (checked here), and a text whose runs are all known
    clean and holds no '%' or '+' is left as it is by the substitution. Replaces a substitution with a Python
    callback per parameter for every new URL (most carry ids and session numbers, never seen twice).
    """
    cdef Py_ssize_t i, start, length = len(text)
    cdef Py_UCS4 char
    for i in range(length):
        char = text[i]
        if char == u"%" or char == u"+":
            return True
    for i in range(length):
        if text[i] != u"=":
            continue
        start = i
        while start > 0 and _is_param_name_char(text[start - 1]):
            start -= 1
        if start < i and text[start:i] not in clean_names:
            return True
    return False


cdef inline bint _is_param_name_char(Py_UCS4 char):
    return not (
        char == u"=" or char == u"&" or char == u"#" or char == u"?" or char == u";" or char == u"/" or char.isspace()
    )
