"""The command line as an operator runs it: `python main.py …` in its own process, on a SQLite file."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixture_source import COMPILER_TALK, DATA, TIMELAPSE

REPO = Path(__file__).resolve().parent.parent
ADMIN_PASSWORD = "correct horse battery"
# a highlight line of `analyze`: its timestamp, its title, then the lens that found it
HIGHLIGHT_LINE = re.compile(r"^\s+(\d{1,2}):(\d{2})\s+(\S.*?)\s+\[([a-z-]+)\]$", re.MULTILINE)
# installed through PYTHONPATH: any use of yt-dlp leaves a mark and fails, instead of reaching the web
NO_YT_DLP = """
import yt_dlp

def _refuse(self, *args, **kwargs):
    with open({marker!r}, "a", encoding="utf-8") as fh:
        fh.write("yt-dlp was used\\n")
    raise RuntimeError("this test forbids yt-dlp")

yt_dlp.YoutubeDL.__init__ = _refuse
"""


def fixture_path(video_id: str, suffix: str) -> str:
    [path] = DATA.glob(f"*[[]{video_id}[]].{suffix}")
    return str(path)


@pytest.fixture
def database_file(tmp_path: Path) -> Path:
    return tmp_path / "x.sqlite3"


@pytest.fixture
def cli_env(database_file: Path) -> dict[str, str]:
    """Only what the commands need: no REDIS_URL or OPENAI_* from the caller's shell leaks in."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONUTF8": "1",
        "DATABASE_URL": f"sqlite://{database_file}",
    }


def run_cli(env: dict[str, str], *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


def test_migrate_applies_every_migration_once(cli_env):
    first = run_cli(cli_env, "migrate")
    assert first.returncode == 0, first.stderr
    expected = sorted(p.name for p in (REPO / "migrations" / "sqlite" / "models").glob("[0-9]*.py"))
    assert first.stdout.strip() == "applied: " + ", ".join(expected)
    second = run_cli(cli_env, "migrate")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "applied: nothing, already current"


def test_export_schema_prints_the_committed_schema(cli_env, tmp_path):
    committed = (REPO / "schema.graphql").read_text(encoding="utf-8")
    printed = run_cli(cli_env, "export-schema")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == committed
    written = run_cli(cli_env, "export-schema", "-o", str(tmp_path / "out.graphql"))
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "out.graphql").read_text(encoding="utf-8") == committed


def test_createadmin_makes_an_admin_with_the_password_from_the_environment(cli_env, database_file):
    assert run_cli(cli_env, "migrate").returncode == 0
    env = {**cli_env, "VIDGRAPH_ADMIN_PASSWORD": ADMIN_PASSWORD}
    result = run_cli(env, "createadmin", "Root@Example.COM")
    assert result.returncode == 0, result.stderr
    assert "root@example.com" in result.stdout
    assert ADMIN_PASSWORD not in result.stdout + result.stderr
    with sqlite3.connect(database_file) as db:
        rows = db.execute("SELECT email, role, password_hash FROM users").fetchall()
    [(email, role, password_hash)] = rows
    assert (email, role) == ("root@example.com", "admin")
    # stored as an argon2id hash, never as the password itself
    assert password_hash.startswith("$argon2id$") and ADMIN_PASSWORD not in password_hash


def test_createadmin_works_on_a_fresh_sqlite_file(cli_env, database_file):
    env = {**cli_env, "VIDGRAPH_ADMIN_PASSWORD": ADMIN_PASSWORD}
    result = run_cli(env, "createadmin", "root@example.com")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(database_file) as db:
        assert db.execute("SELECT role FROM users").fetchall() == [("admin",)]


def test_analyze_prints_the_highlights_with_timestamps(cli_env):
    result = run_cli(
        cli_env, "analyze", fixture_path(COMPILER_TALK, "info.json"),
        fixture_path(COMPILER_TALK, "en.vtt"), fixture_path(COMPILER_TALK, "en-orig.vtt"),
    )
    assert result.returncode == 0, result.stderr
    assert f"video {COMPILER_TALK}: analysis" in result.stdout
    assert "Building a Compiler in Python" in result.stdout
    highlights = HIGHLIGHT_LINE.findall(result.stdout)
    assert highlights, result.stdout
    # every timestamp falls inside the 12:22 video, and they are listed in video order
    seconds = [int(m) * 60 + int(s) for m, s, _, _ in highlights]
    assert seconds == sorted(seconds) and all(0 <= s < 742 for s in seconds)
    assert all(title for _, _, title, _ in highlights)


def test_analyze_of_a_video_without_captions_fails_with_no_transcript(cli_env):
    result = run_cli(cli_env, "analyze", fixture_path(TIMELAPSE, "info.json"))
    # refused before any job runs: main() answers an expected failure with 2 (1 is a failed job)
    assert result.returncode == 2
    assert "error: NO_TRANSCRIPT:" in result.stderr
    assert not HIGHLIGHT_LINE.findall(result.stdout)


def test_analyze_refuses_a_non_youtube_url_without_calling_yt_dlp(cli_env, tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    marker = tmp_path / "yt-dlp-used"
    (hook / "sitecustomize.py").write_text(NO_YT_DLP.format(marker=str(marker)), encoding="utf-8")
    env = {**cli_env, "PYTHONPATH": str(hook)}
    # the hook itself works: a use of yt-dlp would be seen
    probe = subprocess.run(
        [sys.executable, "-c", "import yt_dlp; yt_dlp.YoutubeDL()"],
        env=env, capture_output=True, timeout=20, check=False,
    )
    assert probe.returncode != 0 and marker.exists()
    marker.unlink()

    result = run_cli(env, "analyze", "https://vimeo.com/1")
    assert result.returncode != 0
    assert "UNSUPPORTED_SOURCE" in result.stderr
    assert not marker.exists()


def test_makemigrations_check_finds_no_model_change_without_a_migration(cli_env):
    result = run_cli(cli_env, "makemigrations", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sqlite: up to date" in result.stdout and "postgres: up to date" in result.stdout
