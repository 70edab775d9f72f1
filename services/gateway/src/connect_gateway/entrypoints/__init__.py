"""How the gateway is reached: the HTTP API."""
