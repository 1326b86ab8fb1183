"""Load Sigma rules (the shipped pack plus an operator's directory) into a RuleSet.

pySigma parses every file (YAML, modifiers, conditions, correlation syntax); we then check
what our engine needs and compile each rule (see matcher.py). A file that fails any check
is rejected whole, with its path and the line of the offending key, so an operator sees
``rules/local.yml:14: unknown field 'CommandLine'`` instead of a rule that never fires.

What our rules must carry, beyond Sigma itself:

- ``logsource: {product: enclave, category: tool_call | tool_result}``
- a tag ``enclave.<category>`` naming one of the ten categories (monitor/interface.py), on
  every rule that raises alerts; a rule without one is a *signal*, usable only from a
  correlation (e.g. "an outbound request").
- ``id`` (or ``name``), unique across the pack and the operator's directory.

Correlation types supported: ``temporal``, ``temporal_ordered``, ``event_count`` and
``value_count`` (conditions gte / gt / eq), always grouped by session; see correlate.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from enclave.monitor.interface import FIELDS, Category, RuleError, Severity
from enclave.monitor.matcher import Predicate, compile_condition, required_fields
from enclave.monitor.prefilter import LiteralIndex, Trigger, trigger

LOGSOURCE_PRODUCT = "enclave"
APPLIES_TO = frozenset({"tool_call", "tool_result"})
_CORRELATION_TYPES = {
    SigmaCorrelationType.TEMPORAL: "temporal",
    SigmaCorrelationType.TEMPORAL_ORDERED: "temporal_ordered",
    SigmaCorrelationType.EVENT_COUNT: "event_count",
    SigmaCorrelationType.VALUE_COUNT: "value_count",
}
_OPERATORS = {
    SigmaCorrelationConditionOperator.GTE: "gte",
    SigmaCorrelationConditionOperator.GT: "gt",
    SigmaCorrelationConditionOperator.EQ: "eq",
}


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: str
    names: tuple[str, ...]  # every handle a correlation may use: id, name
    title: str
    category: Category | None  # None: a signal for correlations only
    severity: Severity
    applies_to: str  # tool_call | tool_result
    predicate: Predicate
    required: frozenset[str]
    source: str  # file:line
    alerts: bool = True
    trigger: Trigger | None = None  # see prefilter.py


@dataclass(frozen=True, slots=True)
class CompiledCorrelation:
    id: str
    title: str
    category: Category
    severity: Severity
    type: str  # temporal | temporal_ordered | event_count | value_count
    rules: tuple[str, ...]  # ids of the base rules, in the order given
    seconds: int
    op: str  # gte | gt | eq
    count: int
    field: str | None  # value_count's field
    group_by: tuple[str, ...]
    source: str


class RuleSet:
    """Compiled rules, indexed for the engine. Immutable once built."""

    def __init__(
        self,
        rules: Sequence[CompiledRule],
        correlations: Sequence[CompiledCorrelation],
        files: Sequence[str] = (),
    ) -> None:
        self.rules = tuple(rules)
        self.correlations = tuple(correlations)
        self.files = tuple(files)
        by_rule: dict[str, list[CompiledCorrelation]] = {}
        for corr in self.correlations:
            for rule_id in corr.rules:
                by_rule.setdefault(rule_id, []).append(corr)
        self.by_rule = {k: tuple(v) for k, v in by_rule.items()}
        self.for_calls = tuple(r for r in self.rules if r.applies_to == "tool_call")
        self.for_results = tuple(r for r in self.rules if r.applies_to == "tool_result")
        self.literals = LiteralIndex(
            lit for r in self.rules if r.trigger is not None for lit in r.trigger.literals
        )
        # Per rule: (literal ids, fields) of its trigger, or None (always evaluated).
        self.triggers: dict[str, tuple[frozenset[int], frozenset[str]] | None] = {
            r.id: None
            if r.trigger is None
            else (
                frozenset(self.literals.ids[lit] for lit in r.trigger.literals),
                r.trigger.fields,
            )
            for r in self.rules
        }

    @property
    def categories(self) -> frozenset[Category]:
        found = {r.category for r in self.rules if r.category and r.alerts}
        return frozenset(found | {c.category for c in self.correlations})


def shipped_rule_dir() -> Path:
    return Path(str(resources.files("enclave.monitor") / "rules"))


@dataclass(slots=True)
class _Document:
    path: Path
    index: int
    line: int
    node: yaml.Node | None
    rule: Any  # SigmaRule | SigmaCorrelationRule once parsed


def _line_of(doc: _Document, needle: str) -> int:
    """The line of the first key or scalar in the document that mentions `needle`."""
    if doc.node is None or not needle:
        return doc.line
    stack: list[yaml.Node] = [doc.node]
    while stack:
        node = stack.pop(0)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and needle in str(key.value):
                    return key.start_mark.line + 1
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.ScalarNode) and needle in str(node.value):
            return node.start_mark.line + 1
    return doc.line


def _error(doc: _Document, message: str, needle: str = "", hint: str | None = None) -> RuleError:
    line = _line_of(doc, needle)
    return RuleError(f"{doc.path}:{line}: {message}", hint=hint)


def _needle(message: str) -> str:
    """A quoted name in a pySigma message ("Unknown modifier 'contain'") to locate."""
    for quote in ("'", '"'):
        parts = message.split(quote)
        if len(parts) >= 3 and parts[1]:
            return parts[1]
    return ""


def _read_file(path: Path) -> list[_Document]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"{path}: cannot read: {exc}") from None
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        data = list(yaml.safe_load_all(text))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise RuleError(f"{path}:{line}: not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise RuleError(f"{path}: not valid YAML: {exc}") from None
    docs: list[_Document] = []
    for index, (node, value) in enumerate(zip(nodes, data, strict=True)):
        if value is None:
            continue
        line = node.start_mark.line + 1 if node is not None else 1
        probe = _Document(path, index, line, node, None)
        if not isinstance(value, dict):
            raise _error(probe, "expected a Sigma rule (a mapping)")
        if "action" in value:
            raise _error(probe, "Sigma collection actions are not supported", "action")
        try:
            collection = SigmaCollection.from_dicts([value], resolve_references=False)
        except SigmaError as exc:
            text_error = str(exc).split(" in /")[0]
            raise _error(probe, text_error, _needle(text_error)) from None
        probe.rule = collection.rules[0]
        docs.append(probe)
    return docs


def _category(doc: _Document) -> Category | None:
    found: list[Category] = []
    for tag in doc.rule.tags:
        if tag.namespace == "enclave":
            try:
                found.append(Category(tag.name))
            except ValueError:
                raise _error(
                    doc,
                    f"tag enclave.{tag.name} names no category",
                    f"enclave.{tag.name}",
                    hint="categories: " + ", ".join(c.value for c in Category),
                ) from None
    if len(found) > 1:
        raise _error(doc, "a rule has at most one enclave.<category> tag", "tags")
    return found[0] if found else None


def _severity(doc: _Document) -> Severity:
    level = doc.rule.level
    return Severity(level.name.lower()) if level is not None else Severity.MEDIUM


def _rule_id(doc: _Document) -> str:
    rule = doc.rule
    if rule.name:
        return str(rule.name)
    if rule.id is not None:
        return str(rule.id)
    raise _error(doc, "a rule needs an `id` (UUID) or a `name`", "title")


def _compile_rule(doc: _Document, signals: set[str]) -> CompiledRule:
    rule = doc.rule
    assert isinstance(rule, SigmaRule)
    source = rule.logsource
    if source.product != LOGSOURCE_PRODUCT:
        raise _error(
            doc,
            f"logsource.product must be {LOGSOURCE_PRODUCT!r} (rules match Enclave's tool-call "
            "events, whose fields differ from a SIEM's)",
            "product",
        )
    applies_to = source.category or "tool_call"
    if applies_to not in APPLIES_TO:
        raise _error(doc, f"logsource.category must be one of {sorted(APPLIES_TO)}", "category")
    rule_id = _rule_id(doc)
    category = _category(doc)
    names = tuple(n for n in (str(rule.id) if rule.id else None, rule.name) if n)
    if category is None and not any(n in signals for n in names):
        raise _error(
            doc,
            "a rule needs a tag enclave.<category> (or must be used by a correlation)",
            "tags" if rule.tags else "title",
            hint="categories: " + ", ".join(c.value for c in Category),
        )
    fields: set[str] = set()
    try:
        conditions = [c.parsed for c in rule.detection.parsed_condition]
        predicates = [compile_condition(c, fields) for c in conditions]
    except RuleError as exc:
        raise _error(doc, exc.message, _needle(exc.message), hint=exc.hint) from None
    except SigmaError as exc:
        message = str(exc).split(" in /")[0]
        raise _error(doc, message, _needle(message) or "condition") from None
    predicate = predicates[0] if len(predicates) == 1 else _either(predicates)
    required = required_fields(conditions[0]) if len(conditions) == 1 else frozenset()
    triggers = [trigger(c) for c in conditions]
    found = [t for t in triggers if t is not None]
    rule_trigger = (
        Trigger(
            frozenset().union(*(t.literals for t in found)),
            frozenset().union(*(t.fields for t in found)),
        )
        if len(found) == len(triggers)
        else None
    )
    return CompiledRule(
        id=rule_id,
        names=names,
        title=rule.title,
        category=category,
        severity=_severity(doc),
        applies_to=applies_to,
        predicate=predicate,
        required=required,
        source=f"{doc.path}:{doc.line}",
        trigger=rule_trigger,
    )


def _either(predicates: Sequence[Predicate]) -> Predicate:
    items = tuple(predicates)
    return lambda view: any(p(view) for p in items)


def _compile_correlation(doc: _Document, handles: dict[str, str]) -> CompiledCorrelation:
    rule = doc.rule
    assert isinstance(rule, SigmaCorrelationRule)
    kind = _CORRELATION_TYPES.get(rule.type)
    if kind is None:
        raise _error(
            doc,
            f"correlation type {rule.type.name.lower()} is not supported "
            f"(supported: {', '.join(_CORRELATION_TYPES.values())})",
            "type",
        )
    category = _category(doc)
    if category is None:
        raise _error(doc, "a correlation needs a tag enclave.<category>", "tags")
    refs = [r.reference for r in rule.rules or []]
    if not refs:
        raise _error(doc, "a correlation must list its rules", "rules")
    ids: list[str] = []
    for ref in refs:
        if ref not in handles:
            raise _error(doc, f"correlation refers to unknown rule {ref!r}", ref)
        ids.append(handles[ref])
    condition = rule.condition
    op, count = "gte", len(ids)
    field: str | None = None
    if isinstance(condition, SigmaCorrelationCondition):
        if condition.op not in _OPERATORS:
            raise _error(
                doc,
                f"condition {condition.op.name.lower()} is not supported when events stream "
                "in (supported: gte, gt, eq)",
                "condition",
            )
        fieldref = condition.fieldref
        if isinstance(fieldref, list):
            field = fieldref[0] if fieldref else None
        else:
            field = fieldref
        # pySigma gives a temporal correlation without a condition `gte: 1`; the Sigma
        # specification means "all the rules" then, so only a larger count is taken.
        if not kind.startswith("temporal") or int(condition.count) > 1:
            op, count = _OPERATORS[condition.op], int(condition.count)
    else:
        raise _error(doc, "extended correlation conditions are not supported", "condition")
    for name in (*(rule.group_by or []), *([field] if field else [])):
        if name not in FIELDS:
            raise _error(doc, f"unknown field {name!r}", name)
    return CompiledCorrelation(
        id=rule.name or (str(rule.id) if rule.id else rule.title),
        title=rule.title,
        category=category,
        severity=_severity(doc),
        type=kind,
        rules=tuple(ids),
        seconds=rule.timespan.seconds,
        op=op,
        count=count,
        field=field,
        group_by=tuple(g for g in (rule.group_by or []) if g != "session"),
        source=f"{doc.path}:{doc.line}",
    )


def _files(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml")))
        elif path.exists():
            found.append(path)
        else:
            raise RuleError(f"{path}: no such rule file or directory")
    return found


def load_rules(*, operator_dirs: Sequence[Path] = (), include_shipped: bool = True) -> RuleSet:
    """Load, check and compile the shipped pack and the operator's rule directories."""
    paths = ([shipped_rule_dir()] if include_shipped else []) + list(operator_dirs)
    docs = [doc for path in _files(paths) for doc in _read_file(path)]
    base = [d for d in docs if isinstance(d.rule, SigmaRule)]
    correlated = [d for d in docs if isinstance(d.rule, SigmaCorrelationRule)]
    signals = {r.reference for d in correlated for r in (d.rule.rules or [])}
    generating = {r.reference for d in correlated if d.rule.generate for r in (d.rule.rules or [])}
    compiled: list[CompiledRule] = []
    handles: dict[str, str] = {}
    for doc in base:
        rule = _compile_rule(doc, signals)
        for handle in dict.fromkeys((rule.id, *rule.names)):
            if handle in handles:
                raise _error(doc, f"duplicate rule id or name {handle!r}", handle)
            handles[handle] = rule.id
        # Sigma correlation semantics: a rule referred to by correlations raises alerts
        # of its own only if one of them says `generate: true`.
        referenced = any(n in signals for n in rule.names)
        alerts = rule.category is not None and (
            not referenced or any(n in generating for n in rule.names)
        )
        compiled.append(replace(rule, alerts=alerts))
    correlations = [_compile_correlation(doc, handles) for doc in correlated]
    seen: set[str] = set(handles)
    for corr, doc in zip(correlations, correlated, strict=True):
        if corr.id in seen:
            raise _error(doc, f"duplicate rule id or name {corr.id!r}", corr.id)
        seen.add(corr.id)
    return RuleSet(tuple(compiled), tuple(correlations), tuple(str(p) for p in _files(paths)))


def describe(rules: RuleSet) -> list[dict[str, Any]]:
    """A listing for `enclave monitor rules`."""
    out: list[dict[str, Any]] = [
        {
            "id": r.id,
            "title": r.title,
            "category": r.category.value if r.category else None,
            "severity": r.severity.value,
            "alerts": r.alerts,
            "source": r.source,
        }
        for r in rules.rules
    ]
    out.extend(
        {
            "id": c.id,
            "title": c.title,
            "category": c.category.value,
            "severity": c.severity.value,
            "alerts": True,
            "correlation": c.type,
            "source": c.source,
        }
        for c in rules.correlations
    )
    return out


__all__ = [
    "CompiledCorrelation",
    "CompiledRule",
    "RuleSet",
    "describe",
    "load_rules",
    "shipped_rule_dir",
]
