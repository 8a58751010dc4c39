"""Events: seminars, side events, forums and briefings around a session."""

import datetime as dt
from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import JSON
from sqlmodel import Field as Column
from sqlmodel import SQLModel

from app.entries import fields as f
from app.entries.models import detail_id_column
from app.entries.spec import Citation, FieldFilter, KindSpec

EventType = Literal["seminar", "side_event", "forum", "briefing", "session_meeting", "other"]
EventFormat = Literal["online", "in_person", "hybrid", "unknown"]


class Event(SQLModel, table=True):
    """An event's own columns."""

    __tablename__ = "events"

    id: int = detail_id_column()
    event_type: str = Column(default="other", max_length=32, nullable=False)
    ends_on: dt.date | None = Column(default=None)
    location: str | None = Column(default=None, max_length=300)
    format: str = Column(default="unknown", max_length=16, nullable=False)
    organizers: list[str] = Column(default_factory=list, sa_type=JSON, nullable=False)


class EventFields(BaseModel):
    """What only events have."""

    event_type: EventType = Field(default="other", examples=["seminar"])
    starts_on: f.Day | None = Field(default=None, description="Primary date.")
    ends_on: f.Day | None = None
    location: f.Name | None = Field(default=None, examples=["Geneva"])
    format: EventFormat = Field(default="unknown", examples=["online"])
    organizers: f.NameList = Field(
        default_factory=list, examples=[["China Society for Human Rights Studies"]])

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on")
        return self


spec = KindSpec(
    type="event",
    plural="events",
    title="Event",
    table=Event,
    kind_fields=EventFields,
    primary_date="starts_on",
    name_fields=("organizers", "location"),
    filters=(
        FieldFilter("event_type", "event_type", "enum", "Event type.", "seminar"),
        FieldFilter("format", "format", "enum", "Online, in person or hybrid.", "online"),
        FieldFilter("location", "location", "text", "City (case-insensitive).", "Geneva"),
        FieldFilter("organizer", "organizers", "list", "One of the organisers "
                    "(case-insensitive).", "China Society for Human Rights Studies"),
    ),
    facets=("event_type",),
    citation=Citation("event", author="organizers", place="location", end_date="ends_on"),
    description="Seminars, side events, forums and briefings held around a session.",
    example={
        "title": "Virtual seminar focuses on human rights cooperation under Belt & Road",
        "summary": "Over 20 Chinese and foreign scholars exchanged opinions on human rights "
                   "cooperation under the Belt and Road Initiative.",
        "session": 46,
        "topics": ["belt-and-road"],
        "countries": ["CN"],
        "event_type": "seminar",
        "format": "online",
        "starts_on": "2021-03-05",
        "organizers": ["China Society for Human Rights Studies"],
    },
)
