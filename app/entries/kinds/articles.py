"""Articles: commentaries, reports and papers published about the Council."""

from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import JSON
from sqlmodel import Field as Column
from sqlmodel import SQLModel

from app.entries import fields as f
from app.entries.models import detail_id_column
from app.entries.spec import Citation, FieldFilter, KindSpec

Genre = Literal["commentary", "report", "news", "research", "other"]


class Article(SQLModel, table=True):
    """An article's own columns."""

    __tablename__ = "articles"

    id: int = detail_id_column()
    source: str | None = Column(default=None, max_length=300)
    authors: list[str] = Column(default_factory=list, sa_type=JSON, nullable=False)
    genre: str = Column(default="other", max_length=32, nullable=False)


class ArticleFields(BaseModel):
    """What only articles have."""

    source: f.Name | None = Field(default=None, description="Publisher.", examples=["Xinhua"])
    authors: f.NameList = Field(default_factory=list, examples=[["Li Yunlong"]])
    genre: Genre = Field(default="other", examples=["commentary"])
    published_on: f.Day | None = Field(default=None, description="Primary date.")


spec = KindSpec(
    type="article",
    plural="articles",
    title="Article",
    table=Article,
    kind_fields=ArticleFields,
    primary_date="published_on",
    name_fields=("source", "authors"),
    filters=(
        FieldFilter("source", "source", "text", "Publisher (case-insensitive).", "Xinhua"),
        FieldFilter("genre", "genre", "enum", "Genre.", "commentary"),
        FieldFilter("author", "authors", "list", "One of the authors (case-insensitive).",
                    "Li Yunlong"),
    ),
    facets=("source", "genre"),
    # News agencies and papers by default; research papers are journal articles.
    citation=Citation("article-newspaper", type_field="genre",
                      types={"research": "article-journal", "report": "report"},
                      author="authors", container="source"),
    description="Commentaries, reports and research papers about the Council's work.",
    example={
        "title": "Xinhua Commentary: Western countries should stop imposing double standards "
                 "regarding human rights",
        "summary": "The 46th regular session of the United Nations Human Rights Council (UNHRC) "
                   "came to a close on Wednesday.",
        "session": 46,
        "topics": ["double-standards"],
        "countries": ["US"],
        "source": "Xinhua",
        "genre": "commentary",
        "published_on": "2021-03-24",
    },
)
