"""State shared by replicas of the service (Redis)."""
