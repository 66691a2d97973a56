"""Forms of user administration: invite, give billing access, change a user's access."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from konto.accounts import selectors
from konto.accounts.models import Language, LicenseType, PermissionSet, User
from konto.accounts.permissions import REGISTRY

NAME_MAX_LENGTH = 150


class PermissionSetChoiceField(forms.ModelMultipleChoiceField):  # type: ignore[type-arg]  # generic in the stubs only
    """Permission sets as checkboxes, each labelled with the permissions it grants."""

    def label_from_instance(self, obj: PermissionSet) -> str:
        granted = ", ".join(str(REGISTRY[code].label) for code in obj.permissions if code in REGISTRY)
        return f"{obj} ({granted})" if granted else str(obj)


def _full_name_field() -> forms.CharField:
    return forms.CharField(
        label=_("Name"),
        max_length=NAME_MAX_LENGTH,
        error_messages={
            "required": _("Enter the person's name."),
            "max_length": _("The name can have at most 150 characters."),
        },
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


def _email_field() -> forms.EmailField:
    return forms.EmailField(
        label=_("Email"),
        max_length=254,
        error_messages={
            "required": _("Enter the person's email address."),
            "invalid": _("Enter a valid email address, e.g. name@example.com."),
            "max_length": _("The email address can have at most 254 characters."),
        },
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )


class UserAccessForm(forms.Form):
    """License type, profile and permission sets of one user."""

    license_type = forms.ChoiceField(
        label=_("License type"),
        choices=LicenseType.choices,
        help_text=_("Full: uses the product and My Account. Identity: My Account only."),
        error_messages={"invalid_choice": _("Choose a license type: Full or Identity.")},
    )
    profile = forms.ModelChoiceField(
        label=_("Profile"),
        queryset=selectors.assignable_profiles(),
        to_field_name="code",
        empty_label=None,
        error_messages={"invalid_choice": _("Choose a profile from the list.")},
    )
    permission_sets = PermissionSetChoiceField(
        label=_("Permission sets"),
        queryset=selectors.assignable_permission_sets(),
        to_field_name="code",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Extra permissions on top of the profile. My Account Admin gives Manage Billing."),
        error_messages={
            "invalid_choice": _("Choose permission sets from the list."),
            "invalid_pk_value": _("Choose permission sets from the list."),
            "invalid_list": _("Choose permission sets from the list."),
        },
    )

    @classmethod
    def initial_for(cls, user: User) -> dict[str, Any]:
        return {
            "license_type": user.license_type,
            "profile": user.profile.code if user.profile else None,
            "permission_sets": [permission_set.code for permission_set in user.permission_sets.all()],
        }


class UserInviteForm(UserAccessForm):
    """A new user of the org: who, which license and access, which language the invitation is in."""

    full_name = _full_name_field()
    email = _email_field()
    language = forms.ChoiceField(
        label=_("Language"),
        choices=[("", _("Same as the organisation")), *Language.choices],
        required=False,
        help_text=_("The language of the invitation email and of My Account for this user."),
        error_messages={"invalid_choice": _("Choose German or English.")},
    )

    field_order = ["full_name", "email", "license_type", "profile", "permission_sets", "language"]


class BillingAccessForm(forms.Form):
    """Name and email of the person who should get Manage Billing."""

    full_name = _full_name_field()
    email = _email_field()
