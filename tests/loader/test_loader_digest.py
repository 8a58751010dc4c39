"""Parser tests: tolerated variations and malformed pages with their line numbers."""

from pathlib import Path

import pytest

from app.loader.digest import DigestError, parse_digest, read_digest

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "seed_data" / "000_33de37058f0cd80a.txt"
GOOD = (
    "Intro paragraph about the 46th session.\n\n"
    "First title\n\nFirst summary.[more..]\n\n"
    "Second title\n\nSecond summary.[more..]\n"
)


def parse(text: str):
    """Parse text under a fixed source name."""
    return parse_digest(text, source="page.txt")


def error_of(text: str) -> DigestError:
    """The DigestError a text raises."""
    with pytest.raises(DigestError) as info:
        parse(text)
    return info.value


def test_seed_page_has_26_entries_with_title_lines():
    page = read_digest(SEED)
    assert len(page.entries) == 26
    assert page.source == str(SEED)
    assert page.intro.startswith("On February 22th, the 46th session")
    assert page.intro_line == 1
    assert [e.line for e in page.entries[:3]] == [3, 7, 11]
    assert page.entries[-1].line == 103
    assert all(e.has_more for e in page.entries)
    assert not any("[more" in e.summary for e in page.entries)


def test_read_digest_source_override(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text(GOOD, encoding="utf-8")
    assert read_digest(path, source="seed_data/p.txt").source == "seed_data/p.txt"


def test_good_page_structure():
    page = parse(GOOD)
    assert page.intro == "Intro paragraph about the 46th session."
    assert [(e.title, e.summary, e.line) for e in page.entries] == [
        ("First title", "First summary.", 3),
        ("Second title", "Second summary.", 7),
    ]


@pytest.mark.parametrize(
    "variant",
    [
        GOOD.replace("\n", "\r\n"),
        GOOD.replace("\n", "\r"),
        GOOD.replace("\n", "   \n"),
        GOOD.rstrip("\n"),
        GOOD.replace("summary.[more..]", "summary. [more..]"),
        GOOD.replace("[more..]", "[more...]"),
        "\ufeff" + GOOD,
    ],
    ids=[
        "crlf",
        "cr",
        "trailing-spaces",
        "no-final-newline",
        "space-before-more",
        "three-dots",
        "bom",
    ],
)
def test_tolerated_variants_parse_the_same(variant):
    page = parse(variant)
    assert [(e.title, e.summary, e.line) for e in page.entries] == [
        ("First title", "First summary.", 3),
        ("Second title", "Second summary.", 7),
    ]


def test_multiple_blank_lines_and_dash_separators():
    text = GOOD.replace("\n\nSecond title", "\n\n\n——\n\n\nSecond title")
    page = parse(text)
    assert [e.title for e in page.entries] == ["First title", "Second title"]
    assert page.entries[1].line == 11


def test_curly_quotes_and_dashes_kept_in_text():
    text = GOOD.replace("First title", "China\u2019s \u201cview\u201d \u2014\u2014 now")
    assert parse(text).entries[0].title == "China\u2019s \u201cview\u201d \u2014\u2014 now"


def test_summary_spanning_lines_is_joined():
    text = GOOD.replace("First summary.[more..]", "First line\n  of the summary.\n[more..]")
    entry = parse(text).entries[0]
    assert entry.summary == "First line of the summary."
    assert entry.has_more


def test_summary_without_more_marker():
    text = GOOD.replace("First summary.[more..]", "First summary.")
    entries = parse(text).entries
    assert entries[0].has_more is False
    assert entries[0].summary == "First summary."
    assert entries[1].has_more is True


def test_read_digest_tolerates_bom_bytes(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert read_digest(path).intro.startswith("Intro")


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("", 1, "empty page"),
        ("  \n\n \t\n", 1, "empty page"),
        ("Intro\n\nTitle\n\nSum\x00mary[more..]\n", 5, "NUL"),
        ("Intro only, no entries at all.\n", 1, "no entries"),
        (GOOD + "\nThird title\n", 11, "title has no summary (page ends"),
        (
            GOOD.replace("First title\n\n", "First title\n\nStray title\n\n"),
            3,
            "next line is another",
        ),
        (GOOD + "\nOrphan summary text.[more..]\n", 11, "summary has no title"),
        (GOOD.replace("First title\n\n", "First title\n"), 3, "blank line after a title"),
        ("First title\n\nFirst summary.[more..]\n", 1, "no intro"),
        (GOOD.replace("Second title\n\n", "Second title\nwraps\n\n"), 7, "title spans"),
        (GOOD.replace("First summary.[more..]", "[more..]"), 5, "summary is empty"),
        (GOOD.replace("First title", "T" * 501), 3, "longer than 500"),
    ],
    ids=[
        "empty",
        "blank",
        "nul",
        "no-entries",
        "title-at-end",
        "two-titles",
        "orphan-summary",
        "no-blank-after-title",
        "no-intro",
        "two-line-title",
        "empty-summary",
        "long-title",
    ],
)
def test_malformed_pages(text, line, fragment):
    err = error_of(text)
    assert err.source == "page.txt"
    assert err.line == line
    assert fragment in err.message
    assert str(err) == f"page.txt:{line}: {err.message}"


def test_control_character_junk_is_binary():
    junk = "Intro\n\n" + "\x01\x02\x03\x04\x05\x06" * 20
    err = error_of(junk)
    assert "binary" in err.message
    assert err.line == 3


def test_not_utf8_reports_line_of_bad_byte(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(GOOD.replace("Second summary", "Second caf\u00e9").encode("latin-1"))
    with pytest.raises(DigestError) as info:
        read_digest(path, source="x.txt")
    assert info.value.line == 9
    assert "not valid UTF-8" in info.value.message
    assert str(info.value).startswith("x.txt:9: ")
