"""The audit store: the only code that touches the database."""
