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


FIELDS = ("title", "summary", "body", "speaker", "speaker_role")


def items(text, fields=FIELDS):
    query = parse(text, fields)
    return [list(group) for group in query.groups], query.excluded


def test_fielded_prefixed_and_negated_items_are_typed():
    groups, excluded = items('title:"Poverty of Tibet" OR pover* -speaker:Chen Speaker_Role:envoy*')
    assert groups == [[Item(("poverty", "tibet"), "title"), Item(("pover",), None, True)],
                      [Item(("envoy",), "speaker_role", True)]]
    assert excluded == [Item(("chen",), "speaker")]


def test_without_fields_a_colon_and_a_star_are_punctuation():
    assert parse("Commentary:Western pover*").groups == [[Item(("commentary", "western"))],
                                                          [Item(("pover",))]]


@pytest.mark.parametrize("text", ["10:30", "http://example.org", "title:", "title: x", "*",
                                  "title:*", "a-*", '"po*"'])
def test_what_opens_no_field_or_prefix_is_plain(text):
    query = parse(text, FIELDS)
    assert all(i.field is None and not i.prefix for g in query.groups for i in g)


def test_unknown_field_is_refused_by_name():
    with pytest.raises(fulltext.UnknownField) as raised:
        parse("poverty source:xinhua", FIELDS)
    assert raised.value.name == "source"


@pytest.mark.parametrize("text", ["po*", "-ab*", "title:x*", "rule-of-la*"])
def test_a_prefix_needs_three_characters(text):
    with pytest.raises(fulltext.QueryError, match="at least 3 characters"):
        parse(text, FIELDS)


def test_stop_word_and_marker_prefixes_are_dropped_as_postgresql_drops_them():
    assert parse("the* zzspe* zzspeakerzz poverty", FIELDS).groups == [[Item(("poverty",))]]


def test_fielded_fts5_expression():
    query = parse('title:"rule of law" OR speaker:"chen xu" body:pover* -summary:geneva', FIELDS)
    assert to_fts5(query) == (
        '(({title} : "rule law" OR {search_fields} : "zzspeakerzz chen zzspeakerzz xu") '
        'AND ({body} : "pover"*)) NOT {summary} : "geneva"')


def test_fielded_tsquery_text():
    query = parse('title:"rule of law" OR speaker:"chen xu" body:pover* -summary:geneva '
                  "alle*", FIELDS)
    assert to_tsquery_text(query) == (
        "((rule:A <-> law:A) | (zzspeakerzz <-> chen <-> zzspeakerzz <-> xu)) & "
        "((pover:*C)) & ((alle:*)) & !(geneva:B)")


def test_field_text_puts_each_word_after_the_field_marker():
    assert fulltext.field_text("speaker_role", ["Adviser to Chen-Xu", "U.N."]) == (
        "zzspeakerrolezz Adviser zzspeakerrolezz to zzspeakerrolezz Chen zzspeakerrolezz Xu "
        "zzspeakerrolezz U zzspeakerrolezz N")


def test_index_terms_and_prefixes_as_fts5_holds_them():
    query = parse("poverties pover* -tibet title:alleviation", FIELDS)
    assert fulltext.index_terms(query) == ["allevi", "poverti"]
    assert fulltext.index_prefixes(query) == ["pover"]


def test_highlights_follow_the_field_and_prefixes():
    query = parse("title:poverty vill* speaker:poverty", FIELDS)
    marks = fulltext.highlights(query, "Poverty in villages", "Poverty in villages")
    assert marks == {"title": "<mark>Poverty</mark> in <mark>villages</mark>",
                     "summary": "Poverty in <mark>villages</mark>"}
