"""Endpoints the payment gateways call (not pages for people)."""

from django.urls import path

from konto.payments import views

app_name = "payments"
urlpatterns = [
    path("stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
]
