"""One module per transport; ``registry.TRANSPORTS`` lists them (docs/notifications.md)."""
