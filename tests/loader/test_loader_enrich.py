"""Enrichment tests: sessions, dates, topics, countries, places, speakers, articles."""

from datetime import date
from functools import lru_cache
from pathlib import Path

import pytest

from app.loader.build import load_rules, load_topics
from app.loader.dates import (
    Window,
    date_range,
    event_date,
    explicit_dates,
    intro_window,
    published_date,
    weekday_date,
)
from app.loader.enrich import (
    SessionInfo,
    article_fields,
    credited_publisher,
    describe_session,
    find_topics,
    on_behalf_of,
    ordinal,
    page_session_number,
    session_numbers,
    statement_type,
)
from app.loader.people import Speaker, find_speaker, normalise_role, split_run
from app.loader.places import event_format, event_location, find_countries, organizers

ROOT = Path(__file__).resolve().parents[2]
HRC46 = Window(date(2021, 2, 22), date(2021, 3, 24), 2021)


@lru_cache
def rules():
    """The rules shipped in seed_data/rules."""
    return load_rules(ROOT / "seed_data")


def speaker(title: str, summary: str) -> Speaker:
    """find_speaker with the shipped vocabulary."""
    return find_speaker(title, summary, rules().speakers, rules().countries)


def countries(text: str) -> list[str]:
    """find_countries with the shipped matcher."""
    return find_countries(text, rules().countries)


# ------------------------------------------------------------------ sessions


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("the 46th session of the UN Human Rights Council", [46]),
        ("The 46th regular session of the United Nations", [46]),
        ("at the 46th Human Rights Council", [46]),
        ("the 51th session and the 52nd Session", [51, 52]),
        ("the 46th UNHRC", [46]),
        ("the 29th special session", []),
        ("46 countries and the 3rd round", []),
    ],
)
def test_session_numbers(text, numbers):
    assert session_numbers(text) == numbers


def test_page_session_prefers_intro_then_most_mentioned():
    assert page_session_number("Intro on the 46th session.", ["the 45th session"]) == 46
    texts = ["the 47th session", "the 48th session", "the 48th session again"]
    assert page_session_number("No number here.", texts) == 48
    assert page_session_number("No number.", ["nothing"]) is None


@pytest.mark.parametrize(
    ("n", "text"),
    [(46, "46th"), (52, "52nd"), (51, "51st"), (11, "11th"), (53, "53rd"), (112, "112th")],
)
def test_ordinal(n, text):
    assert ordinal(n) == text


def test_known_session_keeps_data_and_takes_intro():
    known = {
        46: SessionInfo(
            46, "46th regular session", date(2021, 2, 22), date(2021, 3, 24), "Geneva", ""
        )
    }
    info = describe_session(46, "The intro.", known, ["held"])
    assert (info.name, info.starts_on, info.location) == (
        "46th regular session",
        date(2021, 2, 22),
        "Geneva",
    )
    assert info.description == "The intro."


def test_unknown_session_read_from_intro():
    intro = (
        "The 52nd session of the UN Human Rights Council was held in Geneva between "
        "February 27 and April 4, 2023."
    )
    info = describe_session(52, intro, {}, ["held"])
    assert info.name == "52nd regular session of the Human Rights Council"
    assert (info.starts_on, info.ends_on) == (date(2023, 2, 27), date(2023, 4, 4))
    assert info.location == "Geneva"
    assert info.description == intro


@pytest.mark.parametrize(
    ("intro", "expected"),
    [
        ("On September 14th, the 54th session opened.", (None, None)),
        ("On September 14th, 2023, the 54th session opened.", (date(2023, 9, 14), None)),
        (
            "In 2022 the Council met. On September 12th the 51th session opened.",
            (date(2022, 9, 12), None),
        ),
        ("It ran from June 13 to July 8, 2022.", (date(2022, 6, 13), date(2022, 7, 8))),
    ],
)
def test_intro_window(intro, expected):
    assert intro_window(intro) == expected


