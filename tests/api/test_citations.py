"""Citations (CSL-JSON, RIS, BibTeX) from the exports, /search/export and the detail route,
read back by maintained parsers: citeproc-py, rispy and bibtexparser."""

import itertools
import json
import re
import warnings
from datetime import date

import bibtexparser
import pytest
import rispy
from bibtexparser.bparser import BibTexParser
from citeproc import (
    Citation,
    CitationItem,
    CitationStylesBibliography,
    CitationStylesStyle,
    formatter,
)
from citeproc.source.json import CiteProcJSON

from app.entries import citations
from app.entries.registry import BY_TYPE, KINDS
from tests.helpers import assert_problem

SESSION_NAME = "46th regular session of the Human Rights Council"
EVENT = {
    "title": "Virtual seminar focuses on human rights cooperation under Belt & Road",
    "slug": "belt-road-seminar", "url": "https://www.cgtn.com/news/belt_road%20seminar?id=5#top",
    "session": 46, "starts_on": "2021-03-05", "ends_on": "2021-03-06", "location": "Beijing",
    "organizers": ["China Society for Human Rights Studies"], "event_type": "seminar",
}
STATEMENT = {
    "title": "China's UN envoy stresses \"people-centered\" approach in fight against virus",
    "slug": "envoy-people-centered", "url": "https://news.cn/2021-03/02/c_139779.htm",
    "session": 46, "speaker": "Chen Xu", "statement_type": "speech",
    "delivered_on": "2021-03-02", "event": "belt-road-seminar",
}
UNLINKED = {"title": "Spokesperson on the Council's 46th session", "slug": "spokesperson-46",
            "session": 46, "speaker": "Wang Wenbin", "statement_type": "spokesperson",
            "delivered_on": "2021-03-23", "url": "https://www.fmprc.gov.cn/wang"}
RESEARCH = {
    "title": "Poverty {alleviation} & 100% of rural_areas: $cost #1 ~ ^ \\ in Xinjiang",
    "slug": "poverty-research", "url": "https://www.cshrs.org.cn/paper_1.html",
    "session": 46, "genre": "research", "source": "CSHRS", "authors": ["Li Yunlong", "Zhang Wei"],
    "published_on": "2021-02-26", "summary": "A study\nover two lines.",
}
NEWS = {
    "title": "Xinhua Commentary: Western countries should stop imposing double standards",
    "slug": "xinhua-commentary", "url": "https://www.xinhuanet.com/english/2021-03/24/c_1.htm",
    "session": 46, "genre": "news", "source": "Xinhua", "authors": ["Xin Ping"],
    "published_on": "2021-03-24",
}
RECORDS = {"events": [EVENT], "statements": [STATEMENT, UNLINKED], "articles": [RESEARCH, NEWS]}
BY_SLUG = {record["slug"]: record for records in RECORDS.values() for record in records}
CSL = "application/vnd.citationstyles.csl+json"
RIS = "application/x-research-info-systems"
BIBTEX = "application/x-bibtex"


@pytest.fixture
def cited(client, auth) -> dict[str, int]:
    """The records above, created over the API (events first: a statement links one)."""
    ids = {}
    for plural, records in RECORDS.items():
        for record in records:
            response = client.post(f"/api/v1/{plural}", json=record, headers=auth)
            assert response.status_code == 201, response.text
            ids[record["slug"]] = response.json()["id"]
    return ids


def export_file(client, plural: str, fmt: str, media_type: str, extension: str) -> str:
    """An export's body, once its media type and file name are checked."""
    response = client.get(f"/api/v1/{plural}/export", params={"format": fmt})
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="{plural}.{extension}"'
    return response.text


def record_of(key: str) -> dict:
    """The created record a citation key (`type:slug`) names."""
    return BY_SLUG[key.split(":", 1)[1]]


def _date(record: dict) -> str:
    return record.get("published_on") or record.get("starts_on") or record["delivered_on"]


def _people(record: dict) -> list[str]:
    return record.get("authors") or record.get("organizers") or [record["speaker"]]


