"""Alerting pages; each page module owns its routes."""

from apps.alerting import analytics_page, pages, rule_pages, silence_pages

app_name = "alerting"
urlpatterns = [*pages.urlpatterns, *rule_pages.urlpatterns, *silence_pages.urlpatterns, *analytics_page.urlpatterns]
