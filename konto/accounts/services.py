"""Account use cases: invitations, billing access, licenses, profiles, tokens, login throttling.

Each function is one durable transaction. Changes to an org's users lock the
org row first, so license counts and the last-administrator rule are checked
against a state no concurrent request can change underneath.
"""

from __future__ import annotations

import math
import secrets
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email, validate_ipv46_address
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from konto.accounts.exceptions import (
    CurrencyLocked,
    EmailNotAvailable,
    InvalidInput,
    InvitationInvalid,
    LastSystemAdministrator,
    LicenseLimitReached,
    NotFound,
)
from konto.accounts.models import (
    ApiToken,
    Invitation,
    LicensePool,
    LicenseType,
    LoginFailure,
    Org,
    PermissionSet,
    PermissionSetAssignment,
    Profile,
    User,
)
from konto.accounts.permissions import forget_permissions
from konto.accounts.selectors import hash_secret
from konto.core.audit import Actor, record_event
from konto.core.countries import is_supported_country
from konto.core.money import Currency
from konto.core.vatid import normalize_vat_id

MY_ACCOUNT_ADMIN = "my_account_admin"
IDENTITY_PROFILE = "identity_user"

# ---------------------------------------------------------------- helpers


EMAIL_MAX_LENGTH = 254  # what the email columns hold (RFC 5321 path limit)


def _lock_org(org: Org) -> Org:
    return Org.objects.select_for_update().get(pk=org.pk)


def _lock_user(org: Org, user: User) -> User:
    """The user reloaded inside the org lock; another org's user is NotFound like a missing one."""
    try:
        return User.objects.select_related("profile").get(pk=user.pk, org=org)
    except User.DoesNotExist:
        raise NotFound(_("User not found.")) from None


def _has_control_characters(value: str) -> bool:
    """Line breaks, tabs, NUL and the like have no place in a one-line field (PostgreSQL refuses NUL)."""
    return any(unicodedata.category(char) == "Cc" for char in value)


def _clean_email(email: str) -> str:
    email = email.strip().lower() if isinstance(email, str) else ""
    try:
        if len(email) > EMAIL_MAX_LENGTH:
            raise ValidationError("too long")
        validate_email(email)
    except ValidationError:
        message = _("Enter a valid email address, e.g. name@example.com.")
        raise InvalidInput(message, code="invalid_email", fields={"email": message}) from None
    return email


def _clean_name(full_name: str) -> str:
    full_name = full_name.strip() if isinstance(full_name, str) else ""
    if not full_name:
        message = _("Enter the person's name.")
        raise InvalidInput(message, code="invalid_name", fields={"full_name": message})
    if len(full_name) > 150:
        message = _("The name can have at most 150 characters.")
        raise InvalidInput(message, code="invalid_name", fields={"full_name": message})
    if _has_control_characters(full_name):
        message = _("The name cannot contain line breaks or control characters.")
        raise InvalidInput(message, code="invalid_name", fields={"full_name": message})
    return full_name


def _check_license_available(org: Org, license_type: str, *, exclude_user: User | None = None) -> None:
    """Refuse when every seat of this type is assigned. The org row must be locked."""
    if license_type not in LicenseType.values:
        message = _("Choose a license type: Full or Identity.")
        raise InvalidInput(message, code="invalid_license_type", fields={"license_type": message})
    pool = LicensePool.objects.filter(org=org, license_type=license_type).first()
    total = pool.total_seats if pool else 0
    assigned_qs = User.objects.filter(org=org, license_type=license_type, is_active=True)
    if exclude_user is not None:
        assigned_qs = assigned_qs.exclude(pk=exclude_user.pk)
    assigned = assigned_qs.count()
    if assigned >= total:
        label = LicenseType(license_type).label
        message = _(
            "No %(type)s license is free: %(total)d bought, %(assigned)d assigned, %(free)d free. "
            "Buy more licenses or deactivate a user first."
        ) % {"type": label, "total": total, "assigned": assigned, "free": max(total - assigned, 0)}
        raise LicenseLimitReached(
            message,
            fields={"license_type": message},
            extra={"license_type": license_type, "bought": total, "assigned": assigned, "free": 0},
        )


