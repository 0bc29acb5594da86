"""SQL of the CTR job: the Kafka tables, the windowed aggregation and the rejected-events side output.

Kept as plain functions of the settings, so tests can read the exact SQL the job runs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ctrbench import validity
from ctrbench.catalog import TABLE as CAMPAIGN_TABLE
from ctrbench.schema import END_OF_RUN, NS_PER_MS, NS_PER_S
from ctrbench.settings import JobSettings, KafkaSettings, PostgresSettings

__all__ = ["FUNCTIONS", "campaign_lookup_ddl", "counted_view_ddl", "ctr_insert", "datagen_source_ddl",
           "events_source_ddl", "rejected_insert", "rejected_sink_ddl", "results_sink_ddl"]

# SQL name -> class of the job's jar (services/ctrbench/flink_job/format); create_table_env registers them as
# temporary system functions. They keep per-record date arithmetic out of the generated code (Flink 2.2
# evaluates an expression again at every reference; see the classes).
FUNCTIONS = {
    "CTR_EPOCH_MS": "ctrbench.flink.format.CtrEpochMs",
    "CTR_EVENT_TIME": "ctrbench.flink.format.CtrEventTime",
}

# Broker append time in epoch ms: TIMESTAMP_LTZ has no direct cast to milliseconds in Flink SQL.
_APPEND_MS = "CTR_EPOCH_MS(log_append_time)"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _kafka(kafka: KafkaSettings, topic: str) -> str:
    return (f"'connector' = 'kafka', 'topic' = {_quote(topic)}, "
            f"'properties.bootstrap.servers' = {_quote(kafka.kafka_bootstrap_servers)}")


def events_source_ddl(kafka: KafkaSettings, job: JobSettings, bounded: bool = False) -> str:
    """The ``events`` table: JSON events, event time from ``event_time_ns``, broker time as metadata.

    ``campaign_id`` and ``event_time_ns`` are integers by the rule of :mod:`ctrbench.validity`, NULL
    where a record's field is not one: the ``ctr-json`` format reads INT and BIGINT columns so.
    ``campaign`` and ``event_ns`` are the names the rule's SQL uses for them. ``event_time`` is the
    event's time only when it lies within ``max_event_time_skew_ms`` of the record's broker append time;
    anything else becomes epoch 0, which can never move the watermark forward. Only the fields the job
    reads are declared (``ad_id`` only for the PostgreSQL lookup); the rest of a record is skipped.
    ``bounded`` stops at the offsets that are latest when the job starts (benchmarks).
    """
    delay_s = job.watermark_delay_ms / 1000
    bound = "\n  'scan.bounded.mode' = 'latest-offset'," if bounded else ""
    skew_ns = job.max_event_time_skew_ms * NS_PER_MS
    # Decoding a field costs the source per record: ad_id only where the lookup join reads it.
    ad_id = "\n  ad_id STRING," if job.campaign_source == "postgres" else ""
    return f"""
