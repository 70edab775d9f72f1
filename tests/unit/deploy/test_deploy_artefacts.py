"""The deployment artefacts, checked without Docker, a cluster or the network: the Dockerfiles, deploy/compose.yaml,
the Kubernetes manifests of deploy/k8s (against the bundled Kubernetes schemas, strict) and docs/deployment.md.

What each service reads is taken from its settings class, so a variable added to a `config.py` and forgotten in
compose, the manifests or the documentation fails here.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from connect_catalog.config import CatalogSettings
from connect_catalog.stats.config import StatsSettings
from connect_devstack import services as devstack
from connect_gateway.config import GatewaySettings
from connect_runner.config import RunnerSettings
from connect_scheduler.config import SchedulerSettings

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
DOCS = REPO / "docs" / "deployment.md"
K8S_VERSION = "1.37"  # a schema set bundled with kubernetes-validate

# The four images and the processes deployed from them ("stats" runs the catalog image).
IMAGES = ("scheduler", "runner", "catalog", "gateway")
SETTINGS: dict[str, type[BaseSettings]] = {
    "scheduler": SchedulerSettings,
    "runner": RunnerSettings,
    "catalog": CatalogSettings,
    "stats": StatsSettings,
    "gateway": GatewaySettings,
}
IMAGE_OF = {"stats": "catalog"}
# Where each process serves /healthz and /readyz.
PROBE_PORT_VAR = {
    "scheduler": "SCHEDULER_METRICS_PORT",
    "runner": "RUNNER_METRICS_PORT",
    "catalog": "CATALOG_METRICS_PORT",
    "stats": "STATS_METRICS_PORT",
    "gateway": "GATEWAY_PORT",
}
K8S_REPLICAS = {"scheduler": 2, "runner": 3, "catalog": 1, "stats": 1, "gateway": 2}
# Variables a deployment may leave unset (their absence means something), and why.
UNSET_IN_K8S = {"CONNECT_SMTP_HOST": "no email until an SMTP server is named"}
UNSET_IN_COMPOSE = {
    **UNSET_IN_K8S,
    "CONNECT_SMTP_USER": "no SMTP login until a server is named",
    "CONNECT_SMTP_PASSWORD": "no SMTP login until a server is named",
    "RUNNER_NAME": "each replica reports its container's host name",
}
# Bound to a secret rather than written in a file, besides the SecretStr fields: it holds the database password.
SECRET_VARS_BESIDES_SECRETSTR = {"DATABASE_URL"}
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?::?(?P<op>[-?])(?P<arg>[^}]*))?\}")


def env_vars(settings: type[BaseSettings]) -> set[str]:
    """The environment variables `settings` reads (its fields' aliases)."""
    names = {field.alias for field in settings.model_fields.values()}
    assert None not in names, f"{settings.__name__} has a field without an environment variable"
    return {name for name in names if name is not None}


def secret_vars(settings: type[BaseSettings]) -> set[str]:
    """The variables holding secrets: the SecretStr fields' and the database URL."""
    secret = {
        field.alias
        for field in settings.model_fields.values()
        if field.alias and SecretStr in (field.annotation, *getattr(field.annotation, "__args__", ()))
    }
    return secret | (SECRET_VARS_BESIDES_SECRETSTR & env_vars(settings))


def load_settings(settings: type[BaseSettings], env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`settings` accepts `env` as its whole environment (types, enums, cross-field rules)."""
    for name in env_vars(settings):
        monkeypatch.delenv(name, raising=False)
    settings(**env)


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    """The non-empty documents of a YAML file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


# --- Dockerfiles -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def dockerfile(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile (continuations joined, comments dropped)."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    return instructions


def args_of(instructions: list[Instruction], keyword: str) -> list[str]:
    return [instruction.args for instruction in instructions if instruction.keyword == keyword]


def dockerfile_env(instructions: list[Instruction]) -> dict[str, str]:
    """The ENV instructions' `KEY=value` pairs."""
    env: dict[str, str] = {}
    for args in args_of(instructions, "ENV"):
        for pair in shlex.split(args):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def pyproject(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def workspace_members() -> dict[str, Path]:
    """Workspace package name → its folder (relative to the repository)."""
    folders = [*REPO.glob("libs/*"), *REPO.glob("services/*"), REPO / "deploy" / "devstack"]
    return {
        pyproject(folder / "pyproject.toml")["project"]["name"]: folder.relative_to(REPO)
        for folder in folders
        if (folder / "pyproject.toml").exists()
    }


def workspace_closure(package: str, members: Mapping[str, Path]) -> set[str]:
    """`package` and the workspace packages it depends on, transitively."""
    seen: set[str] = set()
    todo = [package]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        deps = pyproject(REPO / members[name] / "pyproject.toml")["project"].get("dependencies", [])
        todo.extend(dep for dep in (re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0] for d in deps) if dep in members)
    return seen


@pytest.mark.parametrize("service", IMAGES)
def test_the_dockerfile_builds_the_service_alone_and_runs_it_unprivileged(service: str) -> None:
    instructions = dockerfile(REPO / "services" / service / "Dockerfile")
    stages = args_of(instructions, "FROM")
    assert len(stages) >= 3, "uv, build and runtime stages"
    assert "PYTHON_IMAGE=python:3.12-slim" in args_of(instructions, "ARG")
    assert sum(stage.startswith("${PYTHON_IMAGE}") for stage in stages) == 2

    syncs = [args for args in args_of(instructions, "RUN") if "uv sync" in args]
    assert syncs, "dependencies come from uv.lock through uv sync"
    for sync in syncs:
        assert {"--frozen", "--no-dev", "--package", f"connect-{service}"} <= set(sync.split()), sync
    copies = [args.split()[:-1] for args in args_of(instructions, "COPY") if not args.startswith("--")]
    assert ["pyproject.toml", "uv.lock"] in copies, "the workspace root and its lock"
    copied = [source for sources in copies for source in sources]

    # Only the code the service runs: its workspace dependencies' folders and its own (manifests aside).
    members = workspace_members()
    wanted = {str(members[name]) for name in workspace_closure(f"connect-{service}", members)}
    copied_folders = {source for source in copied if (REPO / source).is_dir()}
    assert copied_folders == wanted

    users = args_of(instructions, "USER")
    assert users, "the runtime stage names its user"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert instructions.index(Instruction("USER", users[-1])) > max(
        i for i, instruction in enumerate(instructions) if instruction.keyword == "FROM"
    ), "USER belongs to the final stage"

    env = dockerfile_env(instructions)
    port = env[PROBE_PORT_VAR[service]]
    exposed = {word for args in args_of(instructions, "EXPOSE") for word in args.split()}
    assert port in exposed
    healthchecks = args_of(instructions, "HEALTHCHECK")
    assert len(healthchecks) == 1 and "/healthz" in healthchecks[0] and PROBE_PORT_VAR[service] in healthchecks[0]

    entrypoint = json.loads(args_of(instructions, "ENTRYPOINT")[-1])
    scripts = pyproject(REPO / "services" / service / "pyproject.toml")["project"]["scripts"]
    assert entrypoint == [f"connect-{service}"] and entrypoint[0] in scripts


def test_the_catalog_image_exposes_the_stats_worker_port() -> None:
    instructions = dockerfile(REPO / "services" / "catalog" / "Dockerfile")
    exposed = {word for args in args_of(instructions, "EXPOSE") for word in args.split()}
    assert dockerfile_env(instructions)["STATS_METRICS_PORT"] in exposed


def test_the_docker_context_leaves_out_local_state() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert {".venv", ".devstack", "deploy/kafka/lib", ".git", ".pytest_cache", "deploy/.env"} <= ignored
    # …but keeps what the images copy.
    for service in IMAGES:
        for instruction in dockerfile(REPO / "services" / service / "Dockerfile"):
            if instruction.keyword == "COPY" and not instruction.args.startswith("--"):
                for source in instruction.args.split()[:-1]:
                    assert source not in ignored and (REPO / source).exists(), source


# --- compose -----------------------------------------------------------------------------------------------------


def env_example() -> dict[str, str]:
    """deploy/.env.example's `KEY=value` lines."""
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if re.match(r"^\w+=", line))
    return {key: value for key, value in pairs}


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` with `variables`; an unset required one fails."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if name in variables:
            return variables[name]
        assert op == "-", f"${{{name}}} is neither in deploy/.env.example nor defaulted"
        return arg or ""

    return INTERPOLATION.sub(one, text)


def compose() -> dict[str, Any]:
    """compose.yaml as compose reads it with deploy/.env made from deploy/.env.example."""
    loaded: dict[str, Any] = yaml.safe_load(interpolate(COMPOSE.read_text(), env_example()))
    return loaded


def raw_compose() -> dict[str, Any]:
    """compose.yaml without interpolation (what is written in the file)."""
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def compose_env(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    assert isinstance(environment, dict), "environment as a mapping"
    return {str(key): str(value) for key, value in environment.items()}


def test_compose_services_are_built_or_pulled_and_depend_on_services_that_exist() -> None:
    doc = compose()
    services: dict[str, Any] = doc["services"]
    assert set(SETTINGS) | {"kafka", "postgres", "prometheus", "grafana"} <= set(services)
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        if "build" in service:
            context = (DEPLOY / service["build"]["context"]).resolve()
            assert (context / service["build"]["dockerfile"]).is_file(), name
        depends = service.get("depends_on", {})
        for target, condition in depends.items() if isinstance(depends, dict) else ((d, {}) for d in depends):
            assert target in services and target != name, f"{name} depends on {target}"
            assert condition.get("condition", "service_started") in {
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            }
            if condition.get("condition") == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}'s health check"
    for name in SETTINGS:
        wanted = services[name].get("depends_on", {})
        assert wanted["kafka"]["condition"] == wanted["postgres"]["condition"] == "service_healthy", name
    for name in IMAGES:
        assert services[name]["build"]["dockerfile"] == f"services/{name}/Dockerfile"
        assert (DEPLOY / services[name]["build"]["context"]).resolve() == REPO
    assert services["stats"]["image"] == services["catalog"]["image"]
    assert services["runner"]["deploy"]["replicas"] == 2


def test_compose_starts_stats_as_the_devstack_does() -> None:
    stats = compose()["services"]["stats"]
    assert stats["entrypoint"] == ["python", "-m", devstack.MODULES["stats"]]


def test_compose_mounts_files_and_volumes_that_exist() -> None:
    doc = compose()
    volumes = set(doc.get("volumes") or {})
    configs = set(doc.get("configs") or {})
    mounted: set[Path] = set()
    for name, service in doc["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0] if isinstance(mount, str) else mount["source"]
            if source.startswith((".", "/")):
                path = (DEPLOY / source).resolve()
                assert path.exists(), f"{name} mounts {source}, which is not in the repository"
                mounted.add(path)
            else:
                assert source in volumes, f"{name} mounts the undeclared volume {source}"
        for config in service.get("configs", []):
            assert config["source"] in configs, name
    assert {DEPLOY / "prometheus" / "prometheus.yml", DEPLOY / "prometheus" / "rules.yml"} <= mounted
    assert DEPLOY / "grafana" / "dashboards" in mounted
    assert (DEPLOY / "grafana" / "dashboards" / "connect.json").is_file()


@pytest.mark.parametrize("name", list(SETTINGS))
def test_compose_sets_every_variable_the_service_reads(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = compose_env(compose()["services"][name])
    reads = env_vars(SETTINGS[name])
    assert reads - set(UNSET_IN_COMPOSE) <= set(env), f"unset: {sorted(reads - set(UNSET_IN_COMPOSE) - set(env))}"
    assert set(env) <= reads, f"not read by {name}: {sorted(set(env) - reads)}"
    load_settings(SETTINGS[name], env, monkeypatch)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_compose_takes_secrets_from_the_env_file_only(name: str) -> None:
    written = compose_env(raw_compose()["services"][name])
    for var in secret_vars(SETTINGS[name]) & set(written):
        assert INTERPOLATION.search(written[var]), f"{name}: {var} is written in compose.yaml"
        for match in INTERPOLATION.finditer(written[var]):
            assert match["op"] == "?", f"{name}: {var} must be required from deploy/.env, not defaulted"
            assert match["name"] in env_example()


@pytest.mark.parametrize("name", list(SETTINGS))
def test_compose_health_checks_ask_the_port_the_service_serves(name: str) -> None:
    service = compose()["services"][name]
    port = compose_env(service)[PROBE_PORT_VAR[name]]
    check = " ".join(service["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/healthz" in check
    if "ports" in service:
        assert any(str(mapping).endswith(f":{port}") for mapping in service["ports"])
    else:
        assert port in {str(p) for p in service["expose"]}


def test_a_variable_shared_by_services_has_one_value_in_compose() -> None:
    assert_one_value_per_variable({name: compose_env(compose()["services"][name]) for name in SETTINGS})


def assert_one_value_per_variable(envs: Mapping[str, Mapping[str, str]]) -> None:
    values: dict[str, set[str]] = {}
    for env in envs.values():
        for key, value in env.items():
            values.setdefault(key, set()).add(value)
    assert {key: seen for key, seen in values.items() if len(seen) > 1} == {}


# --- Kubernetes --------------------------------------------------------------------------------------------------


def k8s_files() -> list[Path]:
    return sorted(path for path in K8S.glob("*.yaml") if path.name != "kustomization.yaml")


def k8s_objects() -> Iterator[dict[str, Any]]:
    for path in k8s_files():
        yield from yaml_documents(path)


def k8s_object(kind: str, name: str) -> dict[str, Any]:
    found = [doc for doc in k8s_objects() if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}"
    return found[0]


def container(name: str) -> dict[str, Any]:
    containers: list[dict[str, Any]] = k8s_object("Deployment", name)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_the_manifests_are_there() -> None:
    assert {path.name for path in k8s_files()} >= {f"{name}.yaml" for name in SETTINGS}


@pytest.mark.parametrize("path", k8s_files(), ids=lambda path: path.name)
def test_every_manifest_is_valid_kubernetes(path: Path) -> None:
    docs = yaml_documents(path)
    assert docs
    for doc in docs:
        # Strict: an unknown or misspelt field fails too. A kind without a bundled schema raises.
        assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True) == K8S_VERSION
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "connect", f"{path.name}: {doc['metadata']['name']}"


def test_a_wrong_manifest_fails_validation() -> None:
    deployment = k8s_object("Deployment", "runner")
    deployment["spec"]["replica"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest_and_image() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(path.name for path in k8s_files())
    images = {container(name)["image"].split(":")[0] for name in SETTINGS}
    assert {image["name"] for image in kustomization["images"]} == images == {f"connect-{i}" for i in IMAGES}


def k8s_env(name: str) -> tuple[dict[str, str], set[str]]:
    """The container's environment as the cluster would make it (the Secret template's placeholders, the pod name
    for a field reference), and the variables it names through an optional reference."""
    spec = container(name)
    env: dict[str, str] = {}
    optional: set[str] = set()
    for source in spec.get("envFrom", []):
        assert set(source) == {"configMapRef"}, "secrets are referenced key by key, never wholesale"
        env.update(k8s_object("ConfigMap", source["configMapRef"]["name"])["data"])
    for var in spec.get("env", []):
        assert var["name"] not in env, f"{name}: {var['name']} set twice"
        ref = var.get("valueFrom", {})
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "secretKeyRef" in ref:
            secret = k8s_object("Secret", ref["secretKeyRef"]["name"])["stringData"]
            if ref["secretKeyRef"]["key"] in secret:
                env[var["name"]] = secret[ref["secretKeyRef"]["key"]]
            else:
                assert ref["secretKeyRef"].get("optional"), f"{name}: {var['name']} names no key of the Secret"
                optional.add(var["name"])
        elif "fieldRef" in ref:
            env[var["name"]] = f"{name}-7d9f8c6b5-x2x4z"
        else:
            raise AssertionError(f"{name}: {var['name']} from {ref}")
    return env, optional


@pytest.mark.parametrize("name", list(SETTINGS))
def test_the_manifests_set_every_variable_the_service_reads(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env, optional = k8s_env(name)
    named = set(env) | optional
    reads = env_vars(SETTINGS[name])
    assert reads - set(UNSET_IN_K8S) <= named, f"unset: {sorted(reads - set(UNSET_IN_K8S) - named)}"
    assert named <= reads, f"not read by {name}: {sorted(named - reads)}"
    load_settings(SETTINGS[name], env, monkeypatch)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_secrets_come_from_the_secret_only(name: str) -> None:
    spec = container(name)
    from_secret = {var["name"] for var in spec.get("env", []) if "secretKeyRef" in var.get("valueFrom", {})}
    assert secret_vars(SETTINGS[name]) <= from_secret
    config_maps = [doc for doc in k8s_objects() if doc["kind"] == "ConfigMap"]
    assert all(not secret_vars(SETTINGS[name]) & set(doc["data"]) for doc in config_maps)


def test_a_variable_shared_by_services_has_one_value_in_the_manifests() -> None:
    assert_one_value_per_variable({name: k8s_env(name)[0] for name in SETTINGS})


@pytest.mark.parametrize("name", list(SETTINGS))
def test_deployments_probe_the_port_they_declare(name: str) -> None:
    deployment = k8s_object("Deployment", name)
    spec = container(name)
    assert deployment["spec"]["replicas"] == K8S_REPLICAS[name]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    declared = {port["name"]: port["containerPort"] for port in spec["ports"]}
    served = int(k8s_env(name)[0][PROBE_PORT_VAR[name]])
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = spec[probe]["httpGet"]
        assert get["path"] == path
        port = declared.get(get["port"], get["port"])
        assert port == served and served in declared.values(), f"{name} {probe} asks port {get['port']}"


@pytest.mark.parametrize("name", list(SETTINGS))
def test_deployments_run_unprivileged_within_limits(name: str) -> None:
    pod = k8s_object("Deployment", name)["spec"]["template"]["spec"]
    spec = container(name)
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["allowPrivilegeEscalation"] is False
    assert spec["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(spec["resources"]["requests"]) and {"cpu", "memory"} <= set(
        spec["resources"]["limits"]
    )
    mounts = {mount["name"] for mount in spec.get("volumeMounts", [])}
    assert mounts == {volume["name"] for volume in pod.get("volumes", [])}


def test_stats_runs_once_with_the_devstack_command() -> None:
    deployment = k8s_object("Deployment", "stats")
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    assert container("stats")["command"] == ["python", "-m", devstack.MODULES["stats"]]
    assert container("stats")["image"].split(":")[0] == f"connect-{IMAGE_OF['stats']}"


def test_the_runner_has_a_disruption_budget() -> None:
    budget = k8s_object("PodDisruptionBudget", "runner")
    labels = k8s_object("Deployment", "runner")["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"].get("maxUnavailable") == 1


def test_services_select_a_deployment_and_its_declared_ports() -> None:
    services = [doc for doc in k8s_objects() if doc["kind"] == "Service"]
    assert services
    for service in services:
        selected = [
            name
            for name in SETTINGS
            if service["spec"]["selector"].items()
            <= k8s_object("Deployment", name)["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(selected) == 1, service["metadata"]["name"]
        declared = {port["name"] for port in container(selected[0])["ports"]} | {
            port["containerPort"] for port in container(selected[0])["ports"]
        }
        assert all(port["targetPort"] in declared for port in service["spec"]["ports"])


# --- documentation -----------------------------------------------------------------------------------------------


def test_the_deployment_guide_documents_every_variable() -> None:
    text = DOCS.read_text()
    documented = set(re.findall(r"^\| `(\w+)` \|", text, flags=re.MULTILINE))
    every = set().union(*(env_vars(settings) for settings in SETTINGS.values()))
    assert every <= documented, f"not in the configuration table: {sorted(every - documented)}"
    assert documented <= every, f"documented but read by no service: {sorted(documented - every)}"
