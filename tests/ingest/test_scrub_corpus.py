"""Recall per category and false-positive rate of the default scrubber over the labeled corpus.

Run with ``-s`` to see the table. Thresholds: recall >= 99% per category, false positives <= 1%.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from apps.ingest.scrub import Scrubber
from tests.ingest.corpus.pii_corpus import CORPUS, POSITIVE_GROUPS, Example

MIN_RECALL = 0.99
MAX_FALSE_POSITIVE_RATE = 0.01
REQUIRED_GROUPS = ("card", "email", "bearer", "api_key_url", "api_key_header", "secret_by_key", "jwt", "iban", "ip")


def _detected(example: Example, result: Any) -> bool:
    text = repr(result)
    if f"[REDACTED:{example.expected}]" not in text:
        return False
    return example.needle is None or example.needle not in text


def _evaluate() -> tuple[dict[str, list[Example]], dict[str, int], list[tuple[Example, Any]], int]:
    scrubber = Scrubber(scrub_ips=True)
    missed: dict[str, list[Example]] = defaultdict(list)
    totals: Counter[str] = Counter()
    false_positives: list[tuple[Example, Any]] = []
    negatives = 0
    for example in CORPUS:
        result = scrubber.scrub_value(example.key, example.value)
        if example.expected is None:
            negatives += 1
            if result != example.value:
                false_positives.append((example, result))
            continue
        totals[example.group] += 1
        if not _detected(example, result):
            missed[example.group].append((example, result))
    return missed, totals, false_positives, negatives


def test_corpus_size() -> None:
    totals = Counter(example.group for example in CORPUS if example.expected is not None)
    assert set(REQUIRED_GROUPS) <= set(POSITIVE_GROUPS)
    for group in REQUIRED_GROUPS:
        assert totals[group] >= 60, (group, totals[group])
    assert sum(totals.values()) >= 500
    assert sum(1 for example in CORPUS if example.expected is None) >= 500


def test_corpus_is_deterministic() -> None:
    from tests.ingest.corpus.pii_corpus import build_corpus

    assert build_corpus() == CORPUS


def test_recall_and_false_positive_rate() -> None:
    missed, totals, false_positives, negatives = _evaluate()
    print()
    print(f"{'category':<16} {'positives':>9} {'recall':>8}")
    failures = []
    for group in POSITIVE_GROUPS:
        recall = 1 - len(missed[group]) / totals[group]
        print(f"{group:<16} {totals[group]:>9} {recall:>8.2%}")
        if recall < MIN_RECALL:
            failures.append(f"recall for {group} is {recall:.2%} (< {MIN_RECALL:.0%})")
    fp_rate = len(false_positives) / negatives
    print(f"{'negatives':<16} {negatives:>9} FP rate {fp_rate:.2%} ({len(false_positives)})")
    by_kind = Counter(example.group for example, _ in false_positives)
    if by_kind:
        print("false positives by kind:", dict(by_kind))
    if fp_rate > MAX_FALSE_POSITIVE_RATE:
        failures.append(f"false-positive rate {fp_rate:.2%} (> {MAX_FALSE_POSITIVE_RATE:.0%})")
    if failures:
        lines = [*failures, "missed:"]
        lines += [f"  {ex.group} {ex.key!r}: {ex.value!r} -> {res!r}" for group in missed.values() for ex, res in group]
        lines.append("false positives:")
        lines += [f"  {ex.group} {ex.key!r}: {ex.value!r} -> {res!r}" for ex, res in false_positives]
        raise AssertionError("\n".join(lines))
