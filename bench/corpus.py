"""Deterministic digest-like records: a small vocabulary, so common words match many rows."""

import datetime as dt
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# HRC regular sessions 40-52 with their (approximate, public) dates.
SESSIONS: dict[int, tuple[str, str]] = {
    40: ("2019-02-25", "2019-03-22"), 41: ("2019-06-24", "2019-07-12"),
    42: ("2019-09-09", "2019-09-27"), 43: ("2020-02-24", "2020-06-22"),
    44: ("2020-06-30", "2020-07-17"), 45: ("2020-09-14", "2020-10-07"),
    46: ("2021-02-22", "2021-03-24"), 47: ("2021-06-21", "2021-07-14"),
    48: ("2021-09-13", "2021-10-11"), 49: ("2022-02-28", "2022-04-01"),
    50: ("2022-06-13", "2022-07-08"), 51: ("2022-09-12", "2022-10-07"),
    52: ("2023-02-27", "2023-04-04"),
}

OBJECTS: dict[str, list[str]] = {
    "xinjiang": ["lies about Xinjiang", "Xinjiang employment policies",
                 "counter-terrorism in Xinjiang", "development in Xinjiang"],
    "tibet": ["development in Tibet", "Tibetan culture", "poverty alleviation in Tibet"],
    "hong-kong": ["the National Security Law in Hong Kong", "stability in Hong Kong"],
    "poverty-alleviation": ["poverty alleviation", "poverty reduction achievements",
                            "anti-poverty cooperation"],
    "covid-19": ["COVID-19 vaccine equity", "the pandemic response", "vaccine cooperation"],
    "unilateral-coercive-measures": ["unilateral sanctions", "unilateral coercive measures"],
    "belt-and-road": ["Belt and Road cooperation", "human rights cooperation under Belt and Road"],
    "upr": ["the Universal Periodic Review", "UPR recommendations"],
    "labour-rights": ["labour rights", "employment and labor rights", "decent work"],
    "development": ["the right to development", "people-centred development"],
    "non-interference": ["non-interference in internal affairs", "sovereign equality"],
    "double-standards": ["double standards on human rights", "politicization of human rights"],
    "religion-and-culture": ["freedom of religion", "cultural heritage protection"],
    "multilateralism": ["multilateralism", "dialogue and cooperation", "true multilateralism"],
}
ACTORS = ["China", "Chinese envoy", "Pakistan", "Cuba", "Venezuela", "Russia", "Belarus",
          "Iran", "Egypt", "UN experts", "Developing countries", "Over 60 countries", "CSHRS",
          "Xinhua commentary", "Spokesperson", "Scholars", "Chinese diplomat", "NGOs",
          "Youth representative", "Experts"]
VERBS = ["urges", "calls for", "stresses", "rejects", "highlights", "welcomes", "refutes",
         "criticizes", "supports", "opposes", "praises", "discusses"]
SOURCES = ["Xinhua", "CGTN", "China Daily", "Global Times", "People's Daily", "CSHRS",
           "China.org.cn", "ECNS"]
AUTHORS = ["Li Yunlong", "Chang Jian", "Zhang Wei", "Liu Hainian", "Wang Lin", "Chen Jia",
           "Huang Mengfu", "Sun Shiyan", "Tang Yingxia", "Lu Guangjin"]
GENRES = ["commentary", "commentary", "news", "news", "news", "report", "research", "other"]
EVENT_TYPES = ["seminar", "seminar", "side_event", "side_event", "forum", "briefing",
               "session_meeting", "other"]
FORMATS = ["online", "online", "in_person", "hybrid", "unknown"]
LOCATIONS = ["Geneva", "Geneva", "Beijing", "Lhasa", "Urumqi", "New York", "Vienna"]
ORGANIZERS = ["China Society for Human Rights Studies",
              "Permanent Mission of China to the UN Office at Geneva",
              "China Foundation for Human Rights Development", "Xinjiang University",
              "Tibet University", "Nankai University Human Rights Center",
              "China Federation of Internet Societies"]
