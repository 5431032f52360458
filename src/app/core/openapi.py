"""OpenAPI schema generation for msgspec Structs: the document says what the decoder enforces.

Litestar's own Struct plugin leaves out two things the app relies on:

- `forbid_unknown_fields=True` (the request-body bases, `Input` in each feature's structs.py):
  the schema gets `additionalProperties: false`. Response Structs do not forbid unknown fields,
  so their schemas stay open.
- Bounds of 0 (`Meta(ge=0)`), which Litestar drops as falsy.
- The `enum` of a string field's `Meta(extra_json_schema={"enum": [...]})` (a list too long for a
  `Literal`, such as ISO 4217 currency codes), which Litestar drops; it goes on the string member
  of an optional field's `oneOf`, so `null` stays allowed.
- Constraints on the items of a list field (`list[Annotated[str, Meta(min_length=1)]]`): Litestar
  documents the items as a bare `{"type": "string"}`; here they get their length and pattern, and
  the `enum` of `Meta(extra_json_schema={"enum": [...]})`; a list's own
  `Meta(extra_json_schema={"uniqueItems": True})` becomes `uniqueItems`.

A query parameter that is optional to Litestar but required by the handler (so a missing one gets
the app's problem+json 422 after authentication, not Litestar's 400 before it) is documented as
required by the route's `operation_class=required_query("name")`.

A list field whose rows the service validates itself (to report every bad row at once) can name
the Struct of its rows with `msgspec.Meta(extra={OPENAPI_ITEMS: SomeStruct})`: the items are
documented as that Struct while the decoder keeps accepting any object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import Operation, Parameter, Schema
from litestar.typing import FieldDefinition

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator

__all__ = ["OPENAPI_ITEMS", "StrictStructSchemaPlugin", "required_query"]

# `msgspec.Meta(extra=...)` key: the type to document the items of a list field as.
OPENAPI_ITEMS = "openapi_items"

_Inspected = msgspec.inspect.Type


def _unwrap(type_: _Inspected) -> tuple[_Inspected, dict[str, Any]]:
    """The type under `Metadata` and `X | None` (inspect already drops `Unset`), with the
    `Meta(extra=...)` found on the way."""
    extra: dict[str, Any] = {}
    while True:
        if isinstance(type_, msgspec.inspect.Metadata):
            found: dict[str, Any] | None = getattr(type_, "extra", None)  # untyped dict in the stubs
            extra.update(found or {})
            type_ = type_.type
        elif isinstance(type_, msgspec.inspect.UnionType):
            kept = [t for t in type_.types if not isinstance(t, msgspec.inspect.NoneType)]
            if len(kept) != 1:
                return type_, extra
            type_ = kept[0]
        else:
            return type_, extra


def _unwrap_union(type_: _Inspected) -> tuple[_Inspected, None]:
    """The type under `X | None`, its `Metadata` kept."""
    if isinstance(type_, msgspec.inspect.UnionType):
        kept = [t for t in type_.types if not isinstance(t, msgspec.inspect.NoneType)]
        if len(kept) == 1:
            return kept[0], None
    return type_, None


def _array_schema(schema: Any) -> Schema | None:
    """The array schema of a property: itself, or the array member of its `oneOf`/`anyOf`."""
    if not isinstance(schema, Schema):
        return None
    if schema.items is not None:
        return schema
    for member in [*(schema.one_of or []), *(schema.any_of or [])]:
        if isinstance(member, Schema) and member.items is not None:
            return member
    return None


def _zero_bounds(field: msgspec.inspect.Field, schema: Schema) -> None:
    """Bounds of 0 (`Meta(ge=0)`): Litestar copies only truthy bounds, so 0 goes missing."""
    number, _ = _unwrap(field.type)
    if not isinstance(number, (msgspec.inspect.IntType, msgspec.inspect.FloatType)):
        return
    for bound, key in (
        ("ge", "minimum"),
        ("gt", "exclusive_minimum"),
        ("le", "maximum"),
        ("lt", "exclusive_maximum"),
    ):
        if getattr(number, bound) == 0 and getattr(schema, key) is None:
            setattr(schema, key, 0)


def _string_enum(field: msgspec.inspect.Field, schema: Schema) -> None:
    """A string field's `Meta(extra_json_schema={"enum": [...]})`, on its string schema."""
    meta, _ = _unwrap_union(field.type)
    if not isinstance(meta, msgspec.inspect.Metadata) or not isinstance(meta.type, msgspec.inspect.StrType):
        return
    json_schema: dict[str, Any] = getattr(meta, "extra_json_schema", None) or {}
    if "enum" not in json_schema:
        return
    values = json_schema["enum"]
    strings = [m for m in schema.one_of or [] if isinstance(m, Schema) and m.type == "string"]
    target = strings[0] if strings else schema
    if target.enum is None:
        target.enum = list(values)


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Litestar's Struct schema plus `additionalProperties: false` and list-item constraints.

    Registered in `Litestar(plugins=...)`: app plugins come before Litestar's defaults, so this
    one answers for every Struct."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info: msgspec.inspect.StructType = msgspec.inspect.type_info(field_definition.type_)  # type: ignore[assignment]
        if info.forbid_unknown_fields:
            schema.additional_properties = False
        for field in info.fields:
            prop = (schema.properties or {}).get(field.encode_name)
            if isinstance(prop, Schema):
                _zero_bounds(field, prop)
                _string_enum(field, prop)
            array = _array_schema(prop)
            if array is not None:
                self._document_items(field, array, schema_creator)
        return schema

    @staticmethod
    def _document_items(field: msgspec.inspect.Field, array: Schema, schema_creator: SchemaCreator) -> None:
        list_type, extra = _unwrap(field.type)
        if not isinstance(list_type, msgspec.inspect.ListType):
            return
        list_meta, _ = _unwrap_union(field.type)
        if isinstance(list_meta, msgspec.inspect.Metadata) and array.unique_items is None:
            list_schema: dict[str, Any] = getattr(list_meta, "extra_json_schema", None) or {}
            array.unique_items = list_schema.get("uniqueItems")
        if (row_type := extra.get(OPENAPI_ITEMS)) is not None:
            array.items = schema_creator.for_field_definition(FieldDefinition.from_annotation(row_type))
            return
        item_type, _ = _unwrap(list_type.item_type)
        items = array.items
        if isinstance(item_type, msgspec.inspect.StrType) and isinstance(items, Schema):
            if items.min_length is None:
                items.min_length = item_type.min_length
            if items.max_length is None:
                items.max_length = item_type.max_length
            if items.pattern is None:
                items.pattern = item_type.pattern
            item_meta = list_type.item_type
            if isinstance(item_meta, msgspec.inspect.Metadata) and items.enum is None:
                json_schema: dict[str, Any] = getattr(item_meta, "extra_json_schema", None) or {}
                items.enum = json_schema.get("enum")


def _not_null(schema: Any) -> None:
    """Drop the `null` member of an optional parameter's `oneOf`: a required one is never null."""
    if isinstance(schema, Schema) and schema.one_of:
        schema.one_of = [m for m in schema.one_of if not (isinstance(m, Schema) and m.type == "null")]


def required_query(*names: str) -> type[Operation]:
    """An `operation_class` documenting the query parameters `names` as required."""

    @dataclass
    class RequiredQueryOperation(Operation):
        def __post_init__(self) -> None:
            for parameter in self.parameters or []:
                if (
                    isinstance(parameter, Parameter)
                    and parameter.param_in == "query"
                    and parameter.name in names
                ):
                    parameter.required = True
                    _not_null(parameter.schema)

    return RequiredQueryOperation
