from rest_framework.routers import SimpleRouter


def tenant_router() -> SimpleRouter:
    """Routers whose prefixes use path converters (``<slug:organization_slug>``)."""
    return SimpleRouter(use_regex_path=False)
