"""The `ctr` chart: lint, scenarios from helm/ci, schema checks, and the contract with the services."""

from __future__ import annotations

import json

import jsonschema
import kubernetes_validate
import pytest
import yaml

from ctrbench.settings import (
    JobSettings,
    KafkaSettings,
    LatencySettings,
    LoadSettings,
    MonitorSettings,
    PostgresSettings,
)
from tests.helm.conftest import CHART, KUBE_VERSION, find

SCENARIOS = sorted(p.name for p in (CHART / "ci").glob("*.yaml"))
BUILTIN_GROUPS = ("v1", "apps/v1", "batch/v1", "rbac.authorization.k8s.io/v1")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_lint_strict(helm, scenario):
    proc = helm("lint", "--strict", str(CHART), "-f", str(CHART / "ci" / scenario), "--kube-version", KUBE_VERSION)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_builtin_kinds_match_kubernetes_schemas(render, scenario):
    checked = 0
    for doc in render(scenario):
        if doc["apiVersion"] in BUILTIN_GROUPS:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
            checked += 1
    assert checked >= 8


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_resource_has_the_standard_labels(render, scenario):
    for doc in render(scenario):
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "ctr"
        assert labels["app.kubernetes.io/instance"] == "ctr"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert "app.kubernetes.io/component" in labels


def test_run_config_is_read_by_the_services_settings(render, tmp_path, monkeypatch):
    """The ConfigMap's run.yaml must load through ctrbench.settings, exactly as a pod reads it."""
    config = find(render("01-defaults-values.yaml"), "ConfigMap", "config")
    path = tmp_path / "run.yaml"
    path.write_text(config["data"]["run.yaml"])
    monkeypatch.setenv("CTR_CONFIG_FILE", str(path))
    load, kafka, pg = LoadSettings(), KafkaSettings(), PostgresSettings()
    assert (load.num_producers, load.events_per_producer, load.distribution) == (3, 60000, "mmpp")
    assert load.base_time_ns == 1_800_000_000_000_000_000
    assert kafka.kafka_bootstrap_servers == "ctr-kafka:9092"
    assert (pg.postgres_host, pg.postgres_db) == ("ctr-postgresql", "ctr")
    assert JobSettings().watermark_delay_ms == 500
    latency = LatencySettings()
    assert (latency.report_dir, latency.report_configmap, latency.pushgateway_url) == (
        "/reports", "ctr-latency-report", "")
    assert (load.metrics_port, load.metrics_addr) == (8000, "0.0.0.0")
    # Any setting the chart writes that no service knows would be silently ignored: refuse it.
    known = set()
    for cls in (LoadSettings, KafkaSettings, PostgresSettings, JobSettings, LatencySettings, MonitorSettings):
        known |= set(cls.model_fields)
    assert set(yaml.safe_load(path.read_text())) <= known


def test_job_options_reach_the_job_settings(render, tmp_path, monkeypatch):
    config = find(render("01-defaults-values.yaml", sets={"flink.campaignSource": "postgres",
                                                          "flink.deliveryGuarantee": "exactly-once"}),
                  "ConfigMap", "config")
    path = tmp_path / "run.yaml"
    path.write_text(config["data"]["run.yaml"])
    monkeypatch.setenv("CTR_CONFIG_FILE", str(path))
    job = JobSettings()
    assert (job.campaign_source, job.delivery_guarantee, job.effective_checkpoint_interval_ms) == (
        "postgres", "exactly-once", 2000)


def test_base_time_defaults_to_install_time_rounded_to_the_window(render):
    config = find(render(), "ConfigMap", "config")
    base = yaml.safe_load(config["data"]["run.yaml"])["base_time_ns"]
    assert base > 1_700_000_000 * 10**9 and base % (10 * 10**9) == 0


