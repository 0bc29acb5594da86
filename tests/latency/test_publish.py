"""Publishing the report into a ConfigMap.

A Kubernetes API server cannot run on this machine, so this test serves the two ConfigMap endpoints
the publisher uses (create, replace) from a small local HTTP fake and checks what the real
kubernetes client sent to it.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kubernetes import client

from ctrbench.latency.publish import publish_configmap


class _FakeApi(BaseHTTPRequestHandler):
    store: dict[str, dict] = {}
    calls: list[tuple[str, str]] = []

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.calls.append(("POST", self.path))
        body = self._body()
        name = body["metadata"]["name"]
        if name in self.store:
            self._reply(409, {"kind": "Status", "status": "Failure", "reason": "AlreadyExists", "code": 409})
            return
        self.store[name] = body
        self._reply(201, body)

    def do_PUT(self) -> None:  # noqa: N802
        self.calls.append(("PUT", self.path))
        body = self._body()
        self.store[body["metadata"]["name"]] = body
        self._reply(200, body)

    def log_message(self, *args: object) -> None:
        pass


def test_create_then_replace(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conf = client.Configuration(host=f"http://127.0.0.1:{server.server_port}")
        api = client.ApiClient(conf)
        publish_configmap("ctr-latency-report", {"r.csv": "window_id,max_latency_ms\n0,12\n"}, api, "bench")
        publish_configmap("ctr-latency-report", {"r.csv": "window_id,max_latency_ms\n0,13\n"}, api, "bench")
    finally:
        server.shutdown()
    assert _FakeApi.calls == [
        ("POST", "/api/v1/namespaces/bench/configmaps"),
        ("POST", "/api/v1/namespaces/bench/configmaps"),
        ("PUT", "/api/v1/namespaces/bench/configmaps/ctr-latency-report"),
    ]
    stored = _FakeApi.store["ctr-latency-report"]
    assert stored["data"] == {"r.csv": "window_id,max_latency_ms\n0,13\n"}
    assert stored["metadata"]["labels"]["app.kubernetes.io/component"] == "latency-report"
