"""The schema: migrations match the models, and every kind's model family is derived alike."""

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from app.core.metadata import metadata, skip_engine_objects
from app.core.migrations import current_revision, head_revision
from app.entries.registry import KINDS
from app.entries.schemas import SERVER_FIELDS, EntryIn, EntryOut
from tests.helpers import KIND_IDS


def test_migrations_and_models_do_not_drift(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "include_object": skip_engine_objects})
        diff = compare_metadata(context, metadata)
    assert diff == [], f"models and migrations differ; add a migration: {diff}"


def test_database_is_at_head(engine):
    assert current_revision(engine) == head_revision()


@pytest.mark.parametrize("spec", KINDS, ids=KIND_IDS)
def test_update_covers_create_and_public_covers_both(spec):
    create = set(spec.create_model.model_fields)
    update = set(spec.update_model.model_fields)
    public = set(spec.public_model.model_fields)
    # PUT and PATCH take back every field a GET gives (the server's: when unchanged).
    assert update == set(spec.replace_model.model_fields) == public
    assert create | {"type", *SERVER_FIELDS} == public
    assert set(EntryIn.model_fields) <= create
    assert set(EntryOut.model_fields) <= public
    assert all(not field.is_required() for field in spec.update_model.model_fields.values())


@pytest.mark.parametrize("spec", KINDS, ids=KIND_IDS)
def test_detail_table_holds_the_kind_fields_but_the_primary_date_and_slug_aliases(spec):
    columns = {c.name for c in spec.detail_table.columns} - {"id"}
    assert columns == (set(spec.kind_fields.model_fields) - {spec.primary_date}
                       - set(spec.reference_slugs))  # `event` is read from the event's row


@pytest.mark.parametrize("spec", KINDS, ids=KIND_IDS)
def test_update_keeps_the_constraints_of_create(spec):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        spec.update_model(title="x" * 501)
    with pytest.raises(ValidationError):
        spec.update_model(url="ftp://x")
    with pytest.raises(ValidationError):
        spec.update_model(unknown_field=1)


def test_kinds_are_registered_once_with_distinct_names():
    assert len({s.type for s in KINDS}) == len({s.plural for s in KINDS}) == len(KINDS)
    assert len({s.title for s in KINDS}) == len({s.detail_table.name for s in KINDS}) == len(KINDS)



def database_at(revision: str):
    """A new database migrated to `revision`: its Alembic config and an engine on it."""
    from alembic import command
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from app.core.migrations import alembic_config
    from tests.databases import new_database_url

    url = new_database_url()
    config = alembic_config(url)
    command.upgrade(config, revision)
    return config, create_engine(url, poolclass=NullPool)


def test_link_kinds_migration_fills_existing_links_and_reverts():
    """0006 gives links written before it their entry's kind; downgrading drops it again."""
    from alembic import command
    from sqlalchemy import inspect, text


    config, engine = database_at("0005")
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO topics (slug, name, description, keywords) "
                "VALUES ('tibet', 'Tibet', '', '[]')"))
            connection.execute(text(
                "INSERT INTO countries (code, name) VALUES ('CN', 'China')"))
            for entry_id, kind in ((1, "article"), (2, "event")):
                connection.execute(text(
                    "INSERT INTO entries (id, type, slug, title, summary, language, topics, "
                    "countries, search_names, created_at, updated_at, version) VALUES "
                    "(:id, :type, :slug, 'T', '', 'en', '[]', '[]', '', :at, :at, 1)"),
                    {"id": entry_id, "type": kind, "slug": f"e{entry_id}",
                     "at": "2021-01-01 00:00:00"})
                connection.execute(text("INSERT INTO entry_topics (topic, entry_id) "
                                        "VALUES ('tibet', :id)"), {"id": entry_id})
                connection.execute(text("INSERT INTO entry_countries (country, entry_id) "
                                        "VALUES ('CN', :id)"), {"id": entry_id})
        command.upgrade(config, "head")
        with engine.connect() as connection:
            for table in ("entry_topics", "entry_countries"):
                kinds = connection.execute(text(
                    f"SELECT entry_id, type FROM {table} ORDER BY entry_id")).all()
                assert [tuple(row) for row in kinds] == [(1, "article"), (2, "event")]
        command.downgrade(config, "0005")
        columns = {c["name"] for c in inspect(engine).get_columns("entry_topics")}
        assert columns == {"topic", "entry_id"}
    finally:
        engine.dispose()


