"""Alert webhooks: subscriptions (chained admin actions), the outbox of deliveries written with
their findings, and the dispatcher that signs, sends and retries them off the event path."""
