"""Dates with a precision: day, month, session or unknown; never a guessed day."""

from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from app.loader.build import build_page, load_known_sessions, load_rules, load_topics
from app.loader.dates import Window, place
from app.loader.digest import read_digest

ROOT = Path(__file__).resolve().parents[2]
SEED_DIR = ROOT / "seed_data"
HRC46 = Window(date(2021, 2, 22), date(2021, 3, 23), 2021)  # Monday .. Tuesday
HRC50 = Window(date(2022, 6, 13), date(2022, 7, 8), 2022)  # Monday .. Friday


def seed_records():
    return build_page(read_digest(SEED_DIR / "000_33de37058f0cd80a.txt"),
                      topics=load_topics(SEED_DIR / "topics.toml"),
                      known_sessions=load_known_sessions(SEED_DIR / "sessions.toml"),
                      rules=load_rules(SEED_DIR)).records


def test_sessions_toml_has_the_real_dates_of_the_46th():
    known = load_known_sessions(SEED_DIR / "sessions.toml")[46]
    assert (known.starts_on, known.ends_on) == (date(2021, 2, 22), date(2021, 3, 23))


def test_every_seed_entry_is_placed_and_none_guessed():
    records = seed_records()
    counts = Counter(r["date_precision"] for r in records)
    assert counts == {"day": 1, "session": 25}
    for record in records:
        if record["date_precision"] == "session":
            assert (record["date"], record["date_from"], record["date_to"]) == (
                date(2021, 2, 22), date(2021, 2, 22), date(2021, 3, 23))
            assert record["provenance"]["evidence"]["date"]["precision"] == "session"
        else:
            assert record["date"] == record["date_from"] == record["date_to"] == date(2021, 2, 26)
            evidence = record["provenance"]["evidence"]["date"]
            assert evidence["text"] == "Feb. 26" and evidence["line"] == 29


def test_a_known_primary_date_is_day_precision():
    found = place(date(2021, 3, 1), "anything", HRC46, "statement")
    assert (found.date, found.precision) == (date(2021, 3, 1), "day")


def test_closing_weekday_is_pinned_to_the_sessions_last_day():
    found = place(None, "The Council concluded its 50th session in Geneva on Friday.", HRC50,
                  "event")
    assert (found.date, found.precision) == (date(2022, 7, 8), "day")
    assert found.span is not None


def test_opening_weekday_is_pinned_to_the_sessions_first_day():
    found = place(None, "The session opened on Monday in Geneva.", HRC46, "statement")
    assert (found.date, found.precision) == (date(2021, 2, 22), "day")


def test_a_weekday_that_contradicts_the_session_dates_pins_nothing():
    # The 46th closed on Tuesday 23 March; "came to a close on Wednesday" is no candidate.
    found = place(None, "The 46th session came to a close on Wednesday.", HRC46, "statement")
    assert found.precision == "session"


def test_a_plain_weekday_in_a_four_week_session_is_not_a_day():
    found = place(None, "The envoy said on Wednesday that x.", HRC46, "statement")
    assert (found.precision, found.date_from, found.date_to) == (
        "session", date(2021, 2, 22), date(2021, 3, 23))


def test_articles_are_not_dated_by_what_they_discuss():
    found = place(None, "The session came to a close on Tuesday. In March, x.", HRC46, "article")
    assert found.precision == "session"


@pytest.mark.parametrize(("text", "expected"), [
    ("In March, the envoy said x.", date(2021, 3, 1)),
    ("A seminar held in late February 2021 discussed x.", date(2021, 2, 1)),
])
def test_a_month_without_a_day_is_month_precision(text, expected):
    found = place(None, text, HRC46, "event")
    assert (found.date, found.precision) == (expected, "month")


def test_no_session_dates_is_unknown():
    found = place(None, "The envoy said on Wednesday that x.", Window(), "statement")
    assert (found.date, found.precision) == (None, "unknown")
