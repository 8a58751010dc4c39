"""Statements: speeches, remarks and positions delivered at or about a session."""

from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import Column as SAColumn
from sqlalchemy import ForeignKey, Integer
from sqlmodel import Field as Column
from sqlmodel import SQLModel

from app.entries import fields as f
from app.entries.models import detail_id_column
from app.entries.spec import Citation, FieldFilter, KindSpec

StatementType = Literal[
    "speech", "remarks", "spokesperson", "joint_statement", "press_release", "other"
]


class Statement(SQLModel, table=True):
    """A statement's own columns."""

    __tablename__ = "statements"

    id: int = detail_id_column()
    speaker: str | None = Column(default=None, max_length=300)
    speaker_role: str | None = Column(default=None, max_length=300)
    speaker_affiliation: str | None = Column(default=None, max_length=300)
    statement_type: str = Column(default="other", max_length=32, nullable=False)
    on_behalf_of: str | None = Column(default=None, max_length=300)
    event_id: int | None = Column(
        default=None,
        sa_column=SAColumn(Integer, ForeignKey("entries.id", ondelete="SET NULL"), index=True),
    )


class StatementFields(BaseModel):
    """What only statements have."""

    speaker: f.Name | None = Field(default=None, examples=["Chen Xu"])
    speaker_role: f.Name | None = Field(
        default=None, examples=["Permanent Representative to the UN Office at Geneva"])
    speaker_affiliation: f.Name | None = Field(
        default=None, description="A country code or an organisation.", examples=["CN"])
    statement_type: StatementType = Field(default="other", examples=["speech"])
    delivered_on: f.Day | None = Field(default=None, description="Primary date.")
    on_behalf_of: f.Name | None = Field(default=None, examples=["over 100 countries"])
    event_id: int | None = Field(
        default=None, ge=1, le=f.MAX_ENTRY_ID,
        description="The event it was delivered at, by id (ids differ between databases: "
                    "`event` names it by slug).", examples=[None])
    event: f.LinkedSlug | None = Field(
        default=None,
        description="The event it was delivered at, by slug (stable across exports and "
                    "databases). Written: linked by slug; with `event_id` too, both must "
                    "name the same event (bulk and import: a non-null `event` wins). Read: "
                    "the linked event's slug, or null.",
        examples=["virtual-seminar-focuses-on-human-rights-cooperation-under-belt-road"])


spec = KindSpec(
    type="statement",
    plural="statements",
    title="Statement",
    table=Statement,
    kind_fields=StatementFields,
    primary_date="delivered_on",
    name_fields=("speaker", "speaker_role", "speaker_affiliation"),
    references={"event_id": "event"},
    reference_slugs={"event": "event_id"},
    filters=(
        FieldFilter("speaker", "speaker", "text", "Speaker (case-insensitive).", "Chen Xu"),
        FieldFilter("statement_type", "statement_type", "enum", "Statement type.", "speech"),
        FieldFilter("speaker_affiliation", "speaker_affiliation", "text",
                    "Country code or organisation (case-insensitive).", "CN"),
        FieldFilter("speaker_role", "speaker_role", "text", "The speaker's role "
                    "(case-insensitive).", "Permanent Representative to the UN Office at "
                    "Geneva"),
        FieldFilter("on_behalf_of", "on_behalf_of", "text", "Whom the statement was "
                    "delivered for (case-insensitive).", "over 100 countries"),
        FieldFilter("event_id", "event_id", "int", "The event it was delivered at.", "12"),
        FieldFilter("event", "event_id", "slug", "The event it was delivered at, by slug.",
                    "virtual-seminar-focuses-on-human-rights-cooperation-under-belt-road"),
    ),
    facets=("statement_type", "speaker"),
    # Named after the event it was delivered at, else after the session.
    citation=Citation("speech", author="speaker", event="event_id"),
    description="Speeches, remarks, spokesperson answers and joint statements.",
    example={
        "title": "China's UN envoy stresses \"people-centered\" approach in fight against virus",
        "summary": "China's Permanent Representative to the UN Office at Geneva Chen Xu on "
                   "Tuesday underscored a \"people-centered\" approach in the fight against "
                   "COVID-19.",
        "session": 46,
        "topics": ["covid-19"],
        "countries": ["CN"],
        "speaker": "Chen Xu",
        "speaker_role": "Permanent Representative to the UN Office at Geneva",
        "speaker_affiliation": "CN",
        "statement_type": "speech",
        "on_behalf_of": "over 100 countries",
    },
)
