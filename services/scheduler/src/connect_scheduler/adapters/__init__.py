"""The scheduler's adapters: its PostgreSQL event store (with job names and id counters)."""
