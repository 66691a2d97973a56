"""Development-only pages, included by konto/urls.py when DEBUG is on."""

from django.urls import URLPattern, path

from konto.portal.views import dev

app_name = "portal_dev"
urlpatterns: list[URLPattern] = [
    path("mail/", dev.mailbox, name="mailbox"),
]
