"""The `consortium` CLI: a pure client of the registry's REST API (it imports nothing of the server)."""
