"""Request and response shapes of topics, countries and sessions."""

from typing import Annotated, Self

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


class TopicPublic(TopicCreate):
    """A topic with its entry counts."""

    counts: KindCounts


class CountryPublic(BaseModel):
    """A country (ISO 3166-1) with its entry counts."""

    code: str = Field(examples=["CN"])
    name: str = Field(examples=["China"])
    official_name: str | None = Field(examples=["People's Republic of China"])
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

    counts: KindCounts
