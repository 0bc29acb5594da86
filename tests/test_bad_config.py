"""Bad configuration: every service refuses it at once, in one line, and changes nothing.

Each case is run as a user meets it, ``python -m ctrbench ...`` in its own session, with the setting
given on the command line, in the environment, or in the mounted YAML file (``CTR_CONFIG_FILE``).
Everything else points at the session's real Kafka broker and PostgreSQL (``--external`` for
``run``), so a check that were missing would let the command go on and leave a trace: topics
recreated or written to (their end offsets change), files in the working or report directory, or a
process (a JVM, a producer) outliving the command. The test asserts none of those happened.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient


@dataclass(frozen=True)
class Case:
    """One invalid setting for one command; ``{busy}`` and ``{file}`` in values are filled in per test."""

    command: tuple[str, ...]
    setting: str  # the environment / file name (file keys are its lower case)
    value: str
    needle: str  # what the one line must say (besides "error: ")
    cli: tuple[str, ...] = ()  # the same value as command-line options, when the command has one
    cli_needle: str = ""  # Click names the option itself for values it parses (choices, numbers)
    sources: tuple[str, ...] = ("cli", "env", "file")
    extra_env: dict[str, str] = field(default_factory=dict)


RUN = ("run", "--external")
PRODUCE = ("produce", "--producer-id", "0")
CASES = {
    "run-negative-duration": Case(RUN, "DURATION_SECONDS", "-1", "DURATION_SECONDS=-1: Input should be greater "
                                  "than 0", cli=("--duration", "-1"),
                                  cli_needle="DURATION_SECONDS=-1.0: Input should be greater than 0"),
    "run-zero-events": Case(RUN, "EVENTS_PER_PRODUCER", "0", "EVENTS_PER_PRODUCER=0: Input should be greater than "
                            "or equal to 1", cli=("--events-per-producer", "0")),
    "run-zero-producers": Case(RUN, "NUM_PRODUCERS", "0", "NUM_PRODUCERS=0: Input should be greater than or "
                               "equal to 1", cli=("--num-producers", "0")),
    "run-ratio-below-1": Case(RUN, "MMPP_RATE_RATIO", "0.5", "MMPP_RATE_RATIO=0.5: Input should be greater than "
                              "or equal to 1", sources=("env", "file")),
    "run-unknown-distribution": Case(RUN, "DISTRIBUTION", "uniform", "DISTRIBUTION=uniform: Input should be 'mmpp' or "
                                     "'normal'", cli=("--distribution", "uniform"),
                                     cli_needle="'--distribution': 'uniform' is not one of 'mmpp', 'normal'"),
    "run-unknown-engine": Case(("run",), "IMPL", "storm", "'--impl': 'storm' is not one of 'flink', 'spark', "
                               "'none'", cli=("--impl", "storm"), sources=("cli",)),
    "process-no-job": Case(("process",), "IMPL", "none", "--impl none: there is no job to run",
                           cli=("--impl", "none"), sources=("cli",)),
    "run-bootstrap-without-port": Case(RUN, "KAFKA_BOOTSTRAP_SERVERS", "localhost",
                                       "KAFKA_BOOTSTRAP_SERVERS=localhost: not host:port",
                                       sources=("env", "file")),
    "run-bootstrap-port-out-of-range": Case(RUN, "KAFKA_BOOTSTRAP_SERVERS", "broker:99999",
                                            "KAFKA_BOOTSTRAP_SERVERS=broker:99999: not host:port "
                                            "(port 1-65535)", sources=("env", "file")),
    "run-missing-password": Case(RUN, "POSTGRES_PASSWORD", "", "POSTGRES_PASSWORD is empty: PostgreSQL at "
                                 "127.0.0.1:", sources=("env", "file")),
    "run-report-dir-under-a-file": Case(RUN, "REPORT_DIR", "{file}/reports", "REPORT_DIR={file}/reports: not a "
                                        "directory (lies under {file}, which is a file)",
                                        cli=("--report-dir", "{file}/reports")),
    "run-report-dir-in-proc": Case(RUN, "REPORT_DIR", "/proc/ctrbench-reports", "REPORT_DIR=/proc/ctrbench-reports: "
                                   "files cannot be written there", sources=("env",)),
    "run-monitor-port-in-use": Case(RUN, "MONITOR_PORT", "{busy}", "MONITOR_PORT={busy}: 127.0.0.1:{busy} is "
                                    "already in use", cli=("--monitor-port", "{busy}")),
    "run-report-metrics-port-in-use": Case(RUN, "LATENCY_METRICS_PORT", "{busy}", "LATENCY_METRICS_PORT={busy}: "
                                           "127.0.0.1:{busy} is already in use", sources=("env", "file")),
    "run-producer-port-in-use": Case(RUN, "METRICS_PORT", "{busy}", "METRICS_PORT={busy}: 127.0.0.1:{busy} is "
                                     "already in use", sources=("env",)),
    "run-window-not-dividing-the-run": Case(RUN, "DURATION_SECONDS", "45", "DURATION_SECONDS=45 is not a whole "
                                            "number of windows (WINDOW_SECONDS=10)", cli=("--duration", "45")),
    "run-watermark-beyond-window": Case(RUN, "WATERMARK_DELAY_MS", "20000", "WATERMARK_DELAY_MS=20000 is larger "
                                        "than the window (WINDOW_SECONDS=10)", sources=("env", "file")),
    "run-zero-window": Case(RUN, "WINDOW_SECONDS", "0", "WINDOW_SECONDS=0: Input should be greater than or "
                            "equal to 1", sources=("env", "file")),
    "run-zero-parallelism": Case(RUN, "PARALLELISM", "0", "PARALLELISM=0: Input should be greater than or equal "
                                 "to 1", cli=("--parallelism", "0")),
    "run-unknown-guarantee": Case(RUN, "DELIVERY_GUARANTEE", "exactly-twice", "DELIVERY_GUARANTEE=exactly-twice: "
                                  "Input should be 'at-least-once' or 'exactly-once'",
                                  sources=("env", "file")),
    "run-unknown-profile": Case(RUN, "PRODUCER_PROFILE", "fastest", "PRODUCER_PROFILE=fastest: unknown profile; "
                                "choose one of exactly-once, latency, throughput", sources=("env", "file")),
    "run-illegal-topic": Case(RUN, "EVENTS_TOPIC", "my events", "EVENTS_TOPIC='my events': a Kafka topic name",
                              sources=("env", "file")),
    "produce-bootstrap-without-port": Case(PRODUCE, "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1",
                                           "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1: not host:port",
                                           cli=("--bootstrap-servers", "127.0.0.1")),
    "produce-metrics-port-in-use": Case(PRODUCE, "METRICS_PORT", "{busy}", "METRICS_PORT={busy}: 127.0.0.1:{busy} "
                                        "is already in use", sources=("env", "file")),
    "produce-missing-password": Case(PRODUCE, "POSTGRES_PASSWORD", "", "POSTGRES_PASSWORD is empty",
                                     sources=("env",)),
    "produce-negative-rate": Case(PRODUCE, "EVENTS_PER_PRODUCER", "-5", "EVENTS_PER_PRODUCER=-5",
                                  cli=("--events-per-producer", "-5")),
    "process-zero-parallelism": Case(("process",), "PARALLELISM", "0", "PARALLELISM=0",
                                     cli=("--parallelism", "0"), sources=("cli", "env")),
    "process-lookup-without-password": Case(("process",), "POSTGRES_PASSWORD", "", "POSTGRES_PASSWORD is empty",
                                            sources=("env",), extra_env={"CAMPAIGN_SOURCE": "postgres"}),
    "latency-report-dir-under-a-file": Case(("latency",), "REPORT_DIR", "{file}/out", "REPORT_DIR={file}/out: not "
                                            "a directory", cli=("--report-dir", "{file}/out")),
    "latency-metrics-port-in-use": Case(("latency", "--end-of-run"), "LATENCY_METRICS_PORT", "{busy}",
                                        "LATENCY_METRICS_PORT={busy}: 127.0.0.1:{busy} is already in use",
                                        sources=("env",)),
    "monitor-port-in-use": Case(("monitor",), "MONITOR_PORT", "{busy}", "MONITOR_PORT={busy}: 127.0.0.1:{busy} is "
                                "already in use", cli=("--port", "{busy}")),
    "monitor-rest-url-without-scheme": Case(("monitor", "--port", "0"), "FLINK_REST_URL", "localhost:8081",
                                            "FLINK_REST_URL=localhost:8081: must be an http:// or https:// URL",
                                            cli=("--flink-rest-url", "localhost:8081")),
    "setup-missing-password": Case(("setup", "--recreate-topics"), "POSTGRES_PASSWORD", "",
                                   "POSTGRES_PASSWORD is empty", sources=("env",)),
    "search-steps-not-whole-windows": Case(("search", "--external", "--warmup", "5"), "", "",
                                           "--warmup 5 + --measure 12 = 17 s is not a whole number of windows",
                                           cli=("--measure", "12"), sources=("cli",)),
    "search-no-job": Case(("search",), "", "", "--engine none: a search needs a job to measure",
                          cli=("--engine", "none"), sources=("cli",)),
}
FILE_CASES = {  # the mounted file itself is wrong
    "config-file-missing": (None, "CTR_CONFIG_FILE={path}: no such file"),
    "config-file-typo": ("num_producer: 3\n", "CTR_CONFIG_FILE={path}: unknown setting 'num_producer'; did you "
                         "mean 'num_producers'?"),
    "config-file-not-yaml": ("duration_seconds: [60\n", "CTR_CONFIG_FILE={path}: not valid YAML at line 2"),
    "config-file-a-list": ("- num_producers\n", "CTR_CONFIG_FILE={path}: must be a mapping of setting: value, "
                           "not a list"),
    "config-file-bad-value": ("num_producers: -3\n", "NUM_PRODUCERS=-3: Input should be greater than or equal "
                              "to 1"),
}


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    """A port some other process (here: this test) listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def world(kafka_broker, postgres_server, tmp_path_factory) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Environment for the commands: the real broker and database, topics that already hold a record."""
    pg = postgres_server.settings()
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
           "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers, "KAFKA_TIMEOUT_SECONDS": "10",
           "EVENTS_TOPIC": "badcfg-events", "RESULTS_TOPIC": "badcfg-results", "REJECTED_TOPIC": "badcfg-rejected",
           "POSTGRES_HOST": pg.postgres_host, "POSTGRES_PORT": str(pg.postgres_port),
           "POSTGRES_DB": pg.postgres_db, "POSTGRES_USER": pg.postgres_user,
           "POSTGRES_PASSWORD": pg.postgres_password.get_secret_value(),
           "LATENCY_TIMEOUT_SECONDS": "5", "JAVA_TOOL_OPTIONS": ""}
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
    for topic in ("badcfg-events", "badcfg-results", "badcfg-rejected"):
        producer.produce(topic, b"sentinel")
    assert producer.flush(30) == 0
    return env


def _kafka_state(bootstrap: str) -> dict[str, list[int]]:
    """Every topic with its partitions' end offsets: creating, deleting or writing any topic changes it."""
    topics = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "badcfg-state", "enable.auto.commit": False})
    try:
        return {name: [consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1]
                       for p in sorted(meta.partitions)]
                for name, meta in topics.items() if not name.startswith("__")}
    finally:
        consumer.close()


