"""`/{kind}/{id}/related`: what it ranks by, and the bounded candidate sets it ranks."""

import pytest

from app.entries.registry import KINDS
from app.search import related
from tests.helpers import sample

ARTICLE, EVENT, STATEMENT = KINDS
NEUTRAL = {"summary": "Plain notes.", "topics": [], "countries": [], "session": None}


def _post(client, auth, spec, title: str, **fields) -> dict:
    body = sample(spec, title=title, **(NEUTRAL | fields))
    created = client.post(f"/api/v1/{spec.plural}", json=body, headers=auth)
    assert created.status_code == 201, created.text
    return created.json()


def _related(client, entry: dict, limit: int = 50) -> list[tuple[str, int]]:
    page = client.get(f"{entry['href']}/related?limit={limit}").json()
    return [(item["title"], item["score"]) for item in page["items"]]


def test_scores_add_up_what_is_shared(client, auth):
    _post(client, auth, ARTICLE, "Shares nothing", topics=["covid-19"], countries=["FR"],
          session=46)  # the session alone brings no candidate
    _post(client, auth, EVENT, "Shares one topic", topics=["tibet", "covid-19"],
          starts_on="2021-03-01")
    _post(client, auth, STATEMENT, "Shares everything", topics=["tibet", "xinjiang"],
          countries=["CN", "CU"], session=46, delivered_on="2021-03-02")
    _post(client, auth, ARTICLE, "Sericulture in Geneva", published_on="2021-03-03")
    _post(client, auth, ARTICLE, "Shares a country", countries=["CU"],
          published_on="2021-03-04")
    target = _post(client, auth, ARTICLE, "Zanzibar sericulture cooperation",
                   topics=["tibet", "xinjiang"], countries=["CU"], session=46)
    assert _related(client, target) == [
        ("Shares everything", 3 + 3 + related.COUNTRY_WEIGHT + related.SESSION_WEIGHT),
        ("Shares one topic", related.TOPIC_WEIGHT),
        ("Shares a country", related.COUNTRY_WEIGHT),  # a tie: the newer first
        ("Sericulture in Geneva", related.TEXT_WEIGHT),
    ]
    assert _related(client, target, limit=1) == [("Shares everything", 9)]


def test_an_entry_that_shares_nothing_has_no_related_entries(client, auth):
    _post(client, auth, ARTICLE, "Something else entirely", topics=["upr"])
    lonely = _post(client, auth, ARTICLE, "Zz")  # no topic, country or significant word
    assert _related(client, lonely) == []


def test_candidates_are_the_newest_that_share_each_value(client, auth, monkeypatch):
    monkeypatch.setattr(related, "PER_VALUE", 2)
    for n in range(4):  # oldest first
        _post(client, auth, ARTICLE, f"Tibet {n}", topics=["tibet"],
              published_on=f"2021-03-0{n + 1}")
    old_pair = _post(client, auth, ARTICLE, "Old pair", topics=["upr"], countries=["CU"],
                     published_on="2020-01-01")
    for n in range(2):
        _post(client, auth, ARTICLE, f"Cuba {n}", countries=["CU"],
              published_on=f"2021-04-0{n + 1}")
    target = _post(client, auth, ARTICLE, "Zz", topics=["tibet", "upr"], countries=["CU"])
    # tibet: the newest two; upr: the old pair; CU: the two newer than the old pair
    assert _related(client, target) == [("Old pair", 5), ("Tibet 3", 3), ("Tibet 2", 3),
                                        ("Cuba 1", 2), ("Cuba 0", 2)]
    assert old_pair["id"] < target["id"]


def test_title_words_count_among_the_newest_entries_only(client, auth, monkeypatch):
    monkeypatch.setattr(related, "TITLE_WINDOW", 3)
    _post(client, auth, ARTICLE, "Sericulture long ago", topics=["tibet"])
    for n in range(2):
        _post(client, auth, ARTICLE, f"Unrelated {n}")
    recent = _post(client, auth, ARTICLE, "Sericulture lately")
    target = _post(client, auth, ARTICLE, "Sericulture", topics=["tibet"])
    # the window: the target, `recent` and one unrelated entry
    assert _related(client, target) == [("Sericulture long ago", related.TOPIC_WEIGHT),
                                        ("Sericulture lately", related.TEXT_WEIGHT)]
    monkeypatch.setattr(related, "TITLE_WINDOW", 10)
    assert _related(client, target)[0] == ("Sericulture long ago", 3 + related.TEXT_WEIGHT)
    assert recent["id"] < target["id"]


@pytest.mark.parametrize("spec", KINDS, ids=[spec.plural for spec in KINDS])
def test_every_kind_relates_across_kinds(client, auth, spec):
    others = [_post(client, auth, other, f"About Tibet as {other.type}", topics=["tibet"])
              for other in KINDS]
    target = _post(client, auth, spec, "Zz", topics=["tibet"])
    items = client.get(f"{target['href']}/related").json()["items"]
    assert {item["id"] for item in items} == {entry["id"] for entry in others}
    plural = {other.type: other.plural for other in KINDS}
    assert all(item["href"] == f"/api/v1/{plural[item['type']]}/{item['id']}" for item in items)
