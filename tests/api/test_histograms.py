"""Date histograms: `facets=year`, `month`, `day` over each entry's placement date."""

import json

import pytest

from app.entries.registry import BY_PLURAL
from tests.helpers import assert_problem, sample

EVENTS = BY_PLURAL["events"]


def create(client, auth, title: str, **fields) -> None:
    response = client.post("/api/v1/events", json=sample(EVENTS, title=title, **fields),
                           headers=auth)
    assert response.status_code == 201, response.text


def facets(client, query: str) -> dict:
    response = client.get(f"/api/v1/events?{query}")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def placed(client, auth) -> None:
    """Events at four days (two on one), one known to its month, one to its session
    (the 46th: 22 February – 23 March 2021), one undated."""
    for index, day in enumerate(("2021-03-05", "2021-03-05", "2021-11-20", "2022-01-03")):
        create(client, auth, f"On {day} ({index})", starts_on=day)
    create(client, auth, "In March", starts_on=None, date_precision="month", date="2021-03-15")
    create(client, auth, "In the session", starts_on=None)
    create(client, auth, "Undated", starts_on=None, session=None)


@pytest.mark.usefixtures("placed")
class TestBuckets:
    def test_each_interval_counts_in_date_order(self, client):
        page = facets(client, "facets=day,month,year&facet_limit=100&count=exact")
        assert page["total"] == 7 and page["facets_exact"] is True
        assert page["facets"]["day"] == [
            {"value": "2021-02-22", "count": 1},  # the session's first day
            {"value": "2021-03-01", "count": 1},  # the month's first day
            {"value": "2021-03-05", "count": 2},
            {"value": "2021-11-20", "count": 1},
            {"value": "2022-01-03", "count": 1},
        ]
        assert page["facets"]["month"] == [
            {"value": "2021-02", "count": 1}, {"value": "2021-03", "count": 3},
            {"value": "2021-11", "count": 1}, {"value": "2022-01", "count": 1}]
        assert page["facets"]["year"] == [{"value": 2021, "count": 5},
                                          {"value": 2022, "count": 1}]

    def test_buckets_add_up_to_the_dated_entries(self, client):
        page = facets(client, "facets=day,month,year&facet_limit=100")
        dated = facets(client, "date_precision=-unknown")["total"]
        assert dated == page["total"] - 1 == 6
        for name in ("day", "month", "year"):
            assert sum(bucket["count"] for bucket in page["facets"][name]) == dated, name

    def test_facet_limit_keeps_the_newest_buckets_oldest_first(self, client):
        page = facets(client, "facets=day,month&facet_limit=2")
        assert [b["value"] for b in page["facets"]["day"]] == ["2021-11-20", "2022-01-03"]
        assert [b["value"] for b in page["facets"]["month"]] == ["2021-11", "2022-01"]

    def test_histograms_apply_every_filter_the_date_bounds_too(self, client):
        page = facets(client, "date_from=2021-03-01&date_to=2021-12-31&facets=day,month"
                              "&facet_limit=100")
        assert page["facets"]["day"] == [{"value": "2021-03-01", "count": 1},
                                         {"value": "2021-03-05", "count": 2},
                                         {"value": "2021-11-20", "count": 1}]
        assert page["facets"]["month"] == [{"value": "2021-03", "count": 3},
                                           {"value": "2021-11", "count": 1}]
        narrowed = facets(client, "date_precision=-day&facets=month&facet_limit=100")
        assert narrowed["facets"]["month"] == [{"value": "2021-02", "count": 1},
                                               {"value": "2021-03", "count": 1}]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("path", ["/api/v1/search", "/api/v1/timeline",
                                  "/api/v1/statements", "/api/v1/articles?topic=-xinjiang"])
def test_month_histogram_sums_equal_the_total(client, path):
    sep = "&" if "?" in path else "?"
    page = client.get(f"{path}{sep}facets=month&facet_limit=100&count=exact&limit=1").json()
    dated = client.get(f"{path}{sep}date_precision=-unknown&count=exact&limit=1").json()
    months = page["facets"]["month"]
    assert months and sum(bucket["count"] for bucket in months) == dated["total"]
    assert dated["total"] == page["total"]  # the seed dates every entry
    values = [bucket["value"] for bucket in months]
    assert values == sorted(values) and all(len(v) == 7 and v[4] == "-" for v in values)


def test_unknown_interval_is_400_naming_facets(client):
    assert_problem(client.get("/api/v1/events?facets=week"), 400, "facets", "week")


def test_openapi_documents_the_histograms(client):
    spec = client.get("/openapi.json").json()
    for path in ("/api/v1/events", "/api/v1/search", "/api/v1/timeline"):
        params = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
        facets, limit = params["facets"], params["facet_limit"]
        assert "`month`" in facets["description"] and "2021-03" in facets["description"]
        assert "month" in json.dumps(facets["schema"])  # the allowed names' pattern
        assert "newest buckets" in limit["description"]
