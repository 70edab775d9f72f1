"""The scheduler's adapters: its PostgreSQL event store (with job names, id counters and handled commands)."""
