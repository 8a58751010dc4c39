"""The documentation pages and the index at `/`, all served without the internet.

Swagger UI (`/docs`) and ReDoc (`/redoc`) load their script, style sheet and favicon
from `/docs/static/`: the copies of swagger-ui-dist and redoc that the fastapi-offline
package ships, so both render on a machine with no way out (no CDN, no Google Fonts, no
favicon from elsewhere). ReDoc's sidebar still asks for its maker's logo from a CDN, and
a later release of either may ask for more: each page's Content-Security-Policy allows
no host but this one, so a browser sends no such request at all.

`GET /` (and `GET /api/v1`, the API root) answers links to the documentation and to
the collections: JSON for scripts, a small HTML page for a browser that prefers it.
"""

import base64
import hashlib
import html
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from pydantic import BaseModel, Field
from starlette.responses import FileResponse, HTMLResponse, Response

from app.core.errors import NotAcceptable, NotFound, problem_responses
from app.core.negotiation import preferred
from app.core.responses import FastJSONResponse, public_link
from app.core.routing import API_PREFIX
from app.entries.registry import KINDS

DOCS_URL, REDOC_URL, STATIC_URL = "/docs", "/redoc", "/docs/static"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
# The package's assets, installed as plain files. Served by name, as a route (not a
# mount) so that metrics and logs label them by the route; kept by caches for a day, as
# they change only with the package's version.
ASSETS = {name: Path(str(files("fastapi_offline") / "static" / name))
          for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js",
                       "favicon.png")}
ASSET_CACHE = {"Cache-Control": "public, max-age=86400"}
# Every fetch directive names this origin alone (plus data: and blob: URLs, which never
# leave the page): a script, style, image, font, worker or request to another host is
# not sent. Inline styles are allowed (both UIs set styles from script); the inline
# <script> of a page is allowed by its hash, added per page.
_CSP = ("default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:; "
        "connect-src 'self'; base-uri 'self'; form-action 'self'; object-src 'none'")
# The index: links only, and the favicon.
INDEX_CSP = "default-src 'none'; img-src 'self'; base-uri 'none'; form-action 'none'"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}  # no badge from validator.swagger.io

JSON, HTML = "application/json", "text/html"
INDEX_MEDIA_TYPES = (JSON, HTML)
COLLECTIONS = (*(spec.plural for spec in KINDS), "search", "timeline", "topics", "countries",
               "sessions", "changes")

router = APIRouter()


def content_security_policy(page: str) -> str:
    """The policy of a page: this origin only, and the page's own inline scripts."""
    sources = ["'self'"] + [
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(page)]
    return _CSP.format(scripts=" ".join(sources))


def _page(response: HTMLResponse) -> HTMLResponse:
    """The page with its Content-Security-Policy."""
    page = bytes(response.body).decode()
    return HTMLResponse(page, headers={"Content-Security-Policy":
                                       content_security_policy(page)})


