"""The chart on a real cluster: this machine's single-node Kubernetes (API server, kubelet, containerd).

In order: a complete run installed with `helm install` and verified (k8s/e2e.sh, which follows the run
and fetches the report with `ctrbench cluster`), then a second run started with `ctrbench cluster
start`, then three runs with a fault each (a producer pod, the TaskManager pod, the Kafka pod deleted
mid-run), then the release switched to engine=spark and a run on Spark under the Kubeflow Spark Operator (built
here from its Go module); the report ConfigMap's RBAC against the real API server; the node's images; a second
test session waiting for the cluster; what a stuck run's error says about its pods; the operator mode's refusal
without its CRD and its FlinkDeployment against the CRD schema; and last, that `down` leaves nothing behind.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ctrbench.embedded.jars import cache_root
from tests.k8s.conftest import CLUSTER, DOCKER, ROOT, host_snapshot

pytestmark = [pytest.mark.cluster, pytest.mark.integration]

NS = "ctr"
# The release k8s/e2e.sh leaves installed: its last, the chart on Spark (it uninstalls the Flink release in NS first).
RELEASE_NS = "ctr-spark"
DASHBOARD = ROOT / "helm" / "files" / "dashboards" / "ctr-pipeline.json"


def _dashboard_queries() -> int:
    return sum(len(p.get("targets", [])) for p in json.loads(DASHBOARD.read_text())["panels"])


def _check_report(run_dir: Path, events: int, late_allowed: bool = False) -> dict:
    """The report of one run: every (window, campaign) verified, positive latencies, all events counted.

    ``late_allowed``: a cell may also be short by exactly the events that reached Kafka later than the
    watermark allows (after an outage), which event-time windows drop by design and the verifier lists.
    """
    summary = json.loads(next(run_dir.glob("latency_report_*.json")).read_text())
    v = summary["verification"]
    assert v["ok"] is True, v
    assert (v["wrong"], v["missing"], v["unexpected"]) == ([], [], [])
    short = len(v["short_by_late_events"])
    assert short == 0 or late_allowed, v
    assert v["matched"] + short == summary["cells_expected"] == summary["cells_received"] > 0
    assert summary["events_in_kafka"] == events
    assert summary["rejected_records"] == {} and summary["not_json_objects"] == 0
    rows = list(csv.DictReader(next(run_dir.glob("latency_report_*.csv")).open()))
    assert len(rows) == summary["windows"] >= 2
    assert all(int(r["max_latency_ms"]) > 0 for r in rows)
    # Per window, the events the job's results counted: all of them, less the late ones it dropped.
    assert sum(int(r["events"]) for r in rows) == events - v["late_events_dropped"]
    assert summary["latency_ms"]["end_to_end_per_cell"]["p50"] > 0
    assert "verification: " in (run_dir / "verdict.txt").read_text()
    return summary


@pytest.mark.timeout(5400)
def test_helm_install_runs_a_complete_verified_run(local_cluster, tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e")
    env = local_cluster.env | {"PROVIDER": "local", "OUT": str(out), "KEEP_CLUSTER": "1", "SECOND_RUN": "1",
                               "FAULTS": "1", "SPARK_RUN": "1",
                               "CTRBENCH": str(Path(sys.executable).with_name("ctrbench"))}
    log = out / "e2e.log"
    with log.open("w") as fh:
        proc = subprocess.run(["bash", str(ROOT / "k8s" / "e2e.sh")], env=env, stdout=fh, stderr=subprocess.STDOUT,
                              timeout=5000, check=False)
    text = log.read_text()
    at_failure = out / "cluster-at-failure.txt"
    assert proc.returncode == 0, text[-8000:] + (f"\n--- {at_failure.name} ---\n{at_failure.read_text()[:6000]}"
                                                 if at_failure.exists() else "")

    run1 = _check_report(out / "run-1", 3 * 60_000)  # the chart's defaults: 3 producers x 60,000 events
    run2 = _check_report(out / "run-2", 2 * 10_000)  # cluster start --num-producers 2 --events-per-producer 10000
    # The live monitor Deployment saw every result of both runs, the second on a recreated topic.
    monitor = {(s.name, s.labels.get("kind")): s.value
               for f in text_string_to_metric_families((out / "monitor-metrics.txt").read_text()) for s in f.samples}
    cells = run1["cells_received"] + run2["cells_received"]
    duplicates = run1["verification"]["duplicates"] + run2["verification"]["duplicates"]
    assert monitor[("ctr_results_total", None)] == cells + duplicates
    assert monitor[("ctr_window_latency_seconds_count", "end_to_end")] == cells
    last_window = list(csv.DictReader(next((out / "run-2").glob("latency_report_*.csv")).open()))[-1]
    assert monitor[("ctr_latest_window_results", None)] == int(last_window["campaigns"])
    # Every query of the dashboard returned data from the cluster's Prometheus over the first run.
    check = (out / "dashboard-check.txt").read_text()
    assert f"all {_dashboard_queries()} queries returned data" in check, check
    assert "EMPTY" not in check
    assert (out / "dashboard.png").stat().st_size > 50_000
    pods = (out / "pods.txt").read_text()
    assert re.search(r"ctr-producer-0\s+1/1\s+Running", pods) and "ctr-producer-1" in pods
    assert re.search(r"ctr-flink-jobmanager-\S+\s+1/1\s+Running", pods)
    assert re.search(r"ctr-monitor-\S+\s+1/1\s+Running", pods)
    assert "report complete" in text and "Pulling" not in text
    _check_faults(out)
    # The same chart with engine=spark: the operator ran the SparkApplication, its results verified alike.
    spark = _check_report(out / "spark", 2 * 10_000)
    assert "RUNNING" in (out / "spark" / "sparkapplication.txt").read_text()
    assert re.search(r"ctr-spark-driver\s+1/1\s+Running", (out / "spark" / "pods.txt").read_text())
    print(f"spark: {spark['verification']['matched']} cells exact, {spark['verification']['duplicates']} duplicates, "
          f"end-to-end per window {spark['latency_ms']['end_to_end_per_window_max']}")


def _check_faults(out: Path) -> None:
    """Each fault run: every event of the schedule in Kafka exactly once (2 producers x 15,000), every cell exact,
    and with exactly-once no result visible twice. A producer or broker outage may leave cells short by exactly the
    events it delayed behind the watermark (the restarted producer's overdue events, the producers' queued ones),
    which event-time windows drop by design and the verifier lists; the TaskManager's may not."""
    faults = {row[0]: row for row in csv.reader((out / "faults.tsv").open(), delimiter="\t")}
    assert set(faults) == {"producer", "taskmanager", "kafka"}, faults
    for name, (_n, pod, at_s, recovered_s) in faults.items():
        summary = _check_report(out / f"fault-{name}", 2 * 15_000, late_allowed=name != "taskmanager")
        v = summary["verification"]
        assert 10 <= int(at_s) < 30, f"{name}: the fault came {at_s} s into a 30 s run"
        if name != "producer":
            assert v["duplicates"] == 0, v  # exactly-once: restored from a checkpoint, nothing uncommitted visible
        print(f"fault {name}: {pod} deleted {at_s} s into the run, back after {recovered_s} s; "
              f"{v['matched']} cells exact, {len(v['short_by_late_events'])} short by "
              f"{v['late_events_dropped']} late events, {v['duplicates']} duplicates; "
              f"disturbed: {summary['disturbed'] or 'no'}")