def render(items: list[dict]) -> list[str]:
    """citeproc-py's bibliography of these CSL-JSON items; any warning fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        source = CiteProcJSON(items)
        style = CitationStylesStyle("harvard-cite-them-right", validate=False)
        bibliography = CitationStylesBibliography(style, source, formatter.plain)
        for item in items:
            bibliography.register(Citation([CitationItem(item["id"])]))
        return [str(entry) for entry in bibliography.bibliography()]


def parse_bibtex(text: str) -> list[dict]:
    """bibtexparser 1.x entries, as written (month macros expanded)."""
    return bibtexparser.loads(text, parser=BibTexParser(common_strings=True)).entries


# The LaTeX escapes a BibTeX file may use for text, undone (bibtexparser 1.x's own
# convert_to_unicode knows only some of them).
LATEX_TEXT = re.compile(r"\\textbackslash\{\}|\\textasciitilde\{\}|\\textasciicircum\{\}"
                        r"|\\([{}&%$#_])")
LATEX_SYMBOLS = {r"\textbackslash{}": "\\", r"\textasciitilde{}": "~", r"\textasciicircum{}": "^"}


def untex(value: str) -> str:
    """A BibTeX field's text: the outer braces of a braced value dropped, escapes undone."""
    if value.startswith("{") and value.endswith("}"):
        value = value[1:-1]
    return LATEX_TEXT.sub(lambda m: m.group(1) or LATEX_SYMBOLS[m.group()], value)


def bibtex_names(value: str) -> list[str]:
    """The names of a BibTeX name list whose names are each braced whole."""
    return [untex(name) for name in value.split(" and ")]


@pytest.mark.parametrize("plural", ["articles", "events", "statements"])
def test_csl_json_export_renders_one_entry_per_record(client, cited, plural):
    items = json.loads(export_file(client, plural, "csl-json", CSL, "json"))
    assert sorted(item["id"].split(":", 1)[1] for item in items) == sorted(
        r["slug"] for r in RECORDS[plural])
    entries = render(items)
    assert len(entries) == len(items)
    for item in items:
        record = record_of(item["id"])
        assert item["title"] == record["title"]
        assert item["URL"] == record["url"]
        assert item["issued"] == {"date-parts": [[int(p) for p in _date(record).split("-")]]}
        assert [name["literal"] for name in item["author"]] == _people(record)
        assert item["collection-title"] == SESSION_NAME
        assert any(record["title"][:20] in entry for entry in entries)


def test_csl_types_and_fields_follow_each_kind(client, cited):
    items = {item["id"]: item for plural in RECORDS for item in client.get(
        f"/api/v1/{plural}/export?format=csl-json").json()}
    research, news = items["article:poverty-research"], items["article:xinhua-commentary"]
    assert (research["type"], research["container-title"]) == ("article-journal", "CSHRS")
    assert (news["type"], news["container-title"]) == ("article-newspaper", "Xinhua")
    speech = items["statement:envoy-people-centered"]
    assert speech["type"] == "speech"
    assert speech["event"] == EVENT["title"]  # the linked event's title
    assert items["statement:spokesperson-46"]["event"] == SESSION_NAME  # no event: the session
    event = items["event:belt-road-seminar"]
    assert event["type"] == "event"
    assert event["event-place"] == "Beijing"
    assert event["event-date"] == {"date-parts": [[2021, 3, 5], [2021, 3, 6]]}


@pytest.mark.parametrize("plural", ["articles", "events", "statements"])
def test_ris_export_parses_with_rispy(client, cited, plural):
    references = rispy.loads(export_file(client, plural, "ris", f"{RIS}; charset=utf-8", "ris"))
    assert len(references) == len(RECORDS[plural])
    for reference in references:
        record = record_of(reference["id"])
        assert reference["title"] == record["title"]
        assert reference["urls"] == [record["url"]]
        assert reference["year"] == _date(record)[:4]
        assert reference["date"] == _date(record).replace("-", "/") + "/"
        assert reference["authors"] == _people(record)
        assert reference["tertiary_title"] == SESSION_NAME
    types = {r["id"]: r["type_of_reference"] for r in references}
    expected = {"articles": {"article:poverty-research": "JOUR",
                             "article:xinhua-commentary": "NEWS"},
                "events": {"event:belt-road-seminar": "GEN"},
                "statements": {"statement:envoy-people-centered": "SLIDE",
                               "statement:spokesperson-46": "SLIDE"}}[plural]
    assert types == expected


