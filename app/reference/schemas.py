"""Request and response shapes of topics, countries and sessions."""

from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
    model_validator,
)

from app.entries.fields import (
    NO_NUL,
    NON_BLANK,
    IsoDate,
    documented,
    no_nul,
    omittable,
)
from app.entries.registry import KINDS

TopicSlug = Annotated[str, StringConstraints(strip_whitespace=True,
                                             pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=64)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                 AfterValidator(no_nul), documented(NON_BLANK)]
Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                    AfterValidator(no_nul), documented(NON_BLANK)]
Description = Annotated[str, StringConstraints(max_length=5000), AfterValidator(no_nul),
                        documented(NO_NUL)]
LongDescription = Annotated[str, StringConstraints(max_length=20_000), AfterValidator(no_nul),
                            documented(NO_NUL)]


# Entries per kind: a field for each kind of the registry.
KindCounts = create_model(
    "KindCounts", __doc__="Entries per kind.",
    **{spec.type: (int, Field(description=f"{spec.plural.capitalize()} that name it.",
                              examples=[4])) for spec in KINDS})


class TopicFields(BaseModel):
    """Writable topic fields."""

    model_config = ConfigDict(extra="forbid")

    name: Name = Field(examples=["Xinjiang"])
    description: Description = Field(default="",
                                     examples=["The Xinjiang Uygur Autonomous Region."])
    keywords: list[Keyword] = Field(default_factory=list, max_length=200,
                                    examples=[["Xinjiang", "Uygur"]])


class TopicCreate(TopicFields):
    """A new topic."""

    slug: TopicSlug = Field(examples=["xinjiang"])


class TopicUpdate(BaseModel):
    """A partial topic update."""

    model_config = ConfigDict(extra="forbid")

    name: Name = omittable()
    description: Description = omittable()
    keywords: list[Keyword] = omittable(max_length=200)


def href_field(example: str) -> Any:
    """A member's own URL (read-only)."""
    return Field(description="Its own URL, root-relative (read-only).", examples=[example])


class TopicPublic(TopicCreate):
    """A topic with its entry counts."""

    href: str = href_field("/api/v1/topics/xinjiang")
    counts: KindCounts


class CountryPublic(BaseModel):
    """A country (ISO 3166-1) with its entry counts."""

    code: str = Field(examples=["CN"])
    name: str = Field(examples=["China"])
    official_name: str | None = Field(examples=["People's Republic of China"])
    href: str = href_field("/api/v1/countries/CN")
    counts: KindCounts


class SessionFields(BaseModel):
    """Writable session fields."""

    model_config = ConfigDict(extra="forbid")

    name: Name = Field(examples=["46th regular session of the Human Rights Council"])
    starts_on: IsoDate | None = Field(default=None, examples=["2021-02-22"])
    ends_on: IsoDate | None = Field(default=None, examples=["2021-03-24"])
    location: Name | None = Field(default=None, examples=["Geneva"])
    description: LongDescription = ""

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on")
        return self


class SessionCreate(SessionFields):
    """A new session."""

    number: int = Field(ge=1, le=10_000, examples=[46])


class SessionUpdate(BaseModel):
    """A partial session update."""

    model_config = ConfigDict(extra="forbid")

    name: Name = omittable()
    starts_on: IsoDate | None = None
    ends_on: IsoDate | None = None
    location: Name | None = None
    description: LongDescription = omittable()


class SessionPublic(SessionCreate):
    """A session with its entry counts."""

    href: str = href_field("/api/v1/sessions/46")
    counts: KindCounts


class ReferencePage(BaseModel):
    """One page of a reference collection: the fields beside `items` (see `page_model`)."""

    total: int = Field(description="Members in the collection (with its filters).",
                       examples=[14])
    total_exact: bool = Field(description="Always true: reference data is counted whole.",
                              examples=[True])
    limit: int = Field(examples=[100])
    offset: int = Field(examples=[0])
    next_cursor: str | None = Field(
        description="Opaque cursor for the next page; null on the last page.",
        examples=["eyJzIjoibmFtZSxzbHVnIiwidiI6WyJUaWJldCIsInRpYmV0Il19"])


def page_model(item: type[BaseModel], plural: str) -> type[BaseModel]:
    """`{Item}Page`: a page of these members, in the envelope every list answers."""
    shared = {n: (info.annotation, info) for n, info in ReferencePage.model_fields.items()}
    name = item.__name__.removesuffix("Public")
    return create_model(f"{name}Page", __doc__=f"One page of {plural}.",
                        items=(list[item], Field(description=f"The page's {plural}, in "
                                                 "the collection's order.")), **shared)


TopicPage = page_model(TopicPublic, "topics")
CountryPage = page_model(CountryPublic, "countries")
SessionPage = page_model(SessionPublic, "sessions")