# ------------------------------------------------------------------ dates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("held on Feb. 26.", [date(2021, 2, 26)]),
        ("On February 22th, the session", [date(2021, 2, 22)]),
        ("on March 1, 2021 and on March 3", [date(2021, 3, 1), date(2021, 3, 3)]),
        ("on 26 February", [date(2021, 2, 26)]),
        ("on March 1, 2019", [date(2019, 3, 1)]),
        ("on February 30", []),
        ("it may 5 times", []),
        ("recently", []),
    ],
)
def test_explicit_dates_use_session_year(text, expected):
    assert explicit_dates(text, HRC46) == expected


def test_explicit_dates_without_any_year_stay_null():
    assert explicit_dates("on March 3", Window()) == []


def test_weekday_never_guessed_in_a_four_week_session():
    assert weekday_date("Wednesday", Window(HRC46.start, HRC46.end)) is None
    assert event_date("held online on Wednesday", HRC46) is None


def test_weekday_resolved_when_unique_in_window():
    short = Window(date(2021, 2, 22), date(2021, 2, 26))
    assert weekday_date("Wednesday", short) == date(2021, 2, 24)
    assert event_date("China on Wednesday urged", short) == date(2021, 2, 24)
    assert weekday_date("Sunday", short) is None


def test_date_ranges():
    assert date_range("from March 1 to March 3", HRC46) == (date(2021, 3, 1), date(2021, 3, 3))
    assert date_range("on March 1-3, 2022", HRC46) == (date(2022, 3, 1), date(2022, 3, 3))
    assert date_range("on March 3", HRC46) is None


def test_published_date_only_from_publication_verbs():
    verbs = rules().articles["published_verbs"]
    assert published_date("The paper was published on March 3.", HRC46, verbs) == date(2021, 3, 3)
    assert published_date("The session closed on March 3.", HRC46, verbs) is None


# ------------------------------------------------------------------ topics and countries


def test_topics_in_taxonomy_order_from_seed_keywords():
    topics = load_topics(ROOT / "seed_data" / "topics.toml")
    text = "Poverty-Alleviation in Tibetan areas; Xinjiang Uygur; the HK law; COVID-19."
    assert find_topics(text, topics) == [
        "xinjiang",
        "tibet",
        "hong-kong",
        "poverty-alleviation",
        "covid-19",
    ]
    assert find_topics("Cross-cultural Human Rights Centre", topics) == []
    assert find_topics("population development in Xinjiang", topics) == ["xinjiang"]


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("accusations by U.S., Britain about Xinjiang", ["GB", "US"]),
        ("the United States and the UK", ["GB", "US"]),
        ("British Foreign Secretary", ["GB"]),
        ("Chinese President Xi Jinping", ["CN"]),
        ("China, Russia, Syria, Iran and Cuba", ["CN", "CU", "IR", "RU", "SY"]),
        ("China, Germany, the Netherlands, Egypt and South Africa", ["CN", "DE", "EG", "NL", "ZA"]),
        ("International Organizations in Switzerland", ["CH"]),
        ("Papua New Guinea", ["PG"]),
        ("Guinea and Papua New Guinea", ["GN", "PG"]),
        ("Western countries and the UN", []),
        ("Latin American states", []),
        ("Dominic Raab", []),
        ("the People\u2019s Republic of China", ["CN"]),
        ("Hong Kong Special Administrative Region", ["HK"]),
    ],
)
def test_countries(text, codes):
    assert countries(text) == codes


# ------------------------------------------------------------------ events


