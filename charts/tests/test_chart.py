"""The sutra-grid chart, rendered and linted by Helm's own Go SDK (helm-python-sdk).

Each scenario in conftest.SCENARIOS is rendered once; every object is validated against the
Kubernetes 1.33 API schemas (kubernetes-validate, strict), and the chart's promises are
checked: hardened Pods, RBAC equal to what the controllers use, CRDs equal to crds/, a
values schema that rejects bad values.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from conftest import CHART_DIR, KUBE_VERSION, REPO_ROOT, SCENARIOS, Rendered, render
from rbac_rules import controller_rules, rule_grants

# Kinds kubernetes-validate has no schema for, and the test that checks them instead.
CHECKED_ELSEWHERE = {
    "ServiceMonitor": "Prometheus Operator CRD, not in the Kubernetes API schemas: "
    "test_service_monitor_scrapes_the_metrics_service checks its wiring",
}

RBAC_KINDS = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
CLUSTER_SCOPED_KINDS = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


# --- lint and schema validation ---------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_lint_reports_no_warnings_or_errors(scenario: str) -> None:
    values, _, namespace = SCENARIOS[scenario]
    report = helm.lint(CHART_DIR, values, strict=True, namespace=namespace, kube_version=f"v{KUBE_VERSION}.0")
    assert report["total_charts_linted"] == 1
    problems = [message for message in report["messages"] if message["severity"] >= 2]
    assert problems == [] and report["errors"] == [], f"helm lint: {problems} {report['errors']}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_rendered_object_validates_against_kubernetes_schemas(scenario: str, rendered: dict[str, Rendered]) -> None:
    failures = []
    for obj in rendered[scenario].objects:
        if obj["kind"] in CHECKED_ELSEWHERE:
            warnings.warn(f"{obj['kind']} not schema-validated: {CHECKED_ELSEWHERE[obj['kind']]}", stacklevel=1)
            continue
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path) or "<root>"
            failures.append(f"{obj['kind']}/{obj['metadata']['name']} at {path}: {error.message}")
    assert failures == []


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_namespaced_objects_land_in_the_release_namespace(scenario: str, rendered: dict[str, Rendered]) -> None:
    render_ = rendered[scenario]
    for obj in render_.objects:
        namespace = obj["metadata"].get("namespace")
        if obj["kind"] in CLUSTER_SCOPED_KINDS:
            assert namespace is None, f"{obj['kind']} is cluster-scoped but has namespace {namespace}"
        else:
            assert namespace == render_.namespace, f"{obj['kind']}/{obj['metadata']['name']}"
        for subject in obj.get("subjects", []):
            assert subject["namespace"] == render_.namespace


def test_default_render_has_the_operator_and_its_surroundings(defaults: Rendered) -> None:
    assert defaults.kinds() == {
        "ConfigMap",
        "CustomResourceDefinition",
        "Deployment",
        "Service",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
    }


@pytest.mark.parametrize(
    "bad_values, complaint",
    [
        ({"replicaCoutn": 2}, "replicaCoutn"),
        ({"replicaCount": "three"}, "/replicaCount"),
        ({"logFormat": "xml"}, "/logFormat"),
        ({"metrics": {"port": 70000}}, "/metrics/port"),
        ({"serviceMonitor": {"enabled": "yes"}}, "/serviceMonitor/enabled"),
        ({"crds": {"create": True, "upgrade": True}}, "upgrade"),
    ],
)
def test_values_schema_rejects_bad_values(bad_values: dict[str, Any], complaint: str) -> None:
    with helm.Chart.load(CHART_DIR) as chart:
        with pytest.raises(helm.HelmValuesError, match=complaint):
            chart.validate_schema(bad_values)
        with pytest.raises(helm.HelmValuesError, match=complaint):
            chart.render(bad_values, name="sutra-grid", namespace="sutra-system")


def test_values_schema_accepts_every_scenario() -> None:
    with helm.Chart.load(CHART_DIR) as chart:
        for values, _, _ in SCENARIOS.values():
            chart.validate_schema(values)


def test_values_schema_is_draft_07_and_closed_at_the_top() -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["additionalProperties"] is False
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    assert set(defaults) <= set(schema["properties"])


# --- the operator Deployment --------------------------------------------------------------


def operator_container(render_: Rendered) -> dict[str, Any]:
    (container,) = render_.one("Deployment")["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_operator_runs_hardened(scenario: str, rendered: dict[str, Rendered]) -> None:
    pod = rendered[scenario].one("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = operator_container(rendered[scenario])["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_operator_args_match_the_operator_flags(defaults: Rendered) -> None:
    assert operator_container(defaults)["args"] == [
        "operator",
        "--metrics-addr=0.0.0.0:8080",
        "--variant-rules=/etc/sutra-grid/variants.yaml",
        "--log-format=json",
        "--leader-election",
        "--lease-name=sutra-grid",
        "--lease-namespace=sutra-system",
        "--storage-node-cluster-role=sutra-grid-storage-node",
        '--storage-node-resources={"limits":{"memory":"4Gi"},"requests":{"cpu":"500m","memory":"1Gi"}}',
    ]


def test_storage_node_resources_can_be_left_unset() -> None:
    """`storageNode.resources: null` passes no defaults: grids without resources run BestEffort."""
    render_ = render({"storageNode": {"resources": None}}, "sutra-grid", "sutra-system")
    args = operator_container(render_)["args"]
    assert not any(arg.startswith("--storage-node-resources") for arg in args), args
    assert "BestEffort" in render_.notes


def test_notes_describe_the_variant_policy_the_fallback_and_storage_resources(defaults: Rendered) -> None:
    notes = defaults.notes
    for phrase in ["variantPolicy: Labels", "ImageUnavailable", "x86-64-v4 -> x86-64-v3", "startupProbe", "4Gi"]:
        assert phrase in notes, phrase


def test_single_namespace_without_election_changes_the_args(rendered: dict[str, Rendered]) -> None:
    render_ = rendered["single-namespace-no-election"]
    container = operator_container(render_)
    assert container["args"] == [
        "operator",
        "--namespace=vectors",
        "--metrics-addr=0.0.0.0:9443",
        "--variant-rules=/etc/sutra-grid/variants.yaml",
        "--log-format=text",
        "--storage-node-cluster-role=sutra-grid-storage-node",
        '--storage-node-resources={"limits":{"memory":"4Gi"},"requests":{"cpu":"500m","memory":"1Gi"}}',
    ]
    assert container["image"] == "registry.example/sutra-grid:dev"
    assert container["imagePullPolicy"] == "Always"
    assert render_.of_kind("Role") == [] and render_.of_kind("RoleBinding") == []


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_operator_knows_its_pod_name_and_namespace(scenario: str, rendered: dict[str, Rendered]) -> None:
    """The Lease holder's identity and the Event reporter's instance come from the downward API."""
    env = {var["name"]: var for var in operator_container(rendered[scenario])["env"]}
    assert env["POD_NAME"] == {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    assert env["POD_NAMESPACE"] == {
        "name": "POD_NAMESPACE",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    }


def test_several_replicas_need_leader_election() -> None:
    assert render({"replicaCount": 3}).one("Deployment")["spec"]["replicas"] == 3
    with pytest.raises(helm.HelmRenderError, match="replicaCount above 1 needs leaderElection.enabled=true"):
        render({"replicaCount": 2, "leaderElection": {"enabled": False}})


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert (chart["apiVersion"], chart["name"], chart["version"], chart["appVersion"]) == ("v2", "sutra-grid", "0.1.0", "0.1.0")


def test_image_tag_defaults_to_app_version(defaults: Rendered) -> None:
    app_version = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["appVersion"]
    assert operator_container(defaults)["image"] == f"ghcr.io/sutra-ai/sutra-grid:{app_version}"


def test_probes_use_the_metrics_port(defaults: Rendered) -> None:
    container = operator_container(defaults)
    assert container["ports"] == [{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}


def test_variant_rules_are_mounted_from_the_config_map(defaults: Rendered) -> None:
    pod = defaults.one("Deployment")["spec"]["template"]["spec"]
    config_map = defaults.one("ConfigMap")
    volume = next(v for v in pod["volumes"] if "configMap" in v)
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    mount = next(m for m in operator_container(defaults)["volumeMounts"] if m["name"] == volume["name"])
    assert mount["mountPath"] == "/etc/sutra-grid"
    assert "variants.yaml" in config_map["data"]


def test_default_variant_rules_are_config_variants_yaml(defaults: Rendered) -> None:
    shipped = (REPO_ROOT / "config" / "variants.yaml").read_text()
    assert (CHART_DIR / "files" / "variants.yaml").read_text() == shipped, (
        "charts/sutra-grid/files/variants.yaml differs from config/variants.yaml: run `make crds`"
    )
    assert yaml.safe_load(defaults.one("ConfigMap")["data"]["variants.yaml"]) == yaml.safe_load(shipped)


def test_changed_variant_rules_roll_the_operator(defaults: Rendered) -> None:
    custom_rules = "variants: []\nrules: []\n"
    custom = render({"variantRules": custom_rules})
    assert custom.one("ConfigMap")["data"]["variants.yaml"].strip() == custom_rules.strip()

    def checksum(render_: Rendered) -> str:
        return render_.one("Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/variant-rules"]

    expected = hashlib.sha256(defaults.manifests["sutra-grid/templates/configmap.yaml"].encode()).hexdigest()
    assert checksum(defaults) == expected
    assert checksum(custom) != checksum(defaults)


# --- RBAC ---------------------------------------------------------------------------------


def grants_of(*roles: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {grant for role in roles for rule in role["rules"] for grant in rule_grants(rule)}


def granted(render_: Rendered, kind: str) -> set[tuple[str, str, str]]:
    return grants_of(*render_.of_kind(kind))


def named(render_: Rendered, kind: str, name: str) -> dict[str, Any]:
    (found,) = [obj for obj in render_.of_kind(kind) if obj["metadata"]["name"] == name]
    return found


# Each role of the chart, by kind and name suffix, and the `sutra-grid rbac` flags printing it.
CHART_ROLES = {
    "operator": ("ClusterRole", "", ()),
    "leader-election": ("Role", "-leader-election", ("--leader-election",)),
    "storage-node": ("ClusterRole", "-storage-node", ("--storage-node",)),
}


@pytest.mark.parametrize("role", CHART_ROLES)
def test_rbac_grants_exactly_what_the_controllers_use(role: str, defaults: Rendered) -> None:
    kind, suffix, flags = CHART_ROLES[role]
    chart_grants = grants_of(named(defaults, kind, f"sutra-grid{suffix}"))
    controller_grants = {grant for rule in controller_rules(*flags) for grant in rule_grants(rule)}
    assert sorted(chart_grants - controller_grants) == [], "granted but not used"
    assert sorted(controller_grants - chart_grants) == [], "used but not granted"


def test_chart_renders_no_other_role(defaults: Rendered) -> None:
    names = {(obj["kind"], obj["metadata"]["name"]) for obj in defaults.objects if obj["kind"] in {"ClusterRole", "Role"}}
    assert names == {(kind, f"sutra-grid{suffix}") for kind, suffix, _ in CHART_ROLES.values()}


def test_leases_are_granted_only_in_the_release_namespace(defaults: Rendered) -> None:
    assert all(group != "coordination.k8s.io" for group, _, _ in granted(defaults, "ClusterRole"))
    assert {resource for _, resource, _ in granted(defaults, "Role")} == {"leases"}
    assert defaults.one("Role")["metadata"]["namespace"] == defaults.namespace


def test_rbac_grants_no_wildcards_and_no_secrets(defaults: Rendered) -> None:
    for group, resource, verb in granted(defaults, "ClusterRole") | granted(defaults, "Role"):
        assert "*" not in (group, resource, verb)
        assert resource not in {"secrets", "clusterroles", "roles", "clusterrolebindings"}
        assert verb not in {"escalate", "bind", "impersonate"}
        if resource == "rolebindings":
            # The storage Pods' binding: applied, never listed or deleted.
            assert verb in {"get", "create", "patch"}, verb


def test_storage_nodes_may_only_read_their_object_and_report_status(defaults: Rendered) -> None:
    role = named(defaults, "ClusterRole", "sutra-grid-storage-node")
    assert grants_of(role) == {
        ("grid.sutra.ai", "storagenodes", "get"),
        ("grid.sutra.ai", "storagenodes/status", "get"),
        ("grid.sutra.ai", "storagenodes/status", "patch"),
    }


def test_operator_may_bind_the_storage_node_role_without_bind(defaults: Rendered) -> None:
    """Kubernetes lets the operator create a RoleBinding to a ClusterRole whose permissions it
    holds itself; no `bind` grant is needed."""
    operator = grants_of(named(defaults, "ClusterRole", "sutra-grid"))
    assert grants_of(named(defaults, "ClusterRole", "sutra-grid-storage-node")) <= operator


@pytest.mark.parametrize("scenario", ["defaults", "custom-namespace"])
def test_operator_binds_the_rendered_storage_node_role(scenario: str, rendered: dict[str, Rendered]) -> None:
    render_ = rendered[scenario]
    role = next(obj for obj in render_.of_kind("ClusterRole") if obj["metadata"]["name"].endswith("-storage-node"))
    assert f"--storage-node-cluster-role={role['metadata']['name']}" in operator_container(render_)["args"]


def test_bindings_name_the_rendered_service_account_and_roles(rendered: dict[str, Rendered]) -> None:
    for scenario in ("defaults", "custom-namespace"):
        render_ = rendered[scenario]
        account = render_.one("ServiceAccount")["metadata"]["name"]
        fullname = render_.one("Deployment")["metadata"]["name"]
        assert render_.one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == account
        for binding_kind, role_kind, role_name in (
            ("ClusterRoleBinding", "ClusterRole", fullname),
            ("RoleBinding", "Role", f"{fullname}-leader-election"),
        ):
            binding = render_.one(binding_kind)
            assert binding["roleRef"] == {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": role_kind,
                "name": named(render_, role_kind, role_name)["metadata"]["name"],
            }
            assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": render_.namespace}]


def test_rbac_off_renders_no_rbac_and_uses_the_named_account(rendered: dict[str, Rendered]) -> None:
    render_ = rendered["no-rbac"]
    assert render_.kinds() & (RBAC_KINDS | {"ServiceAccount"}) == set()
    assert render_.one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "grid-operator"


def test_custom_release_name_prefixes_every_object(rendered: dict[str, Rendered]) -> None:
    for obj in rendered["custom-namespace"].objects:
        if obj["kind"] != "CustomResourceDefinition":
            assert obj["metadata"]["name"].startswith("edge-sutra-grid"), obj["metadata"]["name"]


# --- CRDs ---------------------------------------------------------------------------------


def top_level_crds() -> dict[str, Path]:
    return {path.name: path for path in sorted((REPO_ROOT / "crds").glob("*.yaml"))}


def test_chart_crd_files_are_byte_copies_of_top_level_crds() -> None:
    chart_copies = {path.name: path for path in sorted((CHART_DIR / "files" / "crds").glob("*.yaml"))}
    assert set(chart_copies) == set(top_level_crds()), "run `make crds`"
    for name, path in top_level_crds().items():
        assert chart_copies[name].read_bytes() == path.read_bytes(), f"files/crds/{name} is stale: run `make crds`"


def test_rendered_crds_are_the_generated_crds_kept_on_uninstall(defaults: Rendered) -> None:
    rendered_crds = {crd["metadata"]["name"]: crd for crd in defaults.of_kind("CustomResourceDefinition")}
    assert set(rendered_crds) == {"storagegrids.grid.sutra.ai", "storagenodes.grid.sutra.ai"}
    for path in top_level_crds().values():
        generated = yaml.safe_load(path.read_text())
        crd = rendered_crds[generated["metadata"]["name"]]
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert crd["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        assert crd["spec"] == generated["spec"], f"{path.name}: rendered spec differs from the generated one"
        assert {k: v for k, v in crd.items() if k != "metadata"} == {k: v for k, v in generated.items() if k != "metadata"}


def test_crds_off_renders_no_crds_and_says_how_to_install_them(rendered: dict[str, Rendered]) -> None:
    render_ = rendered["no-crds"]
    assert render_.of_kind("CustomResourceDefinition") == []
    assert "kubectl apply -f crds/" in render_.notes


def test_chart_keeps_crds_out_of_helms_crds_folder() -> None:
    # Helm installs crds/ once and never upgrades it; the chart renders CRDs from templates.
    assert not (CHART_DIR / "crds").exists()


# --- metrics and notes --------------------------------------------------------------------


def test_metrics_service_selects_the_operator_pods(defaults: Rendered) -> None:
    service = defaults.one("Service")
    pod_labels = defaults.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}]


def test_service_monitor_only_when_enabled(rendered: dict[str, Rendered]) -> None:
    assert rendered["defaults"].of_kind("ServiceMonitor") == []
    assert len(rendered["service-monitor"].of_kind("ServiceMonitor")) == 1


def test_service_monitor_has_no_kubernetes_schema_to_validate_against(rendered: dict[str, Rendered]) -> None:
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(rendered["service-monitor"].one("ServiceMonitor"), KUBE_VERSION, strict=True)


def test_service_monitor_scrapes_the_metrics_service(rendered: dict[str, Rendered]) -> None:
    render_ = rendered["service-monitor"]
    monitor = render_.one("ServiceMonitor")
    service = render_.one("Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [render_.namespace]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint == {"port": "metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"}


def test_notes_tell_what_to_run_next(defaults: Rendered) -> None:
    notes = defaults.notes
    assert "kubectl apply -f config/samples/storagegrid.yaml" in notes
    assert "kubectl get storagegrids,storagenodes" in notes
    assert "port-forward service/sutra-grid-metrics 8080" in notes
    assert "/metrics" in notes
