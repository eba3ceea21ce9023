"""deploy/k8s: the committed files are `medsys k8s render`'s output, both kustomizations
build, every built-in object passes the Kubernetes API's own schemas (kubernetes-validate
--strict), every custom resource its CRD's published schema (jsonschema), the YAML is
clean (yamllint), and every Service a Deployment reaches exists with the port it uses and
is allowed by the NetworkPolicies. Offline: no cluster is needed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from medsys.core.topology import KUBERNETES_SERVICES
from medsys.launcher import kubernetes

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / kubernetes.OUT
SCHEMAS = DEPLOY / "schemas"
OVERLAYS = ("base", "overlays/production")
BUILT_IN_GROUPS = ("", "apps", "batch", "autoscaling", "policy", "networking.k8s.io")


def _build(overlay: str) -> list[dict[str, Any]]:
    built = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def built(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return _build(str(request.param))


def _group(document: dict[str, Any]) -> str:
    api = str(document["apiVersion"])
    return api.split("/")[0] if "/" in api else ""


def test_the_committed_manifests_are_the_renderers_output() -> None:
    rendered = kubernetes.render()
    for relative, text in rendered.items():
        path = DEPLOY / relative
        assert path.exists(), f"{path} missing: run `medsys k8s render`"
        assert path.read_text() == text, f"{path} differs: run `medsys k8s render`"
    committed = {p.relative_to(DEPLOY) for p in DEPLOY.rglob("*.yaml")}
    assert committed == set(rendered), "files under deploy/k8s the renderer does not make"


def test_kubectl_builds_with_a_kustomize_that_knows_patches() -> None:
    version = subprocess.run(
        ["kubectl", "version", "--client"], capture_output=True, text=True, check=False
    ).stdout
    found = re.search(r"Kustomize Version: v(\d+)", version)
    assert found and int(found[1]) >= 4, f"kubectl with kustomize >= 4 needed: {version}"


def test_built_in_objects_pass_the_kubernetes_schemas_strictly(
    built: list[dict[str, Any]], tmp_path: Path
) -> None:
    manifest = tmp_path / "built.yaml"
    manifest.write_text(yaml.safe_dump_all(built))
    checked = subprocess.run(
        [
            str(Path(sys.executable).parent / "kubernetes-validate"),
            "--strict",
            "--kubernetes-version",
            "1.32.0",
            str(manifest),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    said = checked.stdout + checked.stderr
    assert checked.returncode == 0, said
    unknown = set(re.findall(r"schema for kind (\w+)", said))
    custom = {doc["kind"] for doc in built if _group(doc) not in BUILT_IN_GROUPS}
    assert unknown == custom, f"kinds left unchecked: {unknown - custom}"
    built_in = [doc for doc in built if _group(doc) in BUILT_IN_GROUPS]
    assert len(built_in) >= 30


def strict(schema: Any) -> Any:
    """The schema as the API server's strict field validation applies it: an object with
    declared properties takes no others (unless it says it keeps unknown fields)."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    tightened = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        tightened["additionalProperties"] = False
    return tightened


def test_strict_schemas_refuse_a_misspelt_field() -> None:
    schema = strict(json.loads((SCHEMAS / "postgresql.cnpg.io_Cluster_v1.json").read_text()))
    cluster = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "x"},
        "spec": {"instances": 3, "postgresql": {"synchronous": {"method": "any", "numbr": 1}}},
    }
    with pytest.raises(jsonschema.ValidationError, match="numbr"):
        jsonschema.validate(cluster, schema)


def test_custom_resources_pass_their_crds_published_schemas(built: list[dict[str, Any]]) -> None:
    custom = [doc for doc in built if _group(doc) not in BUILT_IN_GROUPS]
    assert {doc["kind"] for doc in custom} == {
        "Cluster",
        "MariaDB",
        "InnoDBCluster",
        "Gateway",
        "HTTPRoute",
    }
    for doc in custom:
        version = str(doc["apiVersion"]).split("/")[1]
        schema_file = SCHEMAS / f"{_group(doc)}_{doc['kind']}_{version}.json"
        schema = strict(json.loads(schema_file.read_text()))
        # The API server checks these three itself, for every kind (ObjectMeta has its
        # own schema there); some CRDs leave them out or describe a part of metadata only.
        schema["properties"].setdefault("apiVersion", {"type": "string"})
        schema["properties"].setdefault("kind", {"type": "string"})
        schema["properties"].setdefault("metadata", {"type": "object"})
        schema["properties"]["metadata"].pop("additionalProperties", None)
        jsonschema.validate(doc, schema)


