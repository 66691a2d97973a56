"""The sandbox gateway's own pages: the hosted card page and the 3-D Secure challenge.

They stand in for a processor's hosted fields: the card number is posted here
only, checked, reduced to a token with brand, last 4 digits and expiry, and
never stored, logged or sent anywhere. The POST data is marked sensitive so a
crash report cannot show it either.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from konto.sandbox import server
from konto.sandbox.cards import TEST_CARDS
from konto.sandbox.forms import CardForm
from konto.sandbox.models import SandboxCharge, SandboxSetup


class SandboxMixin:
    """Every sandbox page: absent unless the sandbox runs, never cached."""

    @method_decorator(never_cache)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not server.is_enabled():
            raise Http404
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc,no-any-return]  # mixed into View


@method_decorator(sensitive_post_parameters("number", "expiry", "cvc", "holder"), name="dispatch")
class SandboxCardView(SandboxMixin, View):
    """The hosted card page of one setup."""

    def _setup(self, ref: str) -> SandboxSetup:
        setup = server.get_setup(ref=ref)
        if setup is None:
            raise Http404
        return setup

    def _finished(self, setup: SandboxSetup) -> HttpResponse | None:
        if setup.status == SandboxSetup.Status.REQUIRES_ACTION:
            return HttpResponseRedirect(server.setup_challenge_url(setup))
        if setup.status != SandboxSetup.Status.PENDING:
            return HttpResponseRedirect(server.setup_return_url(setup))
        return None

    def _render(self, request: HttpRequest, setup: SandboxSetup, form: CardForm, status: int = 200) -> HttpResponse:
        context = {"setup": setup, "form": form, "test_cards": TEST_CARDS}
        return render(request, "sandbox/card.html", context, status=status)

    def get(self, request: HttpRequest, ref: str) -> HttpResponse:
        setup = self._setup(ref)
        return self._finished(setup) or self._render(request, setup, CardForm(today=timezone.localdate()))

    @sensitive_variables("form", "number")
    def post(self, request: HttpRequest, ref: str) -> HttpResponse:
        setup = self._setup(ref)
        finished = self._finished(setup)
        if finished is not None:
            return finished
        form = CardForm(request.POST, today=timezone.localdate())
        if not form.is_valid():
            return self._render(request, setup, form, status=422)
        exp_month, exp_year = form.cleaned_data["expiry"]
        number: str = form.cleaned_data["number"]
        try:
            setup = server.submit_card(setup_ref=setup.ref, number=number, exp_month=exp_month, exp_year=exp_year)
        except server.SandboxRefused:
            # Another tab finished this setup in the meantime: go where that one went.
            return self._finished(self._setup(ref)) or self._render(request, setup, form, status=409)
        return self._finished(setup) or HttpResponseRedirect(server.setup_return_url(setup))


class SandboxSetupChallengeView(SandboxMixin, View):
    """3-D Secure for a card being added (test card 4000 0025 0000 3155)."""

    def _setup(self, ref: str) -> SandboxSetup:
        setup = server.get_setup(ref=ref)
        if setup is None or setup.card is None:
            raise Http404
        return setup

    def get(self, request: HttpRequest, ref: str) -> HttpResponse:
        setup = self._setup(ref)
        if setup.status != SandboxSetup.Status.REQUIRES_ACTION:
            return HttpResponseRedirect(server.setup_return_url(setup))
        return render(request, "sandbox/challenge.html", {"setup": setup, "card": setup.card, "charge": None})

    def post(self, request: HttpRequest, ref: str) -> HttpResponse:
        setup = self._setup(ref)
        setup = server.answer_setup_challenge(
            setup_ref=setup.ref, is_confirmed=request.POST.get("decision") == "confirm"
        )
        return HttpResponseRedirect(server.setup_return_url(setup))


class SandboxChargeChallengeView(SandboxMixin, View):
    """3-D Secure for a payment made while the customer is present."""

    def _charge(self, ref: str) -> SandboxCharge:
        charge = SandboxCharge.objects.select_related("card").filter(ref=ref).first()
        if charge is None:
            raise Http404
        return charge

    def _leave(self, request: HttpRequest, charge: SandboxCharge) -> HttpResponse:
        if charge.return_url:
            return HttpResponseRedirect(charge.return_url)
        return render(request, "sandbox/done.html", {"charge": charge})

    def get(self, request: HttpRequest, ref: str) -> HttpResponse:
        charge = self._charge(ref)
        if charge.status != SandboxCharge.Status.REQUIRES_ACTION:
            return self._leave(request, charge)
        return render(request, "sandbox/challenge.html", {"setup": None, "card": charge.card, "charge": charge})

    def post(self, request: HttpRequest, ref: str) -> HttpResponse:
        charge = self._charge(ref)
        charge = server.answer_charge_challenge(
            charge_ref=charge.ref, is_confirmed=request.POST.get("decision") == "confirm"
        )
        return self._leave(request, charge)
