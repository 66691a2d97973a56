"""Sign-in pages: login and its throttling, logout, sessions, CSRF, password reset, invitations, language."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client

from konto.accounts.models import Invitation, LicenseType, LoginFailure, Org, Profile, User
from konto.accounts.services.users import deactivate_user, invite_user, resend_invitation
from konto.accounts.testing import PASSWORD, make_user
from konto.core.audit import Actor

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WRONG = "not-the-password"
NEW_PASSWORD = "Kaffee-und-Kuchen-42"


def english_client(**defaults) -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en", **defaults)


@pytest.fixture
def client() -> Client:
    """A browser asking for English, the language these assertions are written in."""
    return english_client()


def log_in(client: Client, email: str, password: str, *, ip: str = "127.0.0.1", next_url: str = ""):
    data = {"email": email, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post("/login/", data, REMOTE_ADDR=ip)


def signed_in_user_id(client: Client) -> str | None:
    return client.session.get(SESSION_KEY)


def invitation_path(message: mail.EmailMessage) -> str:
    match = re.search(r"http://testserver(/invitation/[^/\s]+/)", str(message.body))
    assert match, message.body
    return match.group(1)


def invite(org: Org, inviter: User, email: str, capture) -> tuple[User, str]:
    """Invite a Standard User the way the users page does; returns the user and the link's path."""
    with capture(execute=True):
        user = invite_user(
            org=org,
            actor=Actor(user_id=inviter.pk, email=inviter.email),
            full_name="Nina Neu",
            email=email,
            license_type=LicenseType.FULL,
            profile=Profile.objects.get(code="standard_user"),
        )
    return user, invitation_path(mail.outbox[-1])


# ---------------------------------------------------------------- login


