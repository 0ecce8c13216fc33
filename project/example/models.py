"""Models of the example app."""

from django.db import models


class Welcome(models.Model):
    """A welcome recorded by the `send-welcome` actor (idempotent per email)."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.email