def test_unique_key_names_migration_keeps_existing_duplicates_working():
    """0009 renames later active keys sharing a name; revoked keys keep theirs."""
    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError


    config, engine = database_at("0008")
    try:
        with engine.begin() as connection:
            for key_id, name, revoked in ((1, "me", None), (2, "me", None),
                                          (3, "me", "2026-01-01 00:00:00"), (4, "ci", None)):
                connection.execute(text(
                    "INSERT INTO api_keys (id, name, prefix, key_hash, created_at, revoked_at) "
                    "VALUES (:id, :name, 'hrcd_x', :hash, '2026-01-01 00:00:00', :revoked)"),
                    {"id": key_id, "name": name, "hash": f"h{key_id}", "revoked": revoked})
        command.upgrade(config, "head")
        with engine.connect() as connection:
            names = connection.execute(text("SELECT id, name FROM api_keys ORDER BY id")).all()
        assert [tuple(row) for row in names] == [(1, "me"), (2, "me (id 2)"), (3, "me"),
                                                 (4, "ci")]
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO api_keys (name, prefix, key_hash, created_at) "
                "VALUES ('ci', 'hrcd_x', 'h5', '2026-01-01 00:00:00')"))
    finally:
        engine.dispose()


def test_date_precision_migration_places_existing_entries_and_reverts():
    """0010 places every entry: its primary date (day), else its session's dates (session),
    else unknown; no value is lost, and downgrading keeps the primary dates."""
    from alembic import command
    from sqlalchemy import text


    config, engine = database_at("0009")
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO sessions (number, name, starts_on, ends_on, description) VALUES "
                "(46, 'HRC46', '2021-02-22', '2021-03-23', ''), (47, 'HRC47', '2021-06-21', "
                "NULL, ''), (48, 'HRC48', NULL, NULL, '')"))
            for entry_id, session, day in ((1, 46, "2021-03-01"), (2, 46, None),
                                           (3, 47, None), (4, 48, None), (5, None, None)):
                connection.execute(text(
                    "INSERT INTO entries (id, type, slug, title, summary, language, session, "
                    "date, topics, countries, search_names, created_at, updated_at, version) "
                    "VALUES (:id, 'statement', :slug, 'T', 'S', 'en', :session, :day, '[]', "
                    "'[]', '', :at, :at, 3)"),
                    {"id": entry_id, "slug": f"e{entry_id}", "session": session, "day": day,
                     "at": "2021-01-01 00:00:00"})
                connection.execute(text("INSERT INTO statements (id, statement_type) "
                                        "VALUES (:id, 'speech')"), {"id": entry_id})
        command.upgrade(config, "head")
        query = text("SELECT id, session, version, date, date_precision, date_from, date_to "
                     "FROM entries ORDER BY id")
        with engine.connect() as connection:
            rows = [tuple(str(v) if v is not None else None for v in row)
                    for row in connection.execute(query)]
        day, first, last = "2021-03-01", "2021-02-22", "2021-03-23"
        assert rows == [("1", "46", "3", day, "day", day, day),
                        ("2", "46", "3", first, "session", first, last),
                        ("3", "47", "3", None, "unknown", None, None),
                        ("4", "48", "3", None, "unknown", None, None),
                        ("5", None, "3", None, "unknown", None, None)]
        command.downgrade(config, "0009")
        with engine.connect() as connection:
            kept = connection.execute(text("SELECT id, date FROM entries ORDER BY id")).all()
        assert [(row[0], row[1] and str(row[1])) for row in kept] == [
            (1, day), (2, None), (3, None), (4, None), (5, None)]
    finally:
        engine.dispose()


def _text_matches(connection, query) -> list[int]:
    """Ids of the entries the engine's own index matches for a parsed query."""
    from sqlalchemy import text

    from app.entries.listing import fulltext

    if connection.dialect.name == "postgresql":
        sql = ("SELECT id FROM entries WHERE search_vector @@ to_tsquery('english', :q) "
               "ORDER BY id")
        return list(connection.scalars(text(sql), {"q": fulltext.to_tsquery_text(query)}))
    sql = "SELECT rowid FROM entries_fts WHERE entries_fts MATCH :q ORDER BY rowid"
    return list(connection.scalars(text(sql), {"q": fulltext.to_fts5(query)}))


