"""Admin of the example app."""

from django.contrib import admin

from .models import Welcome


@admin.register(Welcome)
class WelcomeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("email", "name", "created")