@pytest.mark.parametrize("plural", ["articles", "events", "statements"])
def test_bibtex_export_parses_with_bibtexparser(client, cited, plural):
    text = export_file(client, plural, "bibtex", f"{BIBTEX}; charset=utf-8", "bib")
    entries = parse_bibtex(text)
    assert len(entries) == len(RECORDS[plural])
    for entry in entries:
        record = record_of(entry["ID"])
        assert entry["url"] == record["url"]
        assert entry["year"] == _date(record)[:4]
        assert entry["date"] == _date(record)
        assert bibtex_names(entry["author"]) == _people(record)
        assert untex(entry["title"]) == record["title"]
        assert untex(entry["note"]) == SESSION_NAME
    if plural == "articles":
        types = {entry["ID"]: (entry["ENTRYTYPE"], untex(entry["journal"])) for entry in entries}
        assert types == {"article:poverty-research": ("article", "CSHRS"),
                         "article:xinhua-commentary": ("article", "Xinhua")}


def test_bibtex_escapes_latex_specials_and_round_trips_the_title(client, cited):
    text = client.get("/api/v1/articles/export?format=bibtex&genre=research").text
    # Every special character escaped in the file itself ...
    assert (r"Poverty \{alleviation\} \& 100\% of rural\_areas: \$cost \#1 "
            r"\textasciitilde{} \textasciicircum{} \textbackslash{} in Xinjiang") in text
    assert "url = {https://www.cshrs.org.cn/paper_1.html}" in text  # URLs stay raw
    entry = parse_bibtex(text)[0]
    assert entry["month"] == "February"  # the month macro, expanded by the parser
    assert untex(entry["title"]) == RESEARCH["title"]  # read back as it was
    assert entry["abstract"] == "A study over two lines."


def test_ris_keeps_each_value_on_its_line(client, cited):
    text = client.get("/api/v1/articles/export?format=ris&genre=research").text
    assert "AB  - A study over two lines.\r\n" in text
    assert rispy.loads(text)[0]["abstract"] == "A study over two lines."


def test_citation_exports_take_the_list_filters(client, cited):
    items = client.get("/api/v1/statements/export",
                       params={"format": "csl-json", "event": "belt-road-seminar"}).json()
    assert [item["id"] for item in items] == ["statement:envoy-people-centered"]
    none = client.get("/api/v1/articles/export", params={"format": "csl-json", "q": "zzzz"})
    assert none.status_code == 200 and none.json() == []
    assert client.get("/api/v1/articles/export?format=ris&q=zzzz").text == ""
    assert_problem(client.get("/api/v1/articles/export?format=endnote"), 422, "format")
    assert_problem(client.get("/api/v1/articles/export?format=ris&sort=date"), 400, "sort")


def test_search_export_cites_every_kind_with_the_search_filters(client, cited):
    response = client.get("/api/v1/search/export", params={"format": "bibtex"})
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="search.bib"'
    entries = parse_bibtex(response.text)
    assert sorted(entry["ID"] for entry in entries) == sorted(
        f"{t}:{r['slug']}" for plural, t in (("articles", "article"), ("events", "event"),
                                            ("statements", "statement"))
        for r in RECORDS[plural])
    default = client.get("/api/v1/search/export", params={"type": "statement,event"})
    assert default.headers["content-type"] == CSL
    assert {item["type"] for item in default.json()} == {"speech", "event"}
    assert len(render(default.json())) == 3
    ris = rispy.loads(client.get("/api/v1/search/export",
                                 params={"format": "ris", "q": "virus"}).text)
    assert [(r["id"], r["secondary_title"]) for r in ris] == [
        ("statement:envoy-people-centered", EVENT["title"])]
    kind_filter = client.get("/api/v1/search/export?speaker=wang%20wenbin").json()
    assert [item["id"] for item in kind_filter] == ["statement:spokesperson-46"]
    online = client.get("/api/v1/search/export?event_format=online").json()
    assert online == []  # the event is `unknown` format
    assert_problem(client.get("/api/v1/search/export?limit=5"), 400, "limit")
    assert_problem(client.get("/api/v1/search/export?format=ndjson"), 422, "format")


