"""URLs of My Account and its sign-in pages."""

from django.urls import include, path

from konto.portal.views import auth, contracts, invoices, overview, products, settings, users

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
    path("account/contracts/", contracts.ContractListView.as_view(), name="contracts"),
    path("account/contracts/<str:public_id>/", contracts.ContractDetailView.as_view(), name="contract_detail"),
    path(
        "account/contracts/<str:public_id>/summary.pdf",
        contracts.ContractSummaryPdfView.as_view(),
        name="contract_summary_pdf",
    ),
    path("account/orders/<str:public_id>/", contracts.OrderDetailView.as_view(), name="order_detail"),
    path("account/products/", products.ProductListView.as_view(), name="products"),
    path("account/products/order/preview/", products.OrderPreviewView.as_view(), name="order_preview"),
    path("account/products/order/confirm/", products.OrderConfirmView.as_view(), name="order_confirm"),
    path("account/invoices/", invoices.InvoiceListView.as_view(), name="invoices"),
    path("account/invoices/<str:public_id>/", invoices.InvoiceDetailView.as_view(), name="invoice_detail"),
    path(
        "account/invoices/<str:public_id>/download/<str:kind>/",
        invoices.InvoiceDownloadView.as_view(),
        name="invoice_download",
    ),
    path("account/invoices/<str:public_id>/email/", invoices.InvoiceEmailView.as_view(), name="invoice_email"),
    path("account/invoices/<str:public_id>/share/", invoices.ShareLinkCreateView.as_view(), name="invoice_share"),
    path(
        "account/invoices/<str:public_id>/share/<str:link_id>/revoke/",
        invoices.ShareLinkRevokeView.as_view(),
        name="share_link_revoke",
    ),
    path(
        "account/credit-notes/<str:public_id>/download/<str:kind>/",
        invoices.CreditNoteDownloadView.as_view(),
        name="credit_note_download",
    ),
    path("share/<str:token>/", invoices.SharedInvoiceView.as_view(), name="shared_invoice"),
    path("share/<str:token>/download/", invoices.SharedInvoiceDownloadView.as_view(), name="shared_invoice_download"),
    path("account/payment/", include("konto.portal.urls_payment_methods")),
    path("account/payment/", include("konto.portal.urls_payments")),
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
        "account/settings/invoice-recipients/",
        invoices.InvoiceRecipientListView.as_view(),
        name="invoice_recipients",
    ),
    path(
        "account/settings/invoice-recipients/<str:public_id>/",
        invoices.InvoiceRecipientEditView.as_view(),
        name="invoice_recipient_edit",
    ),
    path(
        "account/settings/invoice-recipients/<str:public_id>/remove/",
        invoices.InvoiceRecipientRemoveView.as_view(),
        name="invoice_recipient_remove",
    ),
    path(
        "account/settings/api-tokens/<str:public_id>/revoke/",
        settings.ApiTokenRevokeView.as_view(),
        name="api_token_revoke",
    ),
]