def _other_active_admins(org: Org, user: User) -> bool:
    return (
        User.objects.filter(org=org, is_active=True, profile__is_system_administrator=True).exclude(pk=user.pk).exists()
    )


def _protect_last_admin(org: Org, user: User) -> None:
    if (
        user.is_active
        and user.profile is not None
        and user.profile.is_system_administrator
        and not _other_active_admins(org, user)
    ):
        raise LastSystemAdministrator(
            _("%(name)s is the org's only active System Administrator. Make another user System Administrator first.")
            % {"name": user.full_name}
        )


def _user_snapshot(user: User) -> dict[str, Any]:
    return {
        "email": user.email,
        "full_name": user.full_name,
        "license_type": user.license_type,
        "profile": user.profile.code if user.profile else None,
        "permission_sets": sorted(ps.code for ps in user.permission_sets.all()),
        "is_active": user.is_active,
    }


def _assign_permission_sets(org: Org, user: User, permission_sets: Iterable[PermissionSet]) -> None:
    wanted = {ps.pk: ps for ps in permission_sets}
    PermissionSetAssignment.objects.filter(user=user).exclude(permission_set_id__in=wanted).delete()
    existing = set(PermissionSetAssignment.objects.filter(user=user).values_list("permission_set_id", flat=True))
    PermissionSetAssignment.objects.bulk_create(
        [
            PermissionSetAssignment(org=org, user=user, permission_set=ps)
            for pk, ps in wanted.items()
            if pk not in existing
        ]
    )
    forget_permissions(user)


def _new_invitation(*, org: Org, user: User, invited_by: User | None, now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    Invitation.objects.filter(user=user, accepted_at__isnull=True, revoked_at__isnull=True).update(revoked_at=now)
    Invitation.objects.create(
        org=org,
        user=user,
        token_hash=hash_secret(token),
        invited_by=invited_by,
        expires_at=now + timedelta(seconds=settings.KONTO_INVITATION_TTL_SECONDS),
    )
    return token


def _send_invitation_email(*, user_id: int, token: str, invited_by_name: str, billing_only: bool) -> None:
    user = User.objects.select_related("org").get(pk=user_id)
    if user.org is None:  # vendor staff are never invited through an org
        return
    language = user.language or user.org.language
    url = settings.KONTO_BASE_URL.rstrip("/") + reverse("portal:accept_invitation", args=[token])
    with translation.override(language):
        context = {
            "user": user,
            "org": user.org,
            "url": url,
            "invited_by": invited_by_name,
            "billing_only": billing_only,
            "product_name": settings.KONTO_PRODUCT_NAME,
            "hours": settings.KONTO_INVITATION_TTL_SECONDS // 3600,
        }
        subject = render_to_string("accounts/email/invitation_subject.txt", context).strip()
        body = render_to_string("accounts/email/invitation.txt", context)
        html = render_to_string("accounts/email/invitation.html", context)
    message = EmailMultiAlternatives(subject, body, to=[user.email])
    message.attach_alternative(html, "text/html")
    message.send()


def _send_invitation_after_commit(user: User, token: str, actor: Actor, *, billing_only: bool) -> None:
    user_id, name = user.pk, actor.email
    transaction.on_commit(
        lambda: _send_invitation_email(user_id=user_id, token=token, invited_by_name=name, billing_only=billing_only)
    )


# ---------------------------------------------------------------- users


@dataclass(frozen=True)
class InviteResult:
    user: User
    created: bool  # False when an existing user of the org was given access


@transaction.atomic(durable=True)
def invite_user(
    *,
    org: Org,
    actor: Actor,
    full_name: str,
    email: str,
    license_type: str,
    profile: Profile,
    permission_sets: Iterable[PermissionSet] = (),
    language: str = "",
) -> User:
    """Create a user of `org` holding a license and send a 72-hour invitation.

    The new user counts against the license pool at once. An email address
    that already belongs to any user is refused.
    """
    full_name = _clean_name(full_name)
    email = _clean_email(email)
    if language not in ("", "de", "en"):
        message = _("Choose German or English.")
        raise InvalidInput(message, code="invalid_language", fields={"language": message})
    org = _lock_org(org)
    if User.objects.filter(email=email).exists():
        message = _("A user with the email address %(email)s already exists.") % {"email": email}
        raise EmailNotAvailable(message, fields={"email": message})
    if profile.is_system_administrator and license_type == LicenseType.IDENTITY:
        message = _("System Administrators need a Full license.")
        raise InvalidInput(message, code="invalid_license_type", fields={"license_type": message})
    _check_license_available(org, license_type)
    now = timezone.now()
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email,
                full_name=full_name,
                org=org,
                license_type=license_type,
                profile=profile,
                language=language,
            )
    except IntegrityError:
        message = _("A user with the email address %(email)s already exists.") % {"email": email}
        raise EmailNotAvailable(message, fields={"email": message}) from None
    _assign_permission_sets(org, user, permission_sets)
    token = _new_invitation(org=org, user=user, invited_by=_actor_user(actor), now=now)
    record_event(
        actor=actor,
        org_id=org.pk,
        action="user.invited",
        object_type="user",
        object_id=user.public_id,
        after=_user_snapshot(user),
    )
    _send_invitation_after_commit(user, token, actor, billing_only=False)
    return user


