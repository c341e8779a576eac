from django.apps import AppConfig


class LogsConfig(AppConfig):
    name = "apps.logs"
    label = "logs"

    def ready(self) -> None:
        from apps.core.partitions import PartitionedTable, register_partitioned

        register_partitioned(
            PartitionedTable("logs_record", "time", "logs"),
            PartitionedTable("logs_count_minute", "bucket", "rollups"),
        )
