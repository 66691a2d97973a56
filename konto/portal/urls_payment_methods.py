"""My Account payment URLs (included by konto.portal.urls, names in the "portal" namespace)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
