"""A TypeScript client generated from /openapi.json compiles.

openapi-typescript turns the document into types (in a temporary folder, not the
repository), and tsc checks examples/typescript/client.ts against them: it lists,
filters, pages by cursor, reads facets, tells search items apart by `type` and writes
with If-Match; its @ts-expect-error lines fail the check if the types grow loose.

Node comes from the machine (.ci/run installs Debian's nodejs and npm where missing, and
the npm tools with `npm ci`). Without node the test is skipped, except under CI=true,
where it fails: CI must run it.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.databases import ROOT

EXAMPLE = ROOT / "examples" / "typescript"
MODULES = EXAMPLE / "node_modules"
GENERATOR = MODULES / "openapi-typescript" / "bin" / "cli.js"
TSC = MODULES / "typescript" / "bin" / "tsc"


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the TypeScript check")
    pytest.skip(reason)


def _run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{' '.join(map(str, command))}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def node() -> str:
    """The machine's node, with the example's npm tools installed (`npm ci`) if need be."""
    node = shutil.which("node")
    if node is None:
        _missing("node is not installed (apt-get install nodejs npm)")
    if not (GENERATOR.exists() and TSC.exists()):
        npm = shutil.which("npm")
        assert npm is not None, "node without npm: install npm to fetch the TypeScript tools"
        _run(npm, "ci", "--no-audit", "--no-fund", cwd=EXAMPLE)
    return node


def test_the_typescript_client_type_checks_against_the_generated_types(client, node, tmp_path):
    document = tmp_path / "openapi.json"
    document.write_bytes(client.get("/openapi.json").content)
    _run(node, GENERATOR, document, "--output", tmp_path / "api.d.ts", cwd=tmp_path)
    types = (tmp_path / "api.d.ts").read_text()
    assert "ArticlePage: {" in types and '"if-match"?: string;' in types
    for name in ("client.ts", "tsconfig.json"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    (tmp_path / "node_modules").symlink_to(MODULES, target_is_directory=True)
    _run(node, TSC, "--project", tmp_path, cwd=tmp_path)
