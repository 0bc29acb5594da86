"""SQL of the CTR job: the Kafka tables, the windowed aggregation and the rejected-events side output.

Kept as plain functions of the settings, so tests can read the exact SQL the job runs.
"""

from __future__ import annotations

from ctrbench.catalog import TABLE as CAMPAIGN_TABLE
from ctrbench.schema import END_OF_RUN, EVENT_TYPES
from ctrbench.settings import JobSettings, KafkaSettings, PostgresSettings

__all__ = ["campaign_lookup_ddl", "ctr_insert", "datagen_source_ddl", "enriched_view_ddl", "events_source_ddl",
           "rejected_insert", "rejected_sink_ddl", "results_sink_ddl", "source_name"]

# Broker append time in epoch ms: TIMESTAMP_LTZ has no direct cast to milliseconds in Flink SQL.
_APPEND_MS = "(TIMESTAMPDIFF(SECOND, TO_TIMESTAMP_LTZ(0, 3), log_append_time) * CAST(1000 AS BIGINT) " \
             "+ EXTRACT(MILLISECOND FROM log_append_time))"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _kafka(kafka: KafkaSettings, topic: str) -> str:
    return (f"'connector' = 'kafka', 'topic' = {_quote(topic)}, "
            f"'properties.bootstrap.servers' = {_quote(kafka.kafka_bootstrap_servers)}")


def events_source_ddl(kafka: KafkaSettings, job: JobSettings, bounded: bool = False) -> str:
    """The ``events`` table: JSON events, event time from ``event_time_ns``, broker time as metadata.

    ``event_time`` is the event's time only when it lies within ``max_event_time_skew_ms`` of the
    record's broker append time. Anything else (missing, wrong type, absurd) becomes epoch 0: it can
    never move the watermark forward, and the queries treat it as rejected. ``bounded`` stops at the
    offsets that are latest when the job starts (benchmarks).
    """
    delay_s = job.watermark_delay_ms / 1000
    bound = "\n  'scan.bounded.mode' = 'latest-offset'," if bounded else ""
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
  kafka_partition INT METADATA FROM 'partition' VIRTUAL,
  kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL,
  proc_time AS PROCTIME(),
  event_time AS CASE
    WHEN event_time_ns IS NOT NULL
     AND ABS(event_time_ns / 1000000 - {_APPEND_MS}) <= {job.max_event_time_skew_ms}
    THEN TO_TIMESTAMP_LTZ(event_time_ns / 1000000, 3)
    ELSE TO_TIMESTAMP_LTZ(0, 3)
  END,
  WATERMARK FOR event_time AS event_time - INTERVAL '{delay_s:.3f}' SECOND
) WITH (
  {_kafka(kafka, kafka.events_topic)},
  'properties.group.id' = {_quote(job.consumer_group)},
  'properties.isolation.level' = 'read_committed',
  -- Larger fetches: the source spends less time per record on poll overhead.
  'properties.max.poll.records' = '10000',
  'properties.fetch.min.bytes' = '65536',
  'properties.fetch.max.wait.ms' = '100',
  'scan.startup.mode' = 'earliest-offset',{bound}
  'format' = 'json',
  'json.ignore-parse-errors' = 'true',
  'json.fail-on-missing-field' = 'false'
)"""


def campaign_lookup_ddl(pg: PostgresSettings, job: JobSettings) -> str:
    """The ad -> campaign mapping in PostgreSQL as a JDBC lookup table with a partial cache.

    The mapping is written before a run and never changes during it, so cached rows never go stale.
    """
    url = f"jdbc:postgresql://{pg.postgres_host}:{pg.postgres_port}/{pg.postgres_db}"
    return f"""
CREATE TABLE ad_campaign (
  ad_id STRING,
  campaign_id INT,
  PRIMARY KEY (ad_id) NOT ENFORCED
) WITH (
  'connector' = 'jdbc',
  'url' = {_quote(url)},
  'table-name' = {_quote(CAMPAIGN_TABLE)},
  'username' = {_quote(pg.postgres_user)},
  'password' = {_quote(pg.postgres_password.get_secret_value())},
  'lookup.cache' = 'PARTIAL',
  'lookup.partial-cache.max-rows' = '{job.lookup_cache_rows}',
  'lookup.partial-cache.expire-after-write' = '1 h',
  'lookup.max-retries' = '3'
)"""


def enriched_view_ddl() -> str:
    """Events with their campaign looked up by ad_id (processing-time lookup join; event time kept)."""
    return """
