"""Grouping exceptions into issues: a fingerprint of the type, the normalised message and the top in-app frame.

Two occurrences are the same issue when the same kind of exception is raised at the same place in the
application for the same reason. So the message loses what varies between occurrences (numbers, ids,
quoted values, addresses), and the frame loses its line number (an unrelated edit above it must not open
a new issue) and ignores library code (site-packages, node_modules, the runtime's own frames): where the
application's code was when the library raised is what a developer fixes.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

_PLACEHOLDERS = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "<email>"),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.I), "<url>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""), "<str>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])"), "<num>"),
]
_SPACES = re.compile(r"\s+")
MAX_MESSAGE = 500

# Frames of code the application does not own.
_LIBRARY = re.compile(
    r"site-packages|dist-packages|node_modules|/lib/python\d|<frozen |<anonymous>|^node:|\(node:|internal/|"
    r"^(?:java|javax|jdk|sun|kotlin|scala)\.|/usr/lib/|webpack/runtime",
    re.I,
)
_PY_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line \d+, in (?P<function>\S+)')
_JS_FRAME = re.compile(r"^\s*at (?:(?P<function>[^\s(]+) )?\(?(?P<file>[^\s()]+?)(?::\d+){1,2}\)?\s*$")
_JAVA_FRAME = re.compile(r"^\s*at (?P<function>[\w$.<>]+)\((?P<file>[^:)]+)(?::\d+)?\)")
_GO_FUNC = re.compile(r"^(?P<function>[\w./*()-]+)\(.*\)$")
_GO_FILE = re.compile(r"^\s+(?P<file>/\S+\.go):\d+")


@dataclass(frozen=True)
class Grouping:
    fingerprint: str  # 32 hex characters
    exception_type: str
    message: str  # normalised
    frame: str  # "file:function" of the top in-app frame, or ""


def normalise_message(message: str) -> str:
    text = message.strip().splitlines()[0] if message.strip() else ""
    for pattern, placeholder in _PLACEHOLDERS:
        text = pattern.sub(placeholder, text)
    return _SPACES.sub(" ", text)[:MAX_MESSAGE]


def _frames(stacktrace: str) -> list[tuple[str, str]]:
    """(file, function) per frame, innermost (where it was raised) first."""
    lines = stacktrace.splitlines()
    python = [m for line in lines if (m := _PY_FRAME.match(line))]
    if python:  # Python prints the innermost frame last
        return [(m["file"], m["function"]) for m in reversed(python)]
    frames: list[tuple[str, str]] = []
    for index, line in enumerate(lines):
        if m := _JAVA_FRAME.match(line):
            frames.append((m["file"], m["function"]))
        elif m := _JS_FRAME.match(line):
            frames.append((m["file"], m["function"] or "<anonymous>"))
        elif (m := _GO_FUNC.match(line)) and index + 1 < len(lines) and (f := _GO_FILE.match(lines[index + 1])):
            frames.append((f["file"], m["function"]))
    return frames


@functools.lru_cache(maxsize=256)
def top_in_app_frame(stacktrace: str) -> str:
    """``file:function`` of the innermost frame of application code; the innermost frame if all are library.

    Remembered per process for the last 256 stack traces: an error repeats with the same stack (its message
    varies more), and matching every line cost ~10 µs per occurrence at ingest (bench/ingest.py's profile).
    At most 256 × the attribute value length limit (32 KiB by default) is kept."""
    frames = _frames(stacktrace or "")
    for file, function in frames:
        if not _LIBRARY.search(file) and not _LIBRARY.search(function):
            return f"{file}:{function}"
    return f"{frames[0][0]}:{frames[0][1]}" if frames else ""


def group(exception_type: str, message: str, stacktrace: str) -> Grouping:
    normalised = normalise_message(message)
    frame = top_in_app_frame(stacktrace)
    kind = exception_type.strip() or "Error"
    digest = hashlib.sha256(f"{kind}\n{normalised}\n{frame}".encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return Grouping(digest, kind[:200], normalised, frame[:500])