def test_producers_one_pod_per_producer_hardened(render):
    sts = find(render("01-defaults-values.yaml", sets={"run.numProducers": "5"}), "StatefulSet", "producer")
    assert sts["spec"]["replicas"] == 5
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    pod = sts["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["args"][:2] == ["produce", "--hold"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["image"] == "ctrbench/producer:0.1.0"
    password = next(e for e in container["env"] if e["name"] == "POSTGRES_PASSWORD")
    assert password["valueFrom"]["secretKeyRef"] == {"name": "ctr-postgresql", "key": "password"}


def test_flink_deployment_runs_the_python_job(render):
    fd = find(render("01-defaults-values.yaml", sets={"flink.parallelism": "2"}), "FlinkDeployment", "flink")
    spec = fd["spec"]
    assert spec["flinkVersion"] == "v2_2"
    assert spec["job"]["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    assert spec["job"]["args"][-2:] == ["-py", "/opt/flink/usrlib/ctr_job.py"]
    assert spec["job"]["parallelism"] == 2
    assert spec["flinkConfiguration"]["parallelism.default"] == "2"
    assert spec["flinkConfiguration"]["metrics.reporter.prom.port"] == "9249"


def test_flink_configuration_overrides_merge(render):
    fd = find(render("01-defaults-values.yaml", sets={"flink.flinkConfiguration.state\\.backend\\.type": "rocksdb"}),
              "FlinkDeployment", "flink")
    conf = fd["spec"]["flinkConfiguration"]
    assert conf["state.backend.type"] == "rocksdb" and conf["taskmanager.numberOfTaskSlots"] == "2"


def test_external_services_deploy_neither_kafka_nor_postgres(render):
    docs = render("02-external-services-values.yaml")
    components = {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in docs if d["kind"] == "StatefulSet"}
    assert components == {"producer"}
    assert not [d for d in docs if d["kind"] == "Secret"]
    run = yaml.safe_load(find(docs, "ConfigMap", "config")["data"]["run.yaml"])
    assert run["kafka_bootstrap_servers"] == "my-cluster-kafka-bootstrap.kafka:9092"
    assert run["postgres_host"] == "postgres.db.svc"
    env = find(docs, "Job", "latency")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert next(e for e in env if e["name"] == "POSTGRES_PASSWORD")["valueFrom"]["secretKeyRef"]["name"] == "ctr-db"


def test_monitoring_scenario(render):
    docs = render("03-monitoring-values.yaml")
    monitors = {d["metadata"]["name"]: d for d in docs if d["kind"] == "PodMonitor"}
    assert set(monitors) == {"ctr-producer", "ctr-monitor", "ctr-flink"}
    for pm in monitors.values():
        assert pm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert pm["spec"]["podMetricsEndpoints"] == [{"port": "metrics", "interval": "15s"}]
    assert monitors["ctr-producer"]["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "producer"
    image = find(docs, "StatefulSet", "producer")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith("ctrbench/producer@sha256:")
    job = find(docs, "Job", "latency")["spec"]["template"]["spec"]
    reports = next(v for v in job["volumes"] if v["name"] == "reports")
    assert reports["persistentVolumeClaim"]["claimName"] == "ctr-latency"


def test_dashboard_configmap_carries_sidecar_label_and_valid_json(render):
    docs = [d for d in render() if d["kind"] == "ConfigMap"
            and d["metadata"]["labels"]["app.kubernetes.io/component"] == "monitoring"]
    assert len(docs) == 1
    assert docs[0]["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(docs[0]["data"]["ctr-pipeline.json"])
    assert dashboard["uid"] == "ctr-pipeline"
    assert any("ctr_window_latency_seconds" in t["expr"] for p in dashboard["panels"] for t in p.get("targets", []))


def test_live_monitor_follows_the_run_and_is_scraped(render, tmp_path, monkeypatch):
    docs = render("01-defaults-values.yaml")
    deployment = find(docs, "Deployment", "monitor")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["args"] == ["monitor"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9250}]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "9250"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    service = find(docs, "Service", "monitor")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9250, "targetPort": "metrics"}]
    # The monitor's settings come from the run's ConfigMap: it listens on the pod's address and reads
    # the job's positions from the JobManager's REST service, which refreshes metrics every 500 ms.
    path = tmp_path / "run.yaml"
    path.write_text(find(docs, "ConfigMap", "config")["data"]["run.yaml"])
    monkeypatch.setenv("CTR_CONFIG_FILE", str(path))
    monitor = MonitorSettings()
    assert (monitor.monitor_port, monitor.monitor_addr) == (9250, "0.0.0.0")
    assert monitor.flink_rest_url == "http://ctr-flink-rest:8081"
    flink_conf = find(docs, "FlinkDeployment", "flink")["spec"]["flinkConfiguration"]
    assert flink_conf["metrics.fetcher.update-interval"] == "500"
    off = render("01-defaults-values.yaml", sets={"monitor.enabled": "false"})
    assert not [d for d in off if d["metadata"]["labels"]["app.kubernetes.io/component"] == "monitor"]


def test_latency_role_allows_only_its_report_configmap(render):
    role = find(render(), "Role", "latency")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["ctr-latency-report"],
         "verbs": ["get", "update", "patch"]},
    ]