@transaction.atomic(durable=True)
def give_billing_access(*, org: Org, actor: Actor, full_name: str, email: str) -> InviteResult:
    """Give a person Manage Billing through the My Account Admin permission set.

    If nobody has this email yet, an Identity user is created (a free Identity
    license is used) and invited by email. If a user of this org has it, the
    permission set is added to that user. Another org's address is refused.
    """
    full_name = _clean_name(full_name)
    email = _clean_email(email)
    org = _lock_org(org)
    admin_set = PermissionSet.objects.get(code=MY_ACCOUNT_ADMIN)
    existing = User.objects.filter(email=email).select_related("profile").first()
    if existing is not None:
        if existing.org_id != org.pk:
            message = _("The email address %(email)s cannot be used for this account.") % {"email": email}
            raise EmailNotAvailable(message, fields={"email": message})
        before = _user_snapshot(existing)
        if not existing.is_active:
            _check_license_available(org, existing.license_type)
            existing.is_active = True
            existing.deactivated_at = None
            existing.save(update_fields=["is_active", "deactivated_at"])
        PermissionSetAssignment.objects.get_or_create(org=org, user=existing, permission_set=admin_set)
        forget_permissions(existing)
        after = _user_snapshot(existing)
        if after != before:  # giving access twice is not a second event
            record_event(
                actor=actor,
                org_id=org.pk,
                action="user.billing_access_given",
                object_type="user",
                object_id=existing.public_id,
                before=before,
                after=after,
            )
        return InviteResult(user=existing, created=False)
    _check_license_available(org, LicenseType.IDENTITY)
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email,
                full_name=full_name,
                org=org,
                license_type=LicenseType.IDENTITY,
                profile=Profile.objects.get(code=IDENTITY_PROFILE),
            )
    except IntegrityError:  # another org took the address a moment ago
        message = _("The email address %(email)s cannot be used for this account.") % {"email": email}
        raise EmailNotAvailable(message, fields={"email": message}) from None
    _assign_permission_sets(org, user, [admin_set])
    token = _new_invitation(org=org, user=user, invited_by=_actor_user(actor), now=timezone.now())
    record_event(
        actor=actor,
        org_id=org.pk,
        action="user.billing_access_given",
        object_type="user",
        object_id=user.public_id,
        after=_user_snapshot(user),
    )
    _send_invitation_after_commit(user, token, actor, billing_only=True)
    return InviteResult(user=user, created=True)


