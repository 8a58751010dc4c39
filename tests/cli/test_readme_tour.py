"""The README's tour runs as written, against a fresh server on a fresh database.

The commands are read from README.md itself: every fenced block that follows a
`<!-- tour -->` line. Only the address (`http://127.0.0.1:8000`) and the way the CLI is
started (`.venv/bin/hrc-digest`) are replaced; the commands run in order in one bash, in
a folder holding the repository's `examples/`, so their variables (`B`, `K`) carry on.
Each must exit 0, and each curl must get a 2xx, or the status its comment gives
(`# 400 …`, `# HTTP/1.1 201 Created`); a list commented `# total N` must say so.
"""

import re
import shlex
import shutil
import subprocess
import sys

from tests.databases import ROOT, new_database_url
from tests.process.server import running, server_env

MARKER = "<!-- tour -->"
README_ADDRESS = "http://127.0.0.1:8000"
README_CLI = ".venv/bin/hrc-digest"
# A status a command's own comment (or a comment line right after it) states first.
STATUS = re.compile(r"#\s*(?:HTTP/1\.1\s+)?([1-5][0-9]{2})\b")
TOTAL = re.compile(r"#\s*total ([0-9]+)\b")


def tour_blocks(readme: str) -> list[str]:
    """The text of every fenced block right after a tour marker."""
    blocks = re.findall(re.escape(MARKER) + r"\s*```sh\n(.*?)\n```", readme, re.DOTALL)
    assert len(blocks) == readme.count(MARKER), "a tour marker is not before a ```sh block"
    return blocks


def _complete(text: str) -> bool:
    """True when the lines so far make a whole shell command (quotes closed, no `\\`)."""
    if text.rstrip().endswith("\\"):
        return False
    try:
        shlex.split(text, comments=True)
    except ValueError:  # an open quote: the command goes on on the next line
        return False
    return True


def commands(block: str) -> list[tuple[str, int | None]]:
    """(command, the status its comments state, if any) for each command of a block: in
    its own trailing comment, or in the comment lines right below it."""
    found: list[tuple[str, int | None]] = []
    pending, attached = "", False
    for line in block.splitlines():
        if not pending and not line.strip():
            attached = False  # a blank line: what follows is about the next command
        elif not pending and line.lstrip().startswith("#"):
            match = STATUS.match(line.strip())
            if attached and match and found[-1][1] is None:
                found[-1] = (found[-1][0], int(match.group(1)))
        else:
            pending += line + "\n"
            if _complete(pending):
                comment = pending.rstrip().splitlines()[-1].partition("  #")[2]
                match = STATUS.match("#" + comment.strip()) if comment else None
                found.append((pending.rstrip(), int(match.group(1)) if match else None))
                pending, attached = "", True
    assert not pending, f"an unfinished command: {pending}"
    return found


def test_the_tour_is_read_from_the_readme():
    """The test reads real commands: the examples it needs exist, and it finds them."""
    runs = [c for block in tour_blocks((ROOT / "README.md").read_text()) for c in commands(block)]
    texts = "\n".join(command for command, _ in runs)
    assert len(runs) >= 20 and "@examples/articles.ndjson" in texts
    for used in re.findall(r"examples/[\w./-]+", texts):
        assert (ROOT / used).is_file(), f"the tour uses {used}, which is not in the repository"
    statuses = {status for _, status in runs}
    assert {201, 204, 400} <= statuses


BASH_PRELUDE = """set -u -o pipefail
HDRS=$(mktemp)
OUT=$(mktemp)
trap 'rm -f "$HDRS" "$OUT"' EXIT
curl() { command curl -sS --max-time 30 -D "$HDRS" "$@"; }
check() {  # check N RC EXPECTED_STATUS_OR_-
  local status
  status=$(grep -E '^HTTP/' "$HDRS" | tail -1 | cut -d' ' -f2)
  if [ "$2" != 0 ]; then echo; echo "TOUR FAILED: command $1 exited $2"; exit 1; fi
  if [ "$3" != - ] && [ "$status" != "$3" ]; then
    echo; echo "TOUR FAILED: command $1 got HTTP $status, not $3"; exit 1; fi
  if [ "$3" = - ] && [ -s "$HDRS" ] && [ "${status:0:1}" != 2 ]; then
    echo; echo "TOUR FAILED: command $1 got HTTP $status"; exit 1; fi
  printf "\\nTOUR OK %s %s\\n" "$1" "${status:-no-http}"  # after output without a newline
}
"""


def tour_script(runs: list[tuple[str, int | None]], base: str) -> str:
    """One bash script running every command, checking each right after it ran."""
    cli = f"{shlex.quote(sys.executable)} -m app.cli"
    lines = [BASH_PRELUDE]
    for number, (command, status) in enumerate(runs, 1):
        command = command.replace(README_ADDRESS, base).replace(README_CLI, cli)
        lines += [': > "$HDRS"', "{", command, '} > "$OUT"', f"check {number} $? {status or '-'}"]
        if total := TOTAL.search(command.splitlines()[-1]):  # `# total 2`: the output says so
            lines.append(f"""grep -q '"total":{total.group(1)},' "$OUT" || {{ echo; """
                         f"""echo "TOUR FAILED: command {number}: total is not {total.group(1)}";"""
                         " exit 1; }")
    return "\n".join(lines) + "\n"


def test_every_command_of_the_tour_runs_on_a_fresh_server(tmp_path):
    assert shutil.which("curl"), "the tour's commands use curl: install it"
    runs = [c for block in tour_blocks((ROOT / "README.md").read_text()) for c in commands(block)]
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = server_env(new_database_url())
    with running(env, workers=1) as server:
        script = tour_script(runs, server.base)
        result = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=300)
    report = [line for line in result.stdout.splitlines() if line.startswith("TOUR")]
    assert result.returncode == 0, "\n".join(report[-3:]) + "\n" + result.stderr[-2000:]
    assert len([line for line in report if line.startswith("TOUR OK")]) == len(runs)
