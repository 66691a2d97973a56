/* Small enhancements of My Account; every page works without them. */
(function () {
  "use strict";

  // Forms with data-confirm ask before submitting (e.g. revoking a token).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // Buttons with data-copy="<element id>" copy that element's text.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) {
      return;
    }
    var source = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById(button.getAttribute("data-copy-status"));
    if (!source || !navigator.clipboard) {
      return;
    }
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      if (status) {
        status.textContent = button.getAttribute("data-copied") || "";
      }
    });
  });

  // The VAT ID help text follows the chosen country.
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-vat-help]").forEach(function (select) {
      var data = document.getElementById(select.getAttribute("data-vat-help"));
      var help = document.getElementById(select.getAttribute("data-vat-help-target"));
      if (!data || !help) {
        return;
      }
      var texts = JSON.parse(data.textContent);
      select.addEventListener("change", function () {
        if (texts[select.value]) {
          help.textContent = texts[select.value];
        }
      });
    });
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      if (navigator.clipboard) {
        button.hidden = false;
      }
    });
  });
})();
