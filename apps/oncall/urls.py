from django.urls import path

from apps.oncall import views

app_name = "oncall"
ORG = "o/<slug:organization_slug>"
urlpatterns = [
    path(f"{ORG}/on-call/", views.SchedulesView.as_view(), name="schedules"),
    path(f"{ORG}/on-call/new/", views.ScheduleCreateView.as_view(), name="schedule-create"),
    path(f"{ORG}/on-call/<int:schedule_id>/", views.ScheduleView.as_view(), name="schedule"),
    path(f"{ORG}/on-call/<int:schedule_id>/edit/", views.ScheduleEditView.as_view(), name="schedule-edit"),
    path(f"{ORG}/on-call/<int:schedule_id>/delete/", views.ScheduleDeleteView.as_view(), name="schedule-delete"),
    path(f"{ORG}/on-call/<int:schedule_id>/overrides/", views.OverrideCreateView.as_view(), name="override-create"),
    path(
        f"{ORG}/on-call/overrides/<int:override_id>/delete/", views.OverrideDeleteView.as_view(), name="override-delete"
    ),
    path(f"{ORG}/escalation-policies/", views.PoliciesView.as_view(), name="policies"),
    path(f"{ORG}/escalation-policies/new/", views.PolicyCreateView.as_view(), name="policy-create"),
    path(f"{ORG}/escalation-policies/<int:policy_id>/edit/", views.PolicyEditView.as_view(), name="policy-edit"),
    path(f"{ORG}/escalation-policies/<int:policy_id>/delete/", views.PolicyDeleteView.as_view(), name="policy-delete"),
    path(f"{ORG}/routing-rules/", views.RulesView.as_view(), name="rules"),
    path(f"{ORG}/routing-rules/new/", views.RuleCreateView.as_view(), name="rule-create"),
    path(f"{ORG}/routing-rules/<int:rule_id>/edit/", views.RuleEditView.as_view(), name="rule-edit"),
    path(f"{ORG}/routing-rules/<int:rule_id>/delete/", views.RuleDeleteView.as_view(), name="rule-delete"),
]
