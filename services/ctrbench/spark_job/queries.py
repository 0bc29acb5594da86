"""The CTR job's queries as Spark DataFrames: the Kafka source, the windowed aggregation and the rejected side output.

They follow the Flink job (:mod:`ctrbench.flink_job.sql`) column for column: the same rule for what counts
(:mod:`ctrbench.validity`), an event time that is epoch 0 unless it lies within MAX_EVENT_TIME_SKEW_MS of the
broker's time (so it can never move the watermark forward), the same result fields and window ids.

Where Spark differs, and what is done about it:

* Its watermark is the *maximum* event time seen over all partitions minus the delay (Flink: the minimum over
  partitions), advanced at the end of each micro-batch. Events behind it are dropped as late; Spark counts them
  (``numRowsDroppedByWatermark``), and the run reports that count.
* A filter that does not refer to the event time is pushed below the watermark, so the end-of-run markers would
  be filtered out before they move it and the last window would never close. The filter of the counted events
  therefore refers to ``event_time`` (see :func:`counted_events`).
* ``to_json`` leaves out NULL fields by default; the results keep ``"ctr": null`` as the Flink job writes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ctrbench import validity
from ctrbench.schema import END_OF_RUN, NS_PER_MS, NS_PER_S
from ctrbench.settings import JobSettings, KafkaSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["APPEND_MS", "counted_events", "events", "rejected_output", "results_output"]

# Broker append time of a Kafka record in epoch ms (the source's `timestamp` column: LogAppendTime).
APPEND_MS = "unix_millis(timestamp)"
# The fields of an event the job reads, all as text (the rule decides what is an integer, see validity), and
# the column Spark fills with the text of a record that is not a JSON object.
_EVENT_SCHEMA = "ad_id STRING, campaign_id STRING, event_type STRING, event_time_ns STRING, _corrupt_record STRING"
# Like Flink's format (Jackson as Flink configures it): raw control characters in strings are accepted; NaN,
# Infinity and single quotes are not JSON (Spark accepts the last two by default).
_JSON_OPTIONS = {"mode": "PERMISSIVE", "allowUnquotedControlChars": "true", "allowNonNumericNumbers": "false",
                 "allowSingleQuotes": "false"}
_ISO_UTC = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"


def events(spark: SparkSession, kafka: KafkaSettings, job: JobSettings,
           max_offsets_per_trigger: int | None = None) -> DataFrame:
    """The ``events`` topic as rows: the event's fields, ``campaign``, ``event_ns``, ``event_time``, ``reason``,
    and the record's ``kafka_partition``, ``kafka_offset`` and broker ``timestamp``. Records that are not JSON
    objects are not rows (as in the Flink job). ``max_offsets_per_trigger``: a micro-batch reads at most this many
    records (benchmarks; by default all that are there)."""
    from pyspark.sql import functions as sf

    reader = (spark.readStream.format("kafka")
              .option("kafka.bootstrap.servers", kafka.kafka_bootstrap_servers)
              .option("subscribe", kafka.events_topic)
              .option("startingOffsets", "earliest")
              .option("kafka.isolation.level", "read_committed")
              # A topic recreated by `setup --recreate-topics` between runs must not fail the next query.
              .option("failOnDataLoss", "false"))
    if max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", max_offsets_per_trigger)
    raw = reader.load()
    skew_ns = job.max_event_time_skew_ms * NS_PER_MS
    text = sf.col("value").cast("string")
    # Jackson skips a leading byte-order mark; Spark's reader calls such a record malformed.
    text = sf.when(text.startswith("\ufeff"), text.substr(sf.lit(2), sf.length(text))).otherwise(text)
    parsed = raw.select(
        sf.from_json(text, _EVENT_SCHEMA, _JSON_OPTIONS).alias("e"),
        # The text keeps the record's bytes; Spark's parser would read invalid UTF-8 as U+FFFD, Jackson refuses it.
        sf.is_valid_utf8(text).alias("utf8"),
        sf.col("partition").alias("kafka_partition"),
        sf.col("offset").alias("kafka_offset"),
        sf.col("timestamp"),
    )
    # Empty and null values parse to NULL, anything else that is not an object sets _corrupt_record.
    rows = (parsed.where("e IS NOT NULL AND e._corrupt_record IS NULL AND utf8")
            .select("e.ad_id", "e.campaign_id", "e.event_type", "e.event_time_ns", "kafka_partition",
                    "kafka_offset", "timestamp"))
    rows = rows.selectExpr("*", f"{validity.spark_sql_campaign_id()} AS campaign",
                           f"{validity.spark_sql_event_time_ns()} AS event_ns")
    low, high = f"{APPEND_MS} * 1000000 - {skew_ns}", f"{APPEND_MS} * 1000000 + {skew_ns}"
    return rows.selectExpr(
        "*",
        f"CASE WHEN event_ns BETWEEN {low} AND {high} THEN timestamp_millis(event_ns DIV {NS_PER_MS}) "
        "ELSE timestamp_millis(0) END AS event_time",
        f"{validity.sql_reason(APPEND_MS, job.max_event_time_skew_ms)} AS reason",
    )


def counted_events(rows: DataFrame, job: JobSettings, mapping: DataFrame | None = None) -> DataFrame:
    """``rows`` with the watermark, then only the events the aggregation counts.

    The condition refers to ``event_time`` so that Spark cannot push it below the watermark: the markers must
    pass the watermark (to close the last window) and only then be left out. With CAMPAIGN_SOURCE=postgres the
    campaign comes from ``mapping`` (ad_id, campaign_id), joined after that, so the markers' ad ids (not in the
    mapping) cannot keep them from the watermark; events whose ad_id is not in the mapping are not counted, as
    with the Flink job's lookup join.
    """
    watermarked = rows.withWatermark("event_time", f"{job.watermark_delay_ms} milliseconds")
    counted = watermarked.where(f"CASE WHEN event_time IS NOT NULL THEN reason IS NULL "
                                f"AND event_type <> '{END_OF_RUN}' ELSE FALSE END")
    if job.campaign_source != "postgres":
        return counted
    if mapping is None:
        raise ValueError("CAMPAIGN_SOURCE=postgres needs the ad -> campaign mapping")
    from pyspark.sql import functions as sf

    return (counted.drop("campaign")
            .join(sf.broadcast(mapping.withColumnRenamed("campaign_id", "campaign")), "ad_id"))


def results_output(counted: DataFrame, job: JobSettings) -> DataFrame:
    """One JSON ``value`` per (window, campaign), with the Flink job's fields; ``ctr`` NULL without views."""
    from pyspark.sql import functions as sf

    if not job.base_time_ns:
        raise ValueError("results_output needs the run's base time (JobSettings.base_time_ns)")
    base_s = job.base_time_ns // NS_PER_S
    agg = (counted.groupBy(sf.window("event_time", f"{job.window_seconds} seconds"), sf.col("campaign"))
           .agg(sf.count(sf.when(sf.col("event_type") == "view", 1)).alias("views"),
                sf.count(sf.when(sf.col("event_type") == "click", 1)).alias("clicks"),
                sf.count(sf.when(sf.col("event_type") == "purchase", 1)).alias("purchases"),
                sf.max("timestamp").alias("max_lat")))
    result = agg.selectExpr(
        f"CAST((unix_seconds(window.start) - {base_s}) / {job.window_seconds} AS BIGINT) AS window_id",
        f"date_format(window.start, \"{_ISO_UTC}\") AS window_start",
        f"date_format(window.end, \"{_ISO_UTC}\") AS window_end",
        "campaign AS campaign_id",
        "views", "clicks", "purchases",
        "CASE WHEN views = 0 THEN CAST(NULL AS DOUBLE) ELSE CAST(clicks AS DOUBLE) / views END AS ctr",
        "unix_millis(max_lat) AS max_source_log_append_time_ms",
    )
    return result.select(sf.to_json(sf.struct(*result.columns), {"ignoreNullFields": "false"}).alias("value"))


def rejected_output(rows: DataFrame) -> DataFrame:
    """Every record the rule rejects, with its position and reason (the Flink job's ``events-rejected``)."""
    from pyspark.sql import functions as sf

    rejected = rows.where("reason IS NOT NULL").selectExpr(
        "kafka_partition", "kafka_offset", f"{APPEND_MS} AS log_append_time_ms", "reason")
    return rejected.select(sf.to_json(sf.struct(*rejected.columns)).alias("value"))
