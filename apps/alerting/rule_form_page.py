"""The alert rule form of the rule pages: HTML form fields to the rule JSON of ``services.save_rule``, and back.

Queries and conditions are rows whose inputs are named ``queries-<n>-<field>`` and ``conditions-<n>-<field>``;
``<n>`` only orders them (static/js/alert_rule_form.js adds rows with fresh numbers and removes rows without
renumbering; without JavaScript the "Add query" and "Remove" buttons submit the form, which comes back with the
row added or removed). Values are passed on as typed: "abc" in a threshold reaches ``rules.clean_rule`` as the
text "abc", so the message naming the field comes from the one place rules are checked. Its ``RuleInvalid``
keys are paths (``queries.a.metric``, ``conditions.0.critical``); this module puts each next to its input, and
lists any it cannot place at the top of the form, so no message is lost.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.http import QueryDict

from apps.alerting import rendering, services
from apps.alerting.models import AlertRule, NoData, Source
from apps.alerting.rules import METRIC_AGGREGATIONS, RED_MEASURES, RuleInvalid, clean_rule
from apps.audit.services import Origin
from apps.logs.queries import SEVERITY_NAMES

ROW = re.compile(r"^(queries|conditions)-(\d+)-")
MAX_ROWS = 20  # more rows than rules allow, so clean_rule names the limit rather than the form dropping rows
LEVELS = ("critical", "warning", "recovery")
# Inputs of the whole rule, by the name RuleInvalid uses for them.
TOP_FIELDS = ("name", "description", "enabled", "combine", "group_by", "for_seconds", "no_data", "interval_seconds",
              "title_template", "message_template", "runbook_url", "labels", "incident_grouping", "channels",
              "queries", "conditions")  # fmt: skip
MAX_LENGTHS = {"name": 200, "title_template": 300, "runbook_url": 500}  # the model's columns


@dataclass(frozen=True)
class QueryField:
    """One input of a query row, shown for the sources it applies to."""

    key: str
    label: str
    sources: tuple[str, ...]
    kind: str  # text, select, number, pairs, metric
    choices: tuple[tuple[str, str], ...] = ()
    help: str = ""


def _choices(values: Sequence[str], blank: str | None = None) -> tuple[tuple[str, str], ...]:
    return ((("", blank),) if blank is not None else ()) + tuple((value, value) for value in values)


QUERY_FIELDS = (
    QueryField("measure", "Measure", (Source.RED,), "select", _choices(RED_MEASURES),
               "Rates are per second, error_rate a ratio (0.05 = 5 %), latencies in ms."),
    QueryField("service", "Service", (Source.RED, Source.LOGS, Source.TRACES), "text",
               help="Empty: every service (group by service for one alert each)."),
    QueryField("operation", "Operation", (Source.RED, Source.TRACES), "text", help="Optional, e.g. POST /checkout."),
    QueryField("metric", "Metric name", (Source.METRIC,), "metric", help="Type to complete from this project."),
    QueryField("aggregation", "Aggregation", (Source.METRIC,), "select", _choices(METRIC_AGGREGATIONS, "—")),
    QueryField("filters", "Attribute filters", (Source.METRIC,), "pairs", help="key=value, comma separated."),
    QueryField("text", "Text contains", (Source.LOGS,), "text"),
    QueryField("severity", "Minimum severity", (Source.LOGS,), "select",
               _choices(sorted(SEVERITY_NAMES, key=lambda name: SEVERITY_NAMES[name]), "any")),
    QueryField("status", "Status", (Source.TRACES,), "select", _choices(("error", "ok", "unset"), "any")),
    QueryField("min_duration_ms", "Slower than (ms)", (Source.TRACES,), "number"),
    QueryField("attributes", "Attributes", (Source.TRACES,), "pairs", help="key=value, comma separated."),
)  # fmt: skip
WINDOW_MESSAGE = "Whole minutes from 1 to 1440."


def _whole(text: str) -> int | str | None:
    """An integer, or the text as typed (clean_rule names it), or None when empty."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return text


def _number(text: str) -> float | int | str | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _words(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\n]", text) if part.strip()]