def test_event_location_format_and_organizers_from_seed():
    events = rules().events
    text = 'An online side meeting titled "X" was held in Geneva.'
    assert event_location(text, events["place_verbs"]) == "Geneva"
    assert event_format(text, events, "Geneva") == "online"
    held = "a symposium held in Beijing on Tuesday"
    assert event_location(held, events["place_verbs"]) == "Beijing"
    assert event_format(held, events, "Beijing") == "in_person"
    assert event_format("An international forum has been held.", events, None) == "unknown"
    assert event_format("held in person and online", events, None) == "hybrid"
    assert event_location("held in March", events["place_verbs"]) is None
    summary = (
        "The seminar held via video link was jointly sponsored by the China Society for "
        "Human Rights Studies and the Permanent Mission of the People\u2019s Republic of China "
        "to the United Nations Office at Geneva and Other International Organizations in "
        "Switzerland."
    )
    assert organizers(summary, events["organizer_cues"], events["organisation_words"]) == [
        "China Society for Human Rights Studies",
        "Permanent Mission of the People's Republic of China to the United Nations Office at "
        "Geneva and Other International Organizations in Switzerland",
    ]
    briefing = (
        "China's Permanent Mission to the United Nations (UN) on Tuesday introduced "
        "China's achievement during a virtual briefing."
    )
    assert organizers(briefing, events["organizer_cues"], events["organisation_words"]) == [
        "China's Permanent Mission to the United Nations (UN)"
    ]


def test_organizers_own_wording_trims_dates():
    events = rules().events
    text = "a video conference organized by the China Society for Human Rights Studies on March 21."
    assert organizers(text, events["organizer_cues"], events["organisation_words"]) == [
        "China Society for Human Rights Studies"
    ]
    assert organizers("Scholars met.", events["organizer_cues"], events["organisation_words"]) == []


# ------------------------------------------------------------------ speakers


@pytest.mark.parametrize(
    ("title", "summary", "expected"),
    [
        (
            "Remarks by H.E. Wang Yi, State Councilor and Foreign Minister of the People's "
            "Republic of China, at the High-level Segment",
            "China holds the following views.",
            ("Wang Yi", "State Councilor and Foreign Minister", "CN"),
        ),
        (
            "Chinese envoy rejects accusations",
            "Chen Xu, China\u2019s Permanent Representative to "
            "the United Nations (UN) Office at Geneva, rejected accusations on Wednesday.",
            ("Chen Xu", "Permanent Representative to the UN Office at Geneva", "CN"),
        ),
        (
            "China's UN envoy stresses approach",
            "China's Permanent Representative to the UN Office "
            "at Geneva Chen Xu on Tuesday underscored an approach. Chen made the remarks.",
            ("Chen Xu", "Permanent Representative to the UN Office at Geneva", "CN"),
        ),
        (
            "Chinese Mission Spokesperson Liu Yuyin refutes the erroneous remarks",
            "China has always maintained dialogue.",
            ("Liu Yuyin", "Spokesperson of the Chinese Mission", "CN"),
        ),
        (
            "Rights must be for all, warns UN chief",
            "United Nations Secretary-General Antonio "
            "Guterres said on Wednesday that rights matter.",
            ("Antonio Guterres", "Secretary-General", "UN"),
        ),
        (
            "Invitation sent to visit Xinjiang: MOFA",
            "British Foreign Secretary Dominic Raab "
            "criticized China. China said it has already sent an invitation.",
            (None, "Foreign Ministry", "CN"),
        ),
        (
            "China urges countries to stop double-standards",
            "China urges them, a Foreign Ministry "
            "spokesperson said on Friday. Cuba made a speech on behalf of 64 countries.",
            (None, "Foreign Ministry spokesperson", "CN"),
        ),
        (
            "Human rights in Hong Kong fine: youth representative",
            "A young NGO representative from "
            "Hong Kong on Wednesday called it groundless, said Gary Wong Chi-him, speaking at the "
            "session.",
            ("Gary Wong Chi-him", "youth representative", "HK"),
        ),
        (
            "China opposes interference",
            "China on Thursday reaffirmed its principle.",
            (None, None, "CN"),
        ),
        # own wording
        (
            "Ambassador calls for calm",
            "Jane Doe, Australia's Ambassador to the UN, said on Monday that calm was needed.",
            ("Jane Doe", "Ambassador to the UN", "AU"),
        ),
        (
            "Spokesperson Mao Ning: China firmly rejects report",
            "Foreign Ministry spokesperson Mao "
            "Ning told a press briefing on Monday that it was false.",
            ("Mao Ning", "Foreign Ministry spokesperson", "CN"),
        ),
        (
            "Statement by the Chinese Delegation at the Interactive Dialogue",
            "Mr. President, ...",
            (None, "Delegation", "CN"),
        ),
    ],
)
def test_find_speaker(title, summary, expected):
    found = speaker(title, summary)
    assert (found.name, found.role, found.affiliation) == expected


