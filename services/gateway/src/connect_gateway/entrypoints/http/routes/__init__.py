"""Thin route adapters: parse, call a handler or the read store, map the result."""
