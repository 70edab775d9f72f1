"""The gateway's adapters: Kafka command bus and reply listener, catalog reads, vault, SSH host keys."""