def test_single_surname_is_not_a_new_speaker():
    assert split_run("Chen", rules().speakers, rules().countries) is None


def test_normalise_role():
    assert normalise_role("Permanent Representative to the United Nations (UN) Office") == (
        "Permanent Representative to the UN Office"
    )
    assert (
        normalise_role("Mission Spokesperson", "Chinese") == "Spokesperson of the Chinese Mission"
    )
    assert normalise_role("Council (HRC)") == "Council (HRC)"


def test_on_behalf_of():
    matcher = rules().countries
    assert (
        on_behalf_of(
            "Chen made the remarks on behalf of over 100 countries at the session.", "CN", matcher
        )
        == "over 100 countries"
    )
    reported = "China urges them. Cuba made a speech on behalf of 64 countries on Friday."
    assert on_behalf_of(reported, "CN", matcher) is None
    joint = (
        "Developing countries including China, Russia, Syria, Iran and Cuba on Tuesday made "
        "a joint statement at the session."
    )
    assert on_behalf_of(joint, None, matcher) == (
        "Developing countries including China, Russia, Syria, Iran and Cuba"
    )
    assert on_behalf_of("Pakistan, on behalf of 66 countries, delivered it.", "PK", matcher) == (
        "66 countries"
    )


@pytest.mark.parametrize(
    ("text", "who", "behalf", "kind"),
    [
        ("Remarks by H.E. Wang Yi", Speaker("Wang Yi", "Foreign Minister"), None, "remarks"),
        ("made a joint statement", Speaker(), None, "joint_statement"),
        ("Chen made the remarks", Speaker("Chen Xu"), "over 100 countries", "joint_statement"),
        ("FM rejects", Speaker(role="Foreign Ministry", institution=True), None, "spokesperson"),
        ("rejected accusations at a UN human rights forum", Speaker("Chen Xu"), None, "speech"),
        ("China on Wednesday urged the US", Speaker(affiliation="CN"), None, "other"),
        ("issued a press release today", Speaker(), None, "press_release"),
    ],
)
def test_statement_type(text, who, behalf, kind):
    assert statement_type(text, who, behalf, rules().statement_types) == kind


# ------------------------------------------------------------------ articles


def test_article_fields():
    vocab = rules().articles
    xinhua = article_fields(
        "Xinhua Commentary: Stop it", "The session closed on Wednesday.", HRC46, "CSHRS", vocab
    )
    assert xinhua == {
        "source": "Xinhua",
        "authors": [],
        "genre": "commentary",
        "published_on": None,
    }
    paper = article_fields(
        "Strategy-Enlightenment of Poverty-Alleviation", "Since then, much.", HRC46, "CSHRS", vocab
    )
    assert (paper["source"], paper["genre"]) == ("CSHRS", "research")
    byline = article_fields("Untitled", "By Jane Doe and John Roe: a view.", HRC46, None, vocab)
    assert byline["authors"] == ["Jane Doe", "John Roe"]
    assert byline["genre"] == "other"


def test_credited_publisher():
    intro = "The China Society for Human Rights Studies(CSHRS) handed in 5 articles to the session"
    assert credited_publisher(intro) == "CSHRS"
    assert credited_publisher("The session opened.") is None
