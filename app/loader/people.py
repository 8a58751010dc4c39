"""Statements: who spoke (name, role, affiliation), for whom, and what kind of statement.

Speakers are found by pattern, never by a list of names:
  * headline forms: "Remarks by NAME, ROLE of COUNTRY", "ROLE NAME <verb>", "...: ROLE",
    "ROLE: ...", "..., <verb> ROLE";
  * summary forms: "NAME, ROLE, <verb>", "ROLE NAME (on Tuesday) <verb>", "said NAME,".
A run of capitalised words before a speech verb is split into an affiliation prefix
(a country, demonym or organisation), a role (role words, connectors, places) and a
name (the trailing words that are none of these; at least two words, so "Chen" alone
after "Chen Xu" is not a new speaker).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from app.loader.classify import fold
from app.loader.places import CountryMatcher, country_code, country_spans

NAME = r"[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+){1,3}"
ADVERBIAL = re.compile(
    r"(?:\s+(?:on\s+(?:[A-Z][a-z]+day|[A-Z][a-z]+\.?\s+\d{1,2}(?:st|nd|rd|th)?)|recently|also"
    r"|firmly|strongly|has|have|had|already|once again|again))+\s*$"
)
ABBREVIATED = re.compile(r"\b((?:[A-Z][a-z]+\s+){1,5}[A-Z][a-z]+)\s+\(([A-Z]{2,6})\)")


@dataclass(frozen=True)
class SpeakerVocab:
    """Word lists from vocabulary.toml [speakers]."""

    verbs: frozenset[str]
    role_words: frozenset[str]
    connectors: frozenset[str]
    places: tuple[str, ...]
    honorifics: tuple[str, ...]
    organisations: Mapping[str, str]
    institutions: Mapping[str, str]
    abbreviations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Speaker:
    """A speaker as far as the text tells: any field may be None."""

    name: str | None = None
    role: str | None = None
    affiliation: str | None = None
    institution: bool = False

    @property
    def empty(self) -> bool:
        """True when neither a name nor a role is known."""
        return not (self.name or self.role)


def normalise_role(role: str, demonym: str | None = None) -> str:
    """Collapse "United Nations (UN)" to "UN" and "<X> Mission Spokesperson" word order."""
    role = ABBREVIATED.sub(
        lambda m: m.group(2) if _initials(m.group(1)) == m.group(2) else m.group(0), role
    )
    match = re.match(r"^(.*\b(?:Mission|Embassy|Delegation|Consulate))\s+(Spokes\w+)$", role)
    if match:
        owner = f"{demonym} {match.group(1)}" if demonym else match.group(1)
        role = f"{match.group(2)} of the {owner}"
    return " ".join(role.split())


def _initials(words: str) -> str:
    """Upper-case initials of the significant words of a phrase."""
    return "".join(w[0] for w in words.split() if w[0].isupper())


def split_run(run: str, vocab: SpeakerVocab, matcher: CountryMatcher) -> Speaker | None:
    """Split "China's Permanent Representative ... Chen Xu" into affiliation, role, name."""
    run = fold(run).strip(" ,:")
    for honorific in vocab.honorifics:
        run = re.sub(rf"(?<!\w){re.escape(honorific)}\s*", "", run)
    if run in vocab.institutions:
        return Speaker(role=vocab.institutions[run], institution=True)
    run = expand_abbreviations(run, vocab.abbreviations)
    tokens = re.sub(r"^(?:a|an|the)\s+", "", run, flags=re.IGNORECASE).split()
    affiliation, demonym, tokens = _prefix(tokens, vocab, matcher)
    name_tokens = _trailing_name(tokens, vocab, matcher)
    role_tokens = tokens[: len(tokens) - len(name_tokens)]
    role_tokens, affiliation, demonym = _inner_demonym(role_tokens, affiliation, demonym, matcher)
    role_tokens, affiliation = _of_country(role_tokens, affiliation, matcher)
    if not all(_role_token(t, vocab) for t in role_tokens):
        return None
    role_tokens = tidy_role(role_tokens, vocab.connectors)
    name = " ".join(name_tokens) if len(name_tokens) >= 2 else None
    if len(name_tokens) == 1 and not role_tokens:
        return None
    role = normalise_role(" ".join(role_tokens), demonym) if role_tokens else None
    return Speaker(name, role, affiliation)


def expand_abbreviations(run: str, abbreviations: Mapping[str, str]) -> str:
    """Spell out headline abbreviations of roles ("Amb." -> "Ambassador", "FM" -> ...)."""
    return " ".join(abbreviations.get(token, token) for token in run.split())


def tidy_role(tokens: list[str], connectors: frozenset[str]) -> list[str]:
    """Drop connectors left dangling once a country was taken out of a role.

    "Permanent Representative of [China] to the UN" must not read "... of to the UN":
    a connector directly followed by another one (other than "the") goes, and so do
    connectors at either end.
    """
    kept: list[str] = []
    for i, token in enumerate(tokens):
        after = tokens[i + 1].lower() if i + 1 < len(tokens) else None
        if token.lower() in connectors and (
            after is None or (after in connectors and after != "the") or not kept
        ):
            continue
        kept.append(token)
    return kept


def _prefix(tokens: list[str], vocab: SpeakerVocab, matcher: CountryMatcher):
    """Strip a leading country, demonym or organisation; return (code, demonym, rest)."""
    for size in range(min(4, len(tokens)), 0, -1):
        phrase = " ".join(tokens[:size])
        bare = re.sub(r"'s?$", "", phrase)
        if bare in vocab.organisations:
            return vocab.organisations[bare], None, tokens[size:]
        code = country_code(phrase, matcher)
        if code:
            return code, bare, tokens[size:]
    return None, None, tokens


def _inner_demonym(tokens, affiliation, demonym, matcher):
    """Take "Chinese" out of "senior Chinese diplomat" as the affiliation."""
    for i, token in enumerate(tokens[:-1]):
        code = country_code(token, matcher)
        if code and i + 1 < len(tokens) and tokens[i + 1][0].islower() and not affiliation:
            return tokens[:i] + tokens[i + 1 :], code, token
    return tokens, affiliation, demonym


def _of_country(tokens: list[str], affiliation: str | None, matcher: CountryMatcher):
    """Take "of the People's Republic of China" off the end of a role as the affiliation."""
    text = " ".join(tokens)
    match = re.search(r"\s+of\s+(?:the\s+)?(.+)$", text)
    while match:
        code = country_code(match.group(1), matcher)
        if code:
            return text[: match.start()].split(), affiliation or code
        match = re.search(r"\s+of\s+(?:the\s+)?(.+)$", match.group(1))
    return tokens, affiliation


def _role_token(token: str, vocab: SpeakerVocab) -> bool:
    """A word that may belong to a role (role word, connector, place, abbreviation)."""
    bare = token.strip("(),").lower()
    return (
        bare in vocab.role_words
        or bare in vocab.connectors
        or token.strip(",") in vocab.places
        or bool(re.fullmatch(r"\(?[A-Z]{2,6}\)?", token))
    )


def _trailing_name(tokens: list[str], vocab: SpeakerVocab, matcher: CountryMatcher) -> list[str]:
    """The capitalised tokens at the end that are not role words, places or countries."""
    name: list[str] = []
    for token in reversed(tokens):
        if not token[0].isupper() or _role_token(token, vocab) or country_code(token, matcher):
            break
        name.insert(0, token)
    return name[-4:]


def verb_runs(text: str, vocab: SpeakerVocab) -> list[tuple[int, str]]:
    """(start, run) for each run of name/role words directly before a speech verb."""
    text = fold(text)
    verbs = "|".join(sorted(vocab.verbs, key=len, reverse=True))
    runs = []
    for match in re.finditer(rf"(?<=\s)(?:{verbs})\b", text):
        prefix = ADVERBIAL.sub("", text[: match.start()].rstrip())
        words: list[str] = []
        for token in reversed(prefix.split()):
            period = token.endswith(".") and not re.search(r"\.\w", token)
            if token[-1] in ',;:"' or (period and token not in vocab.abbreviations):
                break
            if not (token[0].isupper() or token.lower() in vocab.role_words | vocab.connectors):
                break
            words.insert(0, token)
        while words and words[0].lower() in vocab.connectors:
            words.pop(0)
        if words:
            start = len(prefix) - len(" ".join(words))
            runs.append((start, " ".join(words)))
    return runs


def title_speaker(title: str, vocab: SpeakerVocab, matcher: CountryMatcher) -> Speaker | None:
    """The speaker a headline names, if any."""
    title = fold(title).strip()
    by = re.match(
        r"^(?:remarks|statement|speech|address|keynote speech)\s+(?:by|of)\s+(.+?)"
        r"(?:,?\s+at\s+(?:the|a)\b.*)?$",
        title,
        re.IGNORECASE,
    )
    if by:
        head, _, tail = by.group(1).partition(",")
        person = split_run(head, vocab, matcher)
        role = split_run(tail, vocab, matcher) if tail else None
        if person and role:
            return Speaker(person.name, role.role, role.affiliation or person.affiliation)
        return person
    for pattern in (r"^([^:]{1,40}):\s", r":\s*([^:]{1,40})$", r",\s*(?:\w+)\s+([^,]{1,40})$"):
        match = re.search(pattern, title)
        found = split_run(match.group(1), vocab, matcher) if match else None
        if found and not found.empty:
            return found
    runs = verb_runs(title, vocab)
    return split_run(runs[0][1], vocab, matcher) if runs and runs[0][0] == 0 else None


def summary_speakers(summary: str, vocab: SpeakerVocab, matcher: CountryMatcher) -> list[Speaker]:
    """Speakers the summary names, in text order (country-only subjects included)."""
    text = fold(summary)
    found: list[tuple[int, Speaker]] = []
    verbs = "|".join(vocab.verbs)
    appositive = (
        rf"(?<![\w'])({NAME}),\s+([^,;]{{3,160}}?),\s+(?:on\s+\S+(?:\s+\d+)?,?\s+)?(?:{verbs})\b"
    )
    for match in re.finditer(appositive, text):
        role = split_run(match.group(2), vocab, matcher)
        person = split_run(match.group(1), vocab, matcher)
        if role and person and person.name and not role.name:
            found.append((match.start(), Speaker(person.name, role.role, role.affiliation)))
    for start, run in verb_runs(text, vocab):
        speaker = split_run(run, vocab, matcher)
        sentence_start = start == 0 or text[:start].rstrip().endswith((".", "!", "?"))
        if speaker and (not speaker.empty or sentence_start):
            found.append((start, speaker))
    for match in re.finditer(rf"\bsaid\s+(?:H\.E\.\s+)?({NAME})(?=\s*[,.]|\s*$)", text):
        person = split_run(match.group(1), vocab, matcher)
        if person and person.name:
            found.append((match.start(), person))
    return [speaker for _, speaker in sorted(found, key=lambda item: item[0])]


def find_speaker(title: str, summary: str, vocab: SpeakerVocab, matcher: CountryMatcher) -> Speaker:
    """The statement's speaker: the headline's, completed from a compatible summary one."""
    head = title_speaker(title, vocab, matcher) or Speaker()
    candidates = summary_speakers(summary, vocab, matcher)
    people = [c for c in candidates if not c.empty and _compatible(head, c)]
    best = next((c for c in people if c.name), people[0] if people else None)
    if best and not (head.name and best.name and head.name != best.name):
        role = best.role if best.role and (best.name or not head.role) else head.role
        head = Speaker(
            best.name or head.name, role, best.affiliation or head.affiliation, head.institution
        )
    if head.affiliation is None:
        clauses = [
            split_run(run, vocab, matcher)
            for clause in fold(title).split(":")
            for start, run in verb_runs(" " + clause.strip(), vocab)
            if start <= 1
        ]
        subjects = [c for c in clauses if c] + candidates
        head = replace(
            head, affiliation=_subject_country(subjects) or _from_country(summary, matcher)
        )
    return head


def _compatible(head: Speaker, other: Speaker) -> bool:
    """Whether a summary speaker can be the headline's speaker."""
    if head.institution:
        return bool(other.role and "spokes" in other.role.lower())
    if head.name and other.name:
        return head.name == other.name
    return not (head.affiliation and other.affiliation and head.affiliation != other.affiliation)


def _subject_country(candidates: list[Speaker]) -> str | None:
    """The country that is itself the subject of a speech verb ("China said ...")."""
    return next((c.affiliation for c in candidates if c.empty and c.affiliation), None)


def _from_country(summary: str, matcher: CountryMatcher) -> str | None:
    """A country in "representative from Hong Kong" style phrases."""
    match = re.search(
        r"\b(?:representative|delegate|official|envoy)\s+from\s+(.{3,40})", fold(summary)
    )
    if not match:
        return None
    spans = country_spans(match.group(1), matcher)
    return spans[0][2] if spans and spans[0][0] == 0 else None
