"""`Rule`: one annotation that both checks a string field and states its pattern in the OpenAPI document.

A request value that breaks a rule is refused by FastAPI's own validation, so it answers 422 naming the
field (body, query, path or header alike) in our words, before any handler runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

RULE_ERROR = "connect_rule"  # the error type `wording` recognises; ctx["problem"] holds our sentence


@dataclass(frozen=True)
class Rule:
    """`Annotated[str, Rule(problem, pattern)]`: refuses when `problem(value)` says why, documents `pattern`."""

    problem: Callable[[str], str | None]
    pattern: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern
        return json_schema

    def _check(self, value: str) -> str:
        problem = self.problem(value)
        if problem is not None:
            # The sentence goes in the context, not the template, so braces in it are never formatted.
            raise PydanticCustomError(RULE_ERROR, "{problem}", {"problem": problem})
        return value
