"""Kafka side of riskwatch: the codec, the Faust app and topics, the events agent, the batch
pipeline and the process it runs in, and the worker that assembles them."""
