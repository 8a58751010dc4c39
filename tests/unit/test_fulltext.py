"""The web-search parser and what it compiles to on each engine."""

import pytest

from app.entries.listing import fulltext
from app.entries.listing.fulltext import Item, parse, to_fts5, to_tsquery_text


def words(query):
    return [[i.words for i in group] for group in query.groups], [i.words for i in query.excluded]


def test_words_are_anded_lowercased_and_stop_words_dropped():
    assert words(parse("The Poverty of Tibet")) == ([[("poverty",)], [("tibet",)]], [])


def test_phrase_keeps_order_and_drops_stop_words_inside():
    assert words(parse('"rule of law" Geneva')) == ([[("rule", "law")], [("geneva",)]], [])


def test_or_joins_neighbours_into_one_group():
    assert words(parse("xinjiang OR tibet poverty")) == (
        [[("xinjiang",), ("tibet",)], [("poverty",)]], [])


def test_minus_excludes_words_and_phrases():
    assert words(parse('rights -xinjiang -"hong kong"')) == (
        [[("rights",)]], [("xinjiang",), ("hong", "kong")])


def test_hyphenated_word_is_a_phrase_of_its_parts():
    assert words(parse("Poverty-Alleviation")) == ([[("poverty", "alleviation")]], [])


@pytest.mark.parametrize("hostile", [
    '"unbalanced quote', "OR", "-", "--", "OR OR -", '""', "a AND", "' OR 1=1 --",
    "); DROP TABLE entries; --", "NEAR(a b)", "title:x", "*", "^", "\x00", "(((", "NOT",
    "x" * 5000, '"' * 101, "😀 émigré",
])
def test_hostile_input_never_fails_and_emits_only_words(hostile):
    query = parse(hostile)
    fts = to_fts5(query) or ""
    tsq = to_tsquery_text(query) or ""
    for forbidden in (";", "'", "=", "(*", ":", "^", "\x00", "--"):
        assert forbidden not in fts.replace("(", "").replace(")", "") or forbidden == "("
        assert forbidden not in tsq
    assert all(word.isalnum() or "_" in word for g in query.groups for i in g for word in i.words)


def test_lone_or_and_minus_are_ignored():
    assert words(parse("OR poverty -")) == ([[("poverty",)]], [])


def test_unbalanced_quote_runs_to_the_end():
    assert words(parse('"poverty alleviation')) == ([[("poverty", "alleviation")]], [])


def test_fts5_expression():
    assert to_fts5(parse('"rule of law" xinjiang OR tibet -genocide')) == (
        '(("rule law") AND ("xinjiang" OR "tibet")) NOT "genocide"')


def test_fts5_has_no_positive_part_for_exclusions_only():
    assert to_fts5(parse("-xinjiang")) is None
    assert fulltext.fts5_any([Item(("xinjiang",))]) == '"xinjiang"'


def test_tsquery_text():
    assert to_tsquery_text(parse('"rule of law" xinjiang OR tibet -genocide')) == (
        "((rule <-> law)) & ((xinjiang) | (tibet)) & !(genocide)")


def test_only_stop_words_is_empty():
    assert parse("the of and").is_empty


def test_highlights_mark_stemmed_matches_and_escape_the_rest():
    marks = fulltext.highlights(parse("alleviate <b>"), "Poverty-Alleviation <b>in</b> Tibet",
                                "Efforts to alleviate poverty & hunger.")
    assert marks["title"] == "Poverty-<mark>Alleviation</mark> &lt;<mark>b</mark>&gt;in&lt;/" \
                             "<mark>b</mark>&gt; Tibet"
    assert marks["summary"] == "Efforts to <mark>alleviate</mark> poverty &amp; hunger."


def test_summary_snippet_is_cut_around_the_first_match():
    summary = " ".join(f"w{i}" for i in range(100)) + " poverty " + " ".join(
        f"v{i}" for i in range(100))
    snippet = fulltext.highlights(parse("poverty"), "t", summary)["summary"]
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "<mark>poverty</mark>" in snippet
    assert len(snippet.split()) <= fulltext.SNIPPET_WORDS + 1
