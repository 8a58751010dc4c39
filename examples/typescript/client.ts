/**
 * A typed client of the hrc-digest API: every path, parameter and answer below is
 * checked against `api.d.ts`, the types openapi-typescript generates from /openapi.json
 * (see docs/api.md, "A typed client"). Calls go through openapi-fetch.
 *
 * The lines marked @ts-expect-error must not compile: they show that the generated
 * types are precise (an unknown parameter, a field another kind has, a kind that does
 * not exist), and `tsc` fails if the types ever become loose enough to accept them.
 */
import createClient from "openapi-fetch";
import type { components, paths } from "./api";

type Schemas = components["schemas"];
export type Article = Schemas["ArticleItem"];
export type ArticlePage = Schemas["ArticlePage"];
export type Problem = Schemas["Problem"];
export type Topic = Schemas["TopicPublic"];
export type TopicPage = Schemas["TopicPage"];
export type SearchItem = Schemas["SearchPage"]["items"][number];
export type Kind = paths["/api/v1/{kind}/{entry_id}/related"]["get"]["parameters"]["path"]["kind"];
export type ArticleFilters = NonNullable<
  paths["/api/v1/articles"]["get"]["parameters"]["query"]
>;

export function connect(baseUrl: string, apiKey?: string) {
  return createClient<paths>({
    baseUrl,
    headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {},
  });
}

export type Api = ReturnType<typeof connect>;

class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(`${problem.status} ${problem.title}: ${problem.detail}`);
  }
}

/** One page of articles, filtered: repeated parameters (`topic=a&topic=b`) match any. */
export async function listArticles(api: Api, filters: ArticleFilters): Promise<ArticlePage> {
  const { data, error } = await api.GET("/api/v1/articles", { params: { query: filters } });
  if (error) throw new ApiError(error);
  return data;
}

/** Every matching article, page by page, following `next_cursor`. */
export async function* allArticles(api: Api, filters: ArticleFilters): AsyncGenerator<Article> {
  let cursor: string | null = null;
  do {
    const page: ArticlePage = await listArticles(api, { ...filters, cursor, limit: 100 });
    yield* page.items;
    cursor = page.next_cursor;
  } while (cursor !== null);
}

/** Titles of the articles on Xinjiang from China, session 46, with the count of all. */
export async function xinjiangTitles(api: Api): Promise<{ total: number | null; titles: string[] }> {
  const page = await listArticles(api, {
    topic: ["xinjiang"], session: [46], genre: ["-news"],
    sort: "-date", fields: "title,published_on",
  });
  // `fields` may leave any field but id and type out: the type says so.
  return { total: page.total, titles: page.items.map((item) => item.title ?? `#${item.id}`) };
}

/** How many entries per topic and per kind match a search (exact facet counts), each
 * topic under its name: topic, country and session counts carry their `label`. */
export async function facetCounts(api: Api, q: string): Promise<Map<string, number>> {
  const { data, error } = await api.GET("/api/v1/search", {
    params: { query: { q, facets: "topic,type", limit: 1 } },
  });
  if (error) throw new ApiError(error);
  const counts = new Map<string, number>();
  for (const { label, count } of data.facets?.topic ?? []) counts.set(`topic:${label}`, count);
  for (const { value, count } of data.facets?.type ?? []) counts.set(`type:${value}`, count);
  // @ts-expect-error: a kind's counts carry no name
  data.facets?.type?.[0]?.label;
  // @ts-expect-error: /search has no facet `author`
  data.facets?.author;
  return counts;
}

/** What a search item is, told by its `type` (a discriminated union). */
export function describe(item: SearchItem): string {
  const { type, id } = item; // every item has them, whatever its kind
  switch (item.type) {
    case "article":
      return `article ${item.id}: ${item.title ?? ""}`;
    case "event":
      return `event ${item.id} on ${item.date ?? "an unknown day"}`;
    case "statement":
      return `statement ${item.id} (${item.date_precision ?? "?"})`;
    default: // a kind the server added since this client was written
      return `${type} ${id}`;
  }
}

/** One page of topics, each with its entries per kind and its own URL (`href`). */
export async function topicPage(api: Api, cursor: string | null): Promise<TopicPage> {
  const { data, error } = await api.GET("/api/v1/topics", {
    params: { query: { limit: 1000, cursor } },
  });
  if (error) throw new ApiError(error);
  return data;
}

/** Every topic by slug: the pages of `/topics`, following `next_cursor`. */
export async function allTopics(api: Api): Promise<Map<string, Topic>> {
  const topics = new Map<string, Topic>();
  let cursor: string | null = null;
  do {
    const page: TopicPage = await topicPage(api, cursor);
    for (const topic of page.items) topics.set(topic.slug, topic);
    cursor = page.next_cursor;
  } while (cursor !== null);
  return topics;
}

/** How many statements a country's entries hold, by its own URL (`href`). */
export async function statementsAbout(api: Api, code: string): Promise<number> {
  const { data, error } = await api.GET("/api/v1/countries/{code}", {
    params: { path: { code } },
  });
  if (error) throw new ApiError(error);
  // @ts-expect-error: counts are per kind, and "speech" is no kind
  void data.counts.speech;
  return data.counts.statement;
}

/** The entries related to one, best first. */
export async function related(api: Api, kind: Kind, id: number): Promise<string[]> {
  const { data, error } = await api.GET("/api/v1/{kind}/{entry_id}/related", {
    params: { path: { kind, entry_id: id }, query: { limit: 5 } },
  });
  if (error) throw new ApiError(error);
  return data.items.map((item) => `${item.type} ${item.slug} (score ${item.score})`);
}

/**
 * Retitle an article without losing a concurrent change: read it, send the change with
 * the ETag read (`If-Match`); a 412 means someone changed it in between, so read again.
 */
export async function retitle(api: Api, id: number, title: string): Promise<Schemas["ArticlePublic"]> {
  for (;;) {
    const read = await api.GET("/api/v1/articles/{entry_id}", {
      params: { path: { entry_id: id } },
    });
    if (read.error) throw new ApiError(read.error);
    const etag = read.response.headers.get("ETag") ?? "*";
    const { data, error, response } = await api.PATCH("/api/v1/articles/{entry_id}", {
      params: { path: { entry_id: id }, header: { "if-match": etag } },
      body: { title },
    });
    if (data) return data;
    if (response.status !== 412) throw new ApiError(error);
  }
}

/** Create a statement; a slug already taken is a 409 problem naming it. */
export async function createStatement(api: Api, body: Schemas["StatementCreate"]): Promise<string> {
  const { data, error, response } = await api.POST("/api/v1/statements", { body });
  if (error) throw new ApiError(error);
  return `${data.type} ${data.id} at ${response.headers.get("Location")}, speaker ${data.speaker ?? "?"}`;
}

// --- what the types refuse -------------------------------------------------------------

export async function refused(api: Api, article: Article, statement: Schemas["StatementPublic"]) {
  // @ts-expect-error: the list of articles has no parameter `colour`
  await api.GET("/api/v1/articles", { params: { query: { colour: "red" } } });
  // @ts-expect-error: `genre` takes the genres (or one excluded with `-`), not any text
  await listArticles(api, { genre: ["poetry"] });
  // @ts-expect-error: an article has no speaker; statements do
  void article.speaker;
  void statement.speaker;
  // @ts-expect-error: "people" is no kind (the document lists them)
  await related(api, "people", 1);
  // @ts-expect-error: a change needs If-Match as text (an ETag), not a version number
  await api.PATCH("/api/v1/articles/{entry_id}", { params: { path: { entry_id: 1 }, header: { "if-match": 3 } }, body: {} });
}