@transaction.atomic(durable=True)
def change_user_access(
    *,
    org: Org,
    actor: Actor,
    user: User,
    license_type: str,
    profile: Profile,
    permission_sets: Iterable[PermissionSet],
) -> User:
    """Change a user's license type, profile and permission sets.

    A new license type must have a free seat; the org's last active System
    Administrator cannot be given another profile.
    """
    given = user
    org = _lock_org(org)
    user = _lock_user(org, user)
    before = _user_snapshot(user)
    if license_type not in LicenseType.values:
        message = _("Choose a license type: Full or Identity.")
        raise InvalidInput(message, code="invalid_license_type", fields={"license_type": message})
    if user.profile is not None and user.profile.is_system_administrator and not profile.is_system_administrator:
        _protect_last_admin(org, user)
    if profile.is_system_administrator and license_type != LicenseType.FULL:
        message = _("System Administrators need a Full license.")
        raise InvalidInput(message, code="invalid_license_type", fields={"license_type": message})
    if user.is_active and license_type != user.license_type:
        _check_license_available(org, license_type, exclude_user=user)
    user.license_type = license_type
    user.profile = profile
    user.save(update_fields=["license_type", "profile"])
    _assign_permission_sets(org, user, permission_sets)
    forget_permissions(given)  # the caller's instance may be the request's user
    record_event(
        actor=actor,
        org_id=org.pk,
        action="user.access_changed",
        object_type="user",
        object_id=user.public_id,
        before=before,
        after=_user_snapshot(user),
    )
    return user


@transaction.atomic(durable=True)
def deactivate_user(*, org: Org, actor: Actor, user: User) -> User:
    """Deactivate a user: the license becomes free, pending invitations end, tokens are revoked."""
    org = _lock_org(org)
    user = _lock_user(org, user)
    if not user.is_active:
        return user
    if actor.user_id == user.pk:
        raise InvalidInput(_("You cannot deactivate yourself."), code="cannot_deactivate_self")
    _protect_last_admin(org, user)
    before = _user_snapshot(user)
    now = timezone.now()
    user.is_active = False
    user.deactivated_at = now
    user.save(update_fields=["is_active", "deactivated_at"])
    Invitation.objects.filter(user=user, accepted_at__isnull=True, revoked_at__isnull=True).update(revoked_at=now)
    ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)
    record_event(
        actor=actor,
        org_id=org.pk,
        action="user.deactivated",
        object_type="user",
        object_id=user.public_id,
        before=before,
        after=_user_snapshot(user),
    )
    return user


@transaction.atomic(durable=True)
def reactivate_user(*, org: Org, actor: Actor, user: User) -> User:
    """Reactivate a user if a license of their type is free."""
    org = _lock_org(org)
    user = _lock_user(org, user)
    if user.is_active:
        return user
    _check_license_available(org, user.license_type)
    before = _user_snapshot(user)
    user.is_active = True
    user.deactivated_at = None
    user.save(update_fields=["is_active", "deactivated_at"])
    record_event(
        actor=actor,
        org_id=org.pk,
        action="user.reactivated",
        object_type="user",
        object_id=user.public_id,
        before=before,
        after=_user_snapshot(user),
    )
    return user


@transaction.atomic(durable=True)
def resend_invitation(*, org: Org, actor: Actor, user: User) -> None:
    """Send a fresh invitation link; earlier unused links stop working."""
    org = _lock_org(org)
    user = _lock_user(org, user)
    if not user.is_active:
        raise InvalidInput(_("This user is deactivated. Reactivate the user first."), code="user_inactive")
    if user.has_usable_password():
        raise InvalidInput(_("This user has already joined."), code="already_joined")
    token = _new_invitation(org=org, user=user, invited_by=_actor_user(actor), now=timezone.now())
    record_event(
        actor=actor, org_id=org.pk, action="user.invitation_resent", object_type="user", object_id=user.public_id
    )
    billing_only = user.license_type == LicenseType.IDENTITY
    _send_invitation_after_commit(user, token, actor, billing_only=billing_only)


