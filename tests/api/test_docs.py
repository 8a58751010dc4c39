"""Swagger UI, ReDoc and an OpenAPI document describing every route with examples; the
docs load nothing from another host; the index at `/` links to them.

The browser test (tests/browser/) renders both pages in Chromium and reads every request
it made; these tests read the pages and every asset they load as text.
"""

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

from app.core.config import get_settings
from tests.helpers import assert_problem

DOC_PAGES = ["/docs", "/redoc", "/docs/oauth2-redirect"]
# Absolute or protocol-relative URLs where a script or style sheet loads them as a
# resource (an element's src, CSS url() and @import, fetch, workers), not links to follow.
RESOURCE_URL = re.compile(
    r"""(?:\bsrc(?:set)?\s*[:=]\s*|\burl\(\s*|@import\s+(?:url\(\s*)?|\bfetch\(\s*"""
    r"""|\bimportScripts\(\s*|\bnew\s+(?:Shared)?Worker\(\s*)["'`]?((?:https?:)?//[^"'`\s)]+)""",
    re.I)
# Sources of a Content-Security-Policy that name no other host.
LOCAL_SOURCES = {"'self'", "'none'", "'unsafe-inline'", "'unsafe-eval'", "data:", "blob:"}
FETCH_DIRECTIVES = ("child-src", "connect-src", "font-src", "frame-src", "img-src",
                    "manifest-src", "media-src", "object-src", "script-src", "style-src",
                    "worker-src")
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


