"""A release of the ``ctr`` chart as the kubernetes client sees it.

Objects are found by the chart's labels (``app.kubernetes.io/instance`` = release,
``app.kubernetes.io/component``), never by guessing names, so ``nameOverride`` and
``fullnameOverride`` work. Every call goes through the API server, so the same code works against
any cluster the kubeconfig reaches (pod metrics and the Flink REST API through its proxy).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import yaml

from ctrbench.errors import ConfigError, ServiceUnavailable
from ctrbench.settings import ClusterSettings

__all__ = ["Release", "connect"]

logger = logging.getLogger(__name__)

INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
RUN_FILE = "run.yaml"  # the key of the run configuration in the config ConfigMap


@dataclass
class Release:
    """API handles plus the release's namespace and name."""

    api: Any  # kubernetes.client.ApiClient
    namespace: str
    name: str

    @property
    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> Any:
        from kubernetes import client

        return client.AppsV1Api(self.api)

    @property
    def batch(self) -> Any:
        from kubernetes import client

        return client.BatchV1Api(self.api)

    @property
    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api)

    def selector(self, component: str | None = None, **extra: str) -> str:
        """Label selector of the release's objects (of one component)."""
        labels = {INSTANCE: self.name} | ({COMPONENT: component} if component else {}) | extra
        return ",".join(f"{k}={v}" for k, v in labels.items())

    def pods(self, component: str | None = None, **extra: str) -> list[Any]:
        return list(self.core.list_namespaced_pod(self.namespace, label_selector=self.selector(component, **extra))
                    .items)

    def one(self, lister: Any, what: str, component: str, **extra: str) -> Any:
        """The single object ``lister`` (e.g. ``batch.list_namespaced_job``) finds for ``component``."""
        items = lister(self.namespace, label_selector=self.selector(component, **extra)).items
        if len(items) != 1:
            raise ServiceUnavailable(f"expected one {what} of release {self.name} in namespace {self.namespace} "
                                     f"(labels {self.selector(component, **extra)}), found {len(items)}; "
                                     "is the chart installed there (helm list -n NAMESPACE)?")
        return items[0]

    def config_map(self) -> Any:
        return self.one(self.core.list_namespaced_config_map, "config ConfigMap", "config")

    def run_config(self) -> dict[str, Any]:
        """The run configuration every pod reads (the chart's run.yaml)."""
        data = self.config_map().data or {}
        if RUN_FILE not in data:
            raise ServiceUnavailable(f"the config ConfigMap of release {self.name} has no {RUN_FILE}")
        return yaml.safe_load(data[RUN_FILE])


def connect(settings: ClusterSettings) -> Release:
    """A client for the cluster ``settings`` name: kubeconfig (given, $KUBECONFIG, ~/.kube/config) or in-cluster."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    try:
        if settings.kubeconfig:
            api = config.new_client_from_config(config_file=settings.kubeconfig)
        else:
            try:
                api = config.new_client_from_config()
            except (ConfigException, OSError):
                config.load_incluster_config()
                api = client.ApiClient()
    except (ConfigException, OSError) as exc:
        raise ConfigError(f"KUBECONFIG={settings.kubeconfig or '(default)'}: no usable cluster configuration "
                          f"({exc}); pass --kubeconfig or set KUBECONFIG") from None
    release = Release(api, settings.cluster_namespace, settings.cluster_release)
    try:
        release.core.read_namespace(settings.cluster_namespace)
    except Exception as exc:  # noqa: BLE001 - any failure here means the cluster is not usable as given
        status = getattr(exc, "status", None)
        if status == 404:
            raise ConfigError(f"CLUSTER_NAMESPACE={settings.cluster_namespace}: no such namespace") from None
        if status is None:
            raise ServiceUnavailable(f"the Kubernetes API server is unreachable: {exc}") from None
        if status != 403:  # forbidden to read namespaces is fine: the namespaced calls decide
            raise ServiceUnavailable(f"the Kubernetes API server refused: {status} {getattr(exc, 'reason', '')}") \
                from None
    logger.debug("connected to %s, release %s in %s", api.configuration.host, release.name, release.namespace)
    return release