def _root(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def _page_urls(request: Request, page: str) -> dict[str, Any]:
    """What both pages are told: the document, their title, and the assets' folder."""
    root, app = _root(request), request.app
    return {"openapi_url": root + (app.openapi_url or "/openapi.json"),
            "title": f"{app.title} - {page}", "assets": root + STATIC_URL}


@router.get(DOCS_URL, include_in_schema=False)
async def swagger_ui(request: Request) -> HTMLResponse:
    urls = _page_urls(request, "Swagger UI")
    assets = urls.pop("assets")
    return _page(get_swagger_ui_html(
        **urls, swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css", swagger_favicon_url=f"{assets}/favicon.png",
        oauth2_redirect_url=_root(request) + OAUTH2_REDIRECT_URL,
        swagger_ui_parameters=SWAGGER_UI_PARAMETERS))


@router.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
async def swagger_ui_redirect() -> HTMLResponse:
    return _page(get_swagger_ui_oauth2_redirect_html())


@router.get(REDOC_URL, include_in_schema=False)
async def redoc(request: Request) -> HTMLResponse:
    urls = _page_urls(request, "ReDoc")
    assets = urls.pop("assets")
    return _page(get_redoc_html(**urls, redoc_js_url=f"{assets}/redoc.standalone.js",
                                redoc_favicon_url=f"{assets}/favicon.png",
                                with_google_fonts=False))


@router.get(STATIC_URL + "/{name}", include_in_schema=False)
async def docs_asset(name: str) -> FileResponse:
    path = ASSETS.get(name)
    if path is None:
        raise NotFound(f"no documentation asset '{name}'")
    return FileResponse(path, headers=ASSET_CACHE)


# --- the index ------------------------------------------------------------------------


class IndexLinks(BaseModel):
    docs: str = Field(description="Swagger UI", examples=["/docs"])
    redoc: str = Field(description="ReDoc", examples=["/redoc"])
    openapi: str = Field(description="The OpenAPI document", examples=["/openapi.json"])
    api: str = Field(description="The API root", examples=[API_PREFIX])


class ApiIndex(BaseModel):
    """Where to start: the documentation and the API's collections."""

    name: str = Field(examples=["hrc-digest"])
    version: str = Field(examples=["0.1.0"])
    summary: str | None = None
    links: IndexLinks
    collections: dict[str, str] = Field(
        description="Each collection's URL, by name",
        examples=[{"articles": f"{API_PREFIX}/articles", "search": f"{API_PREFIX}/search"}])


def index_document(request: Request) -> dict[str, Any]:
    """The index as JSON: links under the public URL when one is set, else root-relative."""
    root, app = request.scope.get("root_path", ""), request.app

    def link(path: str) -> str:
        return public_link(request, root + path)

    return {
        "name": app.title, "version": app.version, "summary": app.summary,
        "links": {"docs": link(DOCS_URL), "redoc": link(REDOC_URL),
                  "openapi": link(app.openapi_url or "/openapi.json"), "api": link(API_PREFIX)},
        "collections": {name: link(f"{API_PREFIX}/{name}") for name in COLLECTIONS},
    }


_LABELS = {"docs": "Swagger UI: try every operation", "redoc": "ReDoc: the reference",
           "openapi": "The OpenAPI document (JSON)", "api": "The API root (JSON)"}


def index_page(document: dict[str, Any], root: str) -> str:
    """The index as a small HTML page of links, no script and no style."""
    def item(href: str, label: str) -> str:
        return f'<li><a href="{html.escape(href)}">{html.escape(label)}</a></li>'

    docs = "".join(item(href, _LABELS[name]) for name, href in document["links"].items())
    collections = "".join(item(href, name) for name, href in document["collections"].items())
    title = html.escape(f"{document['name']} {document['version']}")
    summary = html.escape(document["summary"] or "")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="{html.escape(root)}{STATIC_URL}/favicon.png">'
            f"<title>{title}</title></head><body><h1>{title}</h1><p>{summary}</p>"
            f"<h2>Documentation</h2><ul>{docs}</ul>"
            f"<h2>Collections</h2><ul>{collections}</ul></body></html>")


INDEX_DESCRIPTION = ("Links to the documentation (`/docs`, `/redoc`, `/openapi.json`), the "
                     "API root and each collection. JSON by default; an HTML page of the "
                     "same links when `Accept` prefers `text/html` (a browser). An `Accept` "
                     "that takes neither is a 406. Answers carry `Vary: Accept`.")
INDEX_RESPONSES: dict[int | str, dict[str, Any]] = problem_responses(406) | {
    200: {"description": "The links", "content": {HTML: {"schema": {"type": "string"}}}}}


async def index(request: Request) -> Response:
    media_type = preferred(request.headers.get("accept"), INDEX_MEDIA_TYPES)
    vary = {"Vary": "Accept"}
    if media_type is None:
        raise NotAcceptable("the index is available as application/json, text/html",
                            headers=vary)
    document = index_document(request)
    if media_type == HTML:
        return HTMLResponse(index_page(document, _root(request)),
                            headers=vary | {"Content-Security-Policy": INDEX_CSP})
    return FastJSONResponse(document, headers=vary)


router.add_api_route("/", index, methods=["GET"], response_model=ApiIndex, tags=["index"],
                     summary="Links to the documentation and the API",
                     description=INDEX_DESCRIPTION, responses=INDEX_RESPONSES,
                     operation_id="get_index")
router.add_api_route(API_PREFIX, index, methods=["GET"], response_model=ApiIndex,
                     tags=["index"], summary="The API root: the same links",
                     description=INDEX_DESCRIPTION, responses=INDEX_RESPONSES,
                     operation_id="get_api_root")

