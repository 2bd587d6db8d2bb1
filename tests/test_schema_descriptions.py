"""Every public type and field of the API says what it is: the descriptions are GraphiQL's documentation."""

from __future__ import annotations

from graphql import (
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
)

import main

BUILT_IN_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}


def undescribed(schema: GraphQLSchema) -> list[str]:
    """`Type` for a type without a description, `Type.field` for a field without one."""
    # the root types are containers, documented through their fields
    roots = {t.name for t in (schema.query_type, schema.mutation_type, schema.subscription_type) if t}
    missing = []
    for name, named in sorted(schema.type_map.items()):
        if name.startswith("__") or name in BUILT_IN_SCALARS:
            continue
        if name not in roots and not (named.description or "").strip():
            missing.append(name)
        if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            missing += [
                f"{name}.{field_name}"
                for field_name, field in named.fields.items()
                if not (field.description or "").strip()
            ]
    return missing


def test_the_check_sees_a_missing_description():
    schema = build_schema('''
        """Described."""
        type Query { "Described." good: Int, bad: Int }
        input Plain { x: Int }
    ''')
    assert undescribed(schema) == ["Plain", "Plain.x", "Query.bad"]


def test_every_public_type_and_field_has_a_description():
    missing = undescribed(build_schema(main.export_schema()))
    assert missing == [], f"{len(missing)} without a description:\n" + "\n".join(missing)
