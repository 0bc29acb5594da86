"""A real single-node Apache Kafka broker (KRaft, broker + controller) on 127.0.0.1.

Started from jars resolved from Maven Central (``poms/kafka-broker.xml``), data in a temporary
directory that is removed on stop. Use as a context manager.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from confluent_kafka.admin import AdminClient

from ctrbench.embedded import jars
from ctrbench.embedded.process import free_port, stop_process, wait_until
from ctrbench.errors import ServiceUnavailable
from ctrbench.settings import KafkaSettings, load

__all__ = ["EmbeddedKafka", "kafka_or_embedded"]

logger = logging.getLogger(__name__)

_LOG4J_CONF = Path(__file__).with_name("conf") / "log4j2.properties"
_START_TIMEOUT_S = 90.0


class EmbeddedKafka:
    """Single-node KRaft Kafka; ``bootstrap_servers`` is valid between ``start`` and ``stop``."""

    def __init__(self, heap: str = "768m") -> None:
        # No I/O here: the broker starts in start(), so constructing one is cheap and safe.
        self.heap = heap
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self._cmd: list[str] = []

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path | None:
        return self._dir / "broker.log" if self._dir else None

    def start(self) -> EmbeddedKafka:
        """Format storage, start the broker and wait until it answers metadata requests."""
        java = shutil.which("java")
        if java is None:
            raise ServiceUnavailable("Java is not installed: run `make run-deps` (needs a JDK 17)")
        classpath = str(jars.resolve("kafka-broker") / "*")
        self._dir = Path(tempfile.mkdtemp(prefix="ctrbench-kafka-"))
        self.port, controller_port = free_port(), free_port()
        props = self._dir / "server.properties"
        props.write_text(self._properties(controller_port))
        cluster_id = "-"
        while cluster_id.startswith("-"):  # kafka-storage would read an id starting with '-' as an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # -XX:-UsePerfData: no /tmp/hsperfdata_<user> left behind.
        base_cmd = [java, f"-Xmx{self.heap}", "-XX:-UsePerfData", f"-Dlog4j2.configurationFile={_LOG4J_CONF}",
                    f"-Dkafka.log.file={self.log_file}", "-cp", classpath]
        fmt = subprocess.run(
            [*base_cmd, "kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id, "-c", str(props)],
            capture_output=True, text=True, check=False,
        )
        if fmt.returncode != 0:
            raise ServiceUnavailable(f"kafka storage format failed: {fmt.stderr.strip()[-300:]}")
        self._cmd = [*base_cmd, "kafka.Kafka", str(props)]
        self._launch()
        return self

    def _launch(self) -> None:
        assert self._dir is not None
        logger.info("starting Kafka broker on %s (logs: %s)", self.bootstrap_servers, self.log_file)
        self._proc = subprocess.Popen(
            self._cmd, stdout=subprocess.DEVNULL, stderr=(self._dir / "broker.stderr").open("ab"),
        )
        alive = lambda: self._proc is not None and self._proc.poll() is None  # noqa: E731
        try:
            # Wait for the listener before creating a client, so librdkafka does not log refusals.
            wait_until(lambda: _port_open(self.port), _START_TIMEOUT_S, "Kafka broker listener", alive=alive)
            admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "socket.timeout.ms": 2000})
            wait_until(lambda: _answers(admin), _START_TIMEOUT_S, "Kafka broker metadata", alive=alive)
        except (TimeoutError, RuntimeError) as exc:
            self.stop()
            raise ServiceUnavailable(f"{exc}; see the broker log") from None

    def halt(self) -> None:
        """Stop the broker process (clean shutdown) and keep its data and ports: an outage, ended by
        :meth:`resume`. Clients see the broker go away and come back at the same address."""
        if self._proc is not None:
            stop_process(self._proc, "kafka broker")
            self._proc = None

    def resume(self) -> None:
        """Start the halted broker again on the same data directory and ports."""
        if self._dir is None:
            raise RuntimeError("the broker was never started")
        if self._proc is None:
            self._launch()

    def stop(self) -> None:
        """Stop the broker (SIGTERM, clean shutdown) and delete its data."""
        self.halt()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> EmbeddedKafka:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _properties(self, controller_port: int) -> str:
        assert self._dir is not None
        return "\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self._dir / 'data'}",
            # A single node: every internal topic has one replica.
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "",
        ])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _answers(admin: AdminClient) -> bool:
    try:
        md = admin.list_topics(timeout=2)
    except Exception:  # noqa: BLE001 - any failure just means "not yet"
        return False
    return bool(md.brokers)


@contextlib.contextmanager
def kafka_or_embedded(bootstrap: str | None, heap: str = "1g") -> Iterator[KafkaSettings]:
    """Settings for the broker at ``bootstrap``, or for an embedded one started for the duration."""
    if bootstrap:
        yield load(KafkaSettings, kafka_bootstrap_servers=bootstrap)
        return
    with EmbeddedKafka(heap=heap) as broker:
        yield load(KafkaSettings, kafka_bootstrap_servers=broker.bootstrap_servers)
