"""The operator's choices that commands are decided under, from the settings (`config.SchedulerSettings`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    """`allow_private_webhooks`: webhook URLs may name private, loopback and link-local hosts (an opt-in for
    deployments whose receivers live inside their own network; `domain.addresses`)."""

    allow_private_webhooks: bool = False


STRICT = Policy()