def test_detail_negotiates_citations_by_accept(client, cited):
    path = f"/api/v1/statements/{cited['envoy-people-centered']}"
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    assert plain.headers["content-type"] == "application/json"
    assert plain.json()["slug"] == "envoy-people-centered"
    assert plain.headers["etag"] == f'"{cited["envoy-people-centered"]}-1"'
    csl = client.get(path, headers={"Accept": CSL})
    assert csl.headers["content-type"] == CSL
    item = csl.json()  # one item, as DOI content negotiation answers
    assert item["author"] == [{"literal": "Chen Xu"}] and item["event"] == EVENT["title"]
    assert len(render([item])) == 1
    ris = client.get(path, headers={"Accept": RIS})
    assert rispy.loads(ris.text)[0]["authors"] == ["Chen Xu"]
    bib = client.get(path, headers={"Accept": BIBTEX})
    entry = parse_bibtex(bib.text)[0]
    assert (entry["ID"], bibtex_names(entry["author"]), untex(entry["howpublished"])) == (
        "statement:envoy-people-centered", ["Chen Xu"], EVENT["title"])
    answers = [plain, csl, ris, bib]
    assert all(r.status_code == 200 and r.headers["vary"].startswith("Accept")
               for r in answers)
    assert len({r.headers["etag"] for r in answers}) == 4  # one tag per representation


