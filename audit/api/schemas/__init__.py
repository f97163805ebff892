"""Request and response models of the audit API, one module per resource (as audit/api/routes/)."""
