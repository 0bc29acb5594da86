"""Publish the report into a ConfigMap with the kubernetes client (in-cluster credentials).

RBAC in the chart allows exactly this: create ConfigMaps, and get/update the one named
``<release>-latency-report``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ctrbench.errors import ServiceUnavailable

__all__ = ["SA_NAMESPACE_FILE", "publish_configmap"]

logger = logging.getLogger(__name__)

SA_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def publish_configmap(name: str, files: dict[str, str], api_client=None, namespace: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """Create or replace ConfigMap ``name`` holding ``files`` (file name -> text)."""
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    if api_client is None:
        config.load_incluster_config()
        api_client = client.ApiClient()
    ns = namespace or (SA_NAMESPACE_FILE.read_text().strip() if SA_NAMESPACE_FILE.exists() else "default")
    api = client.CoreV1Api(api_client)
    body = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels={"app.kubernetes.io/part-of": "ctr",
                                                        "app.kubernetes.io/component": "latency-report"}),
        data=files)
    try:
        api.create_namespaced_config_map(ns, body)
        logger.info("created ConfigMap %s/%s", ns, name)
    except ApiException as exc:
        if exc.status != 409:
            raise ServiceUnavailable(f"publishing ConfigMap {ns}/{name}: {exc.status} {exc.reason}") from None
        try:
            api.replace_namespaced_config_map(name, ns, body)
        except ApiException as exc2:
            raise ServiceUnavailable(f"replacing ConfigMap {ns}/{name}: {exc2.status} {exc2.reason}") from None
        logger.info("replaced ConfigMap %s/%s", ns, name)
