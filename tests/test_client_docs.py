"""docs/clients.md as a reader uses it: every example marked `<!-- test: NAME -->` runs, unchanged,
against a live server — uvicorn in a process of its own, on a fresh SQLite file, with the test
fixtures playing YouTube — and must exit 0 having printed the finished analysis."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fixture_source import DATA, INDEX_TALK
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "clients.md"
CLIENTS = ROOT / ".ci" / "clients"

# the marker comment, then a fence whose info string is the language
MARKED_BLOCK = re.compile(r"^<!-- test: (?P<name>[\w-]+) -->\n```(?P<language>\w+)\n(?P<code>.*?)^```$", re.M | re.S)

# `main.py serve` with the fixture source in place of yt-dlp, so the examples' analyses really run
LAUNCHER = """
import sys
import uvicorn
from main import create_app
from services.settings import Settings
from tests.fixture_source import FixtureSource
app = create_app(Settings.from_env(), source=FixtureSource())
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, log_level="warning")
"""
# what the developer's environment may set that would change the server's shape
SERVER_SETTINGS = ("DATABASE_URL", "REDIS_URL", "JOBS_IN_PROCESS", "OPENAI_API_KEY", "OPENAI_BASE_URL")


@dataclass
class Example:
    language: str
    code: str


def marked_examples() -> dict[str, Example]:
    """The marked blocks by name; blocks sharing a name are one program, in document order."""
    found: dict[str, Example] = {}
    for match in MARKED_BLOCK.finditer(DOC.read_text(encoding="utf-8")):
        name, language, code = match["name"], match["language"], match["code"]
        if name in found:
            assert found[name].language == language, f"example {name!r} mixes {found[name].language} and {language}"
            found[name].code += "\n" + code
        else:
            found[name] = Example(language, code)
    return found


EXAMPLES = marked_examples()



@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A fresh server per example, so each meets what a first-time reader's server does."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in SERVER_SETTINGS}
    env.update(
        DATABASE_URL=f"sqlite://{tmp_path / 'clients.sqlite3'}", RATE_LIMITS_ENABLED="false", LOG_LEVEL="WARNING"
    )
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the server did not start within 30 s"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def command_for(example: Example, workdir: Path) -> list[str]:
    """How a reader runs the example, once it is saved in the working folder."""
    if example.language == "sh":
        (workdir / "example.sh").write_text(example.code, encoding="utf-8")
        return ["bash", "-e", "example.sh"]
    if example.language == "python":
        (workdir / "example.py").write_text(example.code, encoding="utf-8")
        return [sys.executable, "example.py"]
    if example.language == "js":
        # Node resolves ES module imports from node_modules beside the file, never from NODE_PATH
        (workdir / "node_modules").symlink_to(CLIENTS / "node_modules", target_is_directory=True)
        (workdir / "example.mjs").write_text(example.code, encoding="utf-8")
        return ["node", "example.mjs"]
    raise AssertionError(f"no way to run a {example.language!r} block: use sh, python or js")


def prerequisites(example: Example) -> list[pytest.MarkDecorator]:
    """Skips for what an example needs beyond this virtualenv, decided before a server starts."""
    if example.language != "js":
        return []
    return [
        pytest.mark.skipif(shutil.which("node") is None, reason="the Apollo Client example runs on Node.js: no `node`"),
        pytest.mark.skipif(
            not (CLIENTS / "node_modules" / "@apollo" / "client").is_dir(),
            reason="the Apollo Client example's packages are not installed: run `npm ci --prefix .ci/clients`",
        ),
    ]


def test_the_client_docs_have_a_runnable_example_for_curl_apollo_and_python():
    languages = {name: example.language for name, example in EXAMPLES.items()}
    assert languages == {"curl": "sh", "apollo": "js", "python": "python"}


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=prerequisites(example)) for name, example in sorted(EXAMPLES.items())]
)
def test_the_example_runs_against_a_live_server_and_finishes_the_analysis(name, server, tmp_path):
    example = EXAMPLES[name]
    workdir = tmp_path / "reader"
    workdir.mkdir()
    # the curl import step runs in the folder where yt-dlp wrote a video's files
    for suffix in (".info.json", ".en.vtt"):
        [path] = DATA.glob(f"*[[]{INDEX_TALK}[]]{suffix}")
        shutil.copy(path, workdir)
    # the examples' own default video, so the doc's defaults are what runs
    env = {key: value for key, value in os.environ.items() if key != "VIDEO_URL"}
    env["VIDGRAPH_URL"] = server
    run = subprocess.run(
        command_for(example, workdir), cwd=workdir, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    server_log = (tmp_path / "server.log").read_text()  # where the server fixture writes it
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}\nserver:\n{server_log}"
    # each example ends by printing the analysis it followed, which the fixture video completes
    assert "COMPLETED" in run.stdout, run.stdout
