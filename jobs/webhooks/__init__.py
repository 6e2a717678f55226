"""Webhooks: outbound HTTP, signing and delivery."""
