"""Swagger UI, ReDoc and an OpenAPI document describing every route with examples."""


def test_docs_pages_are_served(client):
    assert "swagger-ui" in client.get("/docs").text.lower()
    assert "redoc" in client.get("/redoc").text.lower()


def test_openapi_documents_routes_parameters_and_examples(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for kind in ("articles", "events", "statements"):
        assert set(paths[f"/api/v1/{kind}"]) == {"get", "post"}
        assert set(paths[f"/api/v1/{kind}/{{entry_id}}"]) == {"get", "put", "patch", "delete"}
    for path in ("/api/v1/topics", "/api/v1/countries", "/api/v1/sessions", "/healthz",
                 "/readyz"):
        assert path in paths
    schemas = spec["components"]["schemas"]
    for name in ("ArticleCreate", "ArticleUpdate", "ArticlePublic", "EventCreate",
                 "StatementPublic", "Problem", "ArticlePage"):
        assert name in schemas
    assert schemas["ArticleCreate"]["examples"][0]["source"] == "Xinhua"
    listing = paths["/api/v1/articles"]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert {"limit", "offset", "cursor", "sort", "count"} <= params.keys()
    assert all(p.get("description") for p in params.values())
    create = paths["/api/v1/articles"]["post"]
    assert {"201", "401", "409", "422"} <= create["responses"].keys()
    assert "application/problem+json" in create["responses"]["422"]["content"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert {t["name"] for t in spec["tags"]} >= {"articles", "events", "statements"}


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_readiness_fails_on_an_unreachable_database(client, monkeypatch):
    from sqlalchemy import create_engine

    import app.system as system
    from tests.helpers import assert_problem

    unreachable = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none",
                                connect_args={"connect_timeout": 1})
    monkeypatch.setattr(system, "get_engine", lambda: unreachable)
    assert_problem(client.get("/readyz"), 503, "not reachable")
    assert client.get("/healthz").status_code == 200


def test_readiness_fails_before_migrations(client, monkeypatch, tmp_path):
    from sqlalchemy import create_engine

    import app.system as system
    from tests.helpers import assert_problem

    empty = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setattr(system, "get_engine", lambda: empty)
    assert_problem(client.get("/readyz"), 503, "hrc-digest migrate")
