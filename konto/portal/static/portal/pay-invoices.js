/* Paying invoices: the total of the selected invoices follows the checkboxes, the amount field follows
   "Pay a different amount", and the summary's confirm button is pressed once. The server recomputes
   everything; without this script the page still works (the total updates on the summary). */
(function () {
  "use strict";

  function cents(text) {
    var parts = String(text).split(".");
    return parseInt(parts[0], 10) * 100 + parseInt((parts[1] || "0").concat("00").slice(0, 2), 10);
  }

  function formatter(form) {
    var locale = (form.getAttribute("data-locale") || "de_DE").replace("_", "-");
    var currency = form.getAttribute("data-currency") || "EUR";
    try {
      return new Intl.NumberFormat(locale, { style: "currency", currency: currency });
    } catch (error) {
      return new Intl.NumberFormat("de-DE", { style: "currency", currency: currency });
    }
  }

  function setUpPayForm(form) {
    var format = formatter(form);
    var boxes = form.querySelectorAll("input[name=invoice_ids][data-amount]");
    var totals = form.querySelectorAll("[data-pay-total]");
    var partial = form.querySelector("[data-pay-partial]");
    var amountField = form.querySelector("[data-pay-amount-field]");

    function updateTotal() {
      var sum = 0;
      boxes.forEach(function (box) {
        if (box.checked) {
          sum += cents(box.getAttribute("data-amount"));
        }
      });
      var text = format.format(sum / 100);
      totals.forEach(function (total) {
        total.textContent = text;
      });
    }

    function updateAmountField() {
      if (partial && amountField) {
        amountField.hidden = !partial.checked;
        partial.setAttribute("aria-expanded", partial.checked ? "true" : "false");
      }
    }

    boxes.forEach(function (box) {
      box.addEventListener("change", updateTotal);
    });
    if (partial) {
      partial.addEventListener("change", function () {
        updateAmountField();
        if (partial.checked) {
          form.querySelector("#id_amount").focus();
        }
      });
    }
    updateTotal();
    updateAmountField();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-pay-form]").forEach(setUpPayForm);
    // A second press while the first is on its way would only get the same payment back; say so by disabling.
    document.querySelectorAll("form[data-submit-once]").forEach(function (form) {
      form.addEventListener("submit", function () {
        var button = form.querySelector("button[type=submit]");
        if (button) {
          window.setTimeout(function () {
            button.disabled = true;
            button.setAttribute("aria-busy", "true");
          }, 0);
        }
      });
    });
  });
})();