SPEAKERS = [("Chen Xu", "Permanent Representative to the UN Office at Geneva", "CN"),
            ("Wang Yi", "State Councilor and Foreign Minister", "CN"),
            ("Zhao Lijian", "Foreign Ministry spokesperson", "CN"),
            ("Hua Chunying", "Foreign Ministry spokesperson", "CN"),
            ("Jiang Duan", "Minister of the Chinese Mission in Geneva", "CN"),
            ("Michelle Bachelet", "High Commissioner for Human Rights", "UN"),
            ("Khalil Hashmi", "Permanent Representative of Pakistan", "PK"),
            ("Alena Douhan", "Special Rapporteur on unilateral coercive measures", "UN")]
STATEMENT_TYPES = ["speech", "speech", "remarks", "spokesperson", "joint_statement",
                   "press_release", "other"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
PLACES = ["Geneva", "Beijing", "a video link", "the Palais des Nations"]
COUNTRY_WEIGHTED = ["CN"] * 8 + ["US"] * 3 + ["GB", "PK", "CU", "VE", "RU", "BY", "IR", "EG",
                                              "CA", "AU", "DE", "FR", "JP", "IN", "ZA", "BR"]
# Each rare word lands in about 1 entry in 2,000, so `q=<rare>` matches a handful of rows.
RARE_WORDS = ["sericulture", "karakoram", "photovoltaic", "yak", "qinghai"]
SENTENCES = [
    "{actor} {verb} {obj} at the {ord} session of the UN Human Rights Council in {place}.",
    "On {weekday}, {speaker} said {obj} is an important part of the human rights cause.",
    "The joint statement, delivered on behalf of {n} countries, {verb} {obj2}.",
    "Participants exchanged views on {obj2} and the protection of human rights.",
    "{actor2} expressed concern over {obj2} and called for dialogue and cooperation.",
    "The seminar on {obj} was held via video link on the sidelines of the {ord} session.",
    "Speakers said that {obj2} should not be used as a tool to interfere in internal affairs.",
    "{speaker} stressed that every country has the right to choose its own path of "
    "human rights development.",
    "The report reviews {obj} and the achievements made since the {ord} session.",
]


def ordinal(n: int) -> str:
    """46 -> '46th'."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def slugify(text: str) -> str:
    """A URL slug: lower case words joined by dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:100]


