from django.urls import path

from apps.ingest import views

app_name = "ingest"
urlpatterns = [
    path(
        "o/<slug:organization_slug>/p/<slug:project_slug>/scrub-rules/",
        views.ScrubRulesView.as_view(),
        name="scrub-rules",
    ),
    path(
        "o/<slug:organization_slug>/p/<slug:project_slug>/scrub-rules/<int:rule_id>/delete/",
        views.ScrubRuleDeleteView.as_view(),
        name="scrub-rule-delete",
    ),
]