# Bad values and the message `helm install` stops with (the README's table lists the same cases).
BAD_VALUES = [
    (["run.distribution=uniform"], "at '/run/distribution'"),
    (["run.numProducers=0"], "at '/run/numProducers'"),
    (["run.eventsPerProducer=0"], "at '/run/eventsPerProducer'"),
    (["run.durationSeconds=-5"], "at '/run/durationSeconds'"),
    (["run.mmpp.rateRatio=0"], "at '/run/mmpp/rateRatio'"),
    (["run.producerProfile=fastest"], "at '/run/producerProfile'"),
    (["run.windowSeconds=0"], "at '/run/windowSeconds'"),
    (["run.durationSeconds=45"], "run.durationSeconds=45 is not a whole number of windows (run.windowSeconds=10)"),
    (["run.windowSeconds=7"], "run.durationSeconds=60 is not a whole number of windows (run.windowSeconds=7)"),
    (["run.watermarkDelayMs=20000"], "run.watermarkDelayMs=20000 is larger than the window (run.windowSeconds=10)"),
    (["flink.deliveryGuarantee=exactly-twice"], "at '/flink/deliveryGuarantee'"),
    (["flink.mode=native"], "at '/flink/mode'"),
    (["flink.parallelism=0"], "at '/flink/parallelism'"),
    (["flink.jobManager.resource.memory=1g"], "at '/flink/jobManager/resource/memory'"),
    (["kafka.deploy=false"], "kafka.bootstrapServers is required when kafka.deploy is false"),
    (["kafka.deploy=false", "kafka.bootstrapServers=localhost"], "at '/kafka/bootstrapServers'"),
    (["kafka.eventsPartitions=0"], "at '/kafka/eventsPartitions'"),
    (["postgresql.deploy=false"], "postgresql.host is required when postgresql.deploy is false"),
    (["postgresql.port=70000"], "at '/postgresql/port'"),
    (["producer.metricsPort=0"], "at '/producer/metricsPort'"),
    (["monitor.metricsPort=70000"], "at '/monitor/metricsPort'"),
    (["image.producer.digest=latest"], "at '/image/producer/digest'"),
    (["run.numProducer=3"], "additional properties 'numProducer' not allowed"),
    (["engine=storm"], "at '/engine'"),
    (["engine=spark", "spark.parallelism=0"], "at '/spark/parallelism'"),
    (["engine=spark", "spark.driver.memory=lots"], "at '/spark/driver/memory'"),
    (["engine=spark", "spark.checkpoints.accessMode=ReadOnlyMany"], "at '/spark/checkpoints/accessMode'"),
]


@pytest.mark.parametrize(("sets", "message"), BAD_VALUES, ids=[",".join(s) for s, _m in BAD_VALUES])
def test_bad_values_are_refused_with_the_key(helm, sets, message):
    args = [a for kv in sets for a in ("--set", kv)]
    proc = helm("template", "ctr", str(CHART), *args, "--kube-version", KUBE_VERSION)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