def _sa_client(local_cluster, namespace: str, account: str):  # type: ignore[no-untyped-def]
    """A kubernetes client authenticated as a service account (a token from the TokenRequest API)."""
    from kubernetes import client, config

    admin = config.new_client_from_config(config_file=local_cluster.kubeconfig)
    token = client.CoreV1Api(admin).create_namespaced_service_account_token(
        account, namespace, client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(
            audiences=[], expiration_seconds=600))).status.token
    conf = client.Configuration()
    conf.host = admin.configuration.host
    conf.ssl_ca_cert = admin.configuration.ssl_ca_cert
    conf.api_key = {"authorization": f"Bearer {token}"}
    return admin, client.ApiClient(conf)


def test_report_publishing_and_its_rbac_against_the_api_server(local_cluster):
    """The report Job's service account may create ConfigMaps and update only its report ConfigMap."""
    from kubernetes import client

    from ctrbench.errors import ServiceUnavailable
    from ctrbench.latency.publish import publish_configmap

    admin, as_report = _sa_client(local_cluster, RELEASE_NS, "ctr-latency")
    files = {"latency_report_1_2_normal.csv": "window_id,max_latency_ms\n0,5\n", "x.json": '{"ok": true}\n'}

    # Replaces the run's report, then again: the same result.
    publish_configmap("ctr-latency-report", files, api_client=as_report, namespace=RELEASE_NS)
    publish_configmap("ctr-latency-report", files, api_client=as_report, namespace=RELEASE_NS)
    got = client.CoreV1Api(admin).read_namespaced_config_map("ctr-latency-report", RELEASE_NS)
    assert got.data == files
    assert got.metadata.labels["app.kubernetes.io/component"] == "latency-report"

    client.CoreV1Api(admin).create_namespaced_config_map(RELEASE_NS, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="not-the-report"), data={"a": "b"}))
    try:
        with pytest.raises(ServiceUnavailable, match=rf"replacing ConfigMap {RELEASE_NS}/not-the-report: 403"):
            publish_configmap("not-the-report", files, api_client=as_report, namespace=RELEASE_NS)
        assert client.CoreV1Api(admin).read_namespaced_config_map("not-the-report", RELEASE_NS).data == {"a": "b"}
    finally:
        client.CoreV1Api(admin).delete_namespaced_config_map("not-the-report", RELEASE_NS)
    with pytest.raises(client.ApiException) as denied:
        client.CoreV1Api(as_report).list_namespaced_secret(RELEASE_NS)
    assert denied.value.status == 403


