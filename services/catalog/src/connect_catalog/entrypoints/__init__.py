"""How events reach the use cases: the live projector and the rebuild."""