def test_standalone_mode_runs_the_job_without_an_operator(render):
    docs = render("04-local-cluster-values.yaml", sets={"flink.parallelism": "3", "flink.taskSlots": "2"})
    assert not [d for d in docs if d["kind"] == "FlinkDeployment"]
    jm = next(d for d in docs if d["kind"] == "Job" and d["metadata"]["name"] == "ctr-flink-jobmanager")
    pod = jm["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"] == ["standalone-job", "--job-classname", "org.apache.flink.client.python.PythonDriver",
                                 "-py", "/opt/flink/usrlib/ctr_job.py"]
    assert pod["initContainers"][0]["args"] == ["setup", "--no-db"]  # topics exist before the sources start
    props = dict(line.split(": ", 1) for line in next(
        e["value"] for e in container["env"] if e["name"] == "FLINK_PROPERTIES").splitlines())
    assert props["jobmanager.rpc.address"] == "ctr-flink-jobmanager"
    assert (props["parallelism.default"], props["taskmanager.numberOfTaskSlots"]) == ("3", "2")
    assert props["restart-strategy.type"] == "fixed-delay"
    assert props["python.client.executable"] == "/opt/venv/bin/python"
    assert container["resources"]["limits"]["memory"] == "1024Mi"  # Flink's 1024m process size
    assert pod["securityContext"]["runAsUser"] == 9999
    tm = find(docs, "Deployment", "flink")
    assert tm["spec"]["replicas"] == 2  # ceil(3 / 2) TaskManagers for 3 slots
    assert tm["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "9249"
    svc = find(docs, "Service", "flink")
    assert svc["spec"]["selector"]["ctrbench.io/flink-role"] == "jobmanager"
    assert {p["name"] for p in svc["spec"]["ports"]} == {"rpc", "blob", "rest"}
    # Every pod of the local scenario uses an image loaded into the node: never a pull.
    for doc in docs:
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            assert c["imagePullPolicy"] == "Never", (doc["metadata"]["name"], c["name"])


def test_operator_and_standalone_share_one_flink_configuration(render):
    sets = {"flink.flinkConfiguration.state\\.backend\\.type": "rocksdb"}
    operator = find(render("01-defaults-values.yaml", sets=sets), "FlinkDeployment", "flink")
    standalone = find(render("04-local-cluster-values.yaml", sets=sets), "Deployment", "flink")
    props = dict(line.split(": ", 1) for line in standalone["spec"]["template"]["spec"]["containers"][0]["env"][0]
                 ["value"].splitlines())
    for key, value in operator["spec"]["flinkConfiguration"].items():
        assert props[key] == value, key
    assert props["state.backend.type"] == "rocksdb"


def test_pods_that_serve_metrics_carry_scrape_annotations(render):
    docs = render("01-defaults-values.yaml")
    producer = find(docs, "StatefulSet", "producer")["spec"]["template"]["metadata"]["annotations"]
    assert (producer["prometheus.io/scrape"], producer["prometheus.io/port"]) == ("true", "8000")
    flink = find(docs, "FlinkDeployment", "flink")["spec"]["podTemplate"]["metadata"]["annotations"]
    assert flink["prometheus.io/port"] == "9249"
    off = find(render("01-defaults-values.yaml", sets={"monitoring.scrapeAnnotations": "false"}),
               "StatefulSet", "producer")["spec"]["template"]["metadata"]["annotations"]
    assert "prometheus.io/scrape" not in off


def test_default_requests_fit_a_two_core_node(render):
    """`helm install ctr ./helm` must schedule on one 2-core node (with CoreDNS and a small Prometheus beside it)."""
    def millicores(value: object) -> float:
        text = str(value)
        return float(text[:-1]) if text.endswith("m") else float(text) * 1000

    total = 0.0
    for doc in render("04-local-cluster-values.yaml"):
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec", {})
        replicas = spec.get("replicas", 1)
        for c in pod.get("containers", []):
            total += replicas * millicores(c.get("resources", {}).get("requests", {}).get("cpu", 0))
    assert total <= 1700, f"{total:.0f}m of CPU requested"


def test_spark_engine_deploys_a_spark_application_and_no_flink(render, spark_crd):
    """engine=spark: the SparkApplication (valid against the Kubeflow Spark Operator's own CRD schema), its service
    account and role, the checkpoint volume and the driver's metrics Service; nothing of Flink."""
    docs = render("05-spark-values.yaml")
    assert not [d for d in docs if "flink" in d["metadata"]["labels"]["app.kubernetes.io/component"]]
    app = find(docs, "SparkApplication", "spark")
    jsonschema.validate(app, spark_crd)
    spec = app["spec"]
    assert (spec["type"], spec["mode"], spec["sparkVersion"]) == ("Python", "cluster", "4.1.1")
    assert spec["image"] == "ctrbench/spark:0.1.0"
    assert spec["mainApplicationFile"] == "local:///opt/ctrbench/ctr_job.py"
    assert spec["sparkConf"]["spark.sql.shuffle.partitions"] == "2"
    assert spec["executor"]["instances"] == 2 and spec["driver"]["serviceAccount"] == "ctr-spark"
    # Spark finds its containers in the templates by these names; the driver gets the run's config and password.
    driver = spec["driver"]["template"]["spec"]
    (container,) = driver["containers"]
    assert container["name"] == "spark-kubernetes-driver"
    assert {e["name"] for e in container["env"]} == {"CTR_CONFIG_FILE", "POSTGRES_PASSWORD"}
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/etc/ctrbench", "/checkpoints"}
    assert spec["executor"]["template"]["spec"]["containers"][0]["name"] == "spark-kubernetes-executor"
    volumes = {v["name"]: v for v in driver["volumes"]}
    assert volumes["checkpoints"]["persistentVolumeClaim"]["claimName"] == "ctr-spark-checkpoints"
    # The topics exist before the queries start, as Flink's JobManager makes sure.
    assert driver["initContainers"][0]["args"] == ["setup", "--no-db"]
    assert find(docs, "PersistentVolumeClaim", "spark")["metadata"]["name"] == "ctr-spark-checkpoints"
    assert driver["securityContext"]["runAsUser"] == 185
    # The driver creates its executors: its role, bound to its account.
    role = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "ctr-spark")
    assert {"pods", "services", "configmaps"} <= set(role["rules"][0]["resources"])
    binding = next(d for d in docs if d["kind"] == "RoleBinding" and d["metadata"]["name"] == "ctr-spark")
    assert binding["subjects"][0]["name"] == "ctr-spark"
    # The driver's /metrics under a stable name: Spark labels its driver pod spark-role=driver.
    svc = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "ctr-spark-driver")
    assert svc["spec"]["selector"]["spark-role"] == "driver"
    assert svc["spec"]["selector"]["app.kubernetes.io/component"] == "spark"  # the SparkApplication's, passed on


def test_spark_run_config_is_read_by_the_services(render, tmp_path, monkeypatch):
    """With engine=spark the producers wait for the Spark job's queries, the monitor and the job agree on its
    /metrics address, and checkpoints go to the shared volume."""
    path = tmp_path / "run.yaml"
    path.write_text(find(render("05-spark-values.yaml"), "ConfigMap", "config")["data"]["run.yaml"])
    monkeypatch.setenv("CTR_CONFIG_FILE", str(path))
    load, job, monitor = LoadSettings(), JobSettings(), MonitorSettings()
    assert load.flink_rest_url == "" and load.spark_metrics_url == "http://ctr-spark-driver:9249/metrics"
    assert monitor.spark_metrics_url == load.spark_metrics_url
    assert (job.job_metrics_port, job.job_metrics_addr) == (9249, "0.0.0.0")
    assert (job.parallelism, job.checkpoint_dir) == (2, "/checkpoints")
