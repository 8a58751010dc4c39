"""Build tests: records of the seed page and of the composed page, overrides, determinism."""

import shutil
from datetime import date
from functools import lru_cache
from pathlib import Path

import pytest

from app.entries.slugs import slugify
from app.loader.build import (
    COMMON_KEYS,
    KIND_KEYS,
    LOADER_KEYS,
    build_page,
    load_known_sessions,
    load_rules,
    load_topics,
)
from app.loader.digest import parse_digest, read_digest

ROOT = Path(__file__).resolve().parents[2]
SEED_DIR = ROOT / "seed_data"
SEED_SOURCE = "seed_data/000_33de37058f0cd80a.txt"
OWN_PAGE = Path(__file__).parent / "data" / "session52_page.txt"


@lru_cache
def context():
    """(topics, known sessions, rules) from the shipped seed_data."""
    return (
        load_topics(SEED_DIR / "topics.toml"),
        load_known_sessions(SEED_DIR / "sessions.toml"),
        load_rules(SEED_DIR),
    )


def build(page, rules=None):
    """build_page with the shipped reference data."""
    topics, known, shipped = context()
    return build_page(page, topics=topics, known_sessions=known, rules=rules or shipped)


def seed():
    """The seed page built into records."""
    return build(read_digest(SEED_DIR / "000_33de37058f0cd80a.txt", source=SEED_SOURCE))


def by_title(result, prefix):
    """The one record whose title starts with prefix."""
    (record,) = [r for r in result.records if r["title"].startswith(prefix)]
    return record


def test_seed_session():
    session = seed().session
    assert session["number"] == 46
    assert session["name"] == "46th regular session of the Human Rights Council"
    assert (session["starts_on"], session["ends_on"]) == (date(2021, 2, 22), date(2021, 3, 23))
    assert session["location"] == "Geneva"
    assert session["description"].startswith("On February 22th, the 46th session")
    assert session["description"].endswith("United Nations Human Rights Council.")


def test_seed_records_have_exact_keys_and_order():
    records = seed().records
    assert len(records) == 26
    for record in records:
        assert list(record) == [*COMMON_KEYS, *KIND_KEYS[record["type"]], *LOADER_KEYS]
        assert record["body"] is None and record["url"] is None
        assert record["language"] == "en" and record["session"] == 46
        assert record["slug"] == slugify(record["title"])
        assert "[more" not in record["summary"] and "  " not in record["summary"]
        assert record["countries"] == sorted(record["countries"])
    assert [r["type"] for r in records].count("event") == 8


def test_seed_provenance_lines():
    records = seed().records
    assert [{k: r["provenance"][k] for k in ("source", "line")} for r in records[:2]] == [
        {"source": SEED_SOURCE, "line": 3},
        {"source": SEED_SOURCE, "line": 7},
    ]
    assert set(records[0]["provenance"]) == {"source", "line", "evidence"}
    assert records[-1]["provenance"]["line"] == 103
    assert [r["provenance"]["line"] for r in records] == list(range(3, 104, 4))


def test_seed_topics_and_countries():
    result = seed()
    envoy = by_title(result, "Chinese envoy rejects")
    assert envoy["topics"] == ["xinjiang", "tibet", "hong-kong"]
    assert envoy["countries"] == ["CN", "GB", "HK", "US"]
    joint = by_title(result, "Western countries' unilateral")
    assert joint["topics"] == ["unilateral-coercive-measures"]
    assert joint["countries"] == ["CN", "CU", "IR", "RU", "SY"]
    experts = by_title(result, "China's anti-poverty campaign")
    assert experts["countries"] == ["CN", "DE", "EG", "NL", "ZA"]
    assert "religion-and-culture" not in experts["topics"]
    assert by_title(result, "Human rights must not only")["countries"] == []


def test_seed_event_fields():
    result = seed()
    praise = by_title(result, "China wins praise")
    assert (praise["starts_on"], praise["ends_on"]) == (date(2021, 2, 26), date(2021, 2, 26))
    belt = by_title(result, "Virtual seminar")
    assert (belt["event_type"], belt["format"], belt["starts_on"]) == ("seminar", "online", None)
    assert belt["organizers"][0] == "China Society for Human Rights Studies"
    hk = by_title(result, "Online side meeting")
    assert (hk["event_type"], hk["format"], hk["location"]) == ("side_event", "online", "Geneva")
    tibet = by_title(result, "Poverty relief efforts")
    assert (tibet["location"], tibet["format"]) == ("Beijing", "in_person")
    briefing = by_title(result, "China shares poverty")
    assert briefing["event_type"] == "briefing"
    assert briefing["organizers"] == ["China's Permanent Mission to the United Nations (UN)"]
    assert by_title(result, "China's anti-poverty")["event_type"] == "side_event"
    assert by_title(result, "Life in Tibet")["event_type"] == "forum"


