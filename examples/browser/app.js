// A page on its own origin that reads the hrc-digest API through CORS: plain fetch, no
// build step, no library. Search and filter entries with facet counts, page with the
// cursor, open an entry and its related entries. The API's address comes from `?api=`
// (default http://127.0.0.1:8000/api/v1); the search itself lives in the page's #hash,
// so a reload or a shared link shows the same results.
"use strict";

const DEFAULT_API = "http://127.0.0.1:8000/api/v1";
const KINDS = { article: "articles", event: "events", statement: "statements" };
const FACETS = ["type", "topic", "country", "session"];
const PAGE_SIZE = 10;
const FACET_LIMIT = 12;
const RELATED_LIMIT = 5;

const $ = (id) => document.getElementById(id);
const state = {
  q: "", date_from: "", date_to: "", type: [], topic: [], country: [], session: [],
  cursors: [null], // the cursor of each page seen so far; the last is the page shown
  next: null,
};
// Names for facet values: filled from /topics, /countries and /sessions.
const labels = {
  type: { article: "Article", event: "Event", statement: "Statement" },
  topic: {}, country: {}, session: {},
};
let api = DEFAULT_API;
let searches = 0; // a newer search makes the answer of an older one moot
let opened = 0; // the same for the entry shown

class ApiError extends Error {
  constructor(message, requestId) {
    super(message);
    this.requestId = requestId;
  }
}

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function endpoint(path, params) {
  const url = new URL(api + path);
  for (const [name, value] of Object.entries(params || {})) url.searchParams.set(name, value);
  return url;
}

// GET JSON; a problem+json answer becomes an ApiError saying what the API said.
async function getJSON(url) {
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" } });
  } catch {
    throw new ApiError(`cannot reach the API at ${api} (is it running, and does it allow ` +
                       "this page's origin?)");
  }
  // Readable from another origin because the API lists it in Access-Control-Expose-Headers.
  const requestId = response.headers.get("X-Request-ID");
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const said = body && (body.detail || body.title);
    throw new ApiError(`${response.status} ${said || response.statusText}`, requestId);
  }
  return body;
}