def _pairs(text: str) -> dict[str, str] | None:
    """``key=value`` pairs separated by commas or lines; None when one is not a pair."""
    out = {}
    for part in _words(text):
        key, equals, value = part.partition("=")
        if not equals or not key.strip():
            return None
        out[key.strip()] = value.strip()
    return out


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{key}={item}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class RuleForm:
    """The form's values as typed (``values``, ``queries``, ``conditions``) and its errors."""

    def __init__(self, values: dict[str, Any], queries: list[dict[str, Any]], conditions: list[dict[str, Any]],
                 channels: list[str]) -> None:  # fmt: skip
        self.values = values
        self.queries = queries  # {"index": n, "name": .., "source": .., "window": .., <field key>: ..}
        self.conditions = conditions  # {"index": n, "query": .., "op": .., "critical": .., ...}
        self.channels = channels
        self.errors: dict[str, str] = {}  # by input name (queries-3-metric) or top field (labels)
        self.unplaced: list[str] = []

    # --- building ------------------------------------------------------------------------------------------

    @classmethod
    def blank(cls) -> RuleForm:
        values = {"name": "", "description": "", "combine": "and", "group_by": "", "for_seconds": "0",
                  "no_data": NoData.KEEP, "interval_seconds": "30", "title_template": "", "message_template": "",
                  "runbook_url": "", "labels": "", "incident_grouping": "", "enabled": True}  # fmt: skip
        query = {"index": 0, "name": "a", "source": Source.RED, "window": "5", "measure": "p95"}
        condition = {"index": 0, "query": "a", "op": ">", "critical": "", "warning": "", "recovery": ""}
        return cls(values, [query], [condition], [])

    @classmethod
    def from_rule(cls, rule: AlertRule) -> RuleForm:
        values = {
            "name": rule.name, "description": rule.description, "combine": rule.combine,
            "group_by": _shown(rule.group_by), "for_seconds": str(rule.for_seconds), "no_data": rule.no_data,
            "interval_seconds": str(rule.interval_seconds), "title_template": rule.title_template,
            "message_template": rule.message_template, "runbook_url": rule.runbook_url, "labels": _shown(rule.labels),
            "incident_grouping": _shown(rule.incident_grouping), "enabled": rule.enabled,
        }  # fmt: skip
        queries = []
        for index, (name, query) in enumerate(rule.queries.items()):
            row = {"index": index, "name": name, "source": query.get("source", ""),
                   "window": _shown(query.get("window_seconds", 300) // 60)}  # fmt: skip
            row.update({field.key: _shown(query.get(field.key)) for field in QUERY_FIELDS})
            queries.append(row)
        conditions = [
            {"index": index, "query": c.get("query", ""), "op": c.get("op", ">"),
             **{level: _shown(c.get(level)) for level in LEVELS}}
            for index, c in enumerate(rule.conditions)
        ]  # fmt: skip
        return cls(values, queries, conditions, [str(pk) for pk in rule.channels])

    @classmethod
    def from_post(cls, data: QueryDict) -> RuleForm:
        values: dict[str, Any] = {name: data.get(name, "") for name in TOP_FIELDS
                                  if name not in ("queries", "conditions", "channels")}  # fmt: skip
        values["enabled"] = data.get("enabled") == "on"
        indexes: dict[str, set[int]] = {"queries": set(), "conditions": set()}
        for key in data:
            found = ROW.match(key)
            if found:
                indexes[found.group(1)].add(int(found.group(2)))

        def rows(kind: str, keys: Sequence[str]) -> list[dict[str, Any]]:
            out = []
            for index in sorted(indexes[kind])[:MAX_ROWS]:
                row = {"index": index, **{key: data.get(f"{kind}-{index}-{key}", "") for key in keys}}
                if any(str(row[key]).strip() for key in keys if key not in ("source", "op", "measure", "window")):
                    out.append(row)
            return out

        query_keys = ("name", "source", "window", *(field.key for field in QUERY_FIELDS))
        return cls(values, rows("queries", query_keys), rows("conditions", ("query", "op", *LEVELS)),
                   data.getlist("channels"))  # fmt: skip

    def add_row(self, kind: str) -> None:
        rows = self.queries if kind == "queries" else self.conditions
        index = max((row["index"] for row in rows), default=-1) + 1
        if kind == "queries":
            taken = {row["name"] for row in rows}
            name = next((letter for letter in "abcdefghijklmnopqrstuvwxyz" if letter not in taken), "")
            rows.append({"index": index, "name": name, "source": Source.RED, "window": "5", "measure": "p95"})
        else:
            first = self.queries[0]["name"] if self.queries else ""
            rows.append({"index": index, "query": first, "op": ">", "critical": "", "warning": "", "recovery": ""})

    def remove_row(self, kind: str, index: int) -> None:
        if kind == "queries":
            self.queries = [row for row in self.queries if row["index"] != index]
        else:
            self.conditions = [row for row in self.conditions if row["index"] != index]

    # --- the rule JSON ----------------------------------------------------------------------------------------

    def rule_data(self) -> dict[str, Any]:
        """What save_rule takes; the form's own findings (duplicate names, malformed pairs...) go to ``errors``."""
        values = self.values
        for field, limit in MAX_LENGTHS.items():
            if len(values[field]) > limit:
                self.errors[field] = f"At most {limit} characters."
        if not values["name"].strip():
            self.errors["name"] = "Give the rule a name."
        if values["runbook_url"].strip():
            try:
                URLValidator(schemes=["http", "https"])(values["runbook_url"].strip())
            except ValidationError:
                self.errors["runbook_url"] = "A web address starting with https:// (or http://)."
        labels = _pairs(values["labels"])
        if labels is None:
            self.errors["labels"] = "Write key=value pairs separated by commas, e.g. team=payments, tier=1."
        channels = [int(pk) for pk in self.channels if pk.isdigit()]
        data: dict[str, Any] = {
            "name": values["name"].strip(), "description": values["description"].strip(),
            "queries": self._queries(), "conditions": [self._condition(row) for row in self.conditions],
            "combine": values["combine"], "group_by": _words(values["group_by"]), "no_data": values["no_data"],
            "title_template": values["title_template"].strip(), "message_template": values["message_template"],
            "runbook_url": values["runbook_url"].strip(), "labels": labels or {},
            "incident_grouping": _words(values["incident_grouping"]), "channels": channels,
            "enabled": bool(values["enabled"]),
        }  # fmt: skip
        for field, default in (("for_seconds", 0), ("interval_seconds", 30)):
            typed = _whole(values[field])
            data[field] = default if typed is None else typed
        return data

    def _queries(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for row in self.queries:
            name = row["name"].strip()
            prefix = f"queries-{row['index']}-"
            if not name:
                self.errors[prefix + "name"] = "Name the query (a, b, latency…): conditions refer to it."
                continue
            if name in out:
                self.errors[prefix + "name"] = f"Another query is named {name!r} already."
                continue
            minutes = _whole(row["window"])
            query: dict[str, Any] = {"source": row["source"]}
            if minutes is not None:
                query["window_seconds"] = minutes * 60 if isinstance(minutes, int) else minutes
            for field in QUERY_FIELDS:
                if row["source"] not in field.sources:
                    continue
                raw = str(row.get(field.key, ""))
                if field.kind == "pairs":
                    pairs = _pairs(raw)
                    if pairs is None:
                        self.errors[prefix + field.key] = "Write key=value pairs separated by commas."
                    query[field.key] = pairs or {}
                elif field.kind == "number":
                    query[field.key] = _number(raw)
                elif raw.strip():
                    query[field.key] = raw.strip()
            out[name] = query
        return out

    @staticmethod
    def _condition(row: Mapping[str, Any]) -> dict[str, Any]:
        condition = {"query": row["query"].strip(), "op": row["op"]}
        for level in LEVELS:
            value = _number(row[level])
            if value is not None:
                condition[level] = value
        return condition

    # --- checking, saving ---------------------------------------------------------------------------------------

    def clean(self, *, organization_id: int, project_id: int) -> dict[str, Any] | None:
        """The evaluation fields (for a preview), or None with ``errors`` set."""
        return self._checked(self.rule_data(), organization_id, project_id)

    def save(self, rule: AlertRule | None, *, organization_id: int, project_id: int, actor: Any,
             origin: Origin) -> AlertRule | None:  # fmt: skip
        """The saved rule, or None with ``errors`` set (nothing is written then)."""
        data = self.rule_data()
        if self._checked(data, organization_id, project_id) is None:
            return None
        try:
            return services.save_rule(rule, data, organization_id=organization_id, project_id=project_id,
                                      actor=actor, origin=origin)  # fmt: skip
        except RuleInvalid as exc:  # what only saving finds: a taken name, an unknown channel
            self.place(exc.errors)
            return None

    def _checked(self, data: dict[str, Any], organization_id: int, project_id: int) -> dict[str, Any] | None:
        """``clean_rule`` of ``data``; its messages join the form's own (duplicate names, malformed pairs...)."""
        try:
            cleaned = clean_rule(data, organization_id=organization_id, project_id=project_id)
        except RuleInvalid as exc:
            self.place(exc.errors)
            return None
        return None if self.errors else cleaned

    def place(self, errors: Mapping[str, str]) -> None:
        """Put each ``RuleInvalid`` message on its input (a message the form made already stays)."""
        for path, message in errors.items():
            target = self._input_of(path)
            if target is None:
                self.unplaced.append(f"{path}: {message}")
            else:
                self.errors.setdefault(target, WINDOW_MESSAGE if path.endswith(".window_seconds") else message)

    def _input_of(self, path: str) -> str | None:
        if path in TOP_FIELDS:
            return path
        kind, _, rest = path.partition(".")
        if kind == "queries":
            name, _, field = rest.partition(".")
            row = next((row for row in self.queries if row["name"].strip() == name), None)
            if row is None:
                return None
            field = {"": "name", "window_seconds": "window"}.get(field, field)
            known = field in ("name", "source", "window") or any(f.key == field for f in QUERY_FIELDS)
            return f"queries-{row['index']}-{field if known else 'name'}"
        if kind == "conditions":
            position, _, field = rest.partition(".")
            if not position.isdigit() or int(position) >= len(self.conditions):
                return None
            row = self.conditions[int(position)]
            field = field if field in ("query", "op", *LEVELS) else "query"
            return f"conditions-{row['index']}-{field}"
        return None

    # --- for the template -------------------------------------------------------------------------------------

    def query_rows(self) -> list[dict[str, Any]]:
        rows = []
        for row in self.queries:
            prefix = f"queries-{row['index']}-"
            fields = [
                {"field": field, "name": prefix + field.key, "value": row.get(field.key, ""),
                 "error": self.errors.get(prefix + field.key, ""), "sources": " ".join(field.sources)}
                for field in QUERY_FIELDS
            ]  # fmt: skip
            rows.append({
                **row, "prefix": prefix, "fields": fields,
                "errors": {key: self.errors.get(prefix + key, "") for key in ("name", "source", "window")},
            })  # fmt: skip
        return rows

    def condition_rows(self) -> list[dict[str, Any]]:
        return [
            {**row, "prefix": f"conditions-{row['index']}-",
             "errors": {key: self.errors.get(f"conditions-{row['index']}-{key}", "")
                        for key in ("query", "op", *LEVELS)}}
            for row in self.conditions
        ]  # fmt: skip

    def template_rows(self) -> dict[str, dict[str, Any]]:
        """An empty query row and condition row numbered ``__n__``: static/js/alert_rule_form.js copies them."""
        query = {"index": "__n__", "name": "", "source": Source.RED, "window": "5", "measure": "p95"}
        condition = {"index": "__n__", "query": "", "op": ">", "critical": "", "warning": "", "recovery": ""}
        empty = RuleForm(self.values, [query], [condition], [])
        return {"query": empty.query_rows()[0], "condition": empty.condition_rows()[0]}

    def top_errors(self) -> dict[str, str]:
        return {key: message for key, message in self.errors.items() if key in TOP_FIELDS}

    def placeholders(self) -> list[str]:
        """The ``{{ name }}`` placeholders the templates may use with the queries, groups and labels typed."""
        names = [row["name"].strip() for row in self.queries if row["name"].strip()]
        keys = _words(self.values["group_by"])
        if any(str(row.get("service", "")).strip() for row in self.queries):
            keys.append("service")
        labels = _pairs(self.values["labels"]) or {}
        return [f"{{{{ {name} }}}}" for name in sorted(rendering.variables(names, keys, labels))]
