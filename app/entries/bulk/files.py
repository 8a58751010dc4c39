"""Reading records from files (NDJSON, CSV, JSON) for `hrc-digest import`."""

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, NamedTuple, TextIO

import orjson

from app.entries.bulk.transfer import LIST_SEPARATOR
from app.entries.spec import KindSpec

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
        if key in list_fields:
            record[key] = [part for part in value.split(LIST_SEPARATOR) if part] if value else []
        elif value == "":
            continue
        elif key == "provenance":
            record[key] = json.loads(value)
        else:
            record[key] = value
    return record


class Row(NamedTuple):
    """One record of an import file: where it was, what it parsed to, and how it was read."""

    index: int  # 0-based position among the records
    line: int | None  # 1-based line it starts on (NDJSON, CSV); None in a JSON array
    record: Any  # the parsed record, or the Exception of a row that could not be read
    raw: bytes  # the row as read, ready to be written to a file of rejected rows


def _csv_line(cells: list[str]) -> bytes:
    """One CSV row (RFC 4180, CRLF), as the export writes them."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue().encode()


def rejected_suffix(file_format: FileFormat) -> str:
    """The suffix of the file of rejected rows: the input's format, a JSON array's items
    one per line (NDJSON), so that the file can be fixed and imported as it is."""
    return ".csv" if file_format == "csv" else ".ndjson"


def rejected_header(path: Path, file_format: FileFormat) -> bytes:
    """What a file of rejected rows starts with: the CSV's header row, else nothing."""
    if file_format != "csv":
        return b""
    with path.open("r", encoding="utf-8", newline="") as handle:
        return _csv_line(next(csv.reader(handle), []))


def _csv_rows(path: Path, handle: TextIO, spec: KindSpec) -> Iterator[Row]:
    reader = csv.reader(handle)
    header = next(reader, None)
    if not header or "title" not in header:
        raise FileFormatError(f"{path}: CSV needs a header row with a 'title' column")
    lists, index, ended = _list_fields(spec), 0, reader.line_num
    for cells in reader:
        starts, ended = ended + 1, reader.line_num
        if not cells:
            continue  # a blank line is no record
        raw = _csv_line(cells)
        if len(cells) != len(header):
            yield Row(index, starts, ValueError(f"bad row: {len(cells)} cells, the header "
                                                f"has {len(header)}"), raw)
        else:
            try:
                yield Row(index, starts, _from_csv(dict(zip(header, cells, strict=True)),
                                                   lists), raw)
            except ValueError as exc:
                yield Row(index, starts, ValueError(f"bad row: {exc}"), raw)
        index += 1


def read_records(path: Path, file_format: FileFormat, spec: KindSpec) -> Iterator[Row]:
    """Every record in the file, streamed (a JSON array is read whole)."""
    if file_format == "json":
        try:
            data = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise FileFormatError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, list):
            raise FileFormatError(f"{path}: a JSON import file must be an array of objects")
        yield from (Row(index, None, item, orjson.dumps(item) + b"\n")
                    for index, item in enumerate(data))
        return
    with path.open("r", encoding="utf-8", newline="") as handle:
        if file_format == "csv":
            yield from _csv_rows(path, handle, spec)
            return
        index = 0
        for line_number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            raw = line.rstrip("\r\n").encode() + b"\n"
            try:
                yield Row(index, line_number, orjson.loads(line), raw)
            except orjson.JSONDecodeError as exc:
                yield Row(index, line_number, ValueError(f"not valid JSON: {exc}"), raw)
            index += 1