// Every member of a reference collection (topics, countries, sessions): its pages, in
// the list envelope every collection answers, followed by `next_cursor`.
async function allItems(path, params) {
  const items = [];
  let cursor = null;
  do {
    const page = await getJSON(endpoint(path, { ...params, limit: "1000",
                                                ...(cursor ? { cursor } : {}) }));
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

function ordinal(n) {
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? "th"
    : { 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th";
  return `${n}${suffix}`;
}

async function loadLabels() {
  const [topics, countries, sessions] = await Promise.all([
    allItems("/topics"),
    allItems("/countries", { used: "true" }),
    allItems("/sessions"),
  ]);
  for (const topic of topics) labels.topic[topic.slug] = topic.name;
  for (const country of countries) labels.country[country.code] = country.name;
  for (const session of sessions) {
    labels.session[session.number] = `${ordinal(session.number)} session`;
  }
}

const labelFor = (facet, value) => labels[facet][value] || String(value);

// Highlights are HTML-escaped text with <mark>: parsed, never injected, so only the
// text and the marks reach the page.
function appendMarked(node, html) {
  const parsed = new DOMParser().parseFromString(html, "text/html");
  for (const child of parsed.body.childNodes) {
    node.append(child.nodeName === "MARK" ? el("mark", { textContent: child.textContent })
      : document.createTextNode(child.textContent));
  }
}

function dateLabel(entry) {
  switch (entry.date_precision) {
    case "day": return entry.date;
    case "month": return entry.date ? entry.date.slice(0, 7) : "";
    case "session":
      return entry.date_from ? `session: ${entry.date_from} – ${entry.date_to}` : "";
    case "unknown": return "date unknown";
    default: return entry.date || "";
  }
}

// --- status -----------------------------------------------------------------------------

function showStatus(text) {
  $("status").className = "";
  $("status").textContent = text;
}

function showError(error) {
  $("status").className = "error";
  $("status").textContent = `Error: ${error.message}` +
    (error.requestId ? ` (request ${error.requestId})` : "");
  document.body.dataset.state = "error";
}

// --- the search -------------------------------------------------------------------------

function filterParams() {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  for (const facet of FACETS) for (const value of state[facet]) params.append(facet, value);
  if (state.date_from) params.set("date_from", state.date_from);
  if (state.date_to) params.set("date_to", state.date_to);
  return params;
}

async function search() {
  const mine = ++searches;
  const cursor = state.cursors[state.cursors.length - 1];
  const url = endpoint("/search");
  url.search = filterParams().toString();
  url.searchParams.set("limit", PAGE_SIZE);
  if (cursor) {
    url.searchParams.set("cursor", cursor); // the facets are those of the first page
  } else {
    url.searchParams.set("facets", FACETS.join(","));
    url.searchParams.set("facet_limit", FACET_LIMIT);
  }
  document.body.dataset.state = "loading";
  showStatus("Searching…");
  saveState();
  try {
    const page = await getJSON(url);
    if (mine !== searches) return;
    renderResults(page);
    if (page.facets) renderFacets(page.facets);
    showStatus("");
    document.body.dataset.state = "ready";
    document.body.dataset.searched = mine; // which search the page shows (for tests)
  } catch (error) {
    if (mine === searches) showError(error);
  }
}

function renderResults(page) {
  const list = $("results");
  list.replaceChildren(...page.items.map(resultItem));
  const total = page.total;
  $("summary").dataset.total = total ?? "";
  $("summary").textContent = total == null ? ""
    : `${total}${page.total_exact === false ? "+" : ""} result${total === 1 ? "" : "s"}`;
  state.next = page.next_cursor;
  $("next").disabled = !page.next_cursor;
  $("prev").disabled = state.cursors.length <= 1;
  $("page").textContent = `page ${state.cursors.length}`;
}

function resultItem(item) {
  const title = el("button", { type: "button", className: "title" });
  appendMarked(title, item.highlights ? item.highlights.title : escapeText(item.title));
  title.addEventListener("click", () => openEntry(item));
  const li = el("li", { className: "result" },
    el("span", { className: `type ${item.type}`, textContent: item.type }), title);
  li.dataset.id = item.id;
  li.dataset.type = item.type;
  const when = dateLabel(item);
  if (when) li.append(" ", el("time", { dateTime: item.date || "", textContent: when }));
  const snippet = item.highlights ? item.highlights.summary : escapeText(item.summary || "");
  if (snippet) {
    const p = el("p", { className: "snippet" });
    appendMarked(p, snippet);
    li.append(p);
  }
  return li;
}

function escapeText(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

// Each facet counts over the other filters (it ignores its own), so every choice of a
// facet stays listed with the number of entries it would give.
function renderFacets(facets) {
  for (const facet of FACETS) {
    const entries = facets[facet] || [];
    const listed = new Set(entries.map((entry) => String(entry.value)));
    const items = entries.map((entry) => facetItem(facet, entry.value, entry.count));
    // A chosen value beyond facet_limit stays visible, so it can be unchosen.
    for (const value of state[facet]) {
      if (!listed.has(value)) items.push(facetItem(facet, value, null));
    }
    $(`facet-${facet}`).replaceChildren(...items);
  }
}

function facetItem(facet, value, count) {
  const key = String(value);
  const box = el("input", { type: "checkbox", value: key,
                            checked: state[facet].includes(key) });
  box.addEventListener("change", () => {
    state[facet] = box.checked ? [...state[facet], key] : state[facet].filter((v) => v !== key);
    restart();
  });
  const li = el("li", {}, el("label", {}, box,
    el("span", { className: "name", textContent: labelFor(facet, value) }),
    el("span", { className: "count", textContent: count ?? "" })));
  li.dataset.value = key;
  li.dataset.count = count ?? "";
  return li;
}

function restart() {
  state.cursors = [null];
  search();
}

// --- one entry and its related entries ----------------------------------------------------

function entryUrl(item) {
  // `href` when the API gives one (root-relative or absolute), else the kind's route.
  return item.href ? new URL(item.href, api + "/")
    : endpoint(`/${KINDS[item.type]}/${item.id}`);
}

async function openEntry(item) {
  const mine = ++opened;
  const url = entryUrl(item);
  const relatedUrl = new URL(url);
  relatedUrl.pathname += "/related";
  relatedUrl.searchParams.set("limit", RELATED_LIMIT);
  document.body.dataset.detail = "loading";
  try {
    const [entry, related] = await Promise.all([getJSON(url), getJSON(relatedUrl)]);
    if (mine !== opened) return;
    renderEntry({ ...item, ...entry }, related.items);
    document.body.dataset.detail = "ready";
    document.body.dataset.opened = mine;
  } catch (error) {
    if (mine === opened) showError(error);
  }
}

function renderEntry(entry, related) {
  $("detail").hidden = false;
  $("detail").dataset.id = entry.id;
  $("detail").dataset.type = entry.type;
  $("detail-title").textContent = entry.title;
  const meta = [entry.type, dateLabel(entry)];
  if (entry.session) meta.push(labelFor("session", entry.session));
  meta.push(...(entry.topics || []).map((slug) => labelFor("topic", slug)));
  meta.push(...(entry.countries || []).map((code) => labelFor("country", code)));
  $("detail-meta").textContent = meta.filter(Boolean).join(" · ");
  $("detail-summary").textContent = entry.summary || "";
  $("detail-body").textContent = entry.body || "";
  const link = $("detail-url");
  link.hidden = !entry.url;
  if (entry.url) link.href = entry.url;
  $("related").replaceChildren(...related.map((other) => {
    const title = el("button", { type: "button", className: "title", textContent: other.title });
    title.addEventListener("click", () => openEntry(other));
    const li = el("li", {}, el("span", { className: `type ${other.type}`, textContent: other.type }),
      title, " ", el("time", { textContent: other.date || "" }));
    li.dataset.id = other.id;
    li.dataset.type = other.type;
    return li;
  }));
}

// --- the page's address holds the search ----------------------------------------------------

function saveState() {
  history.replaceState(null, "", `${location.pathname}${location.search}#${filterParams()}`);
}

function loadState() {
  const params = new URLSearchParams(location.hash.slice(1));
  state.q = params.get("q") || "";
  state.date_from = params.get("date_from") || "";
  state.date_to = params.get("date_to") || "";
  for (const facet of FACETS) state[facet] = params.getAll(facet);
  $("q").value = state.q;
  $("date-from").value = state.date_from;
  $("date-to").value = state.date_to;
}

function start() {
  api = (new URLSearchParams(location.search).get("api") || DEFAULT_API).replace(/\/+$/, "");
  $("api").value = api;
  loadState();
  $("api-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams(location.search);
    params.set("api", $("api").value.trim());
    location.search = params.toString();
  });
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.q = $("q").value.trim();
    state.date_from = $("date-from").value;
    state.date_to = $("date-to").value;
    restart();
  });
  for (const id of ["date-from", "date-to"]) {
    $(id).addEventListener("change", () => $("search-form").requestSubmit());
  }
  $("clear").addEventListener("click", () => {
    Object.assign(state, { q: "", date_from: "", date_to: "" });
    for (const facet of FACETS) state[facet] = [];
    $("q").value = $("date-from").value = $("date-to").value = "";
    restart();
  });
  $("next").addEventListener("click", () => {
    state.cursors.push(state.next);
    search();
  });
  $("prev").addEventListener("click", () => {
    state.cursors.pop();
    search();
  });
  // Names are a nicety: without them the facets show slugs and codes.
  const named = loadLabels().catch(showError);
  named.then(() => search());
}

start();