CREATE TEMPORARY VIEW enriched_events AS
SELECT e.event_type, e.window_id, e.event_time, e.log_append_time, m.campaign_id AS campaign_id
FROM events AS e
JOIN ad_campaign FOR SYSTEM_TIME AS OF e.proc_time AS m ON e.ad_id = m.ad_id"""


def source_name(job: JobSettings) -> str:
    """The table the aggregation reads: events as they are, or events enriched from PostgreSQL."""
    return "enriched_events" if job.campaign_source == "postgres" else "events"


def datagen_source_ddl(job: JobSettings, rows: int, span_seconds: int, base_ms: int) -> str:
    """An ``events`` table from Flink's datagen source with the columns the aggregation reads.

    The benchmark's ceiling: same query, same engine, no Kafka and no JSON. Event times advance
    evenly over ``span_seconds``; the event-type mix matches the producers'.
    """
    step = f"seq * {span_seconds * 1000} / {rows}"
    return f"""
CREATE TABLE events (
  seq BIGINT,
  r INT,
  campaign_id INT,
  event_type AS CASE WHEN r < 86 THEN 'view' WHEN r < 97 THEN 'click' ELSE 'purchase' END,
  window_id AS {step} / {job.window_seconds * 1000},
  log_append_time AS TO_TIMESTAMP_LTZ({base_ms} + {step}, 3),
  event_time AS TO_TIMESTAMP_LTZ({base_ms} + {step}, 3),
  WATERMARK FOR event_time AS event_time - INTERVAL '{job.watermark_delay_ms / 1000:.3f}' SECOND
) WITH (
  'connector' = 'datagen',
  'number-of-rows' = '{rows}',
  'rows-per-second' = '1000000000',
  'fields.seq.kind' = 'sequence',
  'fields.seq.start' = '0',
  'fields.seq.end' = '{rows - 1}',
  'fields.r.min' = '0',
  'fields.r.max' = '99',
  'fields.campaign_id.min' = '1',
  'fields.campaign_id.max' = '10'
)"""


def results_sink_ddl(kafka: KafkaSettings, job: JobSettings) -> str:
    """The ``results`` table: one JSON record per (window, campaign), at-least-once or exactly-once."""
    if job.delivery_guarantee == "exactly-once":
        # Transactions must outlive a checkpoint interval and stay below the broker's
        # transaction.max.timeout.ms (15 min by default).
        guarantee = (f"'sink.delivery-guarantee' = 'exactly-once', "
                     f"'sink.transactional-id-prefix' = {_quote(job.transactional_id_prefix)}, "
                     f"'properties.transaction.timeout.ms' = '600000'")
    else:
        guarantee = "'sink.delivery-guarantee' = 'at-least-once'"
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
  {_kafka(kafka, kafka.results_topic)},
  {guarantee},
  'format' = 'json',
  'json.encode.ignore-null-fields' = 'false'
)"""


def rejected_sink_ddl(kafka: KafkaSettings) -> str:
    """Malformed events, by position in ``events``, with the reason (the job's rejected count)."""
    return f"""
CREATE TABLE rejected_events (
  kafka_partition INT,
  kafka_offset BIGINT,
  log_append_time_ms BIGINT,
  reason STRING
) WITH (
  {_kafka(kafka, kafka.rejected_topic)},
  'sink.delivery-guarantee' = 'at-least-once',
  'format' = 'json'
)"""


_TYPES = ", ".join(_quote(t) for t in EVENT_TYPES)
_VALID = (f"event_type IN ({_TYPES}) AND campaign_id IS NOT NULL AND window_id IS NOT NULL "
          "AND event_time > TO_TIMESTAMP_LTZ(0, 3)")
# window_start/window_end are TIMESTAMP(3) in the session time zone, which the job pins to UTC.
_ISO_UTC = "'yyyy-MM-dd''T''HH:mm:ss.SSS''Z'''"


def ctr_insert(job: JobSettings) -> str:
    """Tumbling event-time windows per campaign; ``ctr = clicks / views``, NULL without views.

    ``window_id`` is part of the key: producers derive it from the same event time the window
    uses, so it is constant within a window. End-of-run markers and rejected rows are filtered
    out before the aggregation; the markers' watermark still closes the last window.
    """
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
  FROM TABLE(TUMBLE(TABLE {source_name(job)}, DESCRIPTOR(event_time), INTERVAL '{job.window_seconds}' SECOND))
  WHERE {_VALID}
  GROUP BY window_start, window_end, window_id, campaign_id
)"""


def rejected_insert() -> str:
    """Rows the aggregation skips, except the end-of-run markers. Non-JSON records never become rows
    (the JSON format drops them), so the verifier's count of non-event records covers those."""
    return f"""
INSERT INTO rejected_events
SELECT
  kafka_partition,
  kafka_offset,
  {_APPEND_MS} AS log_append_time_ms,
  CASE
    WHEN event_time = TO_TIMESTAMP_LTZ(0, 3) THEN 'event_time_ns missing or absurd'
    WHEN event_type IS NULL OR event_type NOT IN ({_TYPES}) THEN 'unknown event_type'
    ELSE 'campaign_id or window_id missing'
  END AS reason
FROM events
WHERE NOT ({_VALID}) AND COALESCE(event_type, '') <> {_quote(END_OF_RUN)}"""
