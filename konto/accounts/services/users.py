"""An org's users: invitations sent, billing access, licenses and access, (de)activation, a user's own language.

Each function is one durable transaction. Changes to an org's users lock the
org row first, so license counts and the last-administrator rule are checked
against a state no concurrent request can change underneath.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from konto.accounts.exceptions import (
    EmailNotAvailable,
    InvalidInput,
    LastSystemAdministrator,
    LicenseLimitReached,
    NotFound,
)
from konto.accounts.models import (
    ApiToken,
    Invitation,
    LicensePool,
    LicenseType,
    Org,
    PermissionSet,
    PermissionSetAssignment,
    Profile,
    User,
)
from konto.accounts.permissions import forget_permissions
from konto.accounts.services._common import _actor_user, _clean_email, _has_control_characters, _lock_org
from konto.accounts.services.invitations import _new_invitation, _send_invitation_after_commit
from konto.core.audit import Actor, record_event

MY_ACCOUNT_ADMIN = "my_account_admin"
IDENTITY_PROFILE = "identity_user"


def _lock_user(org: Org, user: User) -> User:
    """The user reloaded inside the org lock; another org's user is NotFound like a missing one."""
    try:
        return User.objects.select_related("profile").get(pk=user.pk, org=org)
    except User.DoesNotExist:
        raise NotFound(_("User not found.")) from None


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


def _record_user_event(
    actor: Actor, org: Org, user: User, action: str, *, before: dict[str, Any] | None = None
) -> None:
    """Audit `action` on `user` with the user's snapshot after it (and `before`, for a change)."""
    record_event(
        actor=actor,
        org_id=org.pk,
        action=action,
        object_type="user",
        object_id=user.public_id,
        before=before,
        after=_user_snapshot(user),
    )


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
    _record_user_event(actor, org, user, "user.invited")
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
    _record_user_event(actor, org, user, "user.billing_access_given")
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
    _record_user_event(actor, org, user, "user.access_changed", before=before)
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
    _record_user_event(actor, org, user, "user.deactivated", before=before)
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
    _record_user_event(actor, org, user, "user.reactivated", before=before)
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


@transaction.atomic(durable=True)
def set_user_language(*, user: User, language: str) -> None:
    if language not in ("de", "en"):
        raise InvalidInput(_("Choose German or English."), code="invalid_language")
    User.objects.filter(pk=user.pk).update(language=language)
    user.language = language
