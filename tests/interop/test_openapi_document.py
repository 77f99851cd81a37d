"""`/openapi.json` is generated from the handlers, so it is the same from
every source: `naap openapi` prints what the server answers, and a client
generator reading either gets typed bodies, never a bare object, for every
JSON answer."""
import json
import urllib.request

from conftest import run


def test_the_printed_document_is_the_served_one_and_every_json_body_is_typed(naap_bin, serve_lake, tmp_path):
    printed = json.loads(run([naap_bin, "openapi"]).stdout)
    lake = tmp_path / "lake"
    lake.mkdir()
    _, http_port = serve_lake(lake)
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/openapi.json", timeout=30) as answer:
        served = json.loads(answer.read())
    assert printed == served
    schemas = served["components"]["schemas"]
    for path, op in ((path, op) for path, item in served["paths"].items() for op in item.values()):
        assert op.get("summary"), path
        for status, response in op["responses"].items():
            content = response.get("content", {}).get("application/json")
            if content is None or path == "/openapi.json":
                continue
            schema = content["schema"]
            if "$ref" in schema:
                schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
            shape = schema.get("type") or ("allOf" in schema and "object")
            assert shape in ("object", "array"), (path, status, schema)
            if shape == "object":
                assert schema.get("properties") or schema.get("additionalProperties"), (path, status)
