#!/usr/bin/env bash
# Reports the changes to schema.graphql since a base commit (HEAD~1 unless given) that break clients.
# Reporting, not gating: it always exits 0. Usage: .ci/schema-breaking-check.sh [BASE]
set -euo pipefail
cd "$(dirname "$0")/.."

BASE="${1:-HEAD~1}"
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3

echo "== breaking changes to schema.graphql since $BASE"
before="$(mktemp)"
trap 'rm -f "$before"' EXIT
if ! git show "$BASE:schema.graphql" >"$before" 2>/dev/null; then
    echo "no schema.graphql at $BASE (first commit, or a shallow clone): nothing to compare"
    exit 0
fi
if cmp -s "$before" schema.graphql; then
    echo "schema.graphql is unchanged"
    exit 0
fi
"$PYTHON" .ci/schema_breaking_changes.py "$before" schema.graphql || true
exit 0
