"""A group's stream, its case-insensitive name ownership and the group-id counter, in the command's transaction."""

from __future__ import annotations

from connect_scheduler.adapters.job_names import Register

GROUP_NAMES_DDL = """
-- Group names are unique case-insensitively among groups; one row per live (not deleted) group.
CREATE TABLE IF NOT EXISTS group_names (
    lower_name text   PRIMARY KEY,
    group_id   bigint NOT NULL UNIQUE
);
INSERT INTO counters (name, value) VALUES ('group_id', 0) ON CONFLICT (name) DO NOTHING;
"""
GROUPS = Register("group")

name_owner = GROUPS.name_owner
claim_name = GROUPS.claim_name
release_name = GROUPS.release_name
next_group_id = GROUPS.next_id


def group_stream(group_id: int) -> str:
    """The stream of one group and its group runs."""
    return f"group:{group_id}"