def test_the_operators_are_told_to_lose_nothing(built: list[dict[str, Any]]) -> None:
    by_kind = {doc["kind"]: doc for doc in built}
    postgres = by_kind["Cluster"]["spec"]
    assert postgres["instances"] == 3
    assert postgres["smartShutdownTimeout"] == 0
    assert postgres["postgresql"]["synchronous"] == {
        "method": "any",
        "number": 1,
        "dataDurability": "required",
        "failoverQuorum": True,
    }
    assert by_kind["MariaDB"]["spec"]["galera"]["enabled"] is True
    assert by_kind["MariaDB"]["spec"]["replicas"] == 3
    assert by_kind["InnoDBCluster"]["spec"]["instances"] == 3
    # Each database's members on different nodes.
    assert postgres["affinity"]["podAntiAffinityType"] == "required"
    assert by_kind["MariaDB"]["spec"]["affinity"]["antiAffinityEnabled"] is True
    spread = by_kind["InnoDBCluster"]["spec"]["podSpec"]["affinity"]["podAntiAffinity"]
    assert spread["requiredDuringSchedulingIgnoredDuringExecution"]
    assert not [doc for doc in built if doc["kind"] == "Secret"], "secrets are never inlined"


def test_yaml_is_clean() -> None:
    linted = subprocess.run(
        [
            str(Path(sys.executable).parent / "yamllint"),
            "-d",
            "{extends: default, rules: {line-length: {max: 100}, document-start: disable,"
            " indentation: {indent-sequences: whatever}}}",
            str(DEPLOY),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout


def _allowed(
    policies: list[dict[str, Any]], source: str, labels: dict[str, str], port: int
) -> bool:
    for policy in policies:
        if policy["spec"]["podSelector"].get("matchLabels") != {"app.kubernetes.io/name": source}:
            continue
        for rule in policy["spec"].get("egress", []):
            ports = {p["port"] for p in rule.get("ports", [])}
            for peer in rule.get("to", []):
                wanted = peer.get("podSelector", {}).get("matchLabels", {})
                if wanted and wanted.items() <= labels.items() and port in ports:
                    return True
    return False


def test_every_service_a_deployment_reaches_exists_and_is_allowed(
    built: list[dict[str, Any]],
) -> None:
    services = {doc["metadata"]["name"]: doc for doc in built if doc["kind"] == "Service"}
    # The Services the operators make for the clusters rendered here.
    for doc in built:
        name = doc["metadata"]["name"]
        made = {"Cluster": f"{name}-rw", "MariaDB": f"{name}-primary", "InnoDBCluster": name}
        if doc["kind"] in made:
            services.setdefault(made[doc["kind"]], {"operator": doc})
    policies = [doc for doc in built if doc["kind"] == "NetworkPolicy"]
    pods = {
        doc["metadata"]["name"]: doc["spec"]["template"]["metadata"]["labels"]
        for doc in built
        if doc["kind"] == "Deployment"
    }
    settings = kubernetes.kubernetes_settings()
    apps = {app.name: app for app in kubernetes.applications()}
    reached = 0
    for deployment in (doc for doc in built if doc["kind"] == "Deployment"):
        name = deployment["metadata"]["name"]
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        for variable in env:
            if variable["name"].startswith("MEDSYS_DATABASE_ENDPOINT_"):
                host, port = variable["value"].rsplit(":", 1)
                assert host in services, f"{name} names {host}, which nothing makes"
                pair = variable["name"].removeprefix("MEDSYS_DATABASE_ENDPOINT_").lower()
                labels = kubernetes.DATABASES[pair].pod_labels
                assert _allowed(policies, name, labels, int(port)), (name, host)
                reached += 1
        for callee in kubernetes.CALLS[name]:
            for instance, service in KUBERNETES_SERVICES.items():
                if service != callee:
                    continue
                url = settings.url(instance)
                host, port = url.removeprefix("http://").split(":")
                assert host in services, f"{name} calls {url}: no such Service"
                ports = services[host]["spec"]["ports"]
                assert int(port) in {p["port"] for p in ports}, (name, url)
                target = int(services[host]["spec"]["ports"][0]["port"])
                app = apps[host]
                assert target == app.service_port
                assert _allowed(policies, name, pods[host], app.container_port), (name, host)
                reached += 1
    assert reached >= 8


def test_the_setup_jobs_accounts_step_makes_an_owner_that_may_grant() -> None:
    from medsys.launcher.kubernetes_accounts import account_statements

    said = account_statements("app3", {"app3_owner": "o'k", "app3": "secreto"}, "app3_owner")
    assert said[0] == "CREATE DATABASE IF NOT EXISTS `app3` CHARACTER SET utf8mb4"
    assert "CREATE USER IF NOT EXISTS 'app3_owner'@'%' IDENTIFIED BY 'o\\'k'" in said
    assert "ALTER USER 'app3'@'%' IDENTIFIED BY 'secreto'" in said
    assert said[-1] == "GRANT ALL PRIVILEGES ON `app3`.* TO 'app3_owner'@'%' WITH GRANT OPTION"
