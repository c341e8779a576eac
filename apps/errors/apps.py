from django.apps import AppConfig


class ErrorsConfig(AppConfig):
    name = "apps.errors"
    label = "errors"
    verbose_name = "Errors grouped into issues (from exception span events and error logs)"

    def ready(self) -> None:
        from apps.core.partitions import PartitionedTable, register_partitioned

        # The rollups follow the occurrences' retention: the issues list must count what the occurrences hold.
        register_partitioned(
            PartitionedTable("errors_occurrence", "time", "spans"),
            PartitionedTable("errors_issue_minute", "bucket", "spans"),
            PartitionedTable("errors_issue_tenmin", "bucket", "spans"),
            PartitionedTable("errors_issue_hour", "bucket", "spans"),
            PartitionedTable("errors_issue_service_day", "bucket", "spans"),
            PartitionedTable("errors_issue_user_day", "bucket", "spans"),
        )
