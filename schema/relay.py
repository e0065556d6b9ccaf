"""Global object identification: the `Node` interface and opaque global ids (`Type:uuid`, base64).

Every object with an identity has a global id that names its type, so `node(id:)` can fetch any of them
and a client can cache by id. `databaseId` is the id the REST API uses for the same object.
"""

from __future__ import annotations

import base64
import binascii

import strawberry

from resolvers.errors import invalid


@strawberry.interface(description="An object with a global id: fetch any of them again with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(description="The object's global id: opaque, stable, unique across types.")
    database_id: str = strawberry.field(description="The object's id in the REST API (`/api/...`).")


def global_id(type_name: str, database_id: str) -> strawberry.ID:
    return strawberry.ID(base64.b64encode(f"{type_name}:{database_id}".encode()).decode())


def parse_global_id(value: object) -> tuple[str, str] | None:
    """(type name, database id) of a global id; None for anything this server did not hand out."""
    if not isinstance(value, str) or not value or len(value) > 400:
        return None
    try:
        text = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    type_name, separator, database_id = text.partition(":")
    if not separator or not type_name.isidentifier() or not database_id:
        return None
    return type_name, database_id


def typed_id(field: str, value: object, *types: str) -> tuple[str, str]:
    """(type name, database id) of a global id of one of `types`; anything else is refused, naming the field."""
    parsed = parse_global_id(value)
    if parsed is None or parsed[0] not in types:
        raise invalid(field, f"must be the global id of a {' or '.join(types)}", "INVALID_ID")
    return parsed


def database_id(field: str, value: object, *types: str) -> str:
    return typed_id(field, value, *types)[1]


def optional_database_id(field: str, value: object, *types: str) -> str | None:
    return None if value is None else database_id(field, value, *types)
