"""examples/browser/ in headless Chromium, against a real server on another origin; and the
API's own /docs and /redoc rendered with no way out of the machine.

The page is served by a static file server on one loopback port, the API by
`hrc-digest serve` on another (CORS). Every assertion compares what the page shows with
what the API answers to the same request. Screenshots are kept in the test's tmp_path
and listed at the end of the run.
"""

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.browser import chromium as browsers
from tests.browser.chromium import (
    SCREENSHOTS,
    chromium,
    origin,
    requests,
    require_browser,
    static_site,
    wait_until,
)
from tests.databases import ROOT, new_database_url
from tests.process.server import running, server_env

EXAMPLE = ROOT / "examples" / "browser"
FACETS = ("type", "topic", "country", "session")
PAGE_SIZE, FACET_LIMIT, RELATED_LIMIT = 10, 12, 5  # as examples/browser/app.js asks
HTTP_METHODS = ("get", "put", "post", "delete", "patch")

# What the page shows, read in one go.
SHOWN = """
const all = (selector) => [...document.querySelectorAll(selector)];
const facets = {};
for (const facet of arguments[0]) {
  facets[facet] = Object.fromEntries(
    all(`#facet-${facet} li`).map((li) => [li.dataset.value, li.dataset.count]));
}
return {
  titles: all("#results li.result button.title").map((b) => b.textContent),
  types: all("#results li.result").map((li) => li.dataset.type),
  total: document.getElementById("summary").dataset.total,
  facets,
  checked: all("#facets input:checked").map((i) => `${i.closest("ul").dataset.facet}=${i.value}`),
  state: document.body.dataset.state,
  status: document.getElementById("status").textContent,
};
"""
DONE = """
const page = document.body.dataset;
return page.state === "error"
  || (page.state === "ready" && Number(page[arguments[0]]) > arguments[1]);
"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    require_browser()
    with chromium(tmp_path_factory.mktemp("chromium")) as driver:
        yield driver


@pytest.fixture(scope="module")
def api(browser):
    """A server seeded with the digest (26 entries), on its own loopback port."""
    with running(server_env(new_database_url()), workers=1) as served:
        yield served.base


@pytest.fixture(scope="module")
def site():
    with static_site(EXAMPLE) as url:
        yield url


@pytest.fixture
def keep_screenshot(browser, tmp_path, request) -> Callable[[str], None]:
    def keep(name: str) -> None:
        path = tmp_path / f"{name}.png"
        assert browser.save_screenshot(str(path)), path
        print(f"screenshot: {path}")
        request.config.stash.setdefault(SCREENSHOTS, []).append(str(path))
    return keep


# --- the page ---------------------------------------------------------------------------


def shown(driver) -> dict[str, Any]:
    return driver.execute_script(SHOWN, list(FACETS))


def after(driver, action: Callable[[], Any], *, counter: str = "searched",
          fresh: bool = False) -> dict[str, Any]:
    """Do something on the page, wait for the search (or entry) it starts; what it shows."""
    before = 0 if fresh else driver.execute_script(
        f"return Number(document.body.dataset.{counter} || 0)")
    action()
    wait_until(driver, lambda d: d.execute_script(DONE, counter, before), f"the {counter} page")
    now = shown(driver)
    assert now["state"] == "ready", now["status"]
    return now


def click(driver, selector: str) -> Callable[[], None]:
    return lambda: driver.execute_script(f"document.querySelector('{selector}').click()")


def choose(driver, facet: str, value: str) -> Callable[[], None]:
    return click(driver, f'#facet-{facet} li[data-value="{value}"] input')


def set_date(driver, field: str, value: str) -> Callable[[], None]:
    return lambda: driver.execute_script(
        "const input = document.getElementById(arguments[0]); input.value = arguments[1];"
        "input.dispatchEvent(new Event('change'));", field, value)


def search(driver, words: str) -> Callable[[], None]:
    def run() -> None:
        box = driver.find_element("id", "q")
        box.clear()
        box.send_keys(words)
        driver.find_element("id", "search").click()
    return run


# --- what the API says ----------------------------------------------------------------------


def api_page(api: str, **params: Any) -> dict[str, Any]:
    query = {"limit": PAGE_SIZE} | params
    if "cursor" not in params:
        query |= {"facets": ",".join(FACETS), "facet_limit": FACET_LIMIT}
    response = httpx.get(f"{api}/api/v1/search", params=query, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def agrees(page: dict[str, Any], expected: dict[str, Any]) -> None:
    """The page shows the API's titles, total and facet counts."""
    assert page["titles"] == [item["title"] for item in expected["items"]]
    assert page["total"] == str(expected["total"])
    if "facets" in expected:
        counts = {facet: {str(e["value"]): str(e["count"]) for e in expected["facets"][facet]}
                  for facet in FACETS}
        # A chosen value beyond facet_limit is listed without a count, to be unchosen.
        listed = {facet: {value: count for value, count in values.items() if count}
                  for facet, values in page["facets"].items()}
        assert listed == counts


