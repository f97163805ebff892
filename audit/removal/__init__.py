"""Removing stored data, each removal recorded and chained: GDPR Art. 17 erasure of one data
subject's event content, and the event retention purge."""