def _actor_user(actor: Actor) -> User | None:
    return User.objects.filter(pk=actor.user_id).first() if actor.user_id else None


# ---------------------------------------------------------------- invitations


def pending_invitation(token: str) -> Invitation:
    """The usable invitation for a token, or InvitationInvalid (expired, used, revoked, unknown)."""
    invitation = (
        Invitation.objects.select_related("user", "org").filter(token_hash=hash_secret(token)).first()
        if isinstance(token, str)
        else None
    )
    if invitation is None or invitation.revoked_at is not None:
        raise InvitationInvalid(_("This invitation link is not valid. Ask your administrator for a new one."))
    if invitation.accepted_at is not None:
        raise InvitationInvalid(_("This invitation link has already been used. Log in with your password."))
    if invitation.expires_at <= timezone.now():
        raise InvitationInvalid(_("This invitation link has expired. Ask your administrator for a new one."))
    if not invitation.user.is_active:
        raise InvitationInvalid(_("This invitation link is not valid. Ask your administrator for a new one."))
    return invitation


@transaction.atomic(durable=True)
def accept_invitation(*, token: str, password: str) -> User:
    """Set the user's password and spend the invitation; a second use is refused."""
    invitation = pending_invitation(token)
    user = invitation.user
    if not isinstance(password, str) or not password:
        message = _("Enter a password.")
        raise InvalidInput(message, code="invalid_password", fields={"password": message})
    try:
        validate_password(password, user)
    except ValidationError as error:
        message = " ".join(str(m) for m in error.messages)
        raise InvalidInput(message, code="invalid_password", fields={"password": message}) from None
    now = timezone.now()
    # The filtered update is what makes the link single-use under concurrency.
    spent = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True).update(
        accepted_at=now
    )
    if spent != 1:
        raise InvitationInvalid(_("This invitation link has already been used. Log in with your password."))
    user.set_password(password)
    user.save(update_fields=["password"])
    record_event(
        actor=Actor(user_id=user.pk, email=user.email),
        org_id=invitation.org_id,
        action="user.invitation_accepted",
        object_type="user",
        object_id=user.public_id,
    )
    return user


# ---------------------------------------------------------------- billing profile

BILLING_PROFILE_FIELDS = (
    "legal_name",
    "street",
    "address_line2",
    "postal_code",
    "city",
    "country",
    "vat_id",
    "billing_email",
    "currency",
    "language",
)
_MAX_LENGTHS = {
    "legal_name": 200,
    "street": 200,
    "address_line2": 200,
    "postal_code": 20,
    "city": 100,
    "billing_email": 254,
}
_REQUIRED = {"legal_name", "street", "postal_code", "city", "country"}


def _profile_snapshot(org: Org) -> dict[str, Any]:
    return {field: getattr(org, field) for field in BILLING_PROFILE_FIELDS}


