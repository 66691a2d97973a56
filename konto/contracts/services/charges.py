"""The charge schedule of contract lines: one charge per line and billing period."""

from __future__ import annotations

from konto.contracts.models import Charge, Contract, ContractLine
from konto.core.periods import Period, periods_between, prorated_amount


def schedule_charges(*, contract: Contract, lines: list[ContractLine]) -> list[Charge]:
    """Create every charge of `lines` from their start to the contract end (inside the caller's transaction).

    The first period of a line that starts mid-period is prorated by day; the
    last period is cut at the contract end and prorated the same way. The
    unique (line, period_start) constraint refuses any second charge for a
    period, so running this twice cannot bill twice.
    """
    charges: list[Charge] = []
    for line in lines:
        for billing_period in periods_between(
            contract.start_date, contract.billing_frequency, line.start_date, line.end_date
        ):
            service_start = max(billing_period.start, line.start_date)
            service_end = min(billing_period.end, line.end_date)
            # A period cut by the contract end is prorated over the full billing period.
            charged = prorated_amount(
                unit_price=line.unit_price, quantity=line.quantity, period=billing_period, service_start=service_start
            )
            if service_end < billing_period.end:
                rest = prorated_amount(
                    unit_price=line.unit_price, quantity=line.quantity, period=billing_period, service_start=service_end
                )
                charged -= rest
            charges.append(
                Charge(
                    org_id=line.org_id,
                    contract=contract,
                    line=line,
                    period_start=billing_period.start,
                    period_end=billing_period.end,
                    service_start=service_start,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    days_charged=Period(service_start, service_end).days,
                    days_in_period=billing_period.days,
                    net_amount=charged,
                )
            )
    return Charge.objects.bulk_create(charges)
