from django.urls import path

from apps.audit import views

app_name = "audit"
urlpatterns = [
    path("o/<slug:organization_slug>/audit/", views.AuditLogView.as_view(), name="log"),
    path("o/<slug:organization_slug>/audit/export.csv", views.AuditExportView.as_view(), name="export"),
]
