"""How work reaches the runner: Kafka consumers for run requests and table definitions."""