def _pause_image(local_cluster) -> str:  # type: ignore[no-untyped-def]
    """The node's pause image, as k8s/local/env.sh names it."""
    return local_cluster.run("bash", "-c", 'source "$1"; echo "$CLUSTER_PAUSE_IMAGE"', "-",
                             str(CLUSTER.with_name("env.sh"))).stdout.strip()


def test_the_node_keeps_every_image_it_was_loaded_with(local_cluster):
    """The node has no registry to pull an image back from, so its kubelet must never garbage-collect images: with the
    disk filling up it once deleted the pause image (and ours), and every pod after that failed to start. After all the
    runs above, the pause image and the project's images are still on the node."""
    node = json.loads(local_cluster.run("kubectl", "get", "nodes", "-o", "json").stdout)["items"][0]
    configz = json.loads(local_cluster.run(
        "kubectl", "get", "--raw", f"/api/v1/nodes/{node['metadata']['name']}/proxy/configz").stdout)
    assert configz["kubeletconfig"]["imageGCHighThresholdPercent"] == 100
    assert all(image.get("names") for image in node["status"]["images"]), "an untagged image is left on the node"
    names = {name for image in node["status"]["images"] for name in image["names"]}
    for image in (_pause_image(local_cluster), "ctrbench/producer", "ctrbench/flink", "ctrbench/spark"):
        assert any(name.startswith(f"docker.io/{image}") for name in names), (image, sorted(names))


