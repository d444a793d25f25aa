"""deploy/k8s: both overlays render (folio.devstack.kustomize, kustomize's semantics), are
valid Kubernetes (kubernetes-validate, bundled schemas, strict), pass checkov with every
skip explained, and say what Folio needs: probes, limits, a locked-down security context,
budgets, autoscalers, the init Job the services wait for, Secrets by reference only, and
NetworkPolicies that let only the gateway reach the services and only the services reach
PostgreSQL and Kafka."""

import json
import os
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from folio.devstack.images import compose_containers
from folio.devstack.kustomize import render
from folio.devstack.services import REPO_ROOT, SERVICES

K8S = REPO_ROOT / "deploy" / "k8s"
OVERLAYS = ["local", "production"]
KUBERNETES_VERSION = "1.33.0"
CHECKOV = Path(sys.executable).with_name("checkov")
DEPLOYMENTS = {"ledger", "registry", "rotessa", "webhooks", "console", "gateway"}
HTTP_AUTOSCALED = {"ledger", "webhooks", "console", "gateway"}
#: The gateway's ConfigMap is made from the file compose mounts and `make run` uses.
CADDYFILE = REPO_ROOT / "deploy" / "Caddyfile"
SECRET_LIKE = (
    "DATABASE_URL",
    "SECRET",
    "PASSWORD",
    "TOKEN",
    "PRIVATE_KEY",
    "API_KEY",
    "PUBLIC_KEYS",
)


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request) -> tuple[str, list[dict]]:
    return request.param, render(K8S / "overlays" / request.param)


