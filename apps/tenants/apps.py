from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "apps.tenants"
    label = "tenants"

    def ready(self) -> None:
        from apps.core.access import register_access_resolver
        from apps.tenants.access import MembershipAccessResolver

        register_access_resolver(MembershipAccessResolver())