def test_load_refuses_an_image_the_disk_cannot_take(local_cluster, tmp_path):
    """With image GC off, a full disk would show only as evicted pods: `load` refuses first and says what it needs.
    The node's image store is pointed at a nearly full 16 MiB tmpfs for this one command."""
    store = tmp_path / "store"
    store.mkdir()
    local_cluster.run("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(store))
    try:
        (store / "filler").write_bytes(b"\0" * (15 * 1024 * 1024))
        proc = local_cluster.run("bash", "-c", """set -e
            eval "$("$1" start)"
            docker tag "$4" ctrbench-test/space-check:1
            trap 'docker image rm ctrbench-test/space-check:1 >/dev/null' EXIT
            CLUSTER_CONTAINERD_ROOT=$3 bash "$2" load ctrbench-test/space-check:1""",
                                 "-", str(DOCKER), str(CLUSTER), str(store), _pause_image(local_cluster), check=False)
    finally:
        local_cluster.run("umount", str(store))
    assert proc.returncode == 1, proc.stderr
    assert re.search(rf"load: importing ctrbench-test/space-check:1 \(\S+\) needs \S+ free on {store} .*; "
                     r"\S+ is\. Free space", proc.stderr), proc.stderr
    names = local_cluster.run("kubectl", "get", "nodes", "-o", "jsonpath={.items[0].status.images[*].names}").stdout
    assert "space-check" not in names


def test_spark_applications_is_empty_only_when_the_api_says_so(local_cluster):
    """`cluster start` picks the Flink or the Spark path from this answer: a 403 (or a missing CRD's 404) means
    "no Spark here", an API server it cannot reach is an error, never an empty list."""
    import urllib3
    from kubernetes import client

    from ctrbench.cluster.follow import spark_applications
    from ctrbench.cluster.release import Release

    _admin, as_report = _sa_client(local_cluster, RELEASE_NS, "ctr-latency")
    assert spark_applications(Release(as_report, RELEASE_NS, "ctr")) == []
    conf = client.Configuration()
    conf.host = "https://127.0.0.1:1"  # nothing listens there
    conf.retries = 0
    with pytest.raises(urllib3.exceptions.HTTPError):
        spark_applications(Release(client.ApiClient(conf), RELEASE_NS, "ctr"))


def test_loading_a_rebuilt_image_leaves_no_untagged_one(local_cluster, tmp_path):
    """With image GC off, the image a tag named before a rebuild stayed in the node by id, forever (3.5 GB after one
    rebuild of the project's images: containerd's CRI plugin records each image under its id as well). After `load`
    of a new image under the same tag, the old one is gone and every image the node holds has a name."""
    proc = local_cluster.run("bash", "-c", """set -e
        eval "$("$1" start)"
        source "$3"
        trap 'docker image rm -f ctrbench-test/prune:1 >/dev/null 2>&1 || true' EXIT
        for label in 1 2; do
          printf 'FROM %s\\nLABEL ctrbench.test=%s\\n' "$4" "$label" >"$5/Dockerfile"
          docker build -q -t ctrbench-test/prune:1 "$5" >/dev/null
          id=$(docker image inspect -f '{{.Id}}' ctrbench-test/prune:1)
          echo "id$label $id"
          bash "$2" load ctrbench-test/prune:1
        done
        ctr -a "$CLUSTER_CONTAINERD_SOCK" -n k8s.io images ls | awk 'NR > 1 {print "image", $1, $3}'
        ctr -a "$CLUSTER_CONTAINERD_SOCK" -n k8s.io images rm docker.io/ctrbench-test/prune:1 >/dev/null
        ctr -a "$CLUSTER_CONTAINERD_SOCK" -n k8s.io images rm "$id" >/dev/null 2>&1 || true""",
                             "-", str(DOCKER), str(CLUSTER), str(CLUSTER.with_name("env.sh")),
                             _pause_image(local_cluster), str(tmp_path))
    ids = dict(line.split()[:2] for line in proc.stdout.splitlines() if line.startswith("id"))
    images = [line.split()[1:] for line in proc.stdout.splitlines() if line.startswith("image ")]
    assert ids["id1"] != ids["id2"]
    refs = {ref for ref, _digest in images}
    assert "docker.io/ctrbench-test/prune:1" in refs and ids["id1"] not in refs, (ids, images)
    named = {digest for ref, digest in images if not ref.startswith("sha256:")}
    assert all(digest in named for _ref, digest in images), images


def test_a_second_test_session_waits_for_the_cluster(local_cluster):
    """Two `make test` runs at once would share the one local cluster, and the second's `down` broke the first's run
    (its pods lost their network mid-run). While this session holds the cluster, another process asking for it waits,
    names this session, and gives up after its wait."""
    proc = subprocess.run([sys.executable, "-c", "from tests.k8s.conftest import hold_cluster_lock; "
                           "hold_cluster_lock(wait_s=3)"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)
    holder = f"test session pid {os.getpid()} in {ROOT}"
    assert proc.returncode != 0, proc.stderr
    assert f"waiting for the local cluster: {holder}" in proc.stderr, proc.stderr
    assert f"the local cluster is still in use by {holder}" in proc.stderr and "after 3 s" in proc.stderr, proc.stderr


def _wait_until(what: str, check, timeout: float = 120):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(1)
    return found


def test_a_stuck_run_ends_with_the_pods_that_are_not_fine(local_cluster):
    """`cluster follow` gives up with the state, events and log of each pod that is not fine, and nothing of the
    fine ones: a container that keeps exiting 3 after printing a marker, a pod no node can take, a ready pod."""
    from kubernetes import client, config

    from ctrbench.cluster.follow import follow
    from ctrbench.cluster.release import Release
    from ctrbench.errors import ServiceUnavailable

    ns, name = "ctr-diagnose", "diag"
    image = "ctrbench/producer:" + yaml.safe_load((ROOT / "helm" / "Chart.yaml").read_text())["appVersion"]
    admin = config.new_client_from_config(config_file=local_cluster.kubeconfig)
    core = client.CoreV1Api(admin)

    def labels(component: str) -> dict[str, str]:
        return {"app.kubernetes.io/instance": name, "app.kubernetes.io/component": component}

    def pod(pod_name: str, component: str, script: str, **spec) -> client.V1Pod:  # type: ignore[no-untyped-def]
        return client.V1Pod(metadata=client.V1ObjectMeta(name=pod_name, labels=labels(component)),
                            spec=client.V1PodSpec(termination_grace_period_seconds=0, containers=[client.V1Container(
                                name="main", image=image, image_pull_policy="Never", command=["sh", "-c", script])],
                                **spec))

    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    try:
        core.create_namespaced_config_map(ns, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=f"{name}-config", labels=labels("config")),
            data={"run.yaml": "num_producers: 2\nevents_per_producer: 10\n"}))
        core.create_namespaced_pod(ns, pod("diag-crash", "setup", "echo broker-marker-$((40 + 2)); exit 3"))
        core.create_namespaced_pod(ns, pod("diag-unplaceable", "kafka", "sleep 3600",
                                           node_selector={"ctrbench.io/no-such-node": "x"}))
        core.create_namespaced_pod(ns, pod("diag-fine", "monitor", "sleep 3600"))

        def crashed_and_settled() -> bool:
            pods = {p.metadata.name: p for p in core.list_namespaced_pod(ns).items}
            crash = (pods["diag-crash"].status.container_statuses or [None])[0]
            fine = (pods["diag-fine"].status.container_statuses or [None])[0]
            return bool(crash and crash.restart_count >= 1 and crash.last_state.terminated
                        and fine and fine.ready)

        _wait_until("the crashing pod to restart and the fine one to be ready", crashed_and_settled)
        lines: list[str] = []
        with pytest.raises(ServiceUnavailable) as stuck:
            follow(Release(admin, ns, name), timeout=0, echo=lines.append)
    finally:
        core.delete_namespace(ns, grace_period_seconds=0)
    message = str(stuck.value)
    assert "diag-unplaceable: Unschedulable" in lines[0], lines
    head, diagnosis = message.split("\npods that are not fine:\n")
    assert head.startswith("the run did not end within 0 s; last status: pods: 1 pending, 2 running")
    blocks = {b.split(":\n")[0]: b for b in re.split(r"\n(?=pod )", diagnosis)}
    assert set(blocks) == {"pod diag-crash", "pod diag-unplaceable"}, diagnosis
    crash = blocks["pod diag-crash"]
    assert re.search(r"container main: .*\b[1-9]\d* restarts?, last exit code 3 \(Error\)", crash), crash
    # Its last run's log: the previous container's while it waits to restart, else the one that just exited.
    assert re.search(r"main (previous run|log), last 12 lines:\n    broker-marker-42", crash), crash
    unplaceable = blocks["pod diag-unplaceable"]
    assert "phase Pending" in unplaceable and "PodScheduled: Unschedulable" in unplaceable, unplaceable
    assert "node affinity/selector" in unplaceable and "event FailedScheduling" in unplaceable, unplaceable