def test_the_page_searches_filters_pages_and_opens_entries(browser, api, site,
                                                           keep_screenshot):
    driver = browser
    requests(driver)  # the log from here on
    start = after(driver, lambda: driver.get(f"{site}/index.html?api={api}/api/v1"), fresh=True)
    everything = api_page(api)
    agrees(start, everything)
    assert len(start["titles"]) == PAGE_SIZE and everything["next_cursor"]
    topics = driver.find_element("id", "facet-topic").text
    assert "Xinjiang" in topics and "Poverty alleviation" in topics  # the facets' labels

    # A search: the API's ranked matches, the matched words marked (not shown as tags).
    hits = after(driver, search(driver, "poverty"))
    agrees(hits, api_page(api, q="poverty"))
    assert 0 < int(hits["total"]) < int(start["total"])
    assert driver.find_elements("css selector", "#results mark")
    assert "<mark>" not in driver.find_element("id", "results").text

    # A filter: statements only; the type facet still counts every kind (it ignores its
    # own filter), the others count the statements.
    statements = after(driver, choose(driver, "type", "statement"))
    expected = api_page(api, q="poverty", type="statement")
    agrees(statements, expected)
    assert set(statements["types"]) == {"statement"}
    assert len(statements["facets"]["type"]) > 1

    # Topic, session and a date range, from a clean slate.
    after(driver, click(driver, "#clear"))
    agrees(after(driver, choose(driver, "topic", "xinjiang")), api_page(api, topic="xinjiang"))
    narrowed = after(driver, choose(driver, "session", "46"))
    agrees(narrowed, api_page(api, topic="xinjiang", session=46))
    after(driver, set_date(driver, "date-from", "2021-02-22"))
    dated = after(driver, set_date(driver, "date-to", "2021-03-23"))
    agrees(dated, api_page(api, topic="xinjiang", session=46, date_from="2021-02-22",
                           date_to="2021-03-23"))
    assert dated["checked"] == ["topic=xinjiang", "session=46"] and dated["titles"]

    # The search lives in the page's address: a reload shows the same.
    reloaded = after(driver, driver.refresh, fresh=True)
    assert (reloaded["titles"], reloaded["checked"]) == (dated["titles"], dated["checked"])

    # Paging with the cursor, forward and back.
    first = after(driver, click(driver, "#clear"))
    agrees(first, everything)
    second = after(driver, click(driver, "#next"))
    agrees(second, api_page(api, cursor=everything["next_cursor"]))
    assert not set(second["titles"]) & set(first["titles"])
    assert after(driver, click(driver, "#prev"))["titles"] == first["titles"]

    # An entry and its related entries, then one of those.
    entry = everything["items"][0]
    plural = {"article": "articles", "event": "events", "statement": "statements"}
    after(driver, click(driver, "#results li.result button.title"), counter="opened")
    assert driver.find_element("id", "detail-title").text == entry["title"]
    related = httpx.get(f"{api}/api/v1/{plural[entry['type']]}/{entry['id']}/related",
                        params={"limit": RELATED_LIMIT}).json()["items"]
    listed = [e.text for e in driver.find_elements("css selector", "#related button.title")]
    assert listed == [other["title"] for other in related] and listed
    keep_screenshot("browser-client")
    after(driver, click(driver, "#related button.title"), counter="opened")
    assert driver.find_element("id", "detail-title").text == related[0]["title"]

    # Headers the API exposes to another origin: an export's file name.
    disposition = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then((r) => done(r.headers.get('Content-Disposition')),"
        " (e) => done(String(e)));", f"{api}/api/v1/articles/export?format=csv")
    assert disposition == 'attachment; filename="articles.csv"'

    made = [r for r in requests(driver) if r["url"].startswith(("http:", "https:"))]
    assert {origin(r["url"]) for r in made} == {site, api}
    assert [r for r in made if r.get("error") is not None] == []
    # Names come with the counts: no request for the reference data.
    assert not [r for r in made if "/topics" in r["url"] or "/countries" in r["url"]
                or "/sessions" in r["url"]]


# --- the API's docs ----------------------------------------------------------------------


def test_the_docs_render_offline(browser, api, keep_screenshot):
    driver = browser
    document = httpx.get(f"{api}/openapi.json").json()
    operations = {(method.upper(), path): operation["operationId"]
                  for path, item in document["paths"].items()
                  for method, operation in item.items() if method in HTTP_METHODS}
    requests(driver)

    driver.get(f"{api}/docs")
    wait_until(driver, lambda d: d.find_elements("css selector", ".opblock-summary-path"),
               "Swagger UI's operations")
    swagger = driver.execute_script(
        "return [...document.querySelectorAll('.opblock')].map((block) => ["
        "block.querySelector('.opblock-summary-method').textContent,"
        "block.querySelector('.opblock-summary-path').dataset.path])")
    assert {tuple(shown) for shown in swagger} == set(operations)
    keep_screenshot("docs")

    driver.get(f"{api}/redoc")
    wait_until(driver, lambda d: d.find_elements("css selector", "[data-section-id^=operation]"),
               "ReDoc's operations")
    redoc = driver.execute_script(
        "return [...document.querySelectorAll('[data-section-id^=\"operation/\"]')]"
        ".map((section) => section.dataset.sectionId.slice('operation/'.length))")
    assert set(redoc) == set(operations.values())
    keep_screenshot("redoc")

    # Every request went to the API; one a script asked of another host (ReDoc's logo)
    # was refused by the page's policy before it was sent.
    made = [r for r in requests(driver) if r["url"].startswith(("http:", "https:"))]
    assert any(r["url"].endswith("/docs/static/swagger-ui-bundle.js") for r in made)
    assert any(r["url"].endswith("/docs/static/redoc.standalone.js") for r in made)
    elsewhere = [r for r in made if origin(r["url"]) != api]
    assert all(r.get("blocked") == "csp" for r in elsewhere), elsewhere
    assert [r for r in made if origin(r["url"]) == api and r.get("error") is not None] == []


# --- without a browser -----------------------------------------------------------------


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception),
                                             (None, pytest.skip.Exception)])
def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(monkeypatch, tmp_path, ci,
                                                              outcome):
    monkeypatch.setattr(browsers, "CHROMEDRIVER", str(tmp_path / "chromedriver"))
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="chromium-driver"):
        browsers.require_browser()
