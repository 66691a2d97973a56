"""My Account payment URLs (included by konto.portal.urls, names in the "portal" namespace)."""

from django.urls import URLPattern, path

from konto.portal.views import payments as views

urlpatterns: list[URLPattern] = [
    path("pay/", views.PayInvoicesView.as_view(), name="pay_invoices"),
    path("pay/confirm/", views.PayConfirmView.as_view(), name="pay_confirm"),
    path("pay/return/", views.PaymentActionReturnView.as_view(), name="payment_action_return"),
    path("payments/", views.PaymentListView.as_view(), name="payments"),
    path("payments/<str:public_id>/", views.PaymentDetailView.as_view(), name="payment_detail"),
]
