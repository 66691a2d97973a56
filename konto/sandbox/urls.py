"""Pages the sandbox gateway serves itself: card entry and the 3-D Secure challenge."""

from django.urls import URLPattern

app_name = "sandbox"
urlpatterns: list[URLPattern] = []
