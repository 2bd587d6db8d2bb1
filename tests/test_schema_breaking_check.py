""".ci/schema-breaking-check.sh: what changed in schema.graphql since the last commit that breaks clients."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

CI = Path(__file__).parent.parent / ".ci"
BEFORE = '"""A video."""\ntype Video { title: String!, views: Int }\ntype Query { video: Video }\n'
AFTER = '"""A video."""\ntype Video { views: Int, likes: Int }\ntype Query { video(id: ID): Video }\n'


def test_removing_a_field_is_reported_as_breaking(tmp_path):
    old, new = tmp_path / "old.graphql", tmp_path / "new.graphql"
    old.write_text(BEFORE)
    new.write_text(AFTER)
    result = subprocess.run(
        [sys.executable, str(CI / "schema_breaking_changes.py"), str(old), str(new)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 1
    assert "FIELD_REMOVED" in result.stdout and "Video.title was removed." in result.stdout
    # an optional argument added to a field may change what it returns: dangerous, not breaking
    assert "DANGEROUS  OPTIONAL_ARG_ADDED" in result.stdout
    assert result.stdout.strip().endswith("1 breaking, 1 dangerous change(s)")


def test_the_ci_script_compares_with_the_previous_commit_and_never_fails(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    for name in ("schema-breaking-check.sh", "schema_breaking_changes.py"):
        shutil.copy(CI / name, repo / ".ci" / name)

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                       cwd=repo, check=True, capture_output=True)

    git("init", "-q")
    for sdl in (BEFORE, AFTER):
        (repo / "schema.graphql").write_text(sdl)
        git("add", "schema.graphql")
        git("commit", "-q", "-m", "schema")
    result = subprocess.run(
        ["bash", str(repo / ".ci" / "schema-breaking-check.sh")],
        capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
    )
    assert result.returncode == 0, result.stderr
    assert "Video.title was removed." in result.stdout
