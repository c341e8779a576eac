from django.apps import AppConfig


class TracingConfig(AppConfig):
    name = "apps.tracing"
    label = "tracing"

    def ready(self) -> None:
        from apps.core.partitions import PartitionedTable, register_partitioned

        register_partitioned(
            PartitionedTable("tracing_span", "start_time", "spans"),
            PartitionedTable("tracing_red_minute", "bucket", "rollups"),
            PartitionedTable("tracing_red_tenmin", "bucket", "rollups"),
            PartitionedTable("tracing_red_hour", "bucket", "rollups"),
            PartitionedTable("tracing_red_sixhour", "bucket", "rollups"),
            PartitionedTable("tracing_edge_minute", "bucket", "rollups"),
            PartitionedTable("tracing_edge_tenmin", "bucket", "rollups"),
            PartitionedTable("tracing_edge_hour", "bucket", "rollups"),
            PartitionedTable("tracing_edge_sixhour", "bucket", "rollups"),
        )
