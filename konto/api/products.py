"""GET /products: the catalog with this org's prices."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from konto.api.auth import org_of
from konto.api.schemas import ProductList, ProductOut
from konto.catalog.selectors import products_for_org

router = Router(tags=["products"])


@router.get("/products", response=ProductList, summary="The catalog with the org's prices")
def list_products(request: HttpRequest) -> ProductList:
    """Every product on sale with its stable `code`, name in the request's language, kind and unit.

    `prices` come from the price book of the org's segment in the org's
    currency, one per billing frequency, net per unit and billing period, as
    strings with 2 to 4 decimals. `may_buy` says whether the org's edition may
    buy the product.
    """
    return ProductList(items=[ProductOut.of(offer) for offer in products_for_org(org=org_of(request))])
