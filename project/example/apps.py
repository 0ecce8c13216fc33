"""The example app: word counting by request/response, sign-ups by emit."""

from django.apps import AppConfig


class ExampleConfig(AppConfig):
    name = "project.example"
    label = "example"
    default_auto_field = "django.db.models.BigAutoField"
