"""PostgreSQL and Kafka adapters of the catalog."""
