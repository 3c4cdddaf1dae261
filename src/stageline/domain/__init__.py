"""Pure domain: declarations, validation, statuses. Imports nothing from the adapters."""
