"""URLs of My Account and its sign-in pages."""

from django.urls import path

from konto.portal.views import auth, overview, settings, users

app_name = "portal"

urlpatterns = [
    # Signing in and out
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("password-reset/", auth.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", auth.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        auth.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password-reset/complete/", auth.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("invitation/<str:token>/", auth.InvitationAcceptView.as_view(), name="accept_invitation"),
    path("language/", auth.LanguageSetView.as_view(), name="set_language"),
    # My Account
    path("account/", overview.OverviewView.as_view(), name="overview"),
    path("account/users/", users.UserListView.as_view(), name="users"),
    path("account/users/invite/", users.UserInviteView.as_view(), name="user_invite"),
    path("account/users/billing-access/", users.BillingAccessGiveView.as_view(), name="billing_access"),
    path("account/users/<str:public_id>/", users.UserDetailView.as_view(), name="user_detail"),
    path("account/users/<str:public_id>/deactivate/", users.UserDeactivateView.as_view(), name="user_deactivate"),
    path("account/users/<str:public_id>/reactivate/", users.UserReactivateView.as_view(), name="user_reactivate"),
    path(
        "account/users/<str:public_id>/resend-invitation/",
        users.UserInvitationResendView.as_view(),
        name="user_resend_invitation",
    ),
    path("account/settings/", settings.BillingProfileEditView.as_view(), name="settings"),
    path("account/settings/api-tokens/", settings.ApiTokenListView.as_view(), name="api_tokens"),
    path(
        "account/settings/api-tokens/<str:public_id>/revoke/",
        settings.ApiTokenRevokeView.as_view(),
        name="api_token_revoke",
    ),
]