def _files(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())


def _session_processes(sid: int) -> list[str]:
    """Processes left in the session the command was started in (it leads that session)."""
    left = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        if int(fields[3]) == sid and fields[0] != "Z":  # field 6 of stat: session id
            left.append(stat.parent.name)
    return left


def _refused(args: list[str], env: dict[str, str], cwd: Path, bootstrap: str) -> str:
    """Run the command; assert exit 2, one line, no side effect; return the line."""
    before = (_kafka_state(bootstrap), _files(cwd))
    proc = subprocess.Popen([sys.executable, "-m", "ctrbench", *args], env=env, cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)  # only the group we started
            proc.wait()
    left = _session_processes(proc.pid)
    assert not left, f"processes left behind: {left}"
    assert proc.returncode == 2, (proc.returncode, err)
    assert "Traceback" not in err and not out.strip(), (out, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert (_kafka_state(bootstrap), _files(cwd)) == before, "the refused command changed topics or files"
    return lines[0]


@pytest.mark.parametrize(("name", "source"), [(n, s) for n, c in CASES.items() for s in c.sources])
def test_bad_setting_is_refused_in_one_line_without_side_effects(name, source, world, busy_port, tmp_path):
    case = CASES[name]
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory\n")

    def fill(text: str) -> str:
        return text.replace("{busy}", str(busy_port)).replace("{file}", str(a_file))

    workdir = tmp_path / "work"
    workdir.mkdir()
    env = world | case.extra_env
    args = list(case.command)
    if source == "cli":
        args += [fill(a) for a in case.cli]
    elif source == "env":
        env = env | {case.setting: fill(case.value)}
    else:
        if case.setting in env:
            del env[case.setting]  # the file is the lowest source: the environment must not hide it
        config = tmp_path / "run.yaml"
        # Unquoted, so YAML gives numbers as numbers, as a ConfigMap written by the chart does.
        config.write_text(f"{case.setting.lower()}: {fill(case.value) or repr('')}\n")
        env = env | {"CTR_CONFIG_FILE": str(config)}
    line = _refused(args, env, workdir, world["KAFKA_BOOTSTRAP_SERVERS"])
    assert fill(case.cli_needle if source == "cli" and case.cli_needle else case.needle) in line, line


@pytest.mark.parametrize("name", list(FILE_CASES))
def test_bad_config_file_is_refused_in_one_line(name, world, tmp_path):
    content, needle = FILE_CASES[name]
    path = tmp_path / "run.yaml"
    if content is not None:
        path.write_text(content)
    workdir = tmp_path / "work"
    workdir.mkdir()
    line = _refused(["run", "--external"], world | {"CTR_CONFIG_FILE": str(path)}, workdir,
                    world["KAFKA_BOOTSTRAP_SERVERS"])
    assert needle.format(path=path) in line, line
