"""Typed settings for every ctrbench service, read in one place.

Each service has its own settings class. Values come from, highest priority first:
explicit keyword arguments (the CLI's options), environment variables (the original project's
upper-case names, e.g. ``EVENTS_PER_PRODUCER``), the YAML file named by
``CTR_CONFIG_FILE`` (the Kubernetes ConfigMap mounted into the pod), then defaults.
Nothing else in the package reads ``os.environ``.
"""

from __future__ import annotations

import difflib
import os
import re
from typing import Any, Literal, TypeVar

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from ctrbench.errors import ConfigError

__all__ = [
    "CONFIG_FILE_ENV",
    "ClusterSettings",
    "Distribution",
    "JobSettings",
    "KafkaSettings",
    "LatencySettings",
    "LoadSettings",
    "MonitorSettings",
    "PostgresSettings",
    "load",
]

CONFIG_FILE_ENV = "CTR_CONFIG_FILE"

Distribution = Literal["mmpp", "normal"]


class _Settings(BaseSettings):
    """Base: env names are the field names upper-cased; a mounted YAML file fills the gaps."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = os.environ.get(CONFIG_FILE_ENV)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if yaml_file:
            _check_config_file(yaml_file)
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
        return tuple(sources)


def _known_settings() -> set[str]:
    """Every setting of every service: one mounted file serves them all."""
    return {name for cls in _Settings.__subclasses__() for name in cls.model_fields}


def _check_config_file(path: str) -> None:
    """The mounted file must be a YAML mapping of known settings: a typo must not be silently ignored."""
    if not os.path.isfile(path):
        raise ConfigError(f"{CONFIG_FILE_ENV}={path}: no such file; unset it or mount the ConfigMap")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{CONFIG_FILE_ENV}={path}: cannot be read ({exc})") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"{CONFIG_FILE_ENV}={path}: not valid YAML{line}: "
                          f"{getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        return
    if not isinstance(data, dict):
        raise ConfigError(f"{CONFIG_FILE_ENV}={path}: must be a mapping of setting: value, "
                          f"not a {type(data).__name__}")
    known = _known_settings()
    for key in data:
        if str(key).lower() not in known:
            close = difflib.get_close_matches(str(key).lower(), sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "; see the settings table in the README"
            raise ConfigError(f"{CONFIG_FILE_ENV}={path}: unknown setting {key!r}{hint}")


_HOST_PORT = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):(?P<port>\d{1,5})$")
# Kafka's own rule for topic names (kafka.common.internals.Topic).
_TOPIC = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


def _check_host_ports(value: str) -> str:
    """``host:port[,host:port...]``, each port 1-65535, as Kafka clients expect."""
    parts = value.split(",")
    for part in parts:
        m = _HOST_PORT.match(part.strip())
        if m is None or not 1 <= int(m["port"]) <= 65535:
            which = f"{part.strip()!r} is " if len(parts) > 1 else ""
            raise ValueError(f"{which}not host:port (port 1-65535); "
                             "write e.g. 127.0.0.1:9092 or broker-0:9092,broker-1:9092")
    return value


def _check_http_url(value: str) -> str:
    if value and not re.match(r"^https?://[^/\s:]+(:\d{1,5})?(/\S*)?$", value):
        raise ValueError("must be an http:// or https:// URL such as http://127.0.0.1:8081, or empty")
    return value


_S = TypeVar("_S", bound=_Settings)


class KafkaSettings(_Settings):
    """Where the broker is and how the two topics look."""

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers (host:port,...)")
    events_topic: str = Field("events", description="Topic the producers write events to")
    results_topic: str = Field("results", description="Topic the CTR job writes window results to")
    rejected_topic: str = Field(
        "events-rejected", description="Topic the CTR job writes malformed events to (partition, offset, reason)")
    events_partitions: int = Field(3, ge=1, le=1024, description="Partitions of the events topic")
    results_partitions: int = Field(1, ge=1, le=1024, description="Partitions of the results topic")
    kafka_timeout_seconds: float = Field(
        15.0, gt=0, le=600, description="How long to wait for the broker before giving up"
    )

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _bootstrap_is_host_ports(cls, value: str) -> str:
        return _check_host_ports(value)

    @field_validator("events_topic", "results_topic", "rejected_topic")
    @classmethod
    def _legal_topic_name(cls, value: str) -> str:
        if not _TOPIC.match(value) or value in (".", ".."):
            raise ValueError("a Kafka topic name is 1-249 characters of a-z, A-Z, 0-9, '.', '_' and '-'")
        return value


class PostgresSettings(_Settings):
    """The database that holds the ad -> campaign mapping. The password never has a default."""

    postgres_host: str = Field("127.0.0.1", description="PostgreSQL host")
    postgres_port: int = Field(5432, ge=1, le=65535, description="PostgreSQL port")
    postgres_db: str = Field("ctr", description="Database name")
    postgres_user: str = Field("ctr", description="Database user")
    postgres_password: SecretStr = Field(SecretStr(""), description="Database password (from a Secret)")

    def dsn(self) -> dict[str, Any]:
        """Keyword arguments for ``psycopg2.connect``."""
        return {
            "host": self.postgres_host,
            "port": self.postgres_port,
            "dbname": self.postgres_db,
            "user": self.postgres_user,
            "password": self.postgres_password.get_secret_value(),
            "connect_timeout": 10,
        }


class LoadSettings(_Settings):
    """The load the producers generate (the original project's names and meanings)."""

    num_producers: int = Field(3, ge=1, le=1024, description="Number of producer processes")
    events_per_producer: int = Field(60_000, ge=1, description="Events each producer sends over the run")
    duration_seconds: float = Field(60.0, gt=0, le=86_400, description="Length of the run in seconds")
    distribution: Distribution = Field("mmpp", description="Arrival process: mmpp (bursty) or normal (Poisson)")
    seed: int = Field(42, ge=0, description="Run seed; each producer derives its own from (seed, producer id)")
    num_campaigns: int = Field(10, ge=1, le=1_000_000, description="Number of campaigns")
    ads_per_campaign: int = Field(100, ge=1, le=1_000_000, description="Ads per campaign")
    mmpp_rate_ratio: float = Field(
        5.0, ge=1.0, le=1000.0, description="MMPP: event rate in the high state / rate in the low state"
    )
    mmpp_mean_low_seconds: float = Field(8.0, gt=0, description="MMPP: mean time spent in the low state")
    mmpp_mean_high_seconds: float = Field(2.0, gt=0, description="MMPP: mean time spent in the high state")
    producer_profile: str = Field(
        "throughput", description="Kafka client profile from kafka/profiles.yaml: throughput, latency, exactly-once")
    metrics_port: int = Field(0, ge=0, le=65535, description="Producer /metrics port; 0: no metrics endpoint")
    metrics_addr: str = Field("127.0.0.1", description="Address the producer's /metrics listens on")
    base_time_ns: int = Field(
        0, ge=0, description="Run base time (ns since epoch) window ids count from; 0: the window boundary "
        "before the producer's start. Set it when producers start separately (Kubernetes)")
    start_barrier: bool = Field(
        False, description="Producers of a StatefulSet start together: producer 0 waits until all are ready (and "
        "the Flink job runs, see FLINK_REST_URL), then announces the start on its /metrics")
    flink_rest_url: str = Field(
        "", description="With START_BARRIER: Flink's REST address; the run starts only once a job is RUNNING there")
    spark_metrics_url: str = Field(
        "", description="With START_BARRIER and the Spark job: its /metrics URL; the run starts only once both of "
        "its queries run")
    producer_resume: bool = Field(
        True, description="A producer first reads the events topic and skips the events of its schedule already "
        "there, so a restarted producer (process killed, pod recreated) resends nothing; false: send everything")

    _flink_rest_is_url = field_validator("flink_rest_url", "spark_metrics_url")(_check_http_url)

    @field_validator("producer_profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        from ctrbench.kafka.config import producer_profiles  # it imports these settings

        names = sorted(producer_profiles())
        if value not in names:
            raise ValueError(f"unknown profile; choose one of {', '.join(names)} (kafka/profiles.yaml)")
        return value

    @property
    def mean_rate(self) -> float:
        """Target mean events/s of one producer."""
        return self.events_per_producer / self.duration_seconds


class JobSettings(_Settings):
    """The CTR job (PyFlink Table API, or Spark Structured Streaming)."""

    parallelism: int = Field(1, ge=1, le=256, description="Flink parallelism of the job")
    window_seconds: int = Field(10, ge=1, le=3600, description="Tumbling window size in seconds")
    # Measured on this project's producers (3 x 1,000 events/s, throughput profile, 2 cores): event-time
    # disorder per partition p99 20 ms (the profile's linger.ms), max 220 ms. 500 ms covers that with
    # margin; a saturated generator can exceed it, and then the verifier reports the dropped events.
    watermark_delay_ms: int = Field(
        500, ge=0, le=600_000, description="Bounded out-of-orderness of event time, in ms"
    )
    # Off by default. With it, a partition that was quiet for the timeout (every partition, during a broker
    # outage) stops holding the watermark back, and the first one to come back moves it alone: the others'
    # events can then be dropped although they were not late in their own partition, which the verifier
    # cannot tell from a job error. Producers write to every partition and the end-of-run marker reaches each
    # one, so no partition needs to be declared idle to close windows.
    source_idle_timeout_ms: int = Field(
        0, ge=0, description="table.exec.source.idle-timeout; 0: off. An idle partition then holds windows back "
        "instead of letting the others move the watermark past the events it still has to deliver")
    max_event_time_skew_ms: int = Field(
        3_600_000, gt=0, description="An event whose event time is further than this from its broker append time "
        "is rejected (absurd timestamps must not move the watermark)")
    delivery_guarantee: Literal["at-least-once", "exactly-once"] = Field(
        "at-least-once", description="Kafka sink guarantee; exactly-once makes results visible only at checkpoints")
    checkpoint_interval_ms: int = Field(
        0, ge=0, description="Checkpoint interval; 0: off (exactly-once needs it, and then defaults to 2000)")
    transactional_id_prefix: str = Field("ctr-results", description="Kafka sink transactional id prefix")
    checkpoint_dir: str = Field(
        "", description="Where checkpoints go (a directory or a URI such as s3://...); they are kept when the job "
        "is cancelled or dies, so it can start again from them (RESTORE_FROM). Empty: Flink's default, not kept")
    restore_from: str = Field(
        "", description="Start from this checkpoint or savepoint directory, or 'latest': the newest completed "
        "checkpoint under CHECKPOINT_DIR (a fresh start when there is none). Empty: a fresh start")
    flink_pushgateway: str = Field(
        "", description="host:port of a Pushgateway for Flink's metrics (local runs; pods are scraped instead)")
    campaign_source: Literal["event", "postgres"] = Field(
        "event", description="Where a view's campaign comes from: the event's campaign_id, or a lookup join on "
        "ad_id against PostgreSQL (JDBC, cached)")
    lookup_cache_rows: int = Field(100_000, ge=1, description="PostgreSQL lookup cache size (rows)")
    consumer_group: str = Field("ctr-flink", description="Kafka consumer group of the job's source")
    flink_jars: str = Field(
        "", description="Extra jars for pipeline.jars (';'-separated file URLs); empty: resolve locally"
    )
    local_rest_port: int = Field(
        0, ge=0, le=65535, description="Local mini-cluster only: serve Flink's REST API (and web UI) on "
        "127.0.0.1 at this port, with metrics refreshed every 500 ms; 0: Flink's defaults")
    base_time_ns: int = Field(
        0, ge=0, description="Run base time (ns since epoch) the results' window ids count from; a multiple of "
        "WINDOW_SECONDS. 0: the window boundary before the job starts")
    job_metrics_port: int = Field(
        0, ge=0, le=65535, description="The Spark job's /metrics (its queries' progress: source offsets, "
        "micro-batches, rows dropped as late); 0: not served. Flink's own reporter serves Flink's")
    job_metrics_addr: str = Field("127.0.0.1", description="Address the Spark job's /metrics listens on")

    @model_validator(mode="after")
    def _base_on_a_window_boundary(self) -> JobSettings:
        window_ns = self.window_seconds * 1_000_000_000
        if self.base_time_ns % window_ns:
            aligned = self.base_time_ns - self.base_time_ns % window_ns
            raise ValueError(f"BASE_TIME_NS={self.base_time_ns} is not a multiple of "
                             f"WINDOW_SECONDS={self.window_seconds} in ns: windows start on such multiples; "
                             f"use {aligned}")
        return self

    @model_validator(mode="after")
    def _latest_needs_a_checkpoint_dir(self) -> JobSettings:
        if self.restore_from == "latest" and not self.checkpoint_dir:
            raise ValueError("RESTORE_FROM=latest needs CHECKPOINT_DIR: the newest checkpoint is looked for there; "
                             "set CHECKPOINT_DIR or name a checkpoint directory")
        return self

    @model_validator(mode="after")
    def _watermark_within_the_window(self) -> JobSettings:
        # A delay longer than the window holds every window open for more than its own length: results
        # pile up a window behind and the measured latency is the delay, not the job.
        if self.watermark_delay_ms > self.window_seconds * 1000:
            raise ValueError(f"WATERMARK_DELAY_MS={self.watermark_delay_ms} is larger than the window "
                             f"(WINDOW_SECONDS={self.window_seconds}): the delay must be at most "
                             f"{self.window_seconds * 1000} ms; lower it or widen the window")
        return self

    @property
    def effective_checkpoint_interval_ms(self) -> int:
        """Exactly-once commits results at checkpoints, so it always checkpoints."""
        if self.delivery_guarantee == "exactly-once" and not self.checkpoint_interval_ms:
            return 2000
        return self.checkpoint_interval_ms


class LatencySettings(_Settings):
    """The latency calculator and verifier."""

    report_dir: str = Field(".", description="Directory the CSV report is written to")
    latency_timeout_seconds: float = Field(
        120.0, gt=0, description="Give up waiting for missing windows after this many seconds"
    )
    latency_metrics_port: int = Field(0, ge=0, le=65535, description="Report /metrics port; 0: not served")
    latency_metrics_addr: str = Field("127.0.0.1", description="Address the report's /metrics listens on")
    pushgateway_url: str = Field(
        "", description="Push the report's metrics here at the end (host:port); empty: no push")
    report_configmap: str = Field(
        "", description="Publish the CSV and JSON summary into this ConfigMap (in-cluster); empty: do not")
    truth_workers: int = Field(
        0, ge=0, le=256,
        description="Processes that read events back to recompute the truth; 0: one per usable CPU "
                    "(affinity, capped by a cgroup CPU limit)")


class MonitorSettings(_Settings):
    """The live latency monitor: follows ``results`` while the run happens and serves /metrics."""

    monitor_port: int = Field(
        0, ge=0, le=65535, description="Live monitor /metrics port; 0: no endpoint (`ctrbench run` still follows "
        "the results; `ctrbench monitor` needs a port, e.g. 9250)")
    monitor_addr: str = Field("127.0.0.1", description="Address the live monitor's /metrics listens on")
    flink_rest_url: str = Field(
        "", description="Flink's REST address; the monitor reads the job's Kafka source offsets there to measure "
        "the backlog. Empty: no backlog metric")
    spark_metrics_url: str = Field(
        "", description="The Spark job's /metrics URL; the monitor reads its source offsets there to measure the "
        "backlog (instead of FLINK_REST_URL)")
    backlog_interval_seconds: float = Field(
        1.0, gt=0, le=60, description="How often the monitor measures the job's backlog")

    _flink_rest_is_url = field_validator("flink_rest_url", "spark_metrics_url")(_check_http_url)


class ClusterSettings(_Settings):
    """Where a release of the Helm chart runs, for the ``cluster`` commands (kubernetes client)."""

    kubeconfig: str = Field("", description="kubeconfig file; empty: $KUBECONFIG, ~/.kube/config or in-cluster")
    cluster_namespace: str = Field("default", description="Namespace of the release")
    cluster_release: str = Field("ctr", description="Helm release name")
    cluster_timeout_seconds: float = Field(
        1800.0, gt=0, description="How long `cluster follow` waits for the report before giving up")


def load(cls: type[_S], **overrides: Any) -> _S:
    """Build ``cls`` from the environment and ``overrides`` (``None`` values are ignored).

    A bad value raises :class:`ConfigError` naming the setting, the value and the accepted range.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return cls(**given)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _shown(value: Any) -> str:
    """A value as the user typed it: quoted only when it would otherwise be invisible or ambiguous."""
    if isinstance(value, str) and value and not any(c.isspace() or c in "'\"" for c in value):
        return value
    return repr(value)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        if not err["loc"]:  # a rule across settings: its message names them
            parts.append(err["msg"].removeprefix("Value error, "))
            continue
        name = ".".join(str(p) for p in err["loc"]).upper()
        parts.append(f"{name}={_shown(err.get('input'))}: {err['msg'].removeprefix('Value error, ')}")
    return "invalid configuration: " + "; ".join(parts)