CREATE TABLE events ({ad_id}
  campaign_id INT,
  event_type STRING,
  event_time_ns BIGINT,
  log_append_time TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
  kafka_partition INT METADATA FROM 'partition' VIRTUAL,
  kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL,
  proc_time AS PROCTIME(),
  campaign AS campaign_id,
  event_ns AS event_time_ns,
  -- event_ns within the skew of the broker time (to the ms), else epoch 0: see CtrEventTime.
  event_time AS CTR_EVENT_TIME(event_time_ns, log_append_time, CAST({skew_ns} AS BIGINT)),
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
  -- Flink's json format, made safe for skipping malformed records: it hands a record on only after
  -- parsing it, so a failure further down (a lookup, a sink) fails the task instead of being skipped.
  -- Its INT and BIGINT columns follow the event rule (NULL for a value that is not an integer).
  'format' = 'ctr-json',
  'ctr-json.ignore-parse-errors' = 'true',
  'ctr-json.fail-on-missing-field' = 'false'
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


def counted_view_ddl(job: JobSettings) -> str:
    """The events the aggregation counts (:mod:`ctrbench.validity`), each with the campaign it counts for.

    With CAMPAIGN_SOURCE=postgres the campaign comes from a processing-time lookup join on ad_id
    (event time kept); events whose ad_id is not in the mapping are then not counted.
    """
    is_event = f"({validity.sql_reason(_APPEND_MS, job.max_event_time_skew_ms)}) IS NULL " \
               f"AND event_type <> {_quote(END_OF_RUN)}"
    if job.campaign_source == "postgres":
        return f"""
CREATE TEMPORARY VIEW counted_events AS
SELECT e.event_type, m.campaign_id AS campaign, e.event_time, e.log_append_time
FROM events AS e
JOIN ad_campaign FOR SYSTEM_TIME AS OF e.proc_time AS m ON e.ad_id = m.ad_id
WHERE {is_event}"""
    return f"""
CREATE TEMPORARY VIEW counted_events AS
SELECT event_type, campaign, event_time, log_append_time
FROM events
WHERE {is_event}"""


def datagen_source_ddl(job: JobSettings, rows: int, span_seconds: int, base_ms: int) -> str:
    """``counted_events`` from Flink's datagen source, with the columns the aggregation reads.

    The benchmark's ceiling: same query, same engine, no Kafka, no JSON and no validity checks.
    Event times advance evenly over ``span_seconds``; the event-type mix matches the producers'.
    """
    step = f"seq * {span_seconds * 1000} / {rows}"
    return f"""
CREATE TABLE counted_events (
  seq BIGINT,
  r INT,
  campaign INT,
  event_type AS CASE WHEN r < 86 THEN 'view' WHEN r < 97 THEN 'click' ELSE 'purchase' END,
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
  'fields.campaign.min' = '1',
  'fields.campaign.max' = '10'
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


# window_start/window_end are TIMESTAMP(3) in the session time zone, which the job pins to UTC.
_ISO_UTC = "'yyyy-MM-dd''T''HH:mm:ss.SSS''Z'''"


def ctr_insert(job: JobSettings) -> str:
    """Tumbling event-time windows per campaign over ``counted_events``; ``ctr = clicks / views``,
    NULL without views.

    A window is defined by event time alone: the key is the window and the campaign, and the
    result's ``window_id`` is derived from the window, counted from the run's base time
    (``job.base_time_ns``, a multiple of the window size). The events' own ``window_id`` field is
    not read. End-of-run markers and rejected records never reach the aggregation, but the
    markers' watermark still closes the last window.
    """
    if not job.base_time_ns:
        raise ValueError("ctr_insert needs the run's base time (JobSettings.base_time_ns)")
    base = datetime.fromtimestamp(job.base_time_ns // NS_PER_S, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"""
INSERT INTO results
SELECT
  CAST(TIMESTAMPDIFF(SECOND, TIMESTAMP '{base}', window_start) / {job.window_seconds} AS BIGINT) AS window_id,
  DATE_FORMAT(window_start, {_ISO_UTC}) AS window_start,
  DATE_FORMAT(window_end, {_ISO_UTC}) AS window_end,
  campaign AS campaign_id,
  `views`,
  clicks,
  purchases,
  CASE WHEN `views` = 0 THEN CAST(NULL AS DOUBLE) ELSE CAST(clicks AS DOUBLE) / `views` END AS ctr,
  CTR_EPOCH_MS(max_lat) AS max_source_log_append_time_ms
FROM (
  SELECT
    window_start,
    window_end,
    campaign,
    COUNT(*) FILTER (WHERE event_type = 'view') AS `views`,
    COUNT(*) FILTER (WHERE event_type = 'click') AS clicks,
    COUNT(*) FILTER (WHERE event_type = 'purchase') AS purchases,
    MAX(log_append_time) AS max_lat
  FROM TABLE(TUMBLE(TABLE counted_events, DESCRIPTOR(event_time), INTERVAL '{job.window_seconds}' SECOND))
  GROUP BY window_start, window_end, campaign
)"""


def rejected_insert(job: JobSettings) -> str:
    """Every record the rule of :mod:`ctrbench.validity` rejects, with its reason. Records that are
    not JSON objects never become rows (the JSON format drops them); the report counts those."""
    return f"""
INSERT INTO rejected_events
SELECT kafka_partition, kafka_offset, log_append_time_ms, reason
FROM (
  SELECT
    kafka_partition,
    kafka_offset,
    {_APPEND_MS} AS log_append_time_ms,
    {validity.sql_reason(_APPEND_MS, job.max_event_time_skew_ms)} AS reason
  FROM events
)
WHERE reason IS NOT NULL"""
