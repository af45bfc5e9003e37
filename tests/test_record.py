"""The typed record of a run (bench/record.py) and run.json's schema say the same thing, and a
stored run reads into it and back without losing a figure."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Literal, Union

import pytest

from bench.launch import REPO_ROOT
from bench.record import RecordError, RunRecord, from_json, read, to_json
from bench.store import SCHEMA_PATH

SCHEMA = json.loads(SCHEMA_PATH.read_text())
JSON_TYPES = {int: {"integer"}, float: {"number", "integer"}, str: {"string"}, bool: {"boolean"}}


def schema_types(node: dict) -> set[str]:
    kind = node.get("type", [])
    return set(kind if isinstance(kind, list) else [kind])


def disagreements(cls: type, node: dict, where: str = "run") -> list[str]:
    """Where the dataclass `cls` and the schema's object `node` differ: the properties, which
    are required, which may be null, and the same for every object inside."""
    found = []
    hints = typing.get_type_hints(cls)
    fields = {f.metadata.get("json", f.name): f for f in dataclasses.fields(cls)}
    properties = node.get("properties", {})
    if set(fields) != set(properties):
        found.append(
            f"{where}: only in the record {sorted(set(fields) - set(properties))}, "
            f"only in the schema {sorted(set(properties) - set(fields))}"
        )
    if node.get("additionalProperties") is not False:
        found.append(f"{where}: the schema allows other properties")
    whole = cls.__module__ != "bench.record"  # the plan's dataclasses are written whole
    required = {
        key
        for key, f in fields.items()
        if whole or (f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
    }
    if required != set(node.get("required", [])):
        found.append(f"{where}: required {sorted(required)} != {sorted(node.get('required', []))}")
    for key, f in fields.items():
        if key in properties:
            found += type_disagreements(hints[f.name], properties[key], f"{where}/{key}")
    return found


def type_disagreements(kind: Any, node: dict, where: str) -> list[str]:
    origin = typing.get_origin(kind)
    nullable = False
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(kind))
        kind = args[0] if len(args) == 1 else Any
        origin = typing.get_origin(kind)
    allowed = schema_types(node)
    if nullable and "null" not in allowed and None not in node.get("enum", [None]):
        return [f"{where}: may be None in the record, not null in the schema"]
    if not nullable and "null" in allowed:
        return [f"{where}: may be null in the schema, never None in the record"]
    if kind is Any:
        return []
    if dataclasses.is_dataclass(kind):
        if "object" not in allowed:
            return [f"{where}: an object in the record, {sorted(allowed)} in the schema"]
        return disagreements(kind, node, where)
    if origin in (list, tuple):
        if "array" not in allowed:
            return [f"{where}: a list in the record, {sorted(allowed)} in the schema"]
        item = typing.get_args(kind)[0]
        return type_disagreements(item, node.get("items", {}), f"{where}[]")
    if origin is dict:
        if "object" not in allowed:
            return [f"{where}: a map in the record, {sorted(allowed)} in the schema"]
        return type_disagreements(
            typing.get_args(kind)[1], node.get("additionalProperties") or {}, f"{where}{{}}"
        )
    if origin is Literal:
        if set(typing.get_args(kind)) != set(node.get("enum", [])) - {None}:
            return [f"{where}: {typing.get_args(kind)} != the schema's {node.get('enum')}"]
        return []
    if kind in JSON_TYPES and allowed and not (allowed - {"null"}) <= JSON_TYPES[kind]:
        return [f"{where}: {kind.__name__} in the record, {sorted(allowed)} in the schema"]
    return []


def test_the_record_and_the_schema_agree_field_for_field() -> None:
    assert disagreements(RunRecord, SCHEMA) == []


def test_the_reference_run_reads_into_the_record_and_back() -> None:
    document = json.loads((REPO_ROOT / "results" / "reference" / "run.json").read_text())
    record = read(document)
    assert len(record.cells) == len(document["cells"])
    index = next(i for i, c in enumerate(record.cells) if c.ok)
    load, stored = record.cells[index].load, document["cells"][index]["load"]
    assert load is not None and load.throughput == stored["throughput"] > 0
    assert load.latency_us.at("p99.9") == stored["latency_us"]["p99.9"]
    assert read(to_json(record)) == record  # nothing lost either way


def test_a_document_that_does_not_fit_names_the_place() -> None:
    document = json.loads((REPO_ROOT / "results" / "reference" / "run.json").read_text())
    del document["cells"][2]["load"]["throughput"]
    with pytest.raises(RecordError, match="at /cells/2/load: throughput is missing"):
        from_json(RunRecord, document)