def _operator_crd() -> dict:
    """The FlinkDeployment CRD as operator 1.10's API jar ships it (the newest served here), with its flinkVersion
    enum extended by v2_0, v2_1 and v2_2: the values operator 1.13 added and 1.15 accepts for Flink 2.x."""
    target = cache_root() / "jars" / "flink-kubernetes-operator-api-1.10.0.jar"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mvn", "-q", "-B", "dependency:copy", "-Dartifact=org.apache.flink:"
                        "flink-kubernetes-operator-api:1.10.0", f"-DoutputDirectory={target.parent}"],
                       check=True, timeout=600, cwd=target.parent)
    with zipfile.ZipFile(target) as jar:
        crd = yaml.safe_load(jar.read("META-INF/fabric8/flinkdeployments.flink.apache.org-v1.yml"))
    version = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "flinkVersion"]
    assert "v1_20" in version["enum"] and "v2_2" not in version["enum"]
    version["enum"] += ["v2_0", "v2_1", "v2_2"]
    return crd


def test_operator_mode_without_the_crd_fails_with_what_to_do(local_cluster):
    proc = local_cluster.run("helm", "install", "ctr-op", str(ROOT / "helm"), "-n", NS, "--dry-run=server",
                             check=False)
    assert proc.returncode != 0
    assert "Flink Kubernetes Operator (1.13 or newer, 1.15 recommended" in proc.stderr
    assert "flink.mode=standalone" in proc.stderr


