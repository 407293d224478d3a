"""Audit: verify the hash chain, replay read models."""
