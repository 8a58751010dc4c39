"""The entry kinds the service serves: adding a kind is one line here."""

from app.entries.kinds import articles, events, statements
from app.entries.spec import KindSpec

KINDS: tuple[KindSpec, ...] = (articles.spec, events.spec, statements.spec)
BY_TYPE: dict[str, KindSpec] = {spec.type: spec for spec in KINDS}
BY_PLURAL: dict[str, KindSpec] = {spec.plural: spec for spec in KINDS}
