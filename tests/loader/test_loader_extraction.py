"""Extraction fixes found on unseen pages: roles, organisers, genres, headline abbreviations."""

from functools import lru_cache
from pathlib import Path

import pytest

from app.loader.build import load_rules
from app.loader.enrich import article_genre
from app.loader.people import find_speaker
from app.loader.places import organizers

ROOT = Path(__file__).resolve().parents[2]


@lru_cache
def rules():
    """The shipped rules."""
    return load_rules(ROOT / "seed_data")


def speaker(title: str, summary: str):
    return find_speaker(title, summary, rules().speakers, rules().countries)


def organisers_of(text: str) -> list[str]:
    events = rules().events
    return organizers(text, events["organizer_cues"], events["organisation_words"],
                      events["organizer_descriptors"])


@pytest.mark.parametrize("summary", [
    "Chen Xu, Permanent Representative of China to the UN Office at Geneva, said on Monday "
    "that dialogue matters.",
    "Permanent Representative of China to the UN Office at Geneva Chen Xu said dialogue matters.",
])
def test_role_has_no_dangling_words_once_the_country_is_taken_out(summary):
    found = speaker("Chinese envoy calls for dialogue", summary)
    assert found.name == "Chen Xu"
    assert found.role == "Permanent Representative to the UN Office at Geneva"
    assert found.affiliation == "CN"


def test_organiser_descriptor_is_dropped():
    text = ("The event was co-organized by the China Society for Human Rights Studies and the "
            "Geneva-based South Centre.")
    assert organisers_of(text) == ["China Society for Human Rights Studies", "South Centre"]


@pytest.mark.parametrize("text", [
    "A seminar on Tibet was convened in Geneva on Monday by the China Tibetology Research Center.",
    "The side event, hosted online by the China Tibetology Research Center, drew 50 people.",
    "It was organised on the margins of the session by the China Tibetology Research Center.",
    "The meeting was sponsored jointly by the China Tibetology Research Center.",
])
def test_convened_hosted_organised_sponsored_by_with_words_between(text):
    assert organisers_of(text) == ["China Tibetology Research Center"]


def test_organiser_stops_before_the_circumstances():
    text = ("A dialogue was hosted by the China Institute of International Studies on the "
            "sidelines of the 51st session on September 20.")
    assert organisers_of(text) == ["China Institute of International Studies"]


def test_a_reported_speaker_is_no_organiser():
    text = "The president of the Council said the session had been held fully in person."
    assert organisers_of(text) == []


def test_research_paper_is_research_even_with_opinion_in_its_title():
    genre = article_genre("Xinjiang's Cotton Industry: Facts and Public Opinion",
                          "This paper examines the cotton sector since 2010.", rules().articles)
    assert genre == "research"


@pytest.mark.parametrize(("title", "genre"), [
    ("Interview: Ambassador says the path suits China", "news"),
    ("Round-up: Key moments of the session", "news"),
    ("Analysis: Why the Global South pushes back", "commentary"),
    ("Research: The right to development", "research"),
    ("Xinhua Commentary: Stop double standards", "commentary"),
])
def test_headline_label_names_the_genre(title, genre):
    assert article_genre(title, "It is said the author is an opinion writer.",
                         rules().articles) == genre


@pytest.mark.parametrize(("title", "name", "role", "affiliation"), [
    ("Amb. Chen Xu urges cooperation at UN rights body", "Chen Xu", "Ambassador", None),
    ("China's FM Wang Yi says UN must uphold multilateralism", "Wang Yi", "Foreign Minister",
     "CN"),
    ("Dep. PR Jiang Duan rejects accusations", "Jiang Duan", "Deputy Permanent Representative",
     None),
])
def test_headline_abbreviations_are_spelled_out(title, name, role, affiliation):
    found = speaker(title, "Nothing more is said here.")
    assert (found.name, found.role, found.affiliation) == (name, role, affiliation)


def test_bare_fm_headline_is_still_the_foreign_ministry():
    found = speaker("FM rejects rights accusations", "Nothing more.")
    assert (found.name, found.role) == (None, "Foreign Ministry")
