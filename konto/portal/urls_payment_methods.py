"""My Account payment URLs (included by konto.portal.urls, names in the "portal" namespace)."""

from django.urls import URLPattern, path

from konto.portal.views import payment_methods as views

urlpatterns: list[URLPattern] = [
    path("", views.PaymentMethodListView.as_view(), name="payment"),
    path("methods/card/", views.CardSetupStartView.as_view(), name="card_setup"),
    path("methods/card/return/", views.CardSetupReturnView.as_view(), name="card_setup_return"),
    path("methods/sepa/", views.SepaMandateView.as_view(), name="sepa_mandate"),
    path("methods/bank-transfer/", views.BankTransferChooseView.as_view(), name="bank_transfer"),
    path("methods/<str:public_id>/default/", views.PaymentMethodDefaultView.as_view(), name="payment_method_default"),
    path("methods/<str:public_id>/remove/", views.PaymentMethodRemoveView.as_view(), name="payment_method_remove"),
    path("methods/<str:public_id>/mandate/", views.SepaMandatePrintView.as_view(), name="sepa_mandate_print"),
]
