"""Label-key handling shared by the collectors and the cost model."""

from __future__ import annotations

import re

_NON_WORD = re.compile(r"[^a-zA-Z0-9_]")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def sanitize_label_key(key: str) -> str:
    """The spelling kube-state-metrics gives a Kubernetes label key, without its ``label_`` prefix.

    ``app.kubernetes.io/name`` -> ``app_kubernetes_io_name``; ``teamName`` -> ``team_name``;
    ``cost-center`` -> ``cost_center``. Compare configured keys and stored keys in this form.
    """
    return _NON_WORD.sub("_", _CAMEL.sub("_", key)).lower()