def test_login_with_right_password_opens_my_account(client, admin):
    response = log_in(client, "admin@test.example", PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert signed_in_user_id(client) == str(admin.pk)


def test_login_ignores_case_and_spaces_in_the_email(client, admin):
    response = log_in(client, "  Admin@Test.EXAMPLE ", PASSWORD)

    assert response.status_code == 302
    assert signed_in_user_id(client) == str(admin.pk)


def test_login_with_wrong_password_says_so_without_signing_in(client, admin):
    response = log_in(client, "admin@test.example", WRONG)

    assert response.status_code == 200
    assert "Email or password is wrong." in response.content.decode()
    assert 'value="admin@test.example"' in response.content.decode()  # the form keeps the email
    assert signed_in_user_id(client) is None
    assert LoginFailure.objects.filter(email="admin@test.example").count() == 1


def test_login_with_unknown_email_gives_the_same_message(client, admin):
    response = log_in(client, "nobody@test.example", WRONG)

    assert response.status_code == 200
    assert "Email or password is wrong." in response.content.decode()
    assert signed_in_user_id(client) is None


def test_login_of_deactivated_user_is_refused(client, org, admin, standard_user):
    User.objects.filter(pk=standard_user.pk).update(is_active=False)

    response = log_in(client, "sales@test.example", PASSWORD)

    assert response.status_code == 200
    assert "Email or password is wrong." in response.content.decode()
    assert signed_in_user_id(client) is None


@pytest.mark.parametrize(
    ("email", "password", "expected"),
    [
        ("not-an-email", PASSWORD, "Enter a valid email address."),
        ("", PASSWORD, "This field is required."),
        ("admin@test.example", "", "This field is required."),
        ("a" * 250 + "@test.example", PASSWORD, "Ensure this value has at most 254 characters"),
    ],
)
def test_login_with_malformed_input_shows_field_error(client, admin, email, password, expected):
    response = log_in(client, email, password)

    assert response.status_code == 200
    assert expected in response.content.decode()
    assert signed_in_user_id(client) is None
    assert LoginFailure.objects.count() == 0


def test_fifth_failure_locks_the_sign_in_and_says_for_how_long(client, admin):
    with time_machine.travel(T0, tick=False):
        for _ in range(4):
            response = log_in(client, "admin@test.example", WRONG)
            assert "Email or password is wrong." in response.content.decode()

        response = log_in(client, "admin@test.example", WRONG)

    assert (
        "Too many failed attempts. For your security this sign-in is locked for 15 more minutes."
        in response.content.decode()
    )


def test_locked_sign_in_refuses_even_the_right_password(client, admin):
    with time_machine.travel(T0, tick=False) as clock:
        for _ in range(5):
            log_in(client, "admin@test.example", WRONG)
        clock.shift(timedelta(minutes=5))

        response = log_in(client, "admin@test.example", PASSWORD)

    assert response.status_code == 200
    assert "locked for 10 more minutes" in response.content.decode()
    assert signed_in_user_id(client) is None
    assert LoginFailure.objects.count() == 5  # a locked pair is not even tried


def test_lock_counts_down_to_the_last_minute(client, admin):
    with time_machine.travel(T0, tick=False) as clock:
        for _ in range(5):
            log_in(client, "admin@test.example", WRONG)
        clock.shift(timedelta(minutes=14, seconds=30))

        response = log_in(client, "admin@test.example", PASSWORD)

    assert "locked for 1 more minute." in response.content.decode()
    assert signed_in_user_id(client) is None


def test_lock_ends_after_15_minutes(client, admin):
    with time_machine.travel(T0, tick=False) as clock:
        for _ in range(5):
            log_in(client, "admin@test.example", WRONG)
        clock.shift(timedelta(minutes=15))

        response = log_in(client, "admin@test.example", PASSWORD)

        assert response.status_code == 302
        assert signed_in_user_id(client) == str(admin.pk)
    assert LoginFailure.objects.filter(email="admin@test.example").count() == 0


def test_lock_applies_to_one_email_from_one_ip_only(client, admin, billing_user):
    with time_machine.travel(T0, tick=False):
        for _ in range(5):
            log_in(client, "admin@test.example", WRONG, ip="10.0.0.1")

        same_email_other_ip = log_in(english_client(), "admin@test.example", PASSWORD, ip="10.0.0.2")
        other_email_same_ip = log_in(english_client(), "billing@test.example", PASSWORD, ip="10.0.0.1")
        locked_pair = log_in(english_client(), "admin@test.example", PASSWORD, ip="10.0.0.1")

    assert same_email_other_ip.status_code == 302
    assert other_email_same_ip.status_code == 302
    assert locked_pair.status_code == 200
    assert "Too many failed attempts" in locked_pair.content.decode()


def test_successful_login_forgets_earlier_failures(client, admin):
    with time_machine.travel(T0, tick=False):
        for _ in range(4):
            log_in(client, "admin@test.example", WRONG)
        log_in(english_client(), "admin@test.example", PASSWORD)

        response = log_in(client, "admin@test.example", WRONG)

    assert "Email or password is wrong." in response.content.decode()
    assert LoginFailure.objects.filter(email="admin@test.example").count() == 1


def test_login_follows_next_within_the_site(client, admin):
    response = log_in(client, "admin@test.example", PASSWORD, next_url="/account/users/")

    assert response["Location"] == "/account/users/"


@pytest.mark.parametrize(
    "next_url",
    ["https://evil.example/phish", "//evil.example/phish", "http://testserver.evil.example/", "javascript:alert(1)"],
)
def test_login_refuses_to_redirect_to_another_site(client, admin, next_url):
    response = log_in(client, "admin@test.example", PASSWORD, next_url=next_url)

    assert response.status_code == 302
    assert response["Location"] == "/account/"


def test_login_page_carries_a_safe_next_only(client):
    safe = client.get("/login/?next=/account/users/").content.decode()
    unsafe = client.get("/login/?next=https://evil.example/").content.decode()

    assert '<input type="hidden" name="next" value="/account/users/">' in safe
    assert '<input type="hidden" name="next" value="https://evil.example/">' not in unsafe
    assert '<input type="hidden" name="next" value="">' not in unsafe


def test_vendor_staff_start_in_the_back_office(client, db):
    make_user(None, "ops@vendor.example", full_name="Otto Ops", staff_role=User.StaffRole.BILLING_OPS)

    response = log_in(client, "ops@vendor.example", PASSWORD)

    assert response["Location"] == "/backoffice/"


# ---------------------------------------------------------------- logout, sessions, CSRF


def test_logout_needs_post(client, admin):
    client.force_login(admin)

    refused = client.get("/logout/")
    still_signed_in = signed_in_user_id(client)
    response = client.post("/logout/")

    assert refused.status_code == 405
    assert still_signed_in == str(admin.pk)
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert signed_in_user_id(client) is None
    assert "You are logged out." in client.get("/login/").content.decode()


def test_sessions_expire_after_12_hours_without_a_request():
    assert settings.SESSION_COOKIE_AGE == 12 * 60 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST is True


def test_idle_session_sends_the_user_back_to_login(client, admin):
    with time_machine.travel(T0, tick=False) as clock:
        log_in(client, "admin@test.example", PASSWORD)
        clock.shift(timedelta(hours=12, minutes=1))

        response = client.get("/account/users/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/account/users/"


def test_each_request_keeps_the_session_alive_for_another_12_hours(client, admin):
    with time_machine.travel(T0, tick=False) as clock:
        log_in(client, "admin@test.example", PASSWORD)
        clock.shift(timedelta(hours=11))
        first = client.get("/account/users/")
        clock.shift(timedelta(hours=11))

        second = client.get("/account/users/")

    assert first.status_code == 200
    assert second.status_code == 200


def test_login_needs_the_csrf_token(admin):
    client = english_client(enforce_csrf_checks=True)

    refused = log_in(client, "admin@test.example", PASSWORD)
    client.get("/login/")
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    accepted = client.post(
        "/login/", {"email": "admin@test.example", "password": PASSWORD, "csrfmiddlewaretoken": token}
    )

    assert refused.status_code == 403
    assert accepted.status_code == 302


def test_logout_needs_the_csrf_token(admin):
    client = english_client(enforce_csrf_checks=True)
    client.force_login(admin)

    response = client.post("/logout/")

    assert response.status_code == 403
    assert signed_in_user_id(client) == str(admin.pk)


# ---------------------------------------------------------------- password reset


def html_body(message: mail.EmailMessage) -> str:
    assert isinstance(message, mail.EmailMultiAlternatives)
    content = message.alternatives[0][0]
    assert isinstance(content, str)
    return content


def reset_path(message: mail.EmailMessage) -> str:
    match = re.search(r"http://testserver(/password-reset/[^/\s]+/[^/\s]+/)", str(message.body))
    assert match, message.body
    return match.group(1)


def test_password_reset_mails_a_link_that_sets_a_new_password(client, admin):
    response = client.post("/password-reset/", {"email": "Admin@test.example"})

    assert response.status_code == 302
    assert response["Location"] == "/password-reset/sent/"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["admin@test.example"]

    form_page = client.get(reset_path(mail.outbox[0]), follow=True)
    assert form_page.status_code == 200
    assert form_page.context["validlink"] is True
    set_password_path = form_page.redirect_chain[-1][0]
    done = client.post(set_password_path, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert done["Location"] == "/password-reset/complete/"
    admin.refresh_from_db()
    assert admin.check_password(NEW_PASSWORD)
    assert log_in(english_client(), "admin@test.example", NEW_PASSWORD).status_code == 302


def test_password_reset_link_works_once(client, admin):
    client.post("/password-reset/", {"email": "admin@test.example"})
    path = reset_path(mail.outbox[0])
    form_page = client.get(path, follow=True)
    client.post(form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    again = english_client().get(path, follow=True)

    assert again.context["validlink"] is False
    assert "This link does not work" in again.content.decode()


def test_password_reset_refuses_a_weak_new_password(client, admin):
    client.post("/password-reset/", {"email": "admin@test.example"})
    form_page = client.get(reset_path(mail.outbox[0]), follow=True)

    response = client.post(form_page.redirect_chain[-1][0], {"new_password1": "short", "new_password2": "short"})

    assert response.status_code == 200
    assert "This password is too short." in response.content.decode()
    admin.refresh_from_db()
    assert admin.check_password(PASSWORD)


def test_password_reset_for_an_unknown_email_looks_the_same(client, admin):
    known = client.post("/password-reset/", {"email": "admin@test.example"})
    unknown = client.post("/password-reset/", {"email": "nobody@test.example"})

    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])
    assert len(mail.outbox) == 1  # only the real user got a message


def test_password_reset_email_is_in_the_users_language(client, org, admin):
    User.objects.filter(pk=admin.pk).update(language="en")
    Org.objects.filter(pk=org.pk).update(language="de")
    make_user(org, "kasse@test.example", full_name="Karl Kasse")  # no own language: the org's

    client.post("/password-reset/", {"email": "admin@test.example"})
    client.post("/password-reset/", {"email": "kasse@test.example"})

    english, german = (html_body(message) for message in mail.outbox)
    assert '<html lang="en">' in english
    assert '<html lang="de">' in german


def test_password_reset_with_invalid_email_shows_the_error(client, admin):
    response = client.post("/password-reset/", {"email": "not an email"})

    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    assert mail.outbox == []


# ---------------------------------------------------------------- invitations


def test_invitation_page_shows_who_is_invited_where(client, org, admin, django_capture_on_commit_callbacks):
    _, path = invite(org, admin, "nina@test.example", django_capture_on_commit_callbacks)

    response = client.get(path)

    content = response.content.decode()
    assert response.status_code == 200
    assert "Nina Neu" in content
    assert "Bäckerei Test GmbH" in content
    assert 'value="nina@test.example"' in content


def test_accepting_an_invitation_sets_the_password_and_signs_in(client, org, admin, django_capture_on_commit_callbacks):
    user, path = invite(org, admin, "nina@test.example", django_capture_on_commit_callbacks)

    response = client.post(path, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert signed_in_user_id(client) == str(user.pk)
    assert Invitation.objects.get(user=user).accepted_at is not None


def test_invitation_link_works_only_once(client, org, admin, django_capture_on_commit_callbacks):
    user, path = invite(org, admin, "nina@test.example", django_capture_on_commit_callbacks)
    client.post(path, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})

    second_look = english_client().get(path)
    second_use = english_client().post(
        path, {"password": "Ganz-anderes-Passwort-7", "password_confirm": "Ganz-anderes-Passwort-7"}
    )

    assert second_look.status_code == 400
    assert "This invitation link has already been used." in second_look.content.decode()
    assert second_use.status_code == 400
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_invitation_expires_after_72_hours(client, org, admin, django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False) as clock:
        user, path = invite(org, admin, "nina@test.example", django_capture_on_commit_callbacks)
        clock.shift(timedelta(hours=71, minutes=59))
        still_valid = client.get(path)
        clock.shift(timedelta(minutes=1))

        expired = client.get(path)
        refused = client.post(path, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})

    assert still_valid.status_code == 200
    assert expired.status_code == 400
    assert "This invitation link has expired." in expired.content.decode()
    assert refused.status_code == 400
    user.refresh_from_db()
    assert not user.has_usable_password()
    assert signed_in_user_id(client) is None


def test_resending_an_invitation_revokes_the_earlier_link(client, org, admin, django_capture_on_commit_callbacks):
    user, old_path = invite(org, admin, "nina@test.example", django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        resend_invitation(org=org, actor=Actor(user_id=admin.pk, email=admin.email), user=user)
    new_path = invitation_path(mail.outbox[-1])

    old = client.post(old_path, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    new = client.post(new_path, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})

    assert old.status_code == 400
    assert "This invitation link is not valid." in old.content.decode()
    assert new.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_unknown_invitation_token_is_refused(client, db):
    response = client.get("/invitation/made-up-token/")

    assert response.status_code == 400
    assert "This invitation link is not valid." in response.content.decode()


@pytest.mark.parametrize(
    ("password", "confirm", "field", "expected"),
    [
        (NEW_PASSWORD, NEW_PASSWORD + "x", "password_confirm", "The two passwords differ."),
        ("short", "short", "password", "This password is too short."),
        ("password1234", "password1234", "password", "This password is too common."),
        ("", "", "password", "This field is required."),
    ],
)
def test_invitation_refuses_a_bad_password_and_stays_usable(
    client, org, admin, django_capture_on_commit_callbacks, password, confirm, field, expected
):
    user, path = invite(org, admin, "nina@test.example", django_capture_on_commit_callbacks)

    response = client.post(path, {"password": password, "password_confirm": confirm})

    assert response.status_code == 200
    assert expected in " ".join(response.context["form"].errors[field])
    user.refresh_from_db()
    assert not user.has_usable_password()
    assert Invitation.objects.get(user=user).accepted_at is None
    assert signed_in_user_id(client) is None


def test_invitation_of_a_deactivated_user_is_refused(client, org, admin, django_capture_on_commit_callbacks):
    user, path = invite(org, admin, "nina@test.example", django_capture_on_commit_callbacks)
    deactivate_user(org=org, actor=Actor(user_id=admin.pk, email=admin.email), user=user)

    response = client.post(path, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})

    assert response.status_code == 400
    user.refresh_from_db()
    assert not user.has_usable_password()


# ---------------------------------------------------------------- language


def test_language_switch_sets_the_cookie_and_the_users_language(client, admin):
    client.force_login(admin)

    response = client.post("/language/", {"language": "en", "next": "/account/users/"})

    assert response.status_code == 302
    assert response["Location"] == "/account/users/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    admin.refresh_from_db()
    assert admin.language == "en"


def test_language_switch_for_a_visitor_sets_the_cookie(client, db):
    response = client.post("/language/", {"language": "en", "next": "/login/"})

    assert response["Location"] == "/login/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert '<html lang="en">' in client.get("/login/").content.decode()


@pytest.mark.parametrize("language", ["fr", "", "de-XX", "x" * 500])
def test_language_switch_ignores_an_unknown_language(client, admin, language):
    User.objects.filter(pk=admin.pk).update(language="de")
    client.force_login(admin)

    response = client.post("/language/", {"language": language, "next": "/account/users/"})

    assert response.status_code == 302
    assert response["Location"] == "/account/users/"
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    admin.refresh_from_db()
    assert admin.language == "de"


def test_language_switch_does_not_redirect_to_another_site(client, db):
    response = client.post("/language/", {"language": "en", "next": "https://evil.example/"})

    assert response["Location"] == "/login/"


def test_language_switch_needs_post(client, admin):
    client.force_login(admin)

    response = client.get("/language/?language=en")

    assert response.status_code == 405
    admin.refresh_from_db()
    assert admin.language == ""
