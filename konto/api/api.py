"""The REST API object; endpoints are registered by the routers of each resource."""

from ninja import NinjaAPI

api = NinjaAPI(title="Konto API", version="1", urls_namespace="api", docs_url="/docs", openapi_url="/openapi.json")
