"""The contract summary (order form) as PDF, in the org's language, with the bundled Vera fonts."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import reportlab
from babel.dates import format_date
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from konto.accounts.models import Vendor
from konto.contracts.models import Contract, ContractLine
from konto.contracts.selectors import notice_deadline
from konto.core.countries import babel_locale, country_name
from konto.core.money import format_money, round_money
from konto.core.periods import BillingFrequency

FONT = "KontoVera"
FONT_BOLD = "KontoVera-Bold"
_FONT_DIR = os.path.join(os.path.dirname(reportlab.__file__), "fonts")
BRAND = colors.HexColor("#2454a6")
MUTED = colors.HexColor("#566070")
RULE = colors.HexColor("#dde1e7")


def _register_fonts() -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, os.path.join(_FONT_DIR, "Vera.ttf")))
        pdfmetrics.registerFont(TTFont(FONT_BOLD, os.path.join(_FONT_DIR, "VeraBd.ttf")))


def period_label(frequency: str) -> str:
    """'per month' / 'per quarter' / 'per year' for a billing frequency."""
    return {
        BillingFrequency.MONTHLY: _("per month"),
        BillingFrequency.QUARTERLY: _("per quarter"),
        BillingFrequency.ANNUAL: _("per year"),
    }[BillingFrequency(frequency)]


@dataclass(frozen=True)
class _Styles:
    body: ParagraphStyle
    small: ParagraphStyle
    title: ParagraphStyle
    heading: ParagraphStyle
    right: ParagraphStyle
    right_bold: ParagraphStyle
    bold: ParagraphStyle


def _styles() -> _Styles:
    body = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12.5)
    return _Styles(
        body=body,
        small=ParagraphStyle("small", parent=body, fontSize=7.5, leading=10, textColor=MUTED),
        title=ParagraphStyle("title", parent=body, fontName=FONT_BOLD, fontSize=16, leading=20, spaceAfter=2 * mm),
        heading=ParagraphStyle(
            "heading", parent=body, fontName=FONT_BOLD, fontSize=10.5, leading=14, spaceBefore=5 * mm, spaceAfter=2 * mm
        ),
        right=ParagraphStyle("right", parent=body, alignment=TA_RIGHT),
        right_bold=ParagraphStyle("right_bold", parent=body, alignment=TA_RIGHT, fontName=FONT_BOLD),
        bold=ParagraphStyle("bold", parent=body, fontName=FONT_BOLD),
    )


def _esc(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _letterhead(vendor: Vendor | None, styles: _Styles) -> list[Flowable]:
    if vendor is None:
        return []
    address = f"{_esc(vendor.street)} · {_esc(vendor.postal_code)} {_esc(vendor.city)}"
    contact = " · ".join(_esc(part) for part in [vendor.email, vendor.phone, vendor.website] if part)
    name = ParagraphStyle("vendor", parent=styles.bold, fontSize=12, leading=15, textColor=BRAND)
    return [
        Paragraph(_esc(vendor.legal_name), name),
        Paragraph(address, styles.small),
        Paragraph(contact, styles.small),
        Spacer(1, 8 * mm),
    ]


def _footer_text(vendor: Vendor | None) -> str:
    if vendor is None:
        return ""
    parts = [vendor.legal_name, vendor.register_entry, f"{_('VAT ID')} {vendor.vat_id}"]
    if vendor.managing_directors:
        parts.append(f"{_('Managing directors')}: {vendor.managing_directors}")
    return " · ".join(part for part in parts if part)


def render_contract_summary(contract: Contract, *, today: date | None = None) -> bytes:
    """The contract summary of `contract` with its lines and terms, as PDF bytes.

    Written in the org's language and formatted for the org's country; the
    lines are every purchase on the contract (history kept), each with its
    unit price and amount per billing period.
    """
    _register_fonts()
    org = contract.org
    locale = babel_locale(org.language, org.country)
    today = today or timezone.localdate()
    lines = list(ContractLine.objects.filter(contract=contract).select_related("product").order_by("start_date", "id"))
    vendor = Vendor.objects.first()
    buffer = io.BytesIO()
    with translation.override(org.language):
        styles = _styles()
        title = _("Contract summary %(number)s") % {"number": contract.number}

        def money(amount: Decimal) -> str:
            return format_money(amount, contract.currency, locale)

        def day(value: date) -> str:
            return str(format_date(value, "medium", locale=locale))

        story: list[Flowable] = _letterhead(vendor, styles)
        address = "<br/>".join(
            _esc(part)
            for part in [
                org.legal_name,
                org.street,
                org.address_line2,
                f"{org.postal_code} {org.city}",
                country_name(org.country, org.language),
            ]
            if part
        )
        story.append(
            Table(
                [[Paragraph(address, styles.body), Paragraph(f"{_('Date')}: {day(today)}", styles.right)]],
                colWidths=[110 * mm, 60 * mm],
                style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]),
            )
        )
        story += [Spacer(1, 10 * mm), Paragraph(_esc(title), styles.title)]
        story.append(
            Paragraph(
                _esc(_("Order form: the products and terms of your contract with %(vendor)s."))
                % {"vendor": _esc(vendor.legal_name if vendor else "")},
                styles.small,
            )
        )

        frequency = BillingFrequency(contract.billing_frequency)
        renewal = (
            _("Renews automatically on %(date)s. Notice deadline: %(deadline)s.")
            if contract.auto_renew
            else _("Ends on %(date)s without renewal (notice deadline was %(deadline)s).")
        ) % {"date": day(contract.end_date), "deadline": day(notice_deadline(contract))}
        terms = [
            (_("Contract number"), contract.number),
            (
                _("Term"),
                f"{day(contract.start_date)} – {day(contract.end_date - timedelta(days=1))}",
            ),
            (_("Billing frequency"), str(frequency.label)),
            (_("Currency"), contract.currency),
            (
                _("Payment terms"),
                _("%(days)d days net") % {"days": contract.payment_terms_days},
            ),
            (_("Payment method"), str(contract.get_payment_method_kind_display())),
            (_("Auto-renew"), renewal),
            (_("PO number"), contract.po_number or "–"),
            (_("Leitweg-ID"), contract.buyer_reference or "–"),
        ]
        story.append(Paragraph(_esc(_("Terms")), styles.heading))
        story.append(
            Table(
                [[Paragraph(_esc(label), styles.small), Paragraph(_esc(value), styles.body)] for label, value in terms],
                colWidths=[40 * mm, 130 * mm],
                style=TableStyle(
                    [
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                        ("LEFTPADDING", (0, 0), (-1, -1), 0),
                        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                        ("TOPPADDING", (0, 0), (-1, -1), 2),
                    ]
                ),
            )
        )

        per = period_label(contract.billing_frequency)
        story.append(Paragraph(_esc(_("Contract lines")), styles.heading))
        header = [
            Paragraph(_esc(_("Product")), styles.bold),
            Paragraph(_esc(_("Since")), styles.bold),
            Paragraph(_esc(_("Quantity")), styles.right_bold),
            Paragraph(_esc(_("Unit price %(per)s") % {"per": per}), styles.right_bold),
            Paragraph(_esc(_("Amount %(per)s") % {"per": per}), styles.right_bold),
        ]
        rows: list[list[Flowable]] = [header]
        total = Decimal("0.00")
        for line in lines:
            amount = round_money(line.unit_price * line.quantity)
            total += amount
            rows.append(
                [
                    Paragraph(_esc(line.product.name), styles.body),
                    Paragraph(day(line.start_date), styles.body),
                    Paragraph(str(line.quantity), styles.right),
                    Paragraph(_esc(money(line.unit_price)), styles.right),
                    Paragraph(_esc(money(amount)), styles.right),
                ]
            )
        rows.append(
            [
                Paragraph(_esc(_("Total net %(per)s") % {"per": per}), styles.bold),
                Paragraph("", styles.body),
                Paragraph("", styles.body),
                Paragraph("", styles.body),
                Paragraph(_esc(money(total)), styles.right_bold),
            ]
        )
        story.append(
            Table(
                rows,
                colWidths=[56 * mm, 24 * mm, 24 * mm, 33 * mm, 33 * mm],
                repeatRows=1,
                style=TableStyle(
                    [
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                        ("LINEBELOW", (0, 0), (-1, 0), 0.8, BRAND),
                        ("LINEBELOW", (0, 1), (-1, -2), 0.3, RULE),
                        ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black),
                        ("LEFTPADDING", (0, 0), (0, -1), 0),
                        ("RIGHTPADDING", (-1, 0), (-1, -1), 0),
                        ("TOPPADDING", (0, 0), (-1, -1), 3),
                        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
                    ]
                ),
            )
        )
        story.append(Spacer(1, 3 * mm))
        story.append(
            Paragraph(
                _esc(
                    _(
                        "All prices are net, plus VAT as it applies on each invoice. Products bought during a billing "
                        "period are charged pro rata by day for that period and in full for every later period; all "
                        "lines end with the contract term."
                    )
                ),
                styles.small,
            )
        )
        footer = _footer_text(vendor)
        page_label = _("Page")

        def draw_footer(canvas: object, doc: object) -> None:
            canvas.saveState()  # type: ignore[attr-defined]  # reportlab's canvas is untyped
            canvas.setFont(FONT, 7)  # type: ignore[attr-defined]
            canvas.setFillColor(MUTED)  # type: ignore[attr-defined]
            # The vendor's legal details wrap over as many lines as they need; the page label sits below.
            for number, line in enumerate(simpleSplit(footer, FONT, 7, 170 * mm)):
                canvas.drawString(20 * mm, (16 - 3 * number) * mm, line)  # type: ignore[attr-defined]
            canvas.drawRightString(  # type: ignore[attr-defined]
                190 * mm,
                8 * mm,
                f"{contract.number} · {page_label} {doc.page}",  # type: ignore[attr-defined]
            )
            canvas.restoreState()  # type: ignore[attr-defined]

        document = SimpleDocTemplate(
            buffer,
            pagesize=A4,
            leftMargin=20 * mm,
            rightMargin=20 * mm,
            topMargin=18 * mm,
            bottomMargin=22 * mm,
            title=title,
            author=vendor.legal_name if vendor else "",
            subject=contract.number,
            lang=org.language,
        )
        document.build(story, onFirstPage=draw_footer, onLaterPages=draw_footer)
    return buffer.getvalue()
