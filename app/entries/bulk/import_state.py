"""What `hrc-digest import` keeps about an input file: its resume point and its rejected rows.

Every file is in one folder (the state dir: `--state-dir`, default `.hrc-digest/` in the
current folder, which `.gitignore` covers), named after the input's file name NAME:

- `NAME.progress.json`: how many records committed batches hold (the resume point);
  removed when the import completes.
- `NAME.rejected.ndjson` (`.csv` for a CSV input): the rejected rows as they were read,
  in a format the importer takes again (a CSV's header first; a JSON array's items one
  per line). Fix them and import this file.
- `NAME.errors.ndjson`: one line per rejected row, in the same order: `line` (in the
  input; null for a JSON array), `rejected_line` (in the rejected file), `index`, `slug`,
  `title` (when the slug is not known) and `detail`.

Only the input's base name is used, so an input path (absolute, `../..`, a symlink) never
steers where the import writes.
"""

from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from app.entries.bulk.files import FileFormat, Row, rejected_header, rejected_suffix

DEFAULT_STATE_DIR = Path(".hrc-digest")


@dataclass
class ImportState:
    """The state files of one input file, and what they hold so far."""

    folder: Path
    source: Path
    kind: str
    file_format: FileFormat
    rejected_rows: int = 0
    rejected_lines: int = 0  # lines of the rejected file so far (a CSV row may span several)
    made_folder: bool = False  # the folder did not exist: removed again if left empty

    def _named(self, suffix: str) -> Path:
        return self.folder / (self.source.name + suffix)

    @property
    def checkpoint(self) -> Path:
        """The resume point."""
        return self._named(".progress.json")

    @property
    def rejected(self) -> Path:
        """The rejected rows, as read."""
        return self._named(".rejected" + rejected_suffix(self.file_format))

    @property
    def errors(self) -> Path:
        """Why each rejected row was rejected."""
        return self._named(".errors.ndjson")

    def _identity(self) -> dict[str, Any]:
        stat = self.source.stat()
        return {"path": str(self.source.resolve()), "kind": self.kind,
                "format": self.file_format, "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns}

    def start(self) -> int:
        """Make the folder; how many records an interrupted import of this very file
        already committed. Rejected rows of that run are kept (cut back to what its last
        committed batch had written); otherwise the previous run's files are removed."""
        # Made (and so found writable) before anything is written to the database.
        self.made_folder = not self.folder.exists()
        self.folder.mkdir(parents=True, exist_ok=True)
        saved = _read(self.checkpoint)
        same = {k: saved.get(k) for k in self._identity()} == self._identity()
        sizes = saved.get("rejected_bytes", 0), saved.get("errors_bytes", 0)
        if same and all(_size(path) >= size for path, size in zip(
                (self.rejected, self.errors), sizes, strict=True)):
            for path, size in zip((self.rejected, self.errors), sizes, strict=True):
                if path.exists():
                    with path.open("r+b") as handle:
                        handle.truncate(size)  # rows of a batch that was not committed
            self.rejected_rows = int(saved.get("rejected_rows", 0))
            self.rejected_lines = int(saved.get("rejected_lines", 0))
            return int(saved.get("done", 0))
        # A new run, or the file changed: start over (upserts make that safe).
        for path in (self.checkpoint, self.rejected, self.errors):
            path.unlink(missing_ok=True)
        return 0

    def save(self, done: int) -> None:
        """Record that the first `done` records are committed, and the rejected so far."""
        self.checkpoint.write_bytes(orjson.dumps(self._identity() | {
            "done": done, "rejected_rows": self.rejected_rows,
            "rejected_lines": self.rejected_lines,
            "rejected_bytes": _size(self.rejected), "errors_bytes": _size(self.errors)}))

    def reject(self, rejected: list[tuple[Row, dict[str, Any]]]) -> None:
        """Append rows and their reasons (bulk error entries) to the two files."""
        if not rejected:
            return
        rows, reasons = bytearray(), bytearray()
        if self.rejected_lines == 0:
            header = rejected_header(self.source, self.file_format)
            rows += header
            self.rejected_lines += header.count(b"\n")
        for row, error in rejected:
            rows += row.raw
            reasons += orjson.dumps({
                "line": row.line, "rejected_line": self.rejected_lines + 1,
                "index": row.index, "slug": error["slug"], "title": error["title"],
                "detail": error["detail"]}) + b"\n"
            self.rejected_lines += row.raw.count(b"\n")
            self.rejected_rows += 1
        with self.rejected.open("ab") as out:
            out.write(rows)
        with self.errors.open("ab") as out:
            out.write(reasons)

    def finish(self) -> None:
        """The import completed: no resume point; no empty files of rejected rows."""
        self.checkpoint.unlink(missing_ok=True)
        if not self.rejected_rows:
            self.rejected.unlink(missing_ok=True)
            self.errors.unlink(missing_ok=True)

    def tidy(self) -> None:
        """Remove the folder if this import made it and it holds nothing (any outcome)."""
        if self.made_folder:
            with suppress(OSError):  # not empty: it holds what a later run needs
                self.folder.rmdir()


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


def _read(checkpoint: Path) -> dict[str, Any]:
    """A saved resume point; empty when there is none or it cannot be read."""
    try:
        saved = orjson.loads(checkpoint.read_bytes()) if checkpoint.is_file() else {}
    except orjson.JSONDecodeError:
        return {}
    return saved if isinstance(saved, dict) else {}
