"""The catalog's pure projection rules: events in, read-model changes out (no I/O, no clock)."""
