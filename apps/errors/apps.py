from django.apps import AppConfig


class ErrorsConfig(AppConfig):
    name = "apps.errors"
    label = "errors"
    verbose_name = "Errors grouped into issues (from exception span events and error logs)"

    def ready(self) -> None:
        from apps.core.partitions import PartitionedTable, register_partitioned

        register_partitioned(PartitionedTable("errors_occurrence", "time", "spans"))
