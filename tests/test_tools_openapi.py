"""Tools from an OpenAPI 3 document (YAML and JSON): one tool per operation, parameters
and JSON bodies as JSON Schema with local $refs resolved, calls run in the sandbox; bad
documents are one clear error naming the file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from synthaug.errors import InputError
from synthaug.methods.tool_use.apigen import Sample
from synthaug.tools.execute import format_problems, run_calls
from synthaug.tools.openapi import openapi_tools
from synthaug.tools.registry import load_tools
from synthaug.verify.sandbox import Sandbox

FIXTURES = Path(__file__).parent / "fixtures" / "openapi"
SPEC, CODE = FIXTURES / "petstore.yaml", FIXTURES / "petstore.py"


def test_each_operation_is_a_tool_with_resolved_parameters(tmp_path):
    tools = {t.name: t for t in openapi_tools(SPEC, CODE)}
    assert list(tools) == ["findPets", "addPet", "get_pets_id", "deletePet"]
    find = tools["findPets"].schema()["function"]
    assert find["description"] == "Returns all pets the user has access to, filtered by tags."
    assert find["parameters"] == {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string"},
                     "description": "tags to filter by"},
            "limit": {"type": "integer", "format": "int32", "minimum": 1,
                      "description": "maximum number of results to return"},
        },
        "required": [],
    }  # fmt: skip
    add = tools["addPet"].parameters
    assert add["required"] == ["name"]
    assert add["properties"]["tag"] == {"type": "string", "enum": ["dog", "cat", "bird"]}
    by_id = tools["get_pets_id"].parameters  # path-level parameter, always required
    assert by_id["required"] == ["id"] and by_id["properties"]["id"]["type"] == "integer"
    assert tools["deletePet"].description == "deletes a single pet based on the ID supplied"
    assert list(tools["deletePet"].parameters["properties"]) == ["id"]  # the cookie is left out
    as_json = tmp_path / "petstore.json"
    as_json.write_text(json.dumps(yaml.safe_load(SPEC.read_text())))
    assert [t.schema() for t in openapi_tools(as_json, CODE)] == [
        t.schema() for t in tools.values()
    ]
    loaded = load_tools(["calculate"], openapi_files=[(str(SPEC), str(CODE))])
    assert [t.name for t in loaded] == ["calculate", *tools]
    files = [{"document": str(SPEC), "implementation": str(CODE)}]
    step = Sample(builtins=["calculate"], openapi_files=files)  # a recipe's apigen.sample
    assert [t.name for t in step.tools] == ["calculate", *tools]


def test_calls_are_checked_and_run_in_the_sandbox():
    tools = openapi_tools(SPEC, CODE)
    offered = [t.schema() for t in tools]
    calls = [
        {"name": "findPets", "arguments": {"tags": ["cat", "bird"], "limit": 1}},
        {"name": "addPet", "arguments": {"name": "Nemo", "tag": "cat"}},
        {"name": "get_pets_id", "arguments": {"id": 3}},
        {"name": "get_pets_id", "arguments": {"id": 9}},
    ]
    assert format_problems(calls, offered) == []
    assert format_problems([{"name": "addPet", "arguments": {"tag": "fish"}}], offered) == [
        "call 1: addPet: arguments: 'name' is a required property",
        "call 1: addPet: arguments.tag: 'fish' is not one of ['dog', 'cat', 'bird']",
    ]
    implementations = {t.name: t.implementation() for t in tools}
    results, runs = asyncio.run(run_calls(Sandbox(), calls, implementations))
    assert results == [
        {"return": [{"id": 2, "name": "Tom", "tag": "cat"}]},
        {"return": {"id": 4, "name": "Nemo", "tag": "cat"}},
        {"return": {"id": 3, "name": "Kiwi", "tag": "bird"}},
        {"error": "KeyError: 'no pet 9'"},
    ]
    assert all(r["isolation"].startswith("bwrap") for r in runs)


BASE = {"openapi": "3.0.0", "info": {"title": "t", "version": "1"}}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{oops", "api.json: not JSON"),
        ({"swagger": "2.0", "paths": {}}, "not an OpenAPI 3 document"),
        ({**BASE, "paths": {}}, "has no 'paths'"),
        ({**BASE, "paths": {"/a": {"get": {"operationId": "f", "parameters": [
            {"$ref": "other.yaml#/p"}]}}}}, "GET /a: only local $refs"),
        ({**BASE, "paths": {"/a": {"get": {"operationId": "f", "parameters": [
            {"$ref": "#/components/parameters/nope"}]}}}}, "points to nothing"),
        ({**BASE, "paths": {"/a": {"get": {"operationId": "f", "parameters": [
            {"name": "X-Id", "in": "header"}]}}}}, "'X-Id' is no Python name"),
        ({**BASE, "paths": {"/a": {"get": {"operationId": "missing"}}}},
         "impl.py: defines no function 'missing' (GET /a"),
        ({**BASE, "paths": {"/a": {"get": {"operationId": "f"}, "post": {"operationId": "f"}}}},
         "two operations are named 'f'"),
    ],
)  # fmt: skip
def test_bad_documents_are_one_clear_error(tmp_path, document, message):
    spec = tmp_path / "api.json"
    spec.write_text(document if isinstance(document, str) else json.dumps(document))
    (tmp_path / "impl.py").write_text("def f(**kwargs):\n    return kwargs\n")
    with pytest.raises(InputError) as raised:
        openapi_tools(spec, tmp_path / "impl.py")
    assert message in str(raised.value) and str(raised.value).count("\n") == 0
    bad_yaml = tmp_path / "api.yaml"
    bad_yaml.write_text("openapi: [3.0\n")
    with pytest.raises(InputError, match=r"api\.yaml: not YAML"):
        openapi_tools(bad_yaml, tmp_path / "impl.py")
