"""How an org's active contracts are paid: they follow the org's default payment method."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from konto.accounts.models import Org
from konto.contracts.exceptions import InvalidInput
from konto.contracts.models import Contract, PaymentMethodKind
from konto.core.audit import Actor, record_event
from konto.core.editions import Edition


@transaction.atomic
def set_contracts_payment_method_kind(*, org: Org, kind: str, actor: Actor) -> list[Contract]:
    """Set the payment method kind of the org's active contracts to `kind`; returns the contracts changed.

    Essentials is paid by card: any other kind is refused for an Essentials org
    (as when its contract is created). Called by payments inside its transaction when the org's default payment
    method changes kind (the next invoices are then charged, collected or
    transferred accordingly). Each changed contract is audited
    ("contract.payment_method_changed"); contracts already on `kind` are left
    alone, so calling it twice changes nothing the second time.
    """
    if kind not in PaymentMethodKind.values:
        raise InvalidInput(_("Unknown payment method."), code="invalid_payment_method_kind")
    if org.edition == Edition.ESSENTIALS and kind != PaymentMethodKind.CARD:
        raise InvalidInput(_("Essentials is paid by card."), code="invalid_payment_method_kind")
    changed = list(
        Contract.objects.select_for_update()
        .filter(org=org, status=Contract.Status.ACTIVE)
        .exclude(payment_method_kind=kind)
        .order_by("pk")
    )
    for contract in changed:
        before = contract.payment_method_kind
        contract.payment_method_kind = kind
        contract.save(update_fields=["payment_method_kind", "updated_at"])
        record_event(
            actor=actor,
            org_id=org.pk,
            action="contract.payment_method_changed",
            object_type="contract",
            object_id=contract.public_id,
            before={"payment_method_kind": before},
            after={"payment_method_kind": kind},
        )
    return changed