def test_flinkdeployment_matches_the_operator_crd_schema(local_cluster, tmp_path):
    crd_file = tmp_path / "crd.yaml"
    crd_file.write_text(yaml.safe_dump(_operator_crd()))
    ns = "crd-check"
    local_cluster.run("kubectl", "create", "namespace", ns)
    local_cluster.run("kubectl", "apply", "-f", str(crd_file))
    try:
        deadline = time.monotonic() + 60  # kubectl wait fails while the CRD has no conditions yet
        while "True" not in local_cluster.run(
                "kubectl", "get", "crd/flinkdeployments.flink.apache.org", "-o",
                "jsonpath={.status.conditions[?(@.type=='Established')].status}", check=False).stdout:
            assert time.monotonic() < deadline, "the FlinkDeployment CRD was not established within 60 s"
            time.sleep(1)
        rendered = local_cluster.run("helm", "template", "ctr", str(ROOT / "helm"), "-n", ns,
                                     "--kube-version", "1.33.13", "--set", "flink.parallelism=2").stdout
        fd = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "FlinkDeployment")
        good = tmp_path / "fd.yaml"
        good.write_text(yaml.safe_dump(fd))
        ok = local_cluster.run("kubectl", "apply", "--dry-run=server", "-n", ns, "-f", str(good))
        assert "created (server dry run)" in ok.stdout
        fd["spec"]["flinkVersion"] = "v9_9"
        bad = tmp_path / "bad.yaml"
        bad.write_text(yaml.safe_dump(fd))
        refused = local_cluster.run("kubectl", "apply", "--dry-run=server", "-n", ns, "-f", str(bad), check=False)
        assert refused.returncode != 0 and "Unsupported value" in refused.stderr
        # With the CRD installed the chart's own check passes too.
        local_cluster.run("helm", "install", "ctr-op", str(ROOT / "helm"), "-n", ns, "--dry-run=server")
    finally:
        local_cluster.run("kubectl", "delete", "-f", str(crd_file), "--wait=true", check=False)
        local_cluster.run("kubectl", "delete", "namespace", ns, "--wait=true", check=False)


@pytest.mark.timeout(900)
def test_down_leaves_nothing_behind(local_cluster):
    """No process, iptables rule, interface, address, mount, network namespace or cgroup of the cluster (nor of
    the private Docker daemon that built its images) is left: the host is as it was before `up`."""
    local_cluster.run("bash", str(CLUSTER), "down", timeout=600)
    local_cluster.run("bash", str(DOCKER), "stop", timeout=120)
    after = host_snapshot()
    assert after == local_cluster.before