class PageResources(HTMLParser):
    """What a page loads: each src, each <link href>, and its inline scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._inside: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value for name, value in attrs if value}
        self.urls += [values[name] for name in ("src", "srcset", "poster") if name in values]
        if tag == "link" and "href" in values:
            self.urls.append(values["href"])
        if "style" in values:
            self.inline.append(values["style"])
        self._inside = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._inside = None

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.inline.append(data)


def resources(page: str) -> PageResources:
    parser = PageResources()
    parser.feed(page)
    return parser


def policy(header: str) -> dict[str, list[str]]:
    """A Content-Security-Policy as directive -> sources."""
    directives = {}
    for part in header.split(";"):
        if part.strip():
            name, *sources = part.split()
            directives.setdefault(name.lower(), sources)
    return directives


def allows(csp: dict[str, list[str]], url: str, page_origin: str) -> bool:
    """Whether some fetch directive of the policy would let the page load `url`."""
    if not csp:
        return True  # no policy: anything loads
    target = urlsplit(url)
    for directive in FETCH_DIRECTIVES:
        for source in csp.get(directive, csp.get("default-src", ["*"])):
            if source in LOCAL_SOURCES or source.startswith("'sha256-"):
                if source == "'self'" and f"{target.scheme}://{target.netloc}" == page_origin:
                    return True
                continue
            if source == "*" or source == f"{target.scheme}:":
                return True
            host = urlsplit(source if "://" in source else f"//{source}").hostname or ""
            if host == target.hostname or (host.startswith("*.")
                                            and target.hostname.endswith(host[1:])):
                return True
    return False


def test_docs_pages_are_served(client):
    assert "swagger-ui" in client.get("/docs").text.lower()
    assert "redoc" in client.get("/redoc").text.lower()


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_load_every_asset_from_this_host(client, path):
    page = client.get(path)
    assert page.status_code == 200
    base = str(page.url)
    found = resources(page.text)
    assert found.urls  # the script (and style sheet) at least
    texts = list(found.inline)
    for url in found.urls:
        absolute = urljoin(base, url)
        assert urlsplit(absolute).netloc == urlsplit(base).netloc, url
        asset = client.get(absolute)
        assert asset.status_code == 200, url
        if asset.headers["content-type"].startswith(("text/javascript", "text/css")):
            texts.append(asset.text)
    # A script or style sheet that names another host for a resource (ReDoc's sidebar
    # logo does) is held back by the page's policy: the browser never sends the request.
    csp = policy(page.headers.get("content-security-policy", ""))
    elsewhere = {url for text in texts for url in RESOURCE_URL.findall(text)
                 if urlsplit(urljoin(base, url)).netloc != urlsplit(base).netloc}
    origin = f"{urlsplit(base).scheme}://{urlsplit(base).netloc}"
    assert [url for url in elsewhere if allows(csp, urljoin(base, url), origin)] == []


@pytest.mark.parametrize("path", DOC_PAGES)
def test_docs_pages_allow_no_other_host(client, path):
    response = client.get(path)
    csp = policy(response.headers["content-security-policy"])
    assert csp["default-src"] == ["'self'"]
    for directive in FETCH_DIRECTIVES:
        sources = csp.get(directive, csp["default-src"])
        assert all(s in LOCAL_SOURCES or s.startswith("'sha256-") for s in sources), directive
    # The page's inline script runs by its hash, not by 'unsafe-inline'.
    assert "'unsafe-inline'" not in csp["script-src"]
    assert allows(csp, "http://testserver/docs/static/swagger-ui-bundle.js", "http://testserver")
    assert not allows(csp, "https://cdn.example/swagger-ui-bundle.js", "http://testserver")


def test_the_resource_scan_finds_urls_loaded_as_resources():
    script = ('e.createElement("img",{src:"https://cdn.example/logo.svg"});'
              'a.href="https://example.org/docs";fetch(`//api.example/x`);'
              's.textContent="@import url(https://fonts.example/a.css)"')
    assert RESOURCE_URL.findall(script) == ["https://cdn.example/logo.svg", "//api.example/x",
                                            "https://fonts.example/a.css"]


def test_docs_assets_are_kept_by_caches_and_unknown_ones_are_404(client):
    asset = client.get("/docs/static/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert asset.headers["cache-control"] == "public, max-age=86400"
    assert_problem(client.get("/docs/static/app.js"), 404, "app.js")
    assert_problem(client.get("/docs/static/..%2Fcore.py"), 404)


# --- the index ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/api/v1"])
def test_the_index_links_to_the_docs_and_every_collection(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["vary"].startswith("Accept")
    index = response.json()
    assert index["links"] == {"docs": "/docs", "redoc": "/redoc",
                              "openapi": "/openapi.json", "api": "/api/v1"}
    assert index["collections"]["articles"] == "/api/v1/articles"
    for link in [*index["links"].values(), *index["collections"].values()]:
        assert client.get(link).status_code == 200, link


def test_a_browser_gets_the_index_as_a_page_of_links(client):
    response = client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    hrefs = re.findall(r'<a href="([^"]+)"', response.text)
    assert hrefs == [*client.get("/").json()["links"].values(),
                     *client.get("/").json()["collections"].values()]


def test_an_index_in_no_offered_type_is_406(client):
    assert_problem(client.get("/", headers={"Accept": "image/png"}), 406, "text/html")


def test_index_links_use_the_public_url(client, monkeypatch):
    monkeypatch.setattr(get_settings(), "public_url", "https://digest.example.org/hrc")
    links = client.get("/").json()["links"]
    assert links["docs"] == "https://digest.example.org/hrc/docs"
    assert links["api"] == "https://digest.example.org/hrc/api/v1"


def test_openapi_documents_routes_parameters_and_examples(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for kind in ("articles", "events", "statements"):
        assert set(paths[f"/api/v1/{kind}"]) == {"get", "post"}
        assert set(paths[f"/api/v1/{kind}/{{entry_id}}"]) == {"get", "put", "patch", "delete"}
    for path in ("/api/v1/topics", "/api/v1/countries", "/api/v1/sessions", "/healthz",
                 "/readyz", "/", "/api/v1"):
        assert path in paths
    for path in DOC_PAGES + ["/docs/static/{name}"]:
        assert path not in paths
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
