"""Invoice and credit note PDF: an A4 layout drawn with ReportLab, made PDF/A-3 with the e-invoice XML embedded.

The page is drawn straight onto a ReportLab canvas (no flowables): the layout is
fixed, so measured placement is both the fastest way and the one that keeps every
column aligned. It carries the content § 14 (4) UStG asks for: seller and buyer
with addresses and VAT IDs, issue date, number, each line's quantity, kind of
service and service period, net per rate, rate and tax amount, the reverse-charge
or not-taxable note, and the payment terms. Lines flow onto further pages when
they do not fit; totals, notes and payment stay together.

Text is in the document's language (gettext under `translation.override`);
amounts and dates follow the Babel locale of that language and the buyer's
country. Fonts are the Bitstream Vera TrueType fonts that ship with ReportLab,
embedded as subsets; the core PDF fonts are never used (PDF/A forbids
non-embedded fonts, and they lack „“ and –).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from io import BytesIO

from babel.dates import format_date
from babel.numbers import format_decimal, format_percent
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from konto.billing.documents import payment_codes
from konto.billing.documents.model import DocumentLine, InvoiceDocument, Party, card_label
from konto.billing.documents.pdfa import make_pdfa3
from konto.core.countries import babel_locale, country_name
from konto.core.money import format_money

REGULAR = "KontoSans"
BOLD = "KontoSans-Bold"
pdfmetrics.registerFont(TTFont(REGULAR, "Vera.ttf"))
pdfmetrics.registerFont(TTFont(BOLD, "VeraBd.ttf"))

PAGE_WIDTH, PAGE_HEIGHT = A4
LEFT = 20 * mm
RIGHT = PAGE_WIDTH - 20 * mm
CONTENT_WIDTH = RIGHT - LEFT
INFO_LEFT = 120 * mm  # information block (DIN 5008 puts it at 125 mm; 5 mm more room for long labels)
FOOTER_SIZE = 7  # points
FOOTER_LEADING = 8.6
FOOTER_COLUMNS = ((LEFT, 46 * mm), (LEFT + 48 * mm, 68 * mm), (LEFT + 118 * mm, CONTENT_WIDTH - 118 * mm))  # (x, width)

TEXT = (0.10, 0.10, 0.12)
MUTED = (0.40, 0.40, 0.44)
RULE = (0.80, 0.80, 0.83)
BAND = (0.95, 0.95, 0.96)
ACCENT = (0.13, 0.30, 0.55)

# Lines table: right edges of the numeric columns; description between POS and QUANTITY.
COL_POS = LEFT + 2 * mm
COL_DESCRIPTION = LEFT + 11 * mm
COL_QUANTITY_RIGHT = LEFT + 109 * mm
COL_PRICE_RIGHT = LEFT + 133 * mm
COL_VAT_RIGHT = LEFT + 148 * mm
COL_AMOUNT_RIGHT = RIGHT - 2 * mm
DESCRIPTION_WIDTH = 80 * mm

TOTALS_LEFT = LEFT + 92 * mm
TOTALS_LABEL_RIGHT = COL_PRICE_RIGHT - 2 * mm  # leaves 35 mm for a bold "CHF 123’456.00"
NOTES_WIDTH = 86 * mm

EPC_SIZE = 30 * mm  # GiroCode, scannable from paper and screen (EPC guidance: at least 2 × 2 cm)

TRANSFER, DIRECT_DEBIT, CARD = payment_codes.TRANSFER_MEANS, frozenset({"59"}), frozenset({"48", "54", "55"})

UNIT_LABELS: dict[str, Callable[[], str]] = {
    "H87": lambda: _("pc."),
    "DAY": lambda: _("days"),
    "MON": lambda: _("months"),
    "ANN": lambda: _("years"),
    "HUR": lambda: _("hours"),
    "E49": lambda: _("working days"),
}


@dataclass(frozen=True)
class Formats:
    """Locale-aware formatting for one document."""

    locale: str
    currency: str

    def money(self, amount: Decimal) -> str:
        return format_money(amount, self.currency, self.locale)

    def number(self, amount: Decimal) -> str:  # 2 decimals, for the lines table (currency in the header)
        return str(format_decimal(amount, format="#,##0.00", locale=self.locale))

    def unit_price(self, amount: Decimal) -> str:  # 2 to 4 decimals, as stored
        return str(format_decimal(amount, format="#,##0.00##", locale=self.locale))

    def quantity(self, amount: Decimal) -> str:
        return str(format_decimal(amount, format="#,##0.####", locale=self.locale))

    def percent(self, rate: Decimal) -> str:
        return str(format_percent(rate / 100, locale=self.locale, decimal_quantization=False))

    def day(self, day: date) -> str:
        return str(format_date(day, "medium", locale=self.locale))

    def period(self, start: date, end: date) -> str:
        """A service period [start, end) printed inclusively: the last day is end − 1."""
        return f"{self.day(start)} – {self.day(end - timedelta(days=1))}"


def render_invoice_pdf(
    document: InvoiceDocument, *, xml: bytes, profile: str = "factur-x", created_at: datetime | None = None
) -> bytes:
    """The stored document: the printed invoice as PDF/A-3B with `xml` embedded (factur-x.xml or xrechnung.xml).

    `profile` is "factur-x" (Factur-X / ZUGFeRD EN 16931) or "xrechnung";
    `created_at` stamps the PDF metadata (now when None) and makes the output
    byte-for-byte reproducible.
    """
    with translation.override(document.language):
        title = document_title(document)
        subject = _("%(title)s %(number)s from %(seller)s to %(buyer)s") % {
            "title": title,
            "number": document.number,
            "seller": document.seller.name,
            "buyer": document.buyer.name,
        }
        visual = render_visual_pdf(document)
    return make_pdfa3(
        visual,
        xml=xml,
        profile=profile,
        title=f"{title} {document.number}",
        author=document.seller.name,
        subject=subject,
        language=document.language,
        moment=created_at,
    )


def render_visual_pdf(document: InvoiceDocument) -> bytes:
    """The printed pages alone, as a plain PDF with embedded fonts (no PDF/A container, no XML)."""
    with translation.override(document.language):
        buffer = BytesIO()
        canvas = Canvas(
            buffer,
            pagesize=A4,
            invariant=True,
            pageCompression=1,
            initialFontName=REGULAR,
            initialFontSize=9,
            pdfVersion=(1, 7),
        )
        _InvoiceLayout(canvas, document).draw()
        canvas.save()
        return buffer.getvalue()


def document_title(document: InvoiceDocument) -> str:
    """ "Invoice", or "Credit note" (German "Rechnungskorrektur", never "Gutschrift", which is self-billing)."""
    if document.type_code == "381":
        return pgettext("document title, German: Rechnungskorrektur", "Credit note")
    return pgettext("document title", "Invoice")


def address_lines(party: Party, *, with_country: bool, language: str) -> list[str]:
    # DIN 5008: an addition such as a department or c/o stands between the name and the street.
    lines = [party.name, party.address_line2, party.street]
    lines.append(f"{party.postal_code} {party.city}".strip())
    if with_country:
        lines.append(country_name(party.country, language).upper())
    return [line for line in lines if line]


class _InvoiceLayout:
    """Draws one document page by page; `y` is the top of the free space on the current page."""

    def __init__(self, canvas: Canvas, document: InvoiceDocument) -> None:
        self.canvas = canvas
        self.document = document
        self.formats = Formats(babel_locale(document.language, document.buyer.country), document.currency)
        self.page = 1
        self.qr_bill = payment_codes.swiss_qr_bill(document)
        self.epc = payment_codes.epc_qr_code(document)
        self.y = 0.0
        self.footer_columns = self.footer_lines()
        self.footer_height = 5 * mm + max(len(lines) for lines in self.footer_columns) * FOOTER_LEADING

    # -- page frame ---------------------------------------------------------------

    def footer_top(self, *, last: bool = False) -> float:
        bottom = payment_codes.QR_BILL_HEIGHT + 4 * mm if last and self.qr_bill else 12 * mm
        return float(bottom + self.footer_height)

    def draw(self) -> None:
        self.draw_letterhead()
        self.draw_addresses()
        self.draw_info_block()
        self.draw_title()
        self.draw_lines()
        self.draw_closing_blocks()
        self.finish_page(last=True)
        self.canvas.beginForm("page_count")
        self.canvas.setFont(REGULAR, 7)
        self.canvas.setFillColorRGB(*MUTED)
        self.canvas.drawString(0, 0, str(self.page))
        self.canvas.endForm()

    def finish_page(self, *, last: bool) -> None:
        self.draw_footer(last=last)
        if last and self.qr_bill is not None:
            payment_codes.draw_swiss_payment_part(
                self.canvas, self.qr_bill, regular=REGULAR, bold=BOLD, width=PAGE_WIDTH
            )
        self.canvas.showPage()

    def new_page(self) -> None:
        self.finish_page(last=False)
        self.page += 1
        canvas = self.canvas
        canvas.setFont(BOLD, 9)
        canvas.setFillColorRGB(*TEXT)
        top = PAGE_HEIGHT - 18 * mm
        canvas.drawString(LEFT, top, f"{document_title(self.document)} {self.document.number}")
        canvas.setFont(REGULAR, 8)
        canvas.setFillColorRGB(*MUTED)
        canvas.drawRightString(RIGHT, top, self.document.seller.name)
        self.y = top - 8 * mm

    def ensure_space(self, height: float, *, last: bool = False) -> bool:
        """Start a new page unless `height` fits above the footer; True when a page was started."""
        if self.y - height >= self.footer_top(last=last) + 2 * mm:
            return False
        self.new_page()
        return True

    def footer_lines(self) -> list[list[str]]:
        """The footer's three columns (company, legal, bank), wrapped to their width; the same on every page."""
        seller, payment = self.document.seller, self.document.payment
        is_invoice = self.document.type_code != "381"
        columns: list[list[str]] = [
            address_lines(seller, with_country=True, language=self.document.language),
            [
                *([seller.register_entry] if seller.register_entry else []),
                *(
                    [_("Managing directors: %(names)s") % {"names": seller.managing_directors}]
                    if seller.managing_directors
                    else []
                ),
                *([_("VAT ID: %(vat_id)s") % {"vat_id": seller.vat_id}] if seller.vat_id else []),
                *([_("Tax number: %(number)s") % {"number": seller.tax_number}] if seller.tax_number else []),
            ],
            # The payment account is the seller's on an invoice; on a credit note it is the buyer's refund account.
            [
                *(
                    [_("Bank: %(name)s") % {"name": payment.account_name}]
                    if payment.account_name and is_invoice
                    else []
                ),
                *([f"IBAN {_group_iban(payment.iban)}"] if payment.iban and is_invoice else []),
                *([f"BIC {payment.bic}"] if payment.bic and is_invoice else []),
                *([_("Creditor ID: %(id)s") % {"id": payment.creditor_id}] if payment.creditor_id else []),
            ],
        ]
        return [
            [part for line in lines for part in simpleSplit(line, REGULAR, FOOTER_SIZE, width)]
            for lines, (_x, width) in zip(columns, FOOTER_COLUMNS, strict=True)
        ]

    def draw_footer(self, *, last: bool) -> None:
        canvas = self.canvas
        top = self.footer_top(last=last)
        canvas.setStrokeColorRGB(*RULE)
        canvas.setLineWidth(0.5)
        canvas.line(LEFT, top, RIGHT, top)
        canvas.setFont(REGULAR, FOOTER_SIZE)
        canvas.setFillColorRGB(*MUTED)
        for lines, (x, _width) in zip(self.footer_columns, FOOTER_COLUMNS, strict=True):
            y = top - 4 * mm
            for line in lines:
                canvas.drawString(x, y, line)
                y -= FOOTER_LEADING
        page_label = _("Page %(page)s of") % {"page": self.page}
        label_width = pdfmetrics.stringWidth(page_label + " ", REGULAR, 7)
        width = label_width + pdfmetrics.stringWidth(str(self.page + 99), REGULAR, 7)
        canvas.drawString(RIGHT - width, top + 2 * mm, page_label)
        canvas.saveState()
        canvas.translate(RIGHT - width + label_width, top + 2 * mm)
        canvas.doForm("page_count")
        canvas.restoreState()

    # -- first page head ------------------------------------------------------------

    def draw_letterhead(self) -> None:
        canvas, seller = self.canvas, self.document.seller
        canvas.setFillColorRGB(*ACCENT)
        canvas.setFont(BOLD, 15)
        canvas.drawString(LEFT, PAGE_HEIGHT - 22 * mm, seller.name)
        canvas.setFillColorRGB(*MUTED)
        canvas.setFont(REGULAR, 7.5)
        y = PAGE_HEIGHT - 16 * mm
        contact = [
            *address_lines(seller, with_country=True, language=self.document.language)[1:],
            *[value for value in (seller.email, seller.phone, seller.website) if value],
        ]
        for line in contact:
            canvas.drawRightString(RIGHT, y, line)
            y -= 9

    def draw_addresses(self) -> None:
        canvas, document = self.canvas, self.document
        # DIN 5008 form B: address field 45 mm from the top edge, sender line above the recipient.
        sender = " · ".join(address_lines(document.seller, with_country=False, language=document.language))
        canvas.setFont(REGULAR, 6.5)
        canvas.setFillColorRGB(*MUTED)
        sender_y = PAGE_HEIGHT - 58 * mm
        canvas.drawString(LEFT, sender_y, simpleSplit(sender, REGULAR, 6.5, 85 * mm)[0])
        canvas.setStrokeColorRGB(*RULE)
        canvas.setLineWidth(0.4)
        canvas.line(LEFT, sender_y - 1.5 * mm, LEFT + 85 * mm, sender_y - 1.5 * mm)
        canvas.setFillColorRGB(*TEXT)
        y = sender_y - 6.5 * mm
        with_country = document.buyer.country != document.seller.country
        for index, line in enumerate(
            address_lines(document.buyer, with_country=with_country, language=document.language)
        ):
            canvas.setFont(BOLD if index == 0 else REGULAR, 10)
            canvas.drawString(LEFT, y, line)
            y -= 12.5

    def info_rows(self) -> list[tuple[str, str]]:
        document, formats = self.document, self.formats
        is_credit_note = document.type_code == "381"
        rows = [
            (_("Credit note number") if is_credit_note else _("Invoice number"), document.number),
            (_("Date"), formats.day(document.issue_date)),
        ]
        if is_credit_note and document.preceding_invoice_number:
            rows.append((_("Corrected invoice"), document.preceding_invoice_number))
        if document.period_start and document.period_end:
            rows.append((_("Service period"), formats.period(document.period_start, document.period_end)))
        if document.contract_number:
            rows.append((_("Contract"), document.contract_number))
        if document.po_number:
            rows.append((_("Purchase order"), document.po_number))
        if document.buyer_reference:
            rows.append((_("Leitweg-ID"), document.buyer_reference))
        if document.buyer.vat_id:
            rows.append((_("Your VAT ID"), document.buyer.vat_id))
        if document.payment.due_date and not is_credit_note and document.due_amount > 0:
            rows.append((_("Due date"), formats.day(document.payment.due_date)))
        return rows

    def draw_info_block(self) -> None:
        canvas = self.canvas
        y = PAGE_HEIGHT - 52 * mm
        rows = self.info_rows()
        value_left = INFO_LEFT + max(pdfmetrics.stringWidth(label, REGULAR, 8) for label, _value in rows) + 3 * mm
        for label, value in rows:
            canvas.setFont(REGULAR, 8)
            canvas.setFillColorRGB(*MUTED)
            canvas.drawString(INFO_LEFT, y, label)
            canvas.setFillColorRGB(*TEXT)
            canvas.setFont(BOLD if label in {_("Invoice number"), _("Credit note number")} else REGULAR, 8)
            for part in simpleSplit(value, REGULAR, 8, RIGHT - value_left):
                canvas.drawString(value_left, y, part)
                y -= 11
            y -= 1

    def draw_title(self) -> None:
        canvas, document = self.canvas, self.document
        y = PAGE_HEIGHT - 97 * mm
        canvas.setFillColorRGB(*TEXT)
        canvas.setFont(BOLD, 16)
        canvas.drawString(LEFT, y, f"{document_title(document)} {document.number}")
        if document.type_code == "381" and document.preceding_invoice_number:
            y -= 6.5 * mm
            canvas.setFont(REGULAR, 9)
            if document.preceding_invoice_date:
                text = _("This credit note corrects invoice %(number)s of %(date)s.") % {
                    "number": document.preceding_invoice_number,
                    "date": self.formats.day(document.preceding_invoice_date),
                }
            else:
                text = _("This credit note corrects invoice %(number)s.") % {
                    "number": document.preceding_invoice_number
                }
            canvas.drawString(LEFT, y, text)
        self.y = y - 6 * mm

    # -- lines ------------------------------------------------------------------------

    def draw_table_header(self) -> None:
        canvas = self.canvas
        height = 7 * mm
        canvas.setFillColorRGB(*BAND)
        canvas.rect(LEFT, self.y - height, CONTENT_WIDTH, height, stroke=0, fill=1)
        canvas.setFillColorRGB(*MUTED)
        canvas.setFont(BOLD, 7.5)
        baseline = self.y - height + 2.5 * mm
        currency = self.document.currency
        canvas.drawString(COL_POS, baseline, _("Pos."))
        canvas.drawString(COL_DESCRIPTION, baseline, _("Description"))
        canvas.drawRightString(COL_QUANTITY_RIGHT, baseline, _("Quantity"))
        canvas.drawRightString(COL_PRICE_RIGHT, baseline, _("Unit price %(currency)s") % {"currency": currency})
        canvas.drawRightString(COL_VAT_RIGHT, baseline, _("VAT"))
        canvas.drawRightString(COL_AMOUNT_RIGHT, baseline, _("Amount %(currency)s") % {"currency": currency})
        self.y -= height + 2.5 * mm

    def line_texts(self, line: DocumentLine) -> tuple[list[str], list[str]]:
        names = simpleSplit(line.name, REGULAR, 9, DESCRIPTION_WIDTH)
        details: list[str] = []
        if line.period_start and line.period_end:
            details.append(
                _("Service period %(period)s") % {"period": self.formats.period(line.period_start, line.period_end)}
            )
        if line.description:
            details.extend(simpleSplit(line.description, REGULAR, 7.5, DESCRIPTION_WIDTH))
        return names, details

    def draw_lines(self) -> None:
        self.draw_table_header()
        canvas, formats = self.canvas, self.formats
        for line in self.document.lines:
            names, details = self.line_texts(line)
            height = len(names) * 11 + len(details) * 9.5 + 2.5 * mm
            if self.ensure_space(height):
                self.draw_table_header()
            baseline = self.y - 8
            canvas.setFillColorRGB(*TEXT)
            canvas.setFont(REGULAR, 9)
            canvas.drawString(COL_POS, baseline, line.line_id)
            unit = UNIT_LABELS.get(line.unit_code)
            quantity = formats.quantity(line.quantity) + (f" {unit()}" if unit else "")
            canvas.drawRightString(COL_QUANTITY_RIGHT, baseline, quantity)
            canvas.drawRightString(COL_PRICE_RIGHT, baseline, formats.unit_price(line.unit_price))
            canvas.drawRightString(COL_VAT_RIGHT, baseline, formats.percent(line.tax_rate))
            canvas.drawRightString(COL_AMOUNT_RIGHT, baseline, formats.number(line.net_amount))
            for name in names:
                canvas.drawString(COL_DESCRIPTION, baseline, name)
                baseline -= 11
            canvas.setFont(REGULAR, 7.5)
            canvas.setFillColorRGB(*MUTED)
            for detail in details:
                canvas.drawString(COL_DESCRIPTION, baseline + 1.5, detail)
                baseline -= 9.5
            self.y -= height
            canvas.setStrokeColorRGB(*RULE)
            canvas.setLineWidth(0.4)
            canvas.line(LEFT, self.y + 1.2 * mm, RIGHT, self.y + 1.2 * mm)

    # -- totals, notes, payment ---------------------------------------------------------

    def total_rows(self) -> list[tuple[str, str, bool]]:
        document, formats = self.document, self.formats
        rows = [(_("Net total"), formats.money(document.line_total), False)]
        for subtotal in document.tax_subtotals:
            label = _("VAT %(rate)s on %(base)s") % {
                "rate": formats.percent(subtotal.rate),
                "base": formats.money(subtotal.taxable_amount),
            }
            rows.append((label, formats.money(subtotal.tax_amount), False))
        rows.append((_("Total"), formats.money(document.grand_total), True))
        if document.paid_amount:
            rows.append((_("Paid"), formats.money(-document.paid_amount), False))
            rows.append((_("Amount due"), formats.money(document.due_amount), True))
        return rows

    def note_paragraphs(self) -> list[str]:
        notes: list[str] = []
        for subtotal in self.document.tax_subtotals:
            if subtotal.exemption_reason and subtotal.exemption_reason not in notes:
                notes.append(subtotal.exemption_reason)
        notes.extend(note for note in self.document.notes if note not in notes)
        return notes

    def payment_paragraphs(self) -> list[str]:
        document, formats, payment = self.document, self.formats, self.document.payment
        paragraphs = [payment.terms] if payment.terms else []
        amount = formats.money(document.due_amount)
        if document.type_code == "381":
            if payment.iban:
                paragraphs.append(
                    _("Refund of %(amount)s to the account %(iban)s.")
                    % {"amount": formats.money(document.grand_total), "iban": _mask_iban(payment.iban)}
                )
            return paragraphs
        if document.due_amount <= 0:
            paragraphs.append(_("This invoice has been paid in full. Thank you."))
        elif payment.means_code in DIRECT_DEBIT and payment.collection_date is not None:
            paragraphs.append(  # the pre-notification of the debit
                _(
                    "We will collect %(amount)s by SEPA Direct Debit on %(date)s from the account %(iban)s "
                    "under mandate %(mandate)s (creditor identifier %(creditor)s). Please make sure the account "
                    "is funded."
                )
                % {
                    "amount": amount,
                    "date": formats.day(payment.collection_date),
                    "iban": _mask_iban(payment.debited_iban),
                    "mandate": payment.mandate_reference,
                    "creditor": payment.creditor_id,
                }
            )
        elif payment.means_code in DIRECT_DEBIT:
            paragraphs.append(
                _(
                    "We will collect %(amount)s by SEPA direct debit on or after %(date)s from the account "
                    "%(iban)s (mandate reference %(mandate)s, creditor identifier %(creditor)s). "
                    "Please make sure the account is funded."
                )
                % {
                    "amount": amount,
                    "date": formats.day(payment.due_date or document.issue_date),
                    "iban": _mask_iban(payment.debited_iban),
                    "mandate": payment.mandate_reference,
                    "creditor": payment.creditor_id,
                }
            )
        elif payment.means_code in CARD and payment.card_last4:
            paragraphs.append(
                _("%(amount)s will be charged to %(card)s.")
                % {"amount": amount, "card": card_label(payment.card_brand, payment.card_last4)}
            )
        elif payment.means_code in CARD:
            paragraphs.append(_("%(amount)s will be charged to your card on file.") % {"amount": amount})
        elif payment.means_code in TRANSFER:
            if self.qr_bill is not None:
                paragraphs.append(
                    _("Please pay %(amount)s by %(date)s with the QR-bill below.")
                    % {"amount": amount, "date": formats.day(payment.due_date or document.issue_date)}
                )
            else:
                paragraphs.append(
                    _("Please transfer %(amount)s by %(date)s to %(name)s, quoting %(reference)s:")
                    % {
                        "amount": amount,
                        "date": formats.day(payment.due_date or document.issue_date),
                        "name": payment.account_name or document.seller.name,
                        "reference": payment.remittance or document.number,
                    }
                    + f"\nIBAN {_group_iban(payment.iban)}"
                    + (f"\nBIC {payment.bic}" if payment.bic else "")
                )
        return paragraphs

    def draw_closing_blocks(self) -> None:
        """Notes and payment on the left, totals (and the GiroCode under them) on the right, kept together."""
        canvas = self.canvas
        rows = self.total_rows()
        right_height = len(rows) * 14 + 4 + (EPC_SIZE + 9 * mm if self.epc else 0)
        sections = [
            (
                heading,
                [part for paragraph in paragraphs for part in [*_wrap(paragraph, 8.5, NOTES_WIDTH), ""]],
            )
            for heading, paragraphs in ((_("Notes"), self.note_paragraphs()), (_("Payment"), self.payment_paragraphs()))
            if paragraphs
        ]
        left_height = sum(14 + sum(11 if part else 4 for part in lines) for _heading, lines in sections)
        self.ensure_space(max(left_height, right_height) + 3 * mm, last=True)
        top = self.y - 3 * mm

        y = top
        for label, value, strong in rows:
            if strong:
                canvas.setStrokeColorRGB(*TEXT)
                canvas.setLineWidth(0.7)
                canvas.line(TOTALS_LEFT, y + 1, RIGHT, y + 1)
                y -= 2
            baseline = y - 10
            canvas.setFillColorRGB(*TEXT)
            canvas.setFont(BOLD if strong else REGULAR, 10 if strong else 9)
            canvas.drawRightString(TOTALS_LABEL_RIGHT, baseline, label)
            canvas.drawRightString(COL_AMOUNT_RIGHT, baseline, value)
            y -= 14
        if self.epc:
            self.draw_epc(y - 5 * mm)
            y -= EPC_SIZE + 9 * mm
        bottom = y

        y = top
        for heading, lines in sections:
            canvas.setFont(BOLD, 9)
            canvas.setFillColorRGB(*TEXT)
            canvas.drawString(LEFT, y - 9, heading)
            y -= 14 + 9
            canvas.setFont(REGULAR, 8.5)
            for part in lines:
                if part:
                    canvas.drawString(LEFT, y, part)
                y -= 11 if part else 4
            y += 4
        self.y = min(bottom, y)

    def draw_epc(self, top: float) -> None:
        assert self.epc is not None  # noqa: S101 — only called with a code
        canvas = self.canvas
        x = RIGHT - EPC_SIZE
        canvas.setFont(REGULAR, 6.5)
        canvas.setFillColorRGB(*MUTED)
        canvas.drawRightString(RIGHT, top - EPC_SIZE - 3 * mm, _("Scan with your banking app (GiroCode)"))
        canvas.setFillColorRGB(0, 0, 0)
        payment_codes.draw_qr(canvas, self.epc.matrix, x, top - EPC_SIZE, EPC_SIZE)


def _wrap(paragraph: str, size: float, width: float) -> list[str]:
    """Lines of a paragraph: explicit line breaks kept, long lines wrapped at spaces."""
    return [part for line in paragraph.split("\n") for part in simpleSplit(line, REGULAR, size, width)]


def _group_iban(iban: str) -> str:
    compact = iban.replace(" ", "")
    return " ".join(compact[index : index + 4] for index in range(0, len(compact), 4))


def _mask_iban(iban: str) -> str:
    """The payer's IBAN as printed on a pre-notification: country and check digits, then only the last four."""
    compact = iban.replace(" ", "")
    if len(compact) <= 8:
        return compact
    return _group_iban(compact[:4] + "X" * (len(compact) - 8) + compact[-4:])
