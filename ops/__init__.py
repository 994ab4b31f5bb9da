"""Scripts that run the service with its companions (make cluster)."""
