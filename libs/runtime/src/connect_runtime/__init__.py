"""Plumbing shared by Connect's services; no domain logic lives here."""
