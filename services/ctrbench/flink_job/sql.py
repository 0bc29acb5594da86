"""SQL of the CTR job: the Kafka source and sink tables and the windowed aggregation.

Kept as plain functions of the settings so tests can read the exact SQL the job runs.
"""

from __future__ import annotations

from ctrbench.schema import EVENT_TYPES
from ctrbench.settings import JobSettings, KafkaSettings

__all__ = ["ctr_insert", "events_source_ddl", "results_sink_ddl"]


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def events_source_ddl(kafka: KafkaSettings, job: JobSettings) -> str:
    """The ``events`` table: JSON events, event time from ``event_time_ns``, broker time as metadata.

    Records that are not valid JSON are skipped (``json.ignore-parse-errors``), so a malformed
    record never stops the job; rows whose event time is missing are filtered out in the query.
    """
    delay_s = job.watermark_delay_ms / 1000
    return f"""
CREATE TABLE events (
  user_id STRING,
  page_id STRING,
  ad_id STRING,
  campaign_id INT,
  ad_type STRING,
  event_type STRING,
  event_time_ns BIGINT,
  window_id BIGINT,
  ip_address STRING,
  log_append_time TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
  event_time AS TO_TIMESTAMP_LTZ(event_time_ns / 1000000, 3),
  WATERMARK FOR event_time AS event_time - INTERVAL '{delay_s:.3f}' SECOND
) WITH (
  'connector' = 'kafka',
  'topic' = {_quote(kafka.events_topic)},
  'properties.bootstrap.servers' = {_quote(kafka.kafka_bootstrap_servers)},
  'properties.group.id' = {_quote(job.consumer_group)},
  'properties.isolation.level' = 'read_committed',
  'scan.startup.mode' = 'earliest-offset',
  'format' = 'json',
  'json.ignore-parse-errors' = 'true',
  'json.fail-on-missing-field' = 'false'
)"""


def results_sink_ddl(kafka: KafkaSettings) -> str:
    """The ``results`` table: one JSON record per (window, campaign)."""
    return f"""
CREATE TABLE results (
  window_id BIGINT,
  window_start STRING,
  window_end STRING,
  campaign_id INT,
  `views` BIGINT,
  clicks BIGINT,
  purchases BIGINT,
  ctr DOUBLE,
  max_source_log_append_time_ms BIGINT
) WITH (
  'connector' = 'kafka',
  'topic' = {_quote(kafka.results_topic)},
  'properties.bootstrap.servers' = {_quote(kafka.kafka_bootstrap_servers)},
  'sink.delivery-guarantee' = 'at-least-once',
  'format' = 'json',
  'json.encode.ignore-null-fields' = 'false'
)"""


# window_start/window_end are TIMESTAMP(3) in the session time zone, which the job pins to UTC.
_ISO_UTC = "'yyyy-MM-dd''T''HH:mm:ss.SSS''Z'''"


def ctr_insert(job: JobSettings) -> str:
    """Tumbling event-time windows per campaign; ``ctr = clicks / views``, NULL without views.

    ``window_id`` is part of the key: producers derive it from the same event time the window
    uses, so it is constant within a window. The end-of-run markers are filtered out before the
    aggregation; their watermark still closes the last window.
    """
    types = ", ".join(_quote(t) for t in EVENT_TYPES)
    return f"""
INSERT INTO results
SELECT
  window_id,
  DATE_FORMAT(window_start, {_ISO_UTC}) AS window_start,
  DATE_FORMAT(window_end, {_ISO_UTC}) AS window_end,
  campaign_id,
  `views`,
  clicks,
  purchases,
  CASE WHEN `views` = 0 THEN CAST(NULL AS DOUBLE) ELSE CAST(clicks AS DOUBLE) / `views` END AS ctr,
  TIMESTAMPDIFF(SECOND, TO_TIMESTAMP_LTZ(0, 3), max_lat) * CAST(1000 AS BIGINT)
    + EXTRACT(MILLISECOND FROM max_lat) AS max_source_log_append_time_ms
FROM (
  SELECT
    window_start,
    window_end,
    window_id,
    campaign_id,
    COUNT(*) FILTER (WHERE event_type = 'view') AS `views`,
    COUNT(*) FILTER (WHERE event_type = 'click') AS clicks,
    COUNT(*) FILTER (WHERE event_type = 'purchase') AS purchases,
    MAX(log_append_time) AS max_lat
  FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(event_time), INTERVAL '{job.window_seconds}' SECOND))
  WHERE event_type IN ({types}) AND campaign_id IS NOT NULL AND window_id IS NOT NULL
  GROUP BY window_start, window_end, window_id, campaign_id
)"""
