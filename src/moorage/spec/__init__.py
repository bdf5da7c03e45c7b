"""Pure domain types and validation: no I/O here."""