def clean_billing_profile(changes: Mapping[str, Any], *, current: Org | None) -> dict[str, Any]:
    """Validate billing-profile fields; return them cleaned or raise InvalidInput with every error.

    With `current` the changes are partial edits of that org; without it they
    describe a new org, so the required fields must be present and currency and
    language default to EUR and German. The VAT ID is checked against the (new)
    country with python-stdnum and returned in compact form.
    """
    if not isinstance(changes, Mapping):
        raise InvalidInput(_("Send the billing profile fields to change."), code="invalid_input")
    unknown = {str(field) for field in changes} - set(BILLING_PROFILE_FIELDS)
    if unknown:
        message = _("Unknown field: %(fields)s.") % {"fields": ", ".join(sorted(unknown))}
        raise InvalidInput(message, code="unknown_field", fields=dict.fromkeys(sorted(unknown), message))
    if current is None:
        changes = (
            dict.fromkeys(BILLING_PROFILE_FIELDS, "")
            | {"currency": "EUR", "language": "de"}
            | {field: value for field, value in changes.items() if value not in (None, "")}
        )
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for field, value in changes.items():
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[field] = _("Enter text.")
            continue
        value = value.strip()
        if field in _REQUIRED and not value:
            errors[field] = _("This field is required.")
        elif field in _MAX_LENGTHS and len(value) > _MAX_LENGTHS[field]:
            errors[field] = _("Use at most %(max)d characters.") % {"max": _MAX_LENGTHS[field]}
        elif _has_control_characters(value):
            errors[field] = _("Remove line breaks and control characters.")
        cleaned[field] = value
    if "country" in cleaned and "country" not in errors:
        cleaned["country"] = cleaned["country"].upper()
        if not is_supported_country(cleaned["country"]):
            errors["country"] = _("Choose a country from the list.")
    if "billing_email" in cleaned and cleaned["billing_email"] and "billing_email" not in errors:
        try:
            cleaned["billing_email"] = _clean_email(cleaned["billing_email"])
        except InvalidInput:
            errors["billing_email"] = _("Enter a valid email address, e.g. name@example.com.")
    if "currency" in cleaned and "currency" not in errors:
        cleaned["currency"] = cleaned["currency"].upper()
        if cleaned["currency"] not in Currency.values:
            errors["currency"] = _("Choose EUR or CHF.")
        elif current is not None and cleaned["currency"] != current.currency and current.is_currency_locked:
            errors["currency"] = str(
                CurrencyLocked(_("The currency cannot change once invoices have been issued.")).message
            )
    if "language" in cleaned and "language" not in errors and cleaned["language"] not in ("de", "en"):
        errors["language"] = _("Choose German or English.")
    current_country = current.country if current is not None else ""
    current_vat_id = current.vat_id if current is not None else ""
    country = cleaned.get("country", current_country) if "country" not in errors else current_country
    if ("vat_id" in cleaned or "country" in cleaned) and "vat_id" not in errors and "country" not in errors:
        try:
            cleaned["vat_id"] = normalize_vat_id(cleaned.get("vat_id", current_vat_id), country)
        except InvalidInput as error:
            errors["vat_id"] = str(error.fields.get("vat_id", error.message))
    if errors:
        code = "invalid_vat_id" if set(errors) == {"vat_id"} else "invalid_input"
        raise InvalidInput(_("Please correct the marked fields."), code=code, fields=dict(errors))
    return cleaned


@transaction.atomic(durable=True)
def update_billing_profile(*, org: Org, actor: Actor, changes: dict[str, Any]) -> Org:
    """Change the org's billing profile; every field is validated before anything is saved.

    Raises InvalidInput with all field errors at once (see clean_billing_profile).
    Only changed fields are saved and audited; an unchanged submission writes nothing.
    """
    org = _lock_org(org)
    cleaned = clean_billing_profile(changes, current=org)
    before = _profile_snapshot(org)
    for field, value in cleaned.items():
        setattr(org, field, value)
    after = _profile_snapshot(org)
    if before != after:
        org.save(update_fields=[*(field for field in after if after[field] != before[field]), "updated_at"])
        record_event(
            actor=actor,
            org_id=org.pk,
            action="org.billing_profile_changed",
            object_type="org",
            object_id=org.public_id,
            before={k: v for k, v in before.items() if after[k] != v},
            after={k: v for k, v in after.items() if before[k] != v},
        )
    return org


@transaction.atomic(durable=True)
def set_user_language(*, user: User, language: str) -> None:
    if language not in ("de", "en"):
        raise InvalidInput(_("Choose German or English."), code="invalid_language")
    User.objects.filter(pk=user.pk).update(language=language)
    user.language = language


