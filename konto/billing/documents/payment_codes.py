"""Payment codes printed on invoices: the EPC QR code (GiroCode) for EUR and the Swiss QR-bill payment part for CHF.

Both appear only on an invoice (not a credit note) with an amount due that is paid
by bank transfer; card and SEPA direct-debit invoices are collected by Konto.

Swiss QR-bill account: a QR-bill must name a Swiss or Liechtenstein account (CH/LI
IBAN or QR-IBAN). The vendor's main account is usually German, so CHF invoices use
`PaymentInstructions.qr_bill_iban`, falling back to `iban` when that is itself a
CH/LI IBAN. With a QR-IBAN (institution id 30000–31999) the bill carries a QR
reference (QRR) made of the invoice number's digits; with a plain IBAN a creditor
reference (SCOR, ISO 11649) made of its letters and digits. The invoice number is
also the unstructured message, so the payer's bank shows it either way.

Both codes are drawn as vector graphics with ReportLab from the QR module matrix
(segno), so the PDF stays small, sharp at any zoom and uses only embedded fonts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

import segno
from qrbill import QRBill
from qrbill.bill import LABELS, format_ref_number
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from segno import helpers as segno_helpers
from stdnum import iban as iban_numbers
from stdnum.ch import esr
from stdnum.iso7064 import mod_97_10

from konto.billing.documents.model import InvoiceDocument, Party

TRANSFER_MEANS = frozenset({"30", "42", "58"})  # UNTDID 4461: credit transfer, to bank account, SEPA credit transfer
QR_BILL_COUNTRIES = ("CH", "LI")
QR_IID_RANGE = range(30000, 32000)  # institution ids of QR-IBANs

# Swiss QR-bill geometry (Swiss Implementation Guidelines QR-bill, v2.3, chapter 3), millimetres.
QR_BILL_HEIGHT = 105 * mm
QR_BILL_RECEIPT_WIDTH = 62 * mm
QR_BILL_CODE_SIZE = 46 * mm


def is_payable_by_transfer(document: InvoiceDocument) -> bool:
    return document.type_code == "380" and document.due_amount > 0 and document.payment.means_code in TRANSFER_MEANS


def epc_qr_code(document: InvoiceDocument) -> segno.QRCode | None:
    """The GiroCode for a EUR invoice payable by transfer: payee, IBAN, BIC, amount due, invoice number."""
    payment = document.payment
    if document.currency != "EUR" or not is_payable_by_transfer(document) or not payment.iban:
        return None
    return segno_helpers.make_epc_qr(
        name=(payment.account_name or document.seller.name)[:70],
        iban=payment.iban.replace(" ", ""),
        bic=payment.bic.replace(" ", "") or None,
        amount=document.due_amount,
        text=(payment.remittance or document.number)[:140],
    )


def qr_bill_account(document: InvoiceDocument) -> str:
    """The CH/LI account for the QR-bill: qr_bill_iban, else iban when it is Swiss or Liechtenstein; else ""."""
    for candidate in (document.payment.qr_bill_iban, document.payment.iban):
        account = iban_numbers.compact(candidate)
        if account[:2] in QR_BILL_COUNTRIES:
            return account
    return ""


def is_qr_iban(account: str) -> bool:
    return account[:2] in QR_BILL_COUNTRIES and int(account[4:9]) in QR_IID_RANGE


def qr_reference(number: str) -> str:
    """QR reference (QRR, 27 digits, mod-10 recursive check digit) from the digits of an invoice number."""
    digits = re.sub(r"\D", "", number)[-26:].zfill(26)
    return digits + esr.calc_check_digit(digits)


def creditor_reference(number: str) -> str:
    """ISO 11649 creditor reference (RFxx…) from the letters and digits of an invoice number."""
    body = re.sub(r"[^0-9A-Za-z]", "", number).upper()[:21]
    return "RF" + mod_97_10.calc_check_digits(body + "RF") + body


def _qr_address(party: Party) -> dict[str, str]:
    return {
        "name": party.name[:70],
        "street": party.street[:70],
        "pcode": party.postal_code[:16],
        "city": party.city[:35],
        "country": party.country,
    }


def swiss_qr_bill(document: InvoiceDocument) -> QRBill | None:
    """The QR-bill for a CHF invoice payable by transfer, or None; validated by qrbill (IBAN, reference, lengths).

    Raises ValueError from qrbill when the data cannot form a valid bill, and
    ValueError when no CH/LI account is configured for a CHF transfer invoice.
    """
    if document.currency != "CHF" or not is_payable_by_transfer(document):
        return None
    account = qr_bill_account(document)
    if not account:
        msg = "A CHF invoice paid by transfer needs a Swiss or Liechtenstein IBAN (qr_bill_iban) for its QR-bill."
        raise ValueError(msg)
    reference = qr_reference(document.number) if is_qr_iban(account) else creditor_reference(document.number)
    return QRBill(
        account=account,
        creditor=_qr_address(document.seller),
        debtor=_qr_address(document.buyer),
        amount=f"{document.due_amount:.2f}",
        currency="CHF",
        reference_number=reference,
        additional_information=(document.payment.remittance or document.number)[:140],
        language=document.language if document.language in {"de", "fr", "it"} else "en",
    )


def draw_qr(canvas: Canvas, matrix: Sequence[Sequence[int]], x: float, y: float, size: float) -> None:
    """Draw a QR module matrix (without quiet zone) as filled runs, lower left corner at (x, y).

    The runs are written as one path in module units (integers) under a scaling
    transform: a fraction of the cost of ReportLab's per-rectangle float formatting.
    """
    count = len(matrix)
    runs: list[str] = []
    for row_index, row in enumerate(matrix):
        bottom = count - 1 - row_index
        column = 0
        while column < count:
            if row[column]:
                start = column
                while column < count and row[column]:
                    column += 1
                runs.append(f"{start} {bottom} {column - start} 1 re")
            else:
                column += 1
    canvas.saveState()
    canvas.setFillGray(0)
    canvas.setStrokeGray(0)
    canvas.translate(x, y)
    canvas.scale(size / count, size / count)
    # Fill, then stroke the same runs with a hairline (1/25 module), so that no viewer shows seams between rows.
    canvas.addLiteral("\n".join(runs) + "\n0.04 w B")
    canvas.restoreState()


def draw_swiss_cross(canvas: Canvas, center_x: float, center_y: float) -> None:
    """The 7 × 7 mm Swiss cross in the middle of the QR code."""
    canvas.setFillGray(1)
    canvas.rect(center_x - 3.5 * mm, center_y - 3.5 * mm, 7 * mm, 7 * mm, stroke=0, fill=1)
    canvas.setFillGray(0)
    inner = 7 * mm * 18.4 / 19.8
    canvas.rect(center_x - inner / 2, center_y - inner / 2, inner, inner, stroke=0, fill=1)
    canvas.setFillGray(1)
    arm_width, arm_length = 7 * mm * 3.3 / 19.8, 7 * mm * 11 / 19.8
    canvas.rect(center_x - arm_width / 2, center_y - arm_length / 2, arm_width, arm_length, stroke=0, fill=1)
    canvas.rect(center_x - arm_length / 2, center_y - arm_width / 2, arm_length, arm_width, stroke=0, fill=1)
    canvas.setFillGray(0)


def _label(bill: QRBill, text: str) -> str:
    return text if bill.language == "en" else LABELS[text][bill.language]


def format_qr_amount(amount: Decimal) -> str:
    """QR-bill amount notation: space as thousands separator, point before the two decimals."""
    return f"{amount:,.2f}".replace(",", " ")


def draw_swiss_payment_part(canvas: Canvas, bill: QRBill, *, regular: str, bold: str, width: float) -> None:
    """Draw receipt and payment part in the bottom 105 mm of the page, per the Swiss implementation guidelines.

    Font sizes follow the guidelines (titles 11 pt bold; receipt headings 6 pt bold,
    values 8 pt; payment part headings 8 pt bold, values 10 pt).
    """

    def at(top_mm: float) -> float:  # distance from the bill's top edge → page y
        return float(QR_BILL_HEIGHT - top_mm * mm)

    canvas.saveState()
    canvas.setFillGray(0)
    canvas.setStrokeGray(0)
    canvas.setLineWidth(0.5)
    canvas.setDash(2, 2)
    canvas.line(0, QR_BILL_HEIGHT, width, QR_BILL_HEIGHT)
    canvas.line(QR_BILL_RECEIPT_WIDTH, 0, QR_BILL_RECEIPT_WIDTH, QR_BILL_HEIGHT)
    canvas.setDash()
    canvas.setFont(regular, 7)
    canvas.drawCentredString(width / 2, QR_BILL_HEIGHT + 1.5 * mm, _label(bill, "Separate before paying in"))

    amount = Decimal(bill.amount) if bill.amount else None
    account = iban_numbers.format(bill.account)
    reference = format_ref_number(bill)
    creditor = list(bill.creditor.as_paragraph(max_chars=38))
    debtor = list(bill.debtor.as_paragraph(max_chars=38)) if bill.debtor else []

    # Receipt: 5 mm margin, headings 6 pt, values 8 pt.
    left = 5 * mm
    canvas.setFont(bold, 11)
    canvas.drawString(left, at(10), _label(bill, "Receipt"))
    top = 15.0
    blocks: list[tuple[str, list[str]]] = [("Account / Payable to", [account, *creditor])]
    if reference:
        blocks.append(("Reference", [reference]))
    blocks.append(("Payable by", debtor))
    for heading, values in blocks:
        canvas.setFont(bold, 6)
        canvas.drawString(left, at(top), _label(bill, heading))
        top += 3.2
        canvas.setFont(regular, 8)
        for value in values:
            canvas.drawString(left, at(top), value)
            top += 3.2
        top += 1.8
    for part_left, head, value_size, amount_offset in (
        (left, 6, 8, 12 * mm),
        (QR_BILL_RECEIPT_WIDTH + 5 * mm, 8, 10, 16 * mm),
    ):
        canvas.setFont(bold, head)
        canvas.drawString(part_left, at(72), _label(bill, "Currency"))
        canvas.drawString(part_left + amount_offset, at(72), _label(bill, "Amount"))
        canvas.setFont(regular, value_size)
        canvas.drawString(part_left, at(72) - (value_size + 2), bill.currency)
        if amount is not None:
            canvas.drawString(part_left + amount_offset, at(72) - (value_size + 2), format_qr_amount(amount))
    canvas.setFont(bold, 6)
    canvas.drawRightString(QR_BILL_RECEIPT_WIDTH - 5 * mm, at(86), _label(bill, "Acceptance point"))

    # Payment part: title, QR code 46 × 46 mm with 5 mm quiet zone, information to its right.
    payment_left = QR_BILL_RECEIPT_WIDTH + 5 * mm
    canvas.setFont(bold, 11)
    canvas.drawString(payment_left, at(10), _label(bill, "Payment part"))
    code = segno.make(bill.qr_data(), error="m", boost_error=False, micro=False, encoding="utf-8")
    code_bottom = at(17) - QR_BILL_CODE_SIZE
    draw_qr(canvas, code.matrix, payment_left, code_bottom, QR_BILL_CODE_SIZE)
    draw_swiss_cross(canvas, payment_left + QR_BILL_CODE_SIZE / 2, code_bottom + QR_BILL_CODE_SIZE / 2)

    info_left = payment_left + QR_BILL_CODE_SIZE + 5 * mm
    top = 10.0
    blocks = [("Account / Payable to", [account, *bill.creditor.as_paragraph()])]
    if reference:
        blocks.append(("Reference", [reference]))
    if bill.additional_information:
        blocks.append(("Additional information", [bill.additional_information]))
    blocks.append(("Payable by", list(bill.debtor.as_paragraph()) if bill.debtor else []))
    for heading, values in blocks:
        canvas.setFont(bold, 8)
        canvas.drawString(info_left, at(top), _label(bill, heading))
        top += 3.8
        canvas.setFont(regular, 10)
        for value in values:
            canvas.drawString(info_left, at(top), value)
            top += 3.8
        top += 2.2
    canvas.restoreState()
