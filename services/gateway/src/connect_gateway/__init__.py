"""connect-gateway: REST API, web UI and live progress over the read models."""
