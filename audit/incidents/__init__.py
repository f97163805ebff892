"""Incidents: findings of one rule × model (× key) grouped while the condition lasts, with a
state that operators move and a chained history (grouping, records, lifecycle, queries)."""
