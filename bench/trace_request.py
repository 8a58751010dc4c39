"""Which files of app/ one request enters: the read path's length, measured.

    .venv/bin/python bench/trace_request.py "/api/v1/articles?topic=xinjiang"

A fresh SQLite database in a temporary folder is migrated and seeded; the app answers
the request twice (warm: kept statements built, caches filled), then a third time under
`sys.setprofile` (and `threading.setprofile`, for the worker thread a sync route runs
in). Every call into a function of app/ from code outside that function's file (another
app file, or a library the app called) is one *entry*; a coroutine resumed after an
`await` is not a call. An entry into a file entered before in this request is a
*re-entry* (returning from a call is not). Callbacks the database driver makes into
app/core/db.py (the timed SQLite cursor, JSON column decoding: per statement and per
value) are reported on their own line.
"""

import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app") + os.sep
DRIVER_HOOKS = {("core/db.py", name) for name in
                ("cursor", "execute", "executemany", "fetchone", "fetchmany", "fetchall",
                 "json_loads", "past_deadline", "_timed")}


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "/api/v1/articles?topic=xinjiang"
    folder = tempfile.mkdtemp(prefix="hrc-digest-trace-")
    os.environ["HRC_DIGEST_DATABASE_URL"] = f"sqlite:///{folder}/trace.db"
    os.environ.setdefault("HRC_DIGEST_LOG_LEVEL", "warning")
    for command in (["migrate"], ["seed"]):
        subprocess.run([sys.executable, "-m", "app.cli", *command], check=True,
                       capture_output=True, cwd=ROOT)
    sys.path.insert(0, str(ROOT))
    from fastapi.testclient import TestClient

    from app.main import create_app

    client = TestClient(create_app())
    client.get(url)
    client.get(url)
    calls: list[tuple[str, str]] = []
    started: list = []

    def nearest_app_file(frame):
        while frame is not None:
            if frame.f_code.co_filename.startswith(APP):
                return frame.f_code.co_filename
            frame = frame.f_back
        return None

    def profile(frame, event, _arg):
        if event != "call" or not frame.f_code.co_filename.startswith(APP):
            return
        if any(frame is seen for seen in started):
            return  # a coroutine resumed, not a new call
        started.append(frame)
        if nearest_app_file(frame.f_back) != frame.f_code.co_filename:
            calls.append((frame.f_code.co_filename[len(APP):], frame.f_code.co_name))

    sys.setprofile(profile)
    threading.setprofile(profile)
    response = client.get(url)
    sys.setprofile(None)
    threading.setprofile(None)
    print(f"GET {url} -> {response.status_code}, {len(response.content)} bytes")
    files: list[str] = []
    reentries = hooks = 0
    for file, function in calls:
        if (file, function) in DRIVER_HOOKS:
            hooks += 1
            continue
        again = file in files
        reentries += again
        if not again:
            files.append(file)
        print(f"  {file}:{function}{'   (re-entry)' if again else ''}")
    print(f"files entered: {len(files)}; re-entries: {reentries}; "
          f"database-driver callbacks into core/db.py: {hooks}")


if __name__ == "__main__":
    main()
