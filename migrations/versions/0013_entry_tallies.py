"""Entry tallies: entries per kind and value, for exact totals and facets at any size.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05

Totals and facets are exact by default. A list filtered by kind alone (or by kind and
one topic or country) reads them from `entry_tallies` (app/entries/tallies.py), which
every write keeps current; here it is filled from the entries there are, with the
expressions the facets group by: the year as an integer, the month `YYYY-MM`, the day
`YYYY-MM-DD` of the placement date, each topic and country of the entry's JSON lists.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (facet, value, FROM) per engine; `e` is the entry, `j` a JSON list's elements.
VALUES = {
    "postgresql": {
        "type": "e.type",
        "topic": "j.value",
        "country": "j.value",
        "session": "CAST(e.session AS VARCHAR)",
        "language": "e.language",
        "year": "CAST(CAST(EXTRACT(year FROM e.date) AS INTEGER) AS VARCHAR)",
        "month": "to_char(e.date, 'YYYY-MM')",
        "day": "to_char(e.date, 'YYYY-MM-DD')",
    },
    "sqlite": {
        "type": "e.type",
        "topic": "j.value",
        "country": "j.value",
        "session": "CAST(e.session AS VARCHAR)",
        "language": "e.language",
        "year": "CAST(CAST(strftime('%Y', e.date) AS INTEGER) AS VARCHAR)",
        "month": "strftime('%Y-%m', e.date)",
        "day": "strftime('%Y-%m-%d', e.date)",
    },
}
ELEMENTS = {"postgresql": "json_array_elements_text(e.{list}) AS j",
            "sqlite": "json_each(e.{list}) AS j"}
LISTS = {"topic": "topics", "country": "countries"}
DATED = {"postgresql": "COALESCE(e.date, DATE '0001-01-01') > DATE '0001-01-01'",
         "sqlite": "COALESCE(e.date, '0001-01-01') > '0001-01-01'"}


def _fill(dialect: str) -> None:
    dated = DATED[dialect]
    for facet, value in VALUES[dialect].items():
        source = "entries AS e"
        if facet in LISTS:
            source += ", " + ELEMENTS[dialect].format(list=LISTS[facet])
        op.execute(f"INSERT INTO entry_tallies (facet, value, type, dated, n) "
                   f"SELECT '{facet}', {value}, e.type, {dated}, count(*) FROM {source} "
                   f"WHERE {value} IS NOT NULL GROUP BY {value}, e.type, {dated}")


def upgrade() -> None:
    op.create_table(
        "entry_tallies",
        sa.Column("facet", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("dated", sa.Boolean(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("facet", "value", "type", "dated"),
    )
    _fill(op.get_bind().dialect.name)


def downgrade() -> None:
    op.drop_table("entry_tallies")
