"""The Kubernetes list-API stub, driven by the official client (37.x, strict pydantic models)."""

from __future__ import annotations

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from neocost.simulate.k8s_api import K8sListServer, label_matcher
from neocost.simulate.k8s_objects import synthetic_pod_list


@pytest.fixture(scope="module")
def server():
    pods = synthetic_pod_list(53, seed=3)["items"]
    nodes = [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {"a": "b"}}}]
    with K8sListServer.from_objects(pods=pods, nodes=nodes) as srv:
        yield srv


@pytest.fixture()
def core(server: K8sListServer, tmp_path) -> client.CoreV1Api:
    api_client = config.new_client_from_config(config_file=str(server.write_kubeconfig(tmp_path / "kubeconfig")))
    return client.CoreV1Api(api_client)


@pytest.mark.integration
def test_paging_lists_every_pod_then_410_after_expiry(server: K8sListServer, core: client.CoreV1Api) -> None:
    names, token, pages, remaining = [], None, 0, []
    while True:
        resp = core.list_pod_for_all_namespaces(limit=10, _continue=token)
        names += [p.metadata.name for p in resp.items]
        remaining.append(resp.metadata.remaining_item_count)
        pages += 1
        token = resp.metadata.var_continue
        if not token:
            break
    assert len(names) == 53 and len(set(names)) == 53 and pages == 6
    assert remaining[:2] == [43, 33] and remaining[-1] is None

    first = core.list_pod_for_all_namespaces(limit=10)
    server.expire_all_tokens()
    with pytest.raises(ApiException) as exc:
        core.list_pod_for_all_namespaces(limit=10, _continue=first.metadata.var_continue)
    assert exc.value.status == 410 and '"reason":"Expired"' in exc.value.body
    assert len(core.list_pod_for_all_namespaces(limit=10).items) == 10  # a fresh list works


@pytest.mark.integration
def test_version_namespaced_list_and_selectors(core: client.CoreV1Api, server: K8sListServer) -> None:
    v = client.VersionApi(core.api_client).get_code()
    assert v.git_version == "v1.31.4"
    search = core.list_namespaced_pod("team-search")
    assert len(search.items) == 14 and {p.metadata.namespace for p in search.items} == {"team-search"}
    sel = core.list_pod_for_all_namespaces(label_selector="team in (web,search),project!=p0")
    assert sel.items and all(p.metadata.labels["team"] in ("web", "search") and p.metadata.labels["project"] != "p0"
                             for p in sel.items)
    assert len(core.list_node(label_selector="a=b").items) == 1
    assert len(core.list_node(label_selector="!a").items) == 0


def test_label_matcher() -> None:
    m = label_matcher("team=web,env notin (dev),tier")
    assert m({"team": "web", "env": "prod", "tier": "1"})
    assert not m({"team": "web", "env": "dev", "tier": "1"})
    assert not m({"team": "web"})
