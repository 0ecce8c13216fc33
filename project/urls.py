"""URLs of the example project."""

from django.contrib import admin
from django.urls import path

from project.example import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("count-words", views.count_words),
    path("count-words-sync", views.count_words_sync),
    path("sign-up", views.sign_up),
    path("no-request", views.no_request),
]
