"""`hrc-digest` commands run by the tests, each in a child process of its own.

A command started as `python -m app.cli` spends most of its time importing (FastAPI,
SQLAlchemy, pydantic, the app): about 0.7 s of CPU each, hundreds of times a run.
`hrc_digest` runs the same entry point (`app.cli.main`, with the arguments in `sys.argv`)
in a process forked from a server that imported the command line once (multiprocessing's
forkserver): a child process like any other, with its own environment, working folder,
exit status, standard output and error, and nothing of the test process's state (its
engines, settings, warning filters); only the start-up is skipped.

What is about starting a process (the installed `hrc-digest` script, a command run from
a folder outside the repository, Ctrl-C, `serve`) runs a real one: `started` below, and
tests/process/server.py.
"""

import io
import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What the commands import before their first statement, so a child imports nothing; and
# the main module (pytest's), which multiprocessing would otherwise run in every child.
PRELOAD = ["app.cli", "app.core.migrations", "app.core.security", "app.reference.seed",
           "app.loader.seeding", "app.loader.explain", "app.entries.bulk.writer",
           "app.entries.bulk.files", "app.entries.bulk.import_state",
           "app.entries.bulk.transfer", "app.entries.citations", "app.entries.listing.run",
           "rich.progress", "tests.commands", "__main__"]
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(PRELOAD)


def _command(env: dict[str, str], args: tuple[str, ...], cwd: str, out: str, err: str
             ) -> None:
    """The child: the command's folder, environment, argv and output files, then main()."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, out), (2, err)):
        file = os.open(path, os.O_WRONLY)
        os.dup2(file, fd)
        os.close(file)
    sys.argv = ["hrc-digest", *args]
    from app.cli import main

    main()


def _text(path: Path) -> str:
    """What a command wrote, read as `subprocess.run(text=True)` does."""
    with path.open("rb") as file:
        return io.TextIOWrapper(file, encoding="utf-8").read()


def hrc_digest(env: dict[str, str], *args: str, cwd: Path | str = ROOT,
               timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `hrc-digest ARGS` to completion in a child process, with this environment and
    working folder; its exit status and output as subprocess.run gives them."""
    with tempfile.TemporaryDirectory(prefix="hrc-digest-command-") as folder:
        out, err = Path(folder, "stdout"), Path(folder, "stderr")
        out.touch()
        err.touch()
        child = _context.Process(target=_command, args=(
            dict(env), args, str(cwd), str(out), str(err)))
        child.start()
        child.join(timeout)
        if child.exitcode is None:
            child.kill()
            child.join()
            raise subprocess.TimeoutExpired(["hrc-digest", *args], timeout)
        return subprocess.CompletedProcess(["hrc-digest", *args], child.exitcode,
                                           _text(out), _text(err))


def started(env: dict[str, str], *args: str, cwd: Path | str = ROOT,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python -m app.cli ARGS` as a new process, start-up and all."""
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
