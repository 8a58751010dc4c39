"""Topics, countries and sessions: listed with counts, curated with a key."""

from app.entries.registry import KINDS
from tests.helpers import assert_problem, kind_counts, sample


def test_topics_listed_with_counts_per_kind(client, auth):
    client.post("/api/v1/articles", json=sample(KINDS[0], topics=["tibet"]), headers=auth)
    client.post("/api/v1/events", json=sample(KINDS[1], topics=["tibet", "xinjiang"]),
                headers=auth)
    topics = {t["slug"]: t for t in client.get("/api/v1/topics").json()}
    assert topics["tibet"]["counts"] == kind_counts(article=1, event=1)
    assert topics["xinjiang"]["counts"] == kind_counts(event=1)
    assert "Xizang" in topics["tibet"]["keywords"]
    single = client.get("/api/v1/topics/tibet").json()
    assert single == topics["tibet"]


def test_topic_crud(client, auth):
    new = {"slug": "water", "name": "Right to water", "keywords": ["water", "sanitation"]}
    created = client.post("/api/v1/topics", json=new, headers=auth)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/api/v1/topics/water"
    assert created.json()["counts"] == kind_counts()
    assert_problem(client.post("/api/v1/topics", json=new, headers=auth), 409, "water")
    patched = client.patch("/api/v1/topics/water", json={"description": "Water."}, headers=auth)
    assert patched.json()["description"] == "Water." and patched.json()["name"] == new["name"]
    assert client.delete("/api/v1/topics/water", headers=auth).status_code == 204
    assert_problem(client.get("/api/v1/topics/water"), 404, "water")


def test_topic_in_use_cannot_be_deleted(client, auth):
    client.post("/api/v1/articles", json=sample(KINDS[0], topics=["upr"]), headers=auth)
    assert_problem(client.delete("/api/v1/topics/upr", headers=auth), 409, "1 entries")
    assert client.get("/api/v1/topics/upr").status_code == 200


def test_topic_validation(client, auth):
    assert_problem(client.post("/api/v1/topics", json={"slug": "Bad Slug", "name": "x"},
                               headers=auth), 422, "slug")
    assert_problem(client.patch("/api/v1/topics/tibet", json={"name": ""}, headers=auth), 422,
                   "name")
    assert_problem(client.patch("/api/v1/topics/nope", json={"name": "x"}, headers=auth), 404)


def test_countries_come_from_iso_3166(client, auth):
    countries = {c["code"]: c for c in client.get("/api/v1/countries").json()}
    assert len(countries) == 249
    assert countries["CN"]["name"] == "China"
    assert countries["GB"]["name"] == "United Kingdom"
    client.post("/api/v1/articles", json=sample(KINDS[0], countries=["CU"]), headers=auth)
    used = client.get("/api/v1/countries?used=true").json()
    assert [c["code"] for c in used] == ["CU"]
    assert used[0]["counts"]["article"] == 1
    assert_problem(client.get("/api/v1/countries?usd=true"), 400, "usd")


def test_sessions_listed_with_the_46th(client, auth):
    client.post("/api/v1/statements", json=sample(KINDS[2], session=46), headers=auth)
    sessions = client.get("/api/v1/sessions").json()
    s46 = next(s for s in sessions if s["number"] == 46)
    assert (s46["starts_on"], s46["ends_on"], s46["location"]) == (
        "2021-02-22", "2021-03-23", "Geneva")
    assert s46["counts"] == kind_counts(statement=1)


def test_session_crud_and_in_use(client, auth):
    new = {"number": 47, "name": "47th session", "starts_on": "2021-06-21",
           "ends_on": "2021-07-13", "location": "Geneva"}
    created = client.post("/api/v1/sessions", json=new, headers=auth)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/api/v1/sessions/47"
    assert_problem(client.post("/api/v1/sessions", json=new, headers=auth), 409, "47")
    assert_problem(client.patch("/api/v1/sessions/47", json={"ends_on": "2021-06-01"},
                                headers=auth), 422, "ends_on")
    patched = client.patch("/api/v1/sessions/47", json={"description": "Summer."}, headers=auth)
    assert patched.json()["description"] == "Summer."
    client.post("/api/v1/articles", json=sample(KINDS[0], session=47), headers=auth)
    assert_problem(client.delete("/api/v1/sessions/47", headers=auth), 409, "used by 1")
    assert_problem(client.get("/api/v1/sessions/48"), 404, "48")
    assert_problem(client.get("/api/v1/sessions/zero"), 422, "number")
