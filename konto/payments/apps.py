"""App config for payments: tells billing (through billing.ports) how orgs pay and asks to hear of issued invoices."""

from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "konto.payments"
    label = "payments"

    def ready(self) -> None:
        from konto.billing import ports
        from konto.payments.services import collection

        # Invoices print how they are paid (card, SEPA mandate): asked while they are issued.
        ports.set_payment_details_provider(collection.payment_details_for_orgs)
        # Card and SEPA orgs are charged when an invoice is issued (after the issuing transaction commits).
        ports.add_issued_listener(collection.on_invoices_issued)