# ---------------------------------------------------------------- API tokens

TOKEN_PREFIX = "konto_"  # noqa: S105 - a public marker that makes leaked tokens recognisable, not a secret


@transaction.atomic(durable=True)
def create_api_token(*, org: Org, user: User, actor: Actor, name: str) -> tuple[ApiToken, str]:
    """Create a bearer token for `user`; the secret is returned once and only its hash is kept."""
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 100 or _has_control_characters(name):
        message = _("Give the token a name of at most 100 characters.")
        raise InvalidInput(message, code="invalid_name", fields={"name": message})
    if user.org_id != org.pk or not user.is_active:
        raise NotFound(_("User not found."))
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        org=org,
        user=user,
        name=name,
        token_prefix=secret[: len(TOKEN_PREFIX) + 6],
        token_hash=hash_secret(secret),
        created_by=_actor_user(actor),
    )
    record_event(
        actor=actor,
        org_id=org.pk,
        action="api_token.created",
        object_type="api_token",
        object_id=token.public_id,
        after={"name": name, "user": user.email},
    )
    return token, secret


@transaction.atomic(durable=True)
def revoke_api_token(*, org: Org, actor: Actor, public_id: str) -> ApiToken:
    token = ApiToken.objects.select_for_update().filter(org=org, public_id=public_id).first()
    if token is None:
        raise NotFound(_("API token not found."))
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_event(
            actor=actor, org_id=org.pk, action="api_token.revoked", object_type="api_token", object_id=token.public_id
        )
    return token


def touch_api_token(token: ApiToken) -> None:
    """Record use at most once a minute, so reads do not turn into writes."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)


# ---------------------------------------------------------------- login throttling


def _throttle_key(email: str | None, ip_address: str | None) -> tuple[str, str | None]:
    """The (email, IP) pair failures are counted for, normalised the same way for writing and reading."""
    email = email.strip().lower()[:EMAIL_MAX_LENGTH] if isinstance(email, str) else ""
    if ip_address is not None:
        try:
            validate_ipv46_address(ip_address)
        except ValidationError:
            ip_address = None  # not an address a database column can hold: counted as "unknown client"
    return email, ip_address


def login_lock_remaining(*, email: str, ip_address: str | None) -> int:
    """Seconds until this email + IP may try again; 0 when not locked.

    The pair is locked once KONTO_LOGIN_MAX_FAILURES failures fall within one
    lockout period, for the lockout period counted from the last of them.
    Attempts while locked are not recorded, so the lock does not extend itself.
    """
    email, ip_address = _throttle_key(email, ip_address)
    now = timezone.now()
    period = timedelta(seconds=settings.KONTO_LOGIN_LOCKOUT_SECONDS)
    limit = settings.KONTO_LOGIN_MAX_FAILURES
    failures = list(
        LoginFailure.objects.filter(email=email, ip_address=ip_address, created_at__gt=now - 2 * period)
        .order_by("-created_at")
        .values_list("created_at", flat=True)[:limit]
    )
    if len(failures) < limit:
        return 0
    last, first = failures[0], failures[-1]
    if last - first >= period:  # the failures were spread over more than one period
        return 0
    remaining = (last + period - now).total_seconds()
    return math.ceil(remaining) if remaining > 0 else 0


def record_login_failure(*, email: str, ip_address: str | None) -> None:
    email, ip_address = _throttle_key(email, ip_address)
    LoginFailure.objects.create(email=email, ip_address=ip_address)


def clear_login_failures(*, email: str, ip_address: str | None) -> None:
    email, ip_address = _throttle_key(email, ip_address)
    LoginFailure.objects.filter(email=email, ip_address=ip_address).delete()
    # Old rows of anybody are pruned on the way.
    LoginFailure.objects.filter(created_at__lt=timezone.now() - timedelta(days=1)).delete()
