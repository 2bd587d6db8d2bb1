"""Print the changes between two GraphQL SDL files that break clients (and those that may).

Usage: python .ci/schema_breaking_changes.py OLD.graphql NEW.graphql
Exit status: 0 with no breaking change, 1 with some, 2 when a file does not parse. Callers that only
report (.ci/schema-breaking-check.sh) ignore the status.
"""

from __future__ import annotations

import sys
from pathlib import Path

from graphql import GraphQLError, GraphQLSchema, build_schema, find_breaking_changes, find_dangerous_changes


def load(path: str) -> GraphQLSchema:
    return build_schema(Path(path).read_text(encoding="utf-8"))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        old, new = load(argv[0]), load(argv[1])
    except (OSError, GraphQLError) as error:
        print(f"could not read a schema: {error}", file=sys.stderr)
        return 2
    breaking = find_breaking_changes(old, new)
    dangerous = find_dangerous_changes(old, new)
    for broken in breaking:
        print(f"BREAKING   {broken.type.name:<40} {broken.description}")
    for risky in dangerous:
        print(f"DANGEROUS  {risky.type.name:<40} {risky.description}")
    print(f"{len(breaking)} breaking, {len(dangerous)} dangerous change(s)")
    return 1 if breaking else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
