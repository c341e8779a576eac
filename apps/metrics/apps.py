from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "apps.metrics"
    label = "metrics"

    def ready(self) -> None:
        from apps.core.partitions import PartitionedTable, register_partitioned

        register_partitioned(
            PartitionedTable("metrics_point", "time", "metrics"),
            PartitionedTable("metrics_rollup_minute", "bucket", "rollups"),
            PartitionedTable("metrics_rollup_hour", "bucket", "rollups"),
        )