def test_fielded_search_migration_fills_search_fields_and_reverts():
    """0011 gives existing entries their `search_fields` as the app writes it, indexed on
    either engine; downgrading drops it and leaves the old index searchable."""
    from alembic import command
    from sqlalchemy import inspect, text

    from app.entries.listing import fulltext
    from app.entries.registry import BY_TYPE
    from app.entries.repository import search_texts

    records = [  # each entry's detail row: its name fields, and what may not be NULL
        (1, "statement", {"speaker": "Chen Xu", "speaker_role": "Adviser to Li Qiang",
                          "speaker_affiliation": None, "statement_type": "speech"}),
        (2, "article", {"source": "Xinhua", "authors": ["Chen Xu", "Wang Fang"],
                        "genre": "news"}),
        (3, "event", {"organizers": ["Geneva Forum"], "location": "Beijing",
                      "event_type": "forum", "format": "online"}),
    ]
    config, engine = database_at("0010")
    try:
        with engine.begin() as connection:
            for entry_id, kind, detail in records:
                spec = BY_TYPE[kind]
                connection.execute(text(
                    "INSERT INTO entries (id, type, slug, title, summary, language, topics, "
                    "countries, search_names, created_at, updated_at, version) VALUES "
                    "(:id, :type, :slug, 'T', '', 'en', '[]', '[]', :names, :at, :at, 1)"),
                    {"id": entry_id, "type": kind, "slug": f"e{entry_id}", "at": "2021-01-01",
                     "names": search_texts(spec, detail)["search_names"]})
                columns = ", ".join(detail)
                cast = connection.dialect.name == "postgresql"  # JSON text on SQLite
                values = ", ".join(f"CAST(:{n} AS JSON)" if cast and isinstance(v, list)
                                   else f":{n}" for n, v in detail.items())
                connection.execute(text(
                    f"INSERT INTO {spec.detail_table.name} (id, {columns}) "
                    f"VALUES (:id, {values})"),
                    {"id": entry_id} | {n: json.dumps(v) if isinstance(v, list) else v
                                        for n, v in detail.items()})
        command.upgrade(config, "head")
        with engine.connect() as connection:
            stored = dict(connection.execute(text("SELECT id, search_fields FROM entries")).all())
            assert stored == {entry_id: search_texts(BY_TYPE[kind], detail)["search_fields"]
                              for entry_id, kind, detail in records}
            fields = ("title", "speaker", "speaker_role", "authors", "organizers")
            assert _text_matches(connection, fulltext.parse('speaker:"chen xu"', fields)) == [1]
            assert _text_matches(connection, fulltext.parse("authors:chen", fields)) == [2]
            assert _text_matches(connection, fulltext.parse("speaker_role:qiang", fields)) == [1]
            assert _text_matches(connection, fulltext.parse("organizers:gene*", fields)) == [3]
        command.downgrade(config, "0010")
        assert "search_fields" not in {c["name"] for c in inspect(engine).get_columns("entries")}
        with engine.connect() as connection:
            assert _text_matches(connection, fulltext.parse('"chen xu"')) == [1, 2]
    finally:
        engine.dispose()


def test_tallies_migration_counts_existing_entries_as_the_app_does():
    """0013 fills `entry_tallies` from the entries there are, as the app's recount gives
    them (year, month, day, session, topics and countries alike); on PostgreSQL 0014 keeps
    `search_vector` in the row and 0015 adds the covering placement index; all revert."""
    from alembic import command
    from sqlalchemy import inspect, text
    from sqlalchemy.orm import Session

    from app.entries import tallies

    config, engine = database_at("0011")
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO sessions (number, name, starts_on, ends_on, description) VALUES "
                "(46, 'HRC46', '2021-02-22', '2021-03-23', '')"))
            connection.execute(text("INSERT INTO topics (slug, name, description, keywords) "
                                    "VALUES ('tibet', 'Tibet', '', '[]')"))
            for entry_id, kind, session, day, topics, countries in (
                    (1, "statement", 46, "2021-03-01", '["tibet"]', '["CN", "US"]'),
                    (2, "statement", None, "0999-12-31", "[]", '["CN"]'),
                    (3, "article", 46, None, '["tibet"]', "[]")):
                connection.execute(text(
                    "INSERT INTO entries (id, type, slug, title, summary, language, session, "
                    "date, topics, countries, search_names, created_at, updated_at, version) "
                    "VALUES (:id, :type, :slug, 'T', 'S', 'en', :session, :day, :topics, "
                    ":countries, '', :at, :at, 1)"),
                    {"id": entry_id, "type": kind, "slug": f"e{entry_id}", "session": session,
                     "day": day, "topics": topics, "countries": countries,
                     "at": "2021-01-01 00:00:00"})
        command.upgrade(config, "head")
        with Session(engine) as session:
            stored = tallies.stored(session)
            assert stored == tallies.recounted(session)
        assert stored[("year", "999", "statement", True)] == 1
        assert stored[("month", "0999-12", "statement", True)] == 1
        assert stored[("country", "CN", "statement", True)] == 2
        assert stored[("topic", "tibet", "article", False)] == 1
        assert stored[("session", "46", "article", False)] == 1
        if engine.dialect.name == "postgresql":  # 0014 and 0015
            storage = ("SELECT attstorage FROM pg_attribute WHERE attname = 'search_vector' "
                       "AND attrelid = 'entries'::regclass")
            with engine.connect() as connection:
                assert connection.execute(text(storage)).scalar() == "m"
            assert "ix_entries_placement" in {index["name"] for index in
                                              inspect(engine).get_indexes("entries")}
        command.downgrade(config, "0011")
        assert "entry_tallies" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
