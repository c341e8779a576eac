from django.urls import path

from apps.tracing.api.sampling import SamplingPolicyViewSet

urlpatterns = [
    path(
        "orgs/<slug:organization_slug>/projects/<slug:project_slug>/sampling/",
        SamplingPolicyViewSet.as_view({"get": "retrieve", "put": "update"}),
        name="sampling-policy",
    ),
]