@dataclass
class Corpus:
    """A seeded generator of article, event and statement records (API shape plus `id`)."""

    seed: int
    countries: list[str]
    first_id: int = 1

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.topic_slugs = list(OBJECTS)
        self.windows = {n: (dt.date.fromisoformat(a), dt.date.fromisoformat(b))
                        for n, (a, b) in SESSIONS.items()}
        self.event_ids: list[int] = []

    def records(self, n_articles: int, n_events: int, n_statements: int
                ) -> Iterator[dict[str, Any]]:
        """Every record in id order, kinds interleaved deterministically."""
        kinds = ["article"] * n_articles + ["event"] * n_events + ["statement"] * n_statements
        self.rng.shuffle(kinds)
        for offset, kind in enumerate(kinds):
            yield self.record(kind, self.first_id + offset)

    def record(self, kind: str, entry_id: int) -> dict[str, Any]:
        """One record of a kind with the given id."""
        rng = self.rng
        topics = self._topics()
        session = rng.choice(list(self.windows))
        day = self._date(session)
        ctx = self._context(topics, session, day)
        title = self._title(ctx, kind)
        n_sent = rng.randint(2, 4)
        summary = " ".join(self._sentence(t, ctx) for t in rng.sample(SENTENCES, n_sent))
        body = None
        if rng.random() < 0.5:
            picked = rng.sample(SENTENCES, rng.randint(3, 8))
            body = " ".join(self._sentence(t, ctx) for t in picked)
        if rng.random() < 0.0025:
            body = (body or "") + f" Delegates also mentioned {rng.choice(RARE_WORDS)} projects."
        slug = f"{slugify(title)[:90].rstrip('-')}-{entry_id}"
        record: dict[str, Any] = {
            "id": entry_id, "type": kind, "slug": slug, "title": title, "summary": summary,
            "body": body,
            "url": f"https://digest.example.org/{kind}s/{slug}" if rng.random() < 0.8 else None,
            "language": "en" if rng.random() < 0.95 else rng.choice(["fr", "es", "zh"]),
            "session": session, "topics": topics, "countries": self._countries(),
        }
        record.update(getattr(self, f"_{kind}_fields")(day))
        if kind == "event":
            self.event_ids.append(entry_id)
        return record

    def _topics(self) -> list[str]:
        k = self.rng.choice((1, 1, 2, 2, 3))
        return self.rng.sample(self.topic_slugs, k)

    def _countries(self) -> list[str]:
        picked: list[str] = []
        for _ in range(self.rng.choice((1, 1, 2, 2, 3))):
            pool = COUNTRY_WEIGHTED if self.rng.random() < 0.85 else self.countries
            code = self.rng.choice(pool)
            if code not in picked:
                picked.append(code)
        return picked

    def _date(self, session: int) -> dt.date | None:
        if self.rng.random() < 0.02:
            return None
        start, end = self.windows[session]
        span = (end - start).days + 14
        return start + dt.timedelta(days=self.rng.randrange(span) - 7)

    def _context(self, topics: list[str], session: int, day: dt.date | None) -> dict[str, Any]:
        rng = self.rng
        return {
            "actor": rng.choice(ACTORS), "actor2": rng.choice(ACTORS), "verb": rng.choice(VERBS),
            "obj": rng.choice(OBJECTS[topics[0]]), "obj2": rng.choice(OBJECTS[topics[-1]]),
            "ord": ordinal(session), "place": rng.choice(PLACES),
            "weekday": WEEKDAYS[day.weekday() % 5] if day else rng.choice(WEEKDAYS),
            "speaker": rng.choice(SPEAKERS)[0], "n": rng.choice((20, 45, 64, 70, 100)),
        }

    def _title(self, ctx: dict[str, Any], kind: str) -> str:
        form = self.rng.randrange(4)
        if kind == "event" and form < 2:
            return f"Experts discuss {ctx['obj']} at {ctx['ord']} session side event"
        if form == 0:
            return f"{ctx['actor']} {ctx['verb']} {ctx['obj']} at {ctx['ord']} session"
        if form == 1:
            return f"{ctx['actor']} {ctx['verb']} {ctx['obj']} at UN Human Rights Council"
        if form == 2:
            return f"{ctx['obj'][0].upper()}{ctx['obj'][1:]}: {ctx['actor']} {ctx['verb']} " \
                   f"international community"
        return f"{ctx['actor']} {ctx['verb']} {ctx['obj2']} in {ctx['place']}"

    @staticmethod
    def _sentence(template: str, ctx: dict[str, Any]) -> str:
        text = template.format(**ctx)
        return text[0].upper() + text[1:]

    def _article_fields(self, day: dt.date | None) -> dict[str, Any]:
        rng = self.rng
        return {"source": rng.choice(SOURCES), "authors": rng.sample(AUTHORS, rng.randint(0, 2)),
                "genre": rng.choice(GENRES), "published_on": day}

    def _event_fields(self, day: dt.date | None) -> dict[str, Any]:
        rng = self.rng
        ends = day + dt.timedelta(days=rng.choice((0, 0, 0, 1, 2))) if day else None
        return {"event_type": rng.choice(EVENT_TYPES), "starts_on": day, "ends_on": ends,
                "location": rng.choice(LOCATIONS), "format": rng.choice(FORMATS),
                "organizers": rng.sample(ORGANIZERS, rng.randint(1, 2))}

    def _statement_fields(self, day: dt.date | None) -> dict[str, Any]:
        rng = self.rng
        name, role, affiliation = rng.choice(SPEAKERS)
        on_behalf = f"over {rng.choice((20, 60, 70, 100))} countries" \
            if rng.random() < 0.15 else None
        event_id = rng.choice(self.event_ids) if self.event_ids and rng.random() < 0.25 else None
        return {"speaker": name, "speaker_role": role, "speaker_affiliation": affiliation,
                "statement_type": rng.choice(STATEMENT_TYPES), "delivered_on": day,
                "on_behalf_of": on_behalf, "event_id": event_id}
