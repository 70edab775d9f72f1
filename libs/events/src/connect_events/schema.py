"""Generate the published contract: one JSON Schema per topic and an AsyncAPI document.

`connect-events-schema --out docs/events` writes them; a test fails when the checked-in files differ from
what the code generates, so the published schemas never drift from `libs/events`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from connect_events.catalogue import ALL_TOPICS, TOPIC_UNIONS, message_classes

CONTRACT_VERSION = "1.0.0"

TOPIC_DESCRIPTIONS = {
    "connect.commands": "Requests to change jobs and tables; consumed by the scheduler. Keyed by aggregate id.",
    "connect.replies": "The scheduler's answer to each command, matched by correlation id.",
    "connect.jobs": "Every change of a job definition or state. Keyed by job id.",
    "connect.tables": "Custom table, profile list and PET definitions. Keyed by lower-cased name.",
    "connect.runs": (
        "Run lifecycle: requested (or skipped), started, progressed, attempts failed, stop requested and exactly one "
        "terminal event. Keyed by job id."
    ),
    "connect.groups": (
        "Group definitions (created, updated, deleted) and group runs (requested, member requested, stop requested, "
        "ended). Keyed by group id."
    ),
    "connect.identity": (
        "Users, roles and API tokens: created, role changed, disabled, enabled, password changed, token issued "
        "and revoked; never a password, hash or token secret. Keyed by user name."
    ),
}


def topic_schema(topic: str) -> dict[str, Any]:
    """JSON Schema of everything `topic` carries (a `oneOf` discriminated by `type`)."""
    schema: dict[str, Any] = TypeAdapter(TOPIC_UNIONS[topic]).json_schema(mode="serialization")
    schema["title"] = topic
    schema["description"] = TOPIC_DESCRIPTIONS[topic]
    return schema


def asyncapi() -> dict[str, Any]:
    """An AsyncAPI 3 document naming each topic, its key and its messages."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    components: dict[str, Any] = {}
    for topic in ALL_TOPICS:
        messages = {}
        for cls in message_classes(topic):
            wire = cls.model_fields["type"].default
            components[cls.__name__] = {
                "name": wire,
                "title": cls.__name__,
                "summary": (cls.__doc__ or "").strip().splitlines()[0],
                "contentType": "application/json",
                "payload": {"$ref": f"./{topic}.schema.json#/$defs/{cls.__name__}"},
            }
            messages[cls.__name__] = {"$ref": f"#/components/messages/{cls.__name__}"}
        channels[topic] = {"address": topic, "description": TOPIC_DESCRIPTIONS[topic], "messages": messages}
        operations[f"receive_{topic.replace('.', '_')}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{topic}"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Connect events", "version": CONTRACT_VERSION},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": components},
    }


def render_all() -> dict[str, str]:
    """File name -> content of every generated document."""
    files = {f"{t}.schema.json": json.dumps(topic_schema(t), indent=2, sort_keys=True) + "\n" for t in ALL_TOPICS}
    files["asyncapi.json"] = json.dumps(asyncapi(), indent=2, sort_keys=True) + "\n"
    return files


def main() -> None:
    """CLI: write the documents into `--out`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/events"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, content in render_all().items():
        (args.out / name).write_text(content)


if __name__ == "__main__":
    main()