def find(documents, kind, name=None):
    found = [d for d in documents if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert found, f"no {kind} {name or ''}"
    return found if name is None else found[0]


def pod_spec(document) -> dict:
    return document["spec"]["template"]["spec"]


def containers(document) -> list[dict]:
    spec = pod_spec(document)
    return [*spec.get("initContainers", []), *spec["containers"]]


def test_every_document_is_valid_kubernetes(rendered):
    _, documents = rendered
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_kubernetes_validate_rejects_a_broken_manifest():
    broken = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
              "spec": {"replicas": "two", "selector": {}, "template": {}}}  # fmt: skip
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def checkov(path: Path) -> dict:
    # --skip-download: offline, no calls to the vendor's platform (severities stay unknown,
    # so every failed check counts, whatever its severity)
    done = subprocess.run(
        [str(CHECKOV), "--file", str(path), "--framework", "kubernetes", "--output", "json",
         "--skip-download"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": ""},
    )  # fmt: skip
    report = json.loads(done.stdout)
    return report[0] if isinstance(report, list) else report


def test_checkov_finds_nothing_and_every_skip_says_why(rendered, tmp_path):
    name, documents = rendered
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    report = checkov(path)
    summary = report["summary"]
    assert summary["parsing_errors"] == 0 and summary["passed"] > 100, summary
    failed = report["results"].get("failed_checks", [])
    assert not failed, [(c["check_id"], c["resource"], c["check_name"]) for c in failed]
    for skipped in report["results"].get("skipped_checks", []):
        reason = skipped["check_result"].get("suppress_comment", "")
        assert len(reason) > 40, f"{skipped['check_id']} on {skipped['resource']} unexplained"
    assert summary["skipped"] <= 2 * len(DEPLOYMENTS) + 2  # only env-from-Secret and digests


def test_checkov_catches_a_careless_deployment(tmp_path):
    careless = {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "careless", "namespace": "folio"},
                "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "folio-ledger:latest"}]}}}}  # fmt: skip
    path = tmp_path / "careless.yaml"
    path.write_text(yaml.safe_dump(careless))
    failed = {c["check_id"] for c in checkov(path)["results"]["failed_checks"]}
    assert {"CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_22", "CKV_K8S_20", "CKV_K8S_14"} <= failed


def test_a_deployment_per_service_probed_limited_and_locked_down(rendered):
    _, documents = rendered
    assert {d["metadata"]["name"] for d in find(documents, "Deployment")} == DEPLOYMENTS
    for deployment in find(documents, "Deployment"):
        name = deployment["metadata"]["name"]
        spec = pod_spec(deployment)
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in containers(deployment):
            context = container["securityContext"]
            assert context["runAsNonRoot"] and context["readOnlyRootFilesystem"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert {"cpu", "memory"} <= set(container["resources"]["requests"])
            assert {"cpu", "memory"} <= set(container["resources"]["limits"])
        main = spec["containers"][0]
        if name != "gateway":
            assert main["readinessProbe"]["httpGet"]["path"] == f"/api/{name}/readyz"
            assert main["livenessProbe"]["httpGet"]["path"] == f"/api/{name}/healthz"
        else:
            assert main["readinessProbe"] and main["livenessProbe"]


def test_every_deployment_has_a_budget_and_the_http_ones_an_autoscaler(rendered):
    _, documents = rendered
    budgets = {d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
               for d in find(documents, "PodDisruptionBudget")}  # fmt: skip
    assert budgets == DEPLOYMENTS
    scaled = {
        d["spec"]["scaleTargetRef"]["name"] for d in find(documents, "HorizontalPodAutoscaler")
    }
    assert scaled == HTTP_AUTOSCALED
    for hpa in find(documents, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_the_init_job_runs_compose_init_and_the_services_wait_for_its_migrations(rendered):
    overlay, documents = rendered
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())

    class Anything(dict):
        def get(self, key, default=None):
            return "x"

    compose_init = compose_containers(REPO_ROOT, compose, Anything())["init"]
    job = find(documents, "Job", "folio-init")
    [init] = pod_spec(job)["containers"]
    assert tuple(init["command"]) == compose_init.command
    assert init["image"].rsplit("/", 1)[-1].startswith("folio-init")
    # topics as the cluster needs them (README: replication factor 3, partitions 4+)
    config = find(documents, "ConfigMap", "folio-config")["data"]
    wired = {e["name"]: e["valueFrom"] for e in init["env"]}
    replication = wired["FOLIO_KAFKA_REPLICATION_FACTOR"]["configMapKeyRef"]["key"]
    assert replication == "FOLIO_KAFKA_REPLICATION_FACTOR"
    # what compose's init gets (the admin URL, every service's role password: the console's
    # too, so the Job migrates every service the image carries), each from the Secret
    wanted = set(compose_init.environment) - set(compose_init.image.env)
    assert wanted <= set(wired), wanted - set(wired)
    for spec in SERVICES:
        key = f"FOLIO_DB_PASSWORD_{spec.schema.upper()}"
        assert wired[key]["secretKeyRef"] == {"name": "folio-init", "key": key}
    assert wired["DATABASE_URL"]["secretKeyRef"] == {"name": "folio-init", "key": "DATABASE_URL"}
    assert int(config["FOLIO_KAFKA_PARTITIONS"]) >= 4
    expected_copies = 3 if overlay == "production" else 1
    assert int(config["FOLIO_KAFKA_REPLICATION_FACTOR"]) == expected_copies
    for spec in SERVICES:
        deployment = find(documents, "Deployment", spec.name)
        [wait] = pod_spec(deployment)["initContainers"]
        assert wait["command"] == ["python", "-m", "folio.shared.wait_migrated", spec.package,
                                   spec.schema]  # fmt: skip
        assert wait["image"] == pod_spec(deployment)["containers"][0]["image"]  # its own heads


def test_services_get_what_compose_gives_them(rendered):
    """The same variables as docker-compose.yml (which the boot test runs), from Secrets
    and the ConfigMap; a literal value only for what is not secret."""
    _, documents = rendered
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())

    class Anything(dict):
        def get(self, key, default=None):
            return "x"

    planned = compose_containers(REPO_ROOT, compose, Anything())
    for spec in SERVICES:
        container = pod_spec(find(documents, "Deployment", spec.name))["containers"][0]
        names = {e["name"] for e in container["env"]}
        from_secret_refs = {r["secretRef"]["name"] for r in container.get("envFrom", [])}
        image = planned[spec.name].image
        wanted = set(planned[spec.name].environment) - set(image.env)
        # the webhooks' provider secrets come as one Secret (envFrom), named in the README
        if from_secret_refs:
            wanted = {w for w in wanted if not w.startswith(("FOLIO_MOYASAR", "FOLIO_TABBY",
                                                             "FOLIO_TAMARA", "FOLIO_STANDARD"))}  # fmt: skip
        assert wanted <= names | {"UVICORN_PORT"}, wanted - names
        for entry in container["env"]:
            if any(marker in entry["name"] for marker in SECRET_LIKE):
                assert "secretKeyRef" in entry.get("valueFrom", {}), entry["name"]


def test_no_secret_is_inlined(rendered):
    _, documents = rendered
    assert not [d for d in documents if d["kind"] == "Secret"]
    for document in documents:
        if document["kind"] in ("Deployment", "Job"):
            for container in containers(document):
                for entry in container.get("env", []):
                    if any(marker in entry["name"] for marker in SECRET_LIKE):
                        assert "value" not in entry, f"{entry['name']} inlined"


def _selects(selector: dict, labels: dict) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def test_network_policies_open_only_folios_paths(rendered):
    name, documents = rendered
    policies = find(documents, "NetworkPolicy")
    pods = {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
            for d in documents if d["kind"] in ("Deployment", "Job")}  # fmt: skip
    deny = find(documents, "NetworkPolicy", "default-deny")["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}

    def ingress_sources(pod: str) -> list[dict]:
        sources = []
        for policy in policies:
            if _selects(policy["spec"]["podSelector"], pods[pod]):
                for rule in policy["spec"].get("ingress", []):
                    sources += rule.get("from", [])
        return sources

    for spec in SERVICES:  # only the gateway reaches a service
        sources = ingress_sources(spec.name)
        assert sources and all(
            s.get("podSelector", {}).get("matchLabels") == {"app.kubernetes.io/name": "gateway"}
            for s in sources
        ), sources

    def egress_ports(pod: str) -> set[int]:
        ports = set()
        for policy in policies:
            if _selects(policy["spec"]["podSelector"], pods[pod]):
                for rule in policy["spec"].get("egress", []):
                    ports |= {p["port"] for p in rule.get("ports", [])}
        return ports

    for pod in pods:  # only services and the init Job reach PostgreSQL and Kafka
        reaches_data = {5432, 9092} & egress_ports(pod)
        if pod in ("gateway",):
            assert not reaches_data
        else:
            assert reaches_data == {5432, 9092}, pod
    if name == "production":  # external, by address
        egress = find(documents, "NetworkPolicy", "data-egress")["spec"]["egress"]
        assert all("ipBlock" in to for rule in egress for to in rule["to"])


def test_the_gateway_is_caddy_with_the_compose_caddyfile_behind_a_service_and_ingress(rendered):
    name, documents = rendered
    gateway = find(documents, "Deployment", "gateway")
    [caddy] = pod_spec(gateway)["containers"]
    # deploy/k8s/gateway/Dockerfile: Caddy without file capabilities, as the pod's
    # securityContext (no capability, no escalation) needs; the same command as its CMD
    assert caddy["image"].rsplit("/", 1)[-1].startswith("folio-gateway")
    dockerfile = (K8S / "gateway" / "Dockerfile").read_text()
    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD "))
    assert caddy["command"] == json.loads(cmd[4:])
    assert "COPY --from=caddy /caddy /usr/bin/caddy" in dockerfile
    mounted = {v["name"]: v for v in pod_spec(gateway)["volumes"]}["caddyfile"]
    config_map = find(documents, "ConfigMap", mounted["configMap"]["name"])
    assert config_map["data"]["Caddyfile"] == CADDYFILE.read_text()
    env = {e["name"]: e.get("value") for e in caddy["env"]}
    for spec in SERVICES:  # the Caddyfile's upstreams are the Services' names and ports
        assert env[f"FOLIO_{spec.name.upper()}_UPSTREAM"] == f"{spec.name}:{spec.port}"
        service = find(documents, "Service", spec.name)
        assert service["spec"]["ports"][0]["port"] == spec.port
    assert find(documents, "Service", "gateway")["spec"]["ports"][0]["port"] == 8080
    ingress = find(documents, "Ingress", "gateway")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "gateway"
    if name == "production":
        assert ingress["spec"]["tls"][0]["secretName"]


def test_the_renderer_refuses_what_it_does_not_understand(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\nhelmCharts: []\n")
    with pytest.raises(ValueError, match="helmCharts"):
        render(tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "resources: []\npatches:\n  - target: {kind: Deployment, name: nope}\n"
        "    patch: '[{op: remove, path: /spec}]'\n"
    )
    with pytest.raises(ValueError, match="matches nothing"):
        render(tmp_path)
