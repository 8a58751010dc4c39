"""Reading records from files (NDJSON, CSV, JSON) for `hrc-digest import`."""

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import orjson

from app.entries.spec import KindSpec
from app.entries.transfer import LIST_SEPARATOR

FileFormat = Literal["ndjson", "csv", "json"]
SUFFIXES: dict[str, FileFormat] = {".ndjson": "ndjson", ".jsonl": "ndjson", ".csv": "csv",
                                   ".json": "json"}


class FileFormatError(Exception):
    """The file cannot be read in the format asked for."""


def guess_format(path: Path) -> FileFormat:
    """The format a file's suffix names."""
    try:
        return SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise FileFormatError(f"{path}: cannot tell the format from '{path.suffix}'; "
                              "give --format ndjson|csv|json") from None


def _list_fields(spec: KindSpec) -> set[str]:
    return {name for name, info in spec.public_model.model_fields.items()
            if "list" in str(info.annotation)}


def _from_csv(row: dict[str, str], list_fields: set[str]) -> dict[str, Any]:
    """Undo the export's flattening: lists split on |, objects parsed, empty cells absent."""
    record: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value is None:
            raise ValueError("row has more cells than the header")
        if key in list_fields:
            record[key] = [part for part in value.split(LIST_SEPARATOR) if part] if value else []
        elif value == "":
            continue
        elif key == "provenance":
            record[key] = json.loads(value)
        else:
            record[key] = value
    return record


def read_records(path: Path, file_format: FileFormat, spec: KindSpec
                 ) -> Iterator[tuple[int, int, Any]]:
    """(index, line, record or Exception) for every record in the file, streamed."""
    if file_format == "json":
        try:
            data = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise FileFormatError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, list):
            raise FileFormatError(f"{path}: a JSON import file must be an array of objects")
        yield from ((index, 0, item) for index, item in enumerate(data))
        return
    with path.open("r", encoding="utf-8", newline="") as handle:
        if file_format == "csv":
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "title" not in reader.fieldnames:
                raise FileFormatError(f"{path}: CSV needs a header row with a 'title' column")
            lists = _list_fields(spec)
            for index, row in enumerate(reader):
                try:
                    yield index, reader.line_num, _from_csv(row, lists)
                except ValueError as exc:
                    yield index, reader.line_num, ValueError(f"bad row: {exc}")
            return
        index = 0
        for line_number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield index, line_number, orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield index, line_number, ValueError(f"not valid JSON: {exc}")
            index += 1
