"""Classification tests: the seed's kinds, a page composed in the same style, the rules."""

from functools import lru_cache
from pathlib import Path

import pytest

from app.loader.build import load_rules
from app.loader.classify import KINDS, classify, fold, keyword_regex, parse_rules, score_entry
from app.loader.digest import read_digest

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "seed_data" / "000_33de37058f0cd80a.txt"
OWN_PAGE = Path(__file__).parent / "data" / "session52_page.txt"

A, E, S = "article", "event", "statement"
SEED_KINDS = {
    "Xinhua Commentary: Western countries should stop imposing double standards": A,
    "The Truth about Population Development in Xinjiang": A,
    "Various Measures and Targeted Strategy-Enlightenment of Poverty-Alleviation": A,
    "Experts discuss Xinjiang employment, labor rights at seminar": E,
    "Invitation sent to UN High Commissioner for Human Rights to visit Xinjiang: MOFA": S,
    "Virtual seminar focuses on human rights cooperation under Belt & Road": E,
    "China wins praise for contributions to world's human rights cause": E,
    "China shares poverty alleviation experience with UN members": E,
    "Online side meeting on HK national security law held in Geneva": E,
    "Human rights in Hong Kong opposite of what critics describe: youth representative": S,
    "Life in Tibet: International forum discusses poverty eradication": E,
    "Poverty relief efforts improve human rights in Tibet: experts at UN side-event": E,
    "China's anti-poverty campaign promotes human rights: experts": E,
    "Remarks by H.E. Wang Yi, State Councilor and Foreign Minister": S,
    "FM rejects rights accusations in Xinjiang": S,
    "Chinese envoy rejects 'groundless' accusations by U.S., Britain": S,
    "Chinese Mission Spokesperson Liu Yuyin refutes the erroneous remarks": S,
    'China\'s UN envoy stresses "people-centered" approach in fight against virus': S,
    "Flagrant human rights violations characterize the U.S.": A,
    "China urges U.S. to take latest UPR as opportunity": S,
    "China urges West to halt interference under guise of human rights at UN session": S,
    "China opposes interference in internal affairs of sovereign states": S,
    "China urges countries to stop double-standards on human rights issues": S,
    "Western countries' unilateral measures condemned at UNHRC": S,
    "Human rights must not only be available to privileged few, warns UN chief": S,
    "UN chief congratulates Xi on China's success in fight against extreme poverty": S,
}
OWN_KINDS = [A, E, S, S, E, A, S, S, E, A, S, E, S]


@lru_cache
def rules():
    """The rules shipped in seed_data/rules."""
    return load_rules(ROOT / "seed_data")


def kinds_of(path: Path) -> list[tuple[str, str]]:
    """(title, kind) for each entry of a page."""
    page = read_digest(path)
    return [(e.title, classify(e.title, e.summary, rules().classification)) for e in page.entries]


def test_seed_table_covers_every_entry_once():
    titles = [title for title, _ in kinds_of(SEED)]
    for prefix in SEED_KINDS:
        assert sum(fold(t).startswith(prefix) for t in titles) == 1, prefix
    assert len(SEED_KINDS) == len(titles) == 26


def test_seed_kinds_match_careful_reading():
    got = {
        prefix: kind
        for title, kind in kinds_of(SEED)
        for prefix in SEED_KINDS
        if fold(title).startswith(prefix)
    }
    assert got == SEED_KINDS


def test_seed_counts():
    # The brief's named list gives 8 events and 14 statements (its "9 events" does not add
    # up to 26 with 4 articles and the 14 statements it names); the table above is the list.
    assert sorted(SEED_KINDS.values()).count(E) == 8
    counts = {kind: 0 for kind in KINDS}
    for _, kind in kinds_of(SEED):
        counts[kind] += 1
    assert counts == {"article": 4, "event": 8, "statement": 14}
    assert sum(counts.values()) == 26


def test_composed_page_is_classified_without_overrides():
    got = [kind for _, kind in kinds_of(OWN_PAGE)]
    assert len(got) == len(OWN_KINDS) == 13
    correct = sum(g == w for g, w in zip(got, OWN_KINDS, strict=True))
    assert correct == 13, list(zip(got, OWN_KINDS, strict=True))


def test_score_breakdown_lists_hits():
    scores = score_entry("Xinhua Commentary: stop it", "Nothing else.", rules().classification)
    assert scores.kind == "article"
    assert any(h.term == "commentary" and h.field == "title" for h in scores.hits)
    assert scores.totals["article"] == sum(h.weight for h in scores.hits if h.kind == "article")


def test_no_signal_falls_back_to_first_default_kind():
    data = {"default_order": ["event", "article", "statement"], "rule": []}
    assert classify("Plain words", "Nothing here.", parse_rules(data)) == "event"


def test_tie_resolved_by_default_order():
    data = {
        "default_order": ["statement", "event", "article"],
        "rule": [
            {"kind": "event", "field": "title", "weight": 2, "keywords": ["forum"]},
            {"kind": "statement", "field": "summary", "weight": 2, "keywords": ["said"]},
        ],
    }
    assert classify("A forum", "He said so.", parse_rules(data)) == "statement"
    assert classify("A forum", "Nothing.", parse_rules(data)) == "event"


def test_keyword_counts_once_per_field_and_field_is_respected():
    data = {"rule": [{"kind": "event", "field": "title", "weight": 3, "keywords": ["seminar"]}]}
    scores = score_entry("Seminar", "seminar seminar", parse_rules(data))
    assert scores.totals["event"] == 3


def test_quote_insensitive_patterns():
    data = {
        "rule": [{"kind": "article", "field": "summary", "weight": 1, "keywords": ["China's view"]}]
    }
    assert score_entry("T", "China\u2019s view", parse_rules(data)).totals["article"] == 1


@pytest.mark.parametrize(
    ("keyword", "text", "hit"),
    [
        ("Tibet*", "Tibetan Buddhism", True),
        ("Tibet", "Tibetan Buddhism", False),
        ("forum", "forums", False),
        ("poverty", "Poverty-Alleviation", True),
        ("cultural", "Cross-cultural centre", False),
        ("Hong Kong", "Hong  Kong", True),
        ("HK", "hk law", True),
    ],
)
def test_keyword_matching(keyword, text, hit):
    assert bool(keyword_regex(keyword).search(text)) is hit


@pytest.mark.parametrize(
    "data",
    [
        {"rule": [{"kind": "essay", "keywords": ["x"]}]},
        {"rule": [{"kind": "event", "field": "body", "keywords": ["x"]}]},
        {"default_order": ["article", "event"]},
        {"rule": [{"kind": "event", "patterns": ["(unclosed"]}]},
    ],
)
def test_bad_rules_rejected(data):
    with pytest.raises(Exception):  # noqa: B017 - ValueError or re.error
        parse_rules(data)


def test_rules_are_not_keyed_to_seed_titles():
    titles = [fold(t).lower() for t, _ in kinds_of(SEED)]
    for rule in rules().classification.rules:
        for keyword in rule.keywords:
            assert not any(keyword.lower() == t for t in titles)
            assert len(keyword.split()) <= 4, keyword
