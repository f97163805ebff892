"""Kafka side of riskwatch: event schema and codec, the Faust app, topics and agents."""
