"""Evidence: every extracted value points at the exact span of the page it came from."""

import shutil
from functools import lru_cache
from pathlib import Path

import pytest

from app.loader.build import build_page, load_known_sessions, load_rules, load_topics
from app.loader.digest import parse_digest, read_digest
from app.loader.evidence import fold_map

ROOT = Path(__file__).resolve().parents[2]
SEED_DIR = ROOT / "seed_data"
PAGES = [SEED_DIR / "000_33de37058f0cd80a.txt", Path(__file__).parent / "data" /
         "session52_page.txt", *sorted((Path(__file__).parent / "corpus").glob("*.txt"))]
EXTRACTED = ("session", "topics", "countries", "speaker", "speaker_role",
             "speaker_affiliation", "on_behalf_of", "organizers", "location", "format",
             "starts_on", "delivered_on", "published_on")


@lru_cache
def context():
    return (load_topics(SEED_DIR / "topics.toml"), load_known_sessions(SEED_DIR / "sessions.toml"),
            load_rules(SEED_DIR))


def build(page, rules=None):
    topics, known, shipped = context()
    return build_page(page, topics=topics, known_sessions=known, rules=rules or shipped).records


def items(evidence):
    """Every evidence item of a record (list fields flattened)."""
    for name, found in evidence.items():
        for item in found if isinstance(found, list) else [found]:
            yield name, item


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_every_snippet_is_the_page_text_at_its_offsets(path):
    page = read_digest(path)
    raw = path.read_text(encoding="utf-8-sig")
    checked = 0
    for record in build(page):
        for name, item in items(record["provenance"]["evidence"]):
            assert item["rule"], name
            if "start" in item:
                assert raw[item["start"]:item["end"]] == item["text"], (name, item)
                assert raw.count("\n", 0, item["start"]) + 1 == item["line"], (name, item)
                checked += 1
    assert checked > 5 * len(page.entries)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_every_extracted_value_has_evidence(path):
    for record in build(read_digest(path)):
        evidence = record["provenance"]["evidence"]
        assert evidence["type"]["value"] == record["type"]
        assert 0 < evidence["type"]["confidence"] <= 1
        assert evidence["date"]["precision"] == record["date_precision"]
        if record["date"] is not None:
            assert evidence["date"]["value"] == record["date"].isoformat()
        for name in EXTRACTED:
            value = record.get(name)
            if value in (None, [], "unknown"):
                continue
            found = evidence.get(name)
            assert found, (record["title"], name, value)
            if isinstance(value, list):
                assert [item["value"] for item in found] == value, (record["title"], name)
            else:
                expected = value.isoformat() if hasattr(value, "isoformat") else value
                assert found["value"] == expected, (record["title"], name)


def test_offsets_survive_crlf_curly_quotes_dashes_and_wrapped_lines():
    text = ("\ufeffThe 46th session opened.\r\n\r\n  China\u2019s envoy \u2014\u2014 urges "
            "dialogue  \r\n\r\nChen Xu, China\u2019s Permanent Representative to the UN Office "
            "at Geneva,\r\n   said on March 3 that \u201cdialogue\u201d ——  matters for "
            "Xinjiang.  [more..]\r\n")
    page = parse_digest(text, source="crlf.txt")
    record = build(page)[0]
    evidence = record["provenance"]["evidence"]
    body = text.removeprefix("\ufeff")
    for name, item in items(evidence):
        if "start" in item:
            assert body[item["start"]:item["end"]] == item["text"], (name, item)
    assert evidence["speaker"]["text"] == "Chen Xu" and evidence["speaker"]["line"] == 5
    assert evidence["delivered_on"]["text"] == "March 3"
    assert evidence["delivered_on"]["line"] == 6
    assert evidence["topics"][0]["text"] == "Xinjiang"


def test_kind_evidence_names_the_deciding_rule():
    record = build(read_digest(PAGES[0]))[0]
    kind = record["provenance"]["evidence"]["type"]
    assert kind["text"] == "Xinhua Commentary:" and kind["line"] == 3
    assert "decisive" in kind["rule"] and kind["confidence"] == 0.95


def test_override_is_the_evidence_of_the_fields_it_sets(tmp_path):
    seed_dir = tmp_path / "seed"
    shutil.copytree(SEED_DIR, seed_dir)
    slug = "flagrant-human-rights-violations-characterize-the-u-s"
    (seed_dir / "rules" / "overrides.toml").write_text(
        f'[overrides.{slug}]\ntype = "event"\nlocation = "Geneva"\n', encoding="utf-8")
    records = build(read_digest(PAGES[0]), load_rules(seed_dir))
    evidence = next(r for r in records if r["slug"] == slug)["provenance"]["evidence"]
    assert evidence["type"] == {"value": "event", "rule": "overrides.toml: type",
                                "confidence": 1.0}
    assert evidence["location"] == {"value": "Geneva", "rule": "overrides.toml"}


@pytest.mark.parametrize("text", ["plain", "a \u2014\u2014 b", "\u201cq\u201d \u2015 x", "\u2014"])
def test_fold_map_points_each_folded_character_home(text):
    folded, where = fold_map(text)
    assert len(folded) == len(where)
    for char, index in zip(folded, where, strict=True):
        if char not in " -\"'":
            assert text[index] == char
