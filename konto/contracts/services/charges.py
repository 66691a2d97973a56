"""The charge schedule of contract lines: one charge per line and billing period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from konto.contracts.models import Charge, Contract, ContractLine
from konto.core.periods import Period, periods_between, prorated_amount


@dataclass(frozen=True)
class PeriodCharge:
    """What a line costs in one billing period: the days it is in service there and the net amount."""

    period: Period  # the full billing period [start, end), anchored on the contract start
    service_start: date  # later than period.start when the line starts mid-period
    service_end: date  # earlier than period.end when the contract ends mid-period
    net_amount: Decimal  # rounded half-up once, to the minor unit

    @property
    def days_charged(self) -> int:
        return (self.service_end - self.service_start).days

    @property
    def days_in_period(self) -> int:
        return self.period.days


def charge_for_period(
    *, period: Period, line_start: date, line_end: date, unit_price: Decimal, quantity: int
) -> PeriodCharge:
    """The charge of a line in service [line_start, line_end) for the billing period `period`.

    Proration is by calendar day over the full billing period (DESIGN.md §3):
    a line bought mid-period pays for the days left, and a period cut by the
    contract end pays for the days up to the end, each rounded once. The
    preview and the charge schedule both use this function, so the customer
    is charged exactly what the preview showed.
    """
    service_start = max(period.start, line_start)
    service_end = min(period.end, line_end)
    amount = prorated_amount(
        unit_price=unit_price, quantity=quantity, period=period, service_start=service_start, service_end=service_end
    )
    return PeriodCharge(period=period, service_start=service_start, service_end=service_end, net_amount=amount)


def schedule_charges(*, contract: Contract, lines: list[ContractLine]) -> list[Charge]:
    """Create every charge of `lines` from their start to the contract end (inside the caller's transaction).

    The first period of a line that starts mid-period is prorated by day; the
    last period is cut at the contract end and prorated the same way. The
    unique (line, period_start) constraint refuses any second charge for a
    period, so running this twice cannot bill twice: the second run raises
    IntegrityError and the caller's transaction rolls back.
    """
    charges: list[Charge] = []
    for line in lines:
        for billing_period in periods_between(
            contract.start_date, contract.billing_frequency, line.start_date, line.end_date
        ):
            charge = charge_for_period(
                period=billing_period,
                line_start=line.start_date,
                line_end=line.end_date,
                unit_price=line.unit_price,
                quantity=line.quantity,
            )
            charges.append(
                Charge(
                    org_id=line.org_id,
                    contract=contract,
                    line=line,
                    period_start=billing_period.start,
                    period_end=billing_period.end,
                    service_start=charge.service_start,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    days_charged=charge.days_charged,
                    days_in_period=charge.days_in_period,
                    net_amount=charge.net_amount,
                )
            )
    return Charge.objects.bulk_create(charges)
