"""The producers' start barrier: pod identity, the announced start read from a real /metrics endpoint, and
Flink's job state read from a real HTTP server. (Its DNS count of ready producers runs in tests/k8s.)"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ctrbench.embedded.process import free_port
from ctrbench.errors import ServiceUnavailable
from ctrbench.producer import barrier
from ctrbench.producer.metrics import ProducerMetrics


def test_pod_identity_from_a_statefulset_pod_name():
    me = barrier.PodIdentity("ctr-producer-12.ctr-producer.bench.svc.cluster.local")
    assert (me.ordinal, me.service_domain) == (12, "ctr-producer.bench.svc.cluster.local")
    assert me.peer(0) == "ctr-producer-0.ctr-producer.bench.svc.cluster.local"
    with pytest.raises(ServiceUnavailable, match="pass --start-time-ns"):
        barrier.PodIdentity("laptop")


def test_the_start_announced_by_producer_0_is_read_to_the_millisecond():
    port = free_port()
    metrics = ProducerMetrics(0)
    metrics.serve(port, "127.0.0.1")
    url = f"http://127.0.0.1:{port}/metrics"
    assert barrier._announced(url) is None  # nothing decided yet
    metrics.run_start.set(1_795_601_826_123 / 1000)
    assert round(barrier._announced(url) * 1000) == 1_795_601_826_123


def test_flink_job_running_reads_the_rest_api():
    state = {"jobs": [{"id": "a", "state": "CREATED"}]}

    class Rest(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = json.dumps(state).encode()
            self.send_response(200 if self.path == "/jobs/overview" else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Rest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        assert barrier.flink_job_running(url) is False
        state["jobs"].append({"id": "b", "state": "RUNNING"})
        assert barrier.flink_job_running(url) is True
        assert barrier.flink_job_running(f"http://127.0.0.1:{free_port()}") is False  # nothing listens
    finally:
        server.shutdown()
