"""The APM pages of a project; each page module owns its routes."""

from apps.apm import dependencies, errors, logs, metrics, servicemap, services, traces

app_name = "apm"
urlpatterns = [
    *services.urlpatterns,
    *traces.urlpatterns,
    *servicemap.urlpatterns,
    *errors.urlpatterns,
    *dependencies.urlpatterns,
    *logs.urlpatterns,
    *metrics.urlpatterns,
]
