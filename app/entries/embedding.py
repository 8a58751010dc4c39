"""Embedding: related entries carried inside the entries of a page (`include=`).

A kind's relations come from the registry's references, never named here: a kind field
that references another kind (a statement's `event_id`) gives the referencing kind a
relation to one entry, named by the field's natural-key alias (`include=event`: the
event object in place of its slug), and the referenced kind a relation to many, named
by the referencing kind's plural (`include=statements`: each event's statements).

Each requested relation costs one query per page, whatever its size: the related rows
of every entry on the page, found by the page's ids (no N+1). A relation to many
carries at most MAX_EMBEDDED entries per entry, by date (undated first, as lists sort
them) then id.
"""

from dataclasses import dataclass, field
from functools import cache
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, create_model
from sqlalchemy import Connection, Select, bindparam, func, select

from app.entries.fields import omittable
from app.entries.listing.filters import entries, sort_date
from app.entries.listing.params import Param, comma_list_pattern, query_values
from app.entries.listing.parse import chosen
from app.entries.registry import BY_TYPE, KINDS
from app.entries.repository import kind_select
from app.entries.spec import KindSpec

MAX_EMBEDDED = 50  # entries a relation to many carries per entry
OWNER = "_owner"  # the column naming the page's entry a related row belongs to


@dataclass(frozen=True)
class Relation:
    """Entries of `target` that an entry of `owner` may carry under `name`."""

    name: str  # the `include` value, and the item's key that holds the related entries
    owner: KindSpec = field(repr=False)
    target: KindSpec = field(repr=False)
    column: str  # the reference column: the owner's (one) or the target's (many)
    many: bool  # a list of the target's entries pointing at the owner; else one or null


@cache
def relations(spec: KindSpec) -> dict[str, Relation]:
    """What an entry of this kind may include, by name (from every kind's references)."""
    aliases = {column: alias for alias, column in spec.reference_slugs.items()}
    found = [Relation(aliases.get(column, column.removesuffix("_id")), spec, BY_TYPE[target],
                      column, many=False) for column, target in spec.references.items()]
    found += [Relation(other.plural, spec, other, column, many=True) for other in KINDS
              for column, target in other.references.items() if target == spec.type]
    by_name = {relation.name: relation for relation in found}
    if len(by_name) != len(found):  # e.g. a kind referencing this one by two fields
        raise ValueError(f"{spec.type}: two relations share a name: {[r.name for r in found]}")
    return by_name


def _described(relation: Relation) -> str:
    target = relation.target
    if relation.many:
        return f"an array of its {target.plural} (at most {MAX_EMBEDDED}, by date then id)"
    return f"the {target.type} it names, an object (null when none)"


def include_param(spec: KindSpec) -> Param | None:
    """`include=`: the kind's relations embedded in each entry (None: it has none)."""
    names = tuple(relations(spec))
    if not names:
        return None
    described = "; ".join(f"`{name}`: {_described(relation)}"
                          for name, relation in relations(spec).items())
    return Param("include", str, f"Comma list or repeated: related entries carried in each "
                 f"{spec.type}, as their own detail shows them. {described}. `fields` "
                 "applies to the listed entries only: an included relation comes whatever it "
                 "names. JSON only (a citation includes nothing).", names[0], True,
                 bounds={"max_length": 100}, pattern=comma_list_pattern(names))


def requested(spec: KindSpec, values: list[str] | None) -> tuple[Relation, ...]:
    """The relations an `include` asks for (400 naming `include` and the allowed values)."""
    if not values:
        return ()
    known = relations(spec)
    return tuple(known[name] for name in chosen("include", ",".join(values), tuple(known)))


def detail_query(spec: KindSpec) -> Any:
    """The detail routes' query type: `include`, for a kind that has relations; any other
    parameter a 400."""
    param = include_param(spec)
    return query_values(f"get_{spec.type}_query", [param] if param else [])


def included(spec: KindSpec, query: Any) -> tuple[Relation, ...]:
    """The relations a detail route's query asks for."""
    return requested(spec, query.model_dump(by_alias=True).get("include"))


@cache
def _statement(relation: Relation, dialect: str) -> Select[Any]:
    """The target's entries related to the bound `owners`, each with its owner's id."""
    target = relation.target
    rows = kind_select(target)
    if relation.many:
        owner = target.detail_table.c[relation.column]
    else:  # aliased: the owner's detail table may be the target's own
        link = relation.owner.detail_table.alias("embedding_owner")
        rows = rows.join(link, link.c[relation.column] == entries.c.id)
        owner = link.c.id
    rows = rows.add_columns(owner.label(OWNER)).where(
        owner.in_(bindparam("owners", expanding=True)))
    if not relation.many:
        return rows
    rank = func.row_number().over(partition_by=owner,
                                  order_by=(sort_date(dialect), entries.c.id))
    ranked = rows.add_columns(rank.label("_rank")).subquery("embedded")
    return (select(*(column for column in ranked.c if column.name != "_rank"))
            .where(ranked.c["_rank"] <= bindparam("per_owner"))
            .order_by(ranked.c[OWNER], ranked.c["_rank"]))


def embed(connection: Connection, included: tuple[Relation, ...],
          items: list[dict[str, Any]]) -> None:
    """Put each relation's entries in the items, in place: one query a relation."""
    owners = [item["id"] for item in items]
    for relation in included:
        found: dict[int, list[dict[str, Any]]] = {}
        if owners:
            stmt = _statement(relation, connection.dialect.name)
            bound = {"owners": owners, "per_owner": MAX_EMBEDDED}
            result = connection.execute(stmt, bound)
            # Plain `str` names: SQLAlchemy's own label strings are a str subclass, which
            # orjson refuses as keys (the response would fall back to the slow encoder).
            names = list(map(str, result.keys()))
            for row in result:
                entry = dict(zip(names, row, strict=True))
                found.setdefault(entry.pop(OWNER), []).append(entry)
        for item in items:
            related = found.get(item["id"], [])
            item[relation.name] = related if relation.many else (related or [None])[0]


def detail_model(spec: KindSpec) -> type[BaseModel]:
    """The detail route's documented answer: the kind's Public model, with what each
    relation puts in it when included (absent otherwise)."""
    known = relations(spec)
    if not known:
        return spec.public_model
    fields: dict[str, Any] = {}
    for name, relation in known.items():
        target = relation.target.public_model
        existing = spec.public_model.model_fields.get(name)
        if relation.many:
            annotation: Any = list[target]  # type: ignore[valid-type]
        elif existing is not None:  # e.g. a slug alias: the object takes its place
            annotation = Union[existing.annotation, target]  # noqa: UP007
        else:
            annotation = target | None
        said = existing.description if existing is not None and existing.description else ""
        fields[name] = (annotation, omittable(description=(
            f"{said} With `include={name}`: {_described(relation)}.").strip()))
    added = [name for name in fields if name not in spec.public_model.model_fields]

    def optional_relations(schema: dict[str, Any]) -> None:
        """The public model's fields are always answered (required); an included
        relation that is not one of them only with `include`."""
        schema["required"] = [name for name in schema.get("required", []) if name not in added]

    base = type(f"{spec.title}DetailBase", (spec.public_model,),
                {"model_config": ConfigDict(json_schema_extra=optional_relations)})
    return create_model(f"{spec.title}Detail", __base__=base, **fields)
