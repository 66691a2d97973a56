"""The back office: Django's admin, for vendor staff only."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _


class BackofficeSite(admin.AdminSite):
    site_header = _("Konto back office")
    site_title = _("Konto back office")
    index_title = _("Billing operations")


backoffice_site = BackofficeSite(name="admin")
