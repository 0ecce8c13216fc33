"""The worker side: hosting actors as JetStream durable pull consumers and running their jobs."""

from .worker import Worker

__all__ = ["Worker"]