def test_seed_statement_fields():
    result = seed()
    wang = by_title(result, "Remarks by H.E. Wang Yi")
    assert (wang["speaker"], wang["statement_type"], wang["speaker_affiliation"]) == (
        "Wang Yi",
        "remarks",
        "CN",
    )
    covid = by_title(result, "China's UN envoy")
    assert (covid["speaker"], covid["on_behalf_of"]) == ("Chen Xu", "over 100 countries")
    assert covid["statement_type"] == "joint_statement"
    fm = by_title(result, "China urges countries")
    assert (fm["speaker"], fm["speaker_role"], fm["on_behalf_of"]) == (
        None,
        "Foreign Ministry spokesperson",
        None,
    )
    guterres = by_title(result, "UN chief congratulates")
    assert (guterres["speaker"], guterres["speaker_affiliation"]) == ("Antonio Guterres", "UN")
    assert guterres["delivered_on"] is None
    assert all(r["event_id"] is None for r in result.records if r["type"] == "statement")


def test_seed_article_fields():
    result = seed()
    xinhua = by_title(result, "Xinhua Commentary")
    assert (xinhua["source"], xinhua["genre"], xinhua["published_on"]) == (
        "Xinhua",
        "commentary",
        None,
    )
    assert by_title(result, "Various Measures")["source"] == "CSHRS"


def test_build_is_deterministic():
    assert seed() == seed()


def test_composed_page_session_and_dates():
    result = build(read_digest(OWN_PAGE, source="tests/own.txt"))
    assert result.session["number"] == 52
    assert (result.session["starts_on"], result.session["ends_on"]) == (
        date(2023, 2, 27),
        date(2023, 4, 4),
    )
    assert result.session["location"] == "Geneva"
    webinar = by_title(result, "Webinar explores")
    assert (webinar["starts_on"], webinar["format"]) == (date(2023, 3, 8), "online")
    assert webinar["organizers"] == [
        "China Foundation for Human Rights Development",
        "University of Nairobi",
    ]
    turk = by_title(result, "UN rights chief")
    assert (turk["speaker"], turk["speaker_role"], turk["delivered_on"]) == (
        "Volker Turk",
        "High Commissioner for Human Rights",
        date(2023, 2, 27),
    )
    youth = by_title(result, "Youth delegates")
    assert youth["starts_on"] is None and youth["ends_on"] is None
    assert by_title(result, "Pakistan delivers")["on_behalf_of"] == "66 countries"
    assert all(r["session"] == 52 for r in result.records)


def test_page_without_session_number():
    page = parse_digest(
        "An intro without numbers.\n\nTitle\n\nA seminar was held.[more..]\n", source="x"
    )
    result = build(page)
    assert result.session is None
    assert result.records[0]["session"] is None


def test_duplicate_titles_get_suffixed_slugs():
    text = "Intro.\n\nSame title\n\nOne.[more..]\n\nSame title\n\nTwo.[more..]\n\nSame title\n\nX."
    slugs = [r["slug"] for r in build(parse_digest(text, source="x")).records]
    assert slugs == ["same-title", "same-title-2", "same-title-3"]


@pytest.fixture()
def rules_with_override(tmp_path):
    """A copy of the shipped rules with one override added."""
    shutil.copytree(SEED_DIR / "rules", tmp_path / "rules")
    (tmp_path / "rules" / "overrides.toml").write_text(
        "[overrides.china-wins-praise-for-contributions-to-worlds-human-rights-cause]\n"
        'type = "statement"\nspeaker = "Someone Else"\n'
        '[overrides.flagrant-human-rights-violations-characterize-the-u-s]\ngenre = "commentary"\n',
        encoding="utf-8",
    )
    return load_rules(tmp_path)


def test_overrides_change_type_then_fields(rules_with_override):
    page = read_digest(SEED_DIR / "000_33de37058f0cd80a.txt", source=SEED_SOURCE)
    result = build(page, rules_with_override)
    praise = by_title(result, "China wins praise")
    assert praise["type"] == "statement"
    assert list(praise) == [*COMMON_KEYS, *KIND_KEYS["statement"], *LOADER_KEYS]
    assert praise["speaker"] == "Someone Else"
    assert by_title(result, "Flagrant human rights")["genre"] == "commentary"


def test_bad_override_field_rejected(tmp_path):
    shutil.copytree(SEED_DIR / "rules", tmp_path / "rules")
    (tmp_path / "rules" / "overrides.toml").write_text('[overrides.x]\ncolour = "red"\n')
    with pytest.raises(ValueError, match="colour"):
        load_rules(tmp_path)


def test_shipped_overrides_are_empty():
    assert context()[2].overrides == {}
