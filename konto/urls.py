"""Top-level URL map: My Account, the back office, the API."""

from django.conf import settings
from django.urls import include, path
from django.views.generic import RedirectView

from konto.api.api import api
from konto.backoffice.admin_site import backoffice_site

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="portal:overview", permanent=False)),
    path("", include("konto.portal.urls")),
    path("backoffice/", backoffice_site.urls),
    path("api/v1/", api.urls),
    # The sandbox gateway's own pages (card entry, 3-D Secure); the Stripe adapter uses Stripe's instead.
    path("sandbox-gateway/", include("konto.sandbox.urls")),
    path("payments/", include("konto.payments.urls")),  # gateway webhooks (Stripe)
]

if settings.DEBUG:
    urlpatterns += [path("dev/", include("konto.portal.dev_urls"))]
