"""Pages the sandbox gateway serves itself: card entry and the 3-D Secure challenge."""

from django.urls import path

from konto.sandbox import views

app_name = "sandbox"
urlpatterns = [
    path("setup/<str:ref>/", views.SandboxCardView.as_view(), name="card"),
    path("setup/<str:ref>/challenge/", views.SandboxSetupChallengeView.as_view(), name="setup_challenge"),
    path("charges/<str:ref>/challenge/", views.SandboxChargeChallengeView.as_view(), name="charge_challenge"),
]
