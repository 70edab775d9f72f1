"""Job definitions as YAML for version-controlled configuration: plain functions, no I/O.

A job as the API shows it (`GET /api/v1/jobs/{id}`) holds what a user wrote and what Connect keeps about it
(state, versions, times, derived fingerprints). The definition is what a user wrote: the job projected onto the
API's own request schema (from its OpenAPI document), so the CLI carries no second copy of any job field and a
field added to the API is exported and applied without a CLI change. Nulls are left out: the API shows an unset
option as null and takes it as absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import yaml

KIND = "connect/job"
JOB_PATH = "/api/v1/jobs/{job_id}"
JOBS_PATH = "/api/v1/jobs"

Schema = Mapping[str, Any]


class DefinitionError(ValueError):
    """A YAML file that is not a job definition, named by what is wrong with it."""


def request_schema(document: Schema, path: str, method: str) -> Schema:
    """The JSON body schema of one operation of an OpenAPI document."""
    try:
        body = document["paths"][path][method]["requestBody"]
        return cast(Schema, body["content"]["application/json"]["schema"])
    except (KeyError, TypeError) as exc:
        raise DefinitionError(f"the API document has no JSON body for {method.upper()} {path}") from exc


def _resolve(schema: Schema, document: Schema) -> Schema:
    while "$ref" in schema:
        ref = str(schema["$ref"])
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        schema = cast(Schema, node)
    return schema


def _variant(schema: Schema, value: Mapping[str, Any], document: Schema) -> Schema | None:
    """The alternative of a `oneOf`/`anyOf` that `value` is: by the discriminator, else the one whose constant
    properties all match and whose required properties `value` has."""
    options = [_resolve(s, document) for s in schema.get("oneOf") or schema.get("anyOf") or ()]
    discriminator = schema.get("discriminator")
    if isinstance(discriminator, Mapping):
        tag = value.get(str(discriminator.get("propertyName")))
        target = (discriminator.get("mapping") or {}).get(tag)
        return _resolve({"$ref": target}, document) if target else None
    for option in options:
        properties = option.get("properties")
        if not isinstance(properties, Mapping):
            continue
        constants = {k: p["const"] for k, p in properties.items() if isinstance(p, Mapping) and "const" in p}
        defaults = {k: properties[k].get("default") for k in constants}
        if all(value.get(k, defaults[k]) == c for k, c in constants.items()) and set(option.get("required", ())) <= set(
            value
        ):
            return option
    return None


def project(value: Any, schema: Schema, document: Schema) -> Any:
    """`value` with only what `schema` takes: unknown keys and nulls left out, recursively."""
    schema = _resolve(schema, document)
    if value is None:
        return None
    if isinstance(value, Mapping) and ("oneOf" in schema or "anyOf" in schema):
        chosen = _variant(schema, value, document)
        return project(value, chosen, document) if chosen is not None else dict(value)
    if isinstance(value, Mapping) and isinstance(schema.get("properties"), Mapping):
        properties: Mapping[str, Schema] = schema["properties"]
        return {
            key: project(item, properties[key], document)
            for key, item in value.items()
            if key in properties and item is not None
        }
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            return [project(item, items, document) for item in value]
        for alternative in schema.get("anyOf", ()):
            option = _resolve(alternative, document)
            if option.get("type") == "array" and isinstance(option.get("items"), Mapping):
                return [project(item, option["items"], document) for item in value]
    return value


def definition_of(job: Mapping[str, Any], document: Schema) -> dict[str, Any]:
    """What a user wrote of `job`: the job projected onto the update request (without `expected_version`)."""
    projected = project(job, request_schema(document, JOB_PATH, "put"), document)
    if not isinstance(projected, dict):
        raise DefinitionError("the job does not fit the API's update request")
    projected.pop("expected_version", None)
    return projected


def dump(job: Mapping[str, Any], document: Schema, source: str) -> str:
    """The YAML file of one job: its identity, where it came from, and its definition."""
    header = f"# Connect job {job['job_id']} (version {job['version']}) exported from {source}\n"
    body = {"kind": KIND, "job_id": job["job_id"], "definition": definition_of(job, document)}
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=120)


def load(text: str, name: str) -> tuple[int | None, dict[str, Any]]:
    """The job id (None: a new job) and the definition of a YAML file called `name`."""
    try:
        body = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise DefinitionError(f"{name}: not valid YAML{where}") from exc
    if not isinstance(body, dict) or body.get("kind") != KIND:
        raise DefinitionError(f"{name}: not a Connect job definition (it needs `kind: {KIND}`)")
    job_id = body.get("job_id")
    if job_id is not None and (not isinstance(job_id, int) or isinstance(job_id, bool) or job_id < 1):
        raise DefinitionError(f"{name}: job_id must be a positive whole number")
    definition = body.get("definition")
    if not isinstance(definition, dict) or not definition:
        raise DefinitionError(f"{name}: definition must be a mapping of the job's fields")
    unknown = sorted(set(body) - {"kind", "job_id", "definition"})
    if unknown:
        raise DefinitionError(f"{name}: unknown top-level field {unknown[0]!r}")
    return job_id, definition
