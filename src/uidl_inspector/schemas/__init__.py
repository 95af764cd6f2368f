"""schemas layer."""
