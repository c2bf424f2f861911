"""Build a Kubernetes ``ApiClient`` from settings: an explicit kubeconfig, ``$KUBECONFIG`` /
``~/.kube/config``, or the in-cluster service account. The only module here that knows about config files."""

from __future__ import annotations

from pathlib import Path

from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration
from kubernetes.config.config_exception import ConfigException

from neocost.errors import CollectError
from neocost.settings import KubernetesSettings


def build_api_client(settings: KubernetesSettings) -> ApiClient:
    """An ``ApiClient`` for the configured cluster.

    Order: ``kubernetes.kubeconfig`` (with ``kubernetes.context``) > the client's default kubeconfig lookup
    (``$KUBECONFIG``, ``~/.kube/config``) > in-cluster config (service account token and CA).
    """
    if settings.kubeconfig is not None:
        path = Path(settings.kubeconfig).expanduser()
        if not path.exists():
            raise CollectError(
                f"kubernetes.kubeconfig = {path} does not exist; point it at a kubeconfig file "
                "or leave it empty to use $KUBECONFIG / ~/.kube/config / in-cluster config"
            )
        return _from_kubeconfig(str(path), settings.context)
    try:
        return _from_kubeconfig(None, settings.context)
    except CollectError as first:
        try:
            cfg = Configuration()
            kube_config.load_incluster_config(client_configuration=cfg)
            return ApiClient(configuration=cfg)
        except ConfigException:
            raise CollectError(
                f"{first} — and not running in a cluster (no service account); set "
                "kubernetes.kubeconfig or $KUBECONFIG"
            ) from None


def _from_kubeconfig(path: str | None, context: str | None) -> ApiClient:
    try:
        return kube_config.new_client_from_config(config_file=path, context=context)
    except (ConfigException, OSError) as exc:
        where = path or "the default kubeconfig ($KUBECONFIG or ~/.kube/config)"
        hint = f" (context {context!r})" if context else ""
        raise CollectError(f"kubernetes: cannot load {where}{hint}: {exc}") from exc


__all__ = ["build_api_client"]
