"""App config for the back office: loads the model registrations of `backoffice_site`."""

from typing import Any

from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _sync_staff_groups(*, app_config: AppConfig, **kwargs: Any) -> None:
    # post_migrate is sent once per app with models (the back office has none);
    # the groups are synced once, after the last app, when every model's
    # permissions exist.
    last = [config for config in apps.get_app_configs() if config.models_module is not None][-1]
    if app_config is not last:
        return
    from konto.backoffice.roles import sync_staff_groups

    sync_staff_groups()


class BackofficeConfig(AppConfig):
    name = "konto.backoffice"
    label = "backoffice"
    verbose_name = _("Back office")

    def ready(self) -> None:
        # The registrations target our own site, so they must load even where
        # Django's admin autodiscovery is switched off.
        from konto.backoffice import admin  # noqa: F401

        # The role groups come back after every migrate and every flush (tests).
        post_migrate.connect(_sync_staff_groups, dispatch_uid="konto_staff_groups")