@pytest.mark.parametrize(("accept", "expected"), [
    ("*/*", "application/json"),
    ("application/*", "application/json"),
    ("", "application/json"),
    ("text/html, */*;q=0.1", "application/json"),
    (f"{BIBTEX};q=0.5, {RIS}", RIS),
    (f"application/json;q=0.2, {BIBTEX};q=0.9", BIBTEX),
    (f"application/json;q=0, {CSL};q=0.5, */*;q=0.4", CSL),
    (f"{RIS};q=nonsense, {BIBTEX}", BIBTEX),  # a malformed range is ignored
    ("APPLICATION/X-BIBTEX", BIBTEX),
])
def test_detail_picks_the_representation_the_client_prefers(client, cited, accept, expected):
    response = client.get(f"/api/v1/events/{cited['belt-road-seminar']}",
                          headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == expected


@pytest.mark.parametrize("accept", ["text/html", "application/xml, text/*",
                                    "*/*;q=0", f"application/json;q=0, {CSL};q=0, {RIS};q=0,"
                                    f" {BIBTEX};q=0"])
def test_detail_is_406_when_nothing_acceptable_is_offered(client, cited, accept):
    response = client.get(f"/api/v1/events/{cited['belt-road-seminar']}",
                          headers={"Accept": accept})
    body = assert_problem(response, 406, CSL, BIBTEX)
    assert body["type"] == "/problems/not-acceptable"
    assert response.headers["vary"].startswith("Accept")


def test_citation_etags_revalidate_and_follow_the_linked_event(client, cited, auth):
    path = f"/api/v1/statements/{cited['envoy-people-centered']}"
    first = client.get(path, headers={"Accept": RIS})
    tag = first.headers["etag"]
    again = client.get(path, headers={"Accept": RIS, "If-None-Match": tag})
    assert again.status_code == 304 and again.headers["vary"].startswith("Accept")
    json_tag = client.get(path).headers["etag"]
    assert client.get(path, headers={"Accept": RIS, "If-None-Match": json_tag}).status_code == 200
    head = client.head(path, headers={"Accept": RIS})
    assert head.status_code == 200 and head.headers["etag"] == tag and head.content == b""
    # The event is renamed: the statement's version stays, its citation and tag change.
    renamed = client.patch(f"/api/v1/events/{cited['belt-road-seminar']}",
                           json={"title": "Belt and Road seminar"}, headers=auth)
    assert renamed.status_code == 200
    after = client.get(path, headers={"Accept": RIS, "If-None-Match": tag})
    assert after.status_code == 200
    assert rispy.loads(after.text)[0]["secondary_title"] == "Belt and Road seminar"
    assert client.get(path).headers["etag"] == json_tag


def test_detail_citation_of_a_missing_entry_is_404(client, cited):
    response = client.get("/api/v1/articles/999999", headers={"Accept": BIBTEX})
    assert_problem(response, 404, "article 999999")


def test_openapi_documents_the_citation_formats_with_examples(client):
    document = client.get("/openapi.json").json()
    export = document["paths"]["/api/v1/articles/export"]["get"]
    fmt = next(p for p in export["parameters"] if p["name"] == "format")
    assert {"csl-json", "ris", "bibtex"} <= set(fmt["schema"]["enum"])
    detail = document["paths"]["/api/v1/statements/{entry_id}"]["get"]["responses"]
    assert "406" in detail
    assert detail["200"]["content"][CSL]["example"]["type"] == "speech"
    for media_type in (CSL, RIS, BIBTEX):
        assert detail["200"]["content"][media_type]["example"]
        assert export["responses"]["200"]["content"][media_type]["example"]
    search = document["paths"]["/api/v1/search/export"]["get"]
    assert len(search["responses"]["200"]["content"][CSL]["example"]) == len(KINDS)
    assert rispy.loads(search["responses"]["200"]["content"][RIS]["example"])


def test_citation_exports_stream_without_reading_every_row():
    spec = BY_TYPE["article"]
    endless = ({"type": "article", "slug": f"a-{n}", "title": "T", "date": date(2021, 3, 1),
                "authors": ["Li Yunlong"]} for n in itertools.count())
    for fmt in citations.FORMATS.values():
        first = next(citations.export_chunks(fmt, endless, {"article": spec}))
        assert citations.FLUSH_BYTES <= len(first) < 2 * citations.FLUSH_BYTES


def test_citations_are_no_more_precise_than_the_placement(client, auth):
    placed = {
        "session": {"title": "Statement placed by its session only", "slug": "session-only",
                    "session": 46, "speaker": "Chen Xu"},
        "month": {"title": "Statement of a known month", "slug": "month-only", "session": 46,
                  "speaker": "Chen Xu", "date_precision": "month", "date": "2021-03-10"},
    }
    for record in placed.values():
        response = client.post("/api/v1/statements", json=record, headers=auth)
        assert response.status_code == 201, response.text
    items = {item["id"]: item for item in json.loads(
        export_file(client, "statements", "csl-json", CSL, "json"))}
    session_item, month_item = items["statement:session-only"], items["statement:month-only"]
    assert session_item["issued"] == {"date-parts": [[2021, 2, 22], [2021, 3, 23]]}
    assert month_item["issued"] == {"date-parts": [[2021, 3]]}
    assert len(render([session_item, month_item])) == 2  # citeproc-py reads both

    ris = {record["id"]: record for record in rispy.loads(
        export_file(client, "statements", "ris", f"{RIS}; charset=utf-8", "ris"))}
    assert ris["statement:session-only"]["year"] == "2021"
    assert "date" not in ris["statement:session-only"]  # no day to give
    assert ris["statement:month-only"]["date"] == "2021/03//"

    bib = {entry["ID"]: entry for entry in parse_bibtex(
        export_file(client, "statements", "bibtex", f"{BIBTEX}; charset=utf-8", "bib"))}
    assert untex(bib["statement:session-only"]["date"]) == "2021-02-22/2021-03-23"
    assert "month" not in bib["statement:session-only"]
    assert untex(bib["statement:month-only"]["date"]) == "2021-03"
    assert bib["statement:month-only"]["month"] == "March"
