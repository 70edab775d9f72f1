"""connect-scheduler: Takes commands, owns job and table definitions and time, emits run requests."""
