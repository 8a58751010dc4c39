"""Readable views of the loader's evidence: `seed --dry-run --explain` and `--report`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

REPORT_SIZE = 10


def _where(record: Mapping[str, Any]) -> str:
    """source:line of a record."""
    provenance = record.get("provenance") or {}
    return f"{provenance.get('source')}:{provenance.get('line')}"


def _item(name: str, item: Mapping[str, Any]) -> list[str]:
    """Two lines for one evidence item: value and span, then the rule."""
    value = item.get("value")
    extra = f" (confidence {item['confidence']:.2f})" if "confidence" in item else ""
    span = (f'  line {item["line"]} [{item["start"]}:{item["end"]}] "{item["text"]}"'
            if "start" in item else "  (no span)")
    return [f"  {name:<20} {value}{extra}{span}", f"  {'':<20} <- {item['rule']}"]


def explain_record(record: Mapping[str, Any]) -> str:
    """A record's kind, slug and every field's evidence, one block."""
    lines = [f"{_where(record)}  {record['type']}  {record['slug']}", f"  {record['title']}"]
    evidence = (record.get("provenance") or {}).get("evidence", {})
    for name, found in evidence.items():
        for item in found if isinstance(found, list) else [found]:
            lines.extend(_item(name, item))
    return "\n".join(lines)


def explain(records: Iterable[Mapping[str, Any]]) -> str:
    """Every record's evidence, blocks separated by a blank line."""
    return "\n\n".join(explain_record(record) for record in records) + "\n"


def confidence(record: Mapping[str, Any]) -> float:
    """The confidence of a record's kind decision (1.0 when unknown, e.g. an override)."""
    evidence = (record.get("provenance") or {}).get("evidence", {})
    return float(evidence.get("type", {}).get("confidence", 1.0))


def least_certain(records: Iterable[Mapping[str, Any]], size: int = REPORT_SIZE) -> str:
    """The entries whose kind decision was least certain, lowest confidence first."""
    ranked = sorted(records, key=lambda r: (confidence(r), _where(r)))[:size]
    lines = [f"The {len(ranked)} least certain kind decisions (lowest confidence first); "
             "override a wrong one in seed_data/rules/overrides.toml:"]
    for record in ranked:
        kind = record["provenance"]["evidence"]["type"]
        totals = kind.get("totals", {})
        points = ", ".join(f"{k} {v}" for k, v in totals.items())
        quoted = f' "{kind["text"]}"' if "text" in kind else ""
        lines += [
            f"{confidence(record):.2f}  {record['type']:<9}  {_where(record)}  {record['slug']}",
            f"      {record['title']}",
            f"      why: {kind['rule']}{quoted}" + (f"; points: {points}" if points else ""),
            f"      override: [overrides.{record['slug']}] type = \"...\"",
        ]
    return "\n".join(lines) + "\n"
