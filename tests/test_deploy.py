"""The deployment files: compose and Kubernetes manifests, the Dockerfile and the lock file.
Nothing here runs a container; the files are parsed and checked against the code."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pydantic_settings import BaseSettings

from adapters.adobe_cpapi import AdobeSettings
from adapters.elasticpath import ElasticPathSettings
from bridge.cli import graceful_shutdown_s
from bridge.settings import BridgeSettings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
OURS = re.compile(r"^(ERC_BRIDGE|ELASTICPATH|ADOBE)_[A-Z0-9_]+$")
INTERPOLATED = re.compile(r"\$\{([A-Z0-9_]+)")
REDIS_POLICY = "volatile-ttl"
"""Every key the bridge writes expires: the shortest-lived go first, idempotency records last."""
SETTINGS: tuple[type[BaseSettings], ...] = (BridgeSettings, ElasticPathSettings, AdobeSettings)


def known_variables() -> set[str]:
    """Every environment variable the settings classes read."""
    return {
        f"{cls.model_config.get('env_prefix', '')}{name}".upper()
        for cls in SETTINGS
        for name in cls.model_fields
    }


def required_variables(cls: type[BaseSettings]) -> set[str]:
    prefix = cls.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name, f in cls.model_fields.items() if f.is_required()}


def manifests() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object, by kind (one of each in these examples)."""
    objects = [
        document
        for path in sorted(KUBERNETES.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]
    by_kind = {o["kind"]: o for o in objects}
    assert len(by_kind) == len(objects), "one object of each kind"
    return by_kind


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def compose_variables() -> set[str]:
    names: set[str] = set()
    for service in compose()["services"].values():
        environment = service.get("environment", {})
        if isinstance(environment, list):
            environment = dict(entry.split("=", 1) for entry in environment)
        names.update(environment)
        for value in environment.values():
            names.update(INTERPOLATED.findall(str(value)))
    return {name for name in names if OURS.match(name)}


def container(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    [only] = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert isinstance(only, dict)
    return only


def kubernetes_variables() -> set[str]:
    objects = manifests()
    names = {entry["name"] for entry in container(objects)["env"]}
    names.update(objects["Secret"]["stringData"])
    return {name for name in names if OURS.match(name)}


# Compose and Kubernetes


def test_the_files_parse() -> None:
    assert compose()["services"]
    assert set(manifests()) == {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Secret",
    }


def test_yamllint_passes_on_deploy() -> None:
    linted = subprocess.run(
        [sys.executable, "-m", "yamllint", "--strict", "deploy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_compose_publishes_on_this_host_only() -> None:
    for service in compose()["services"].values():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), port


def test_compose_waits_for_the_bridges_grace_before_killing_it() -> None:
    grace_s = graceful_shutdown_s(BridgeSettings(_env_file=None))
    bridges = [s for s in compose()["services"].values() if "erc-bridge" in s["image"]]
    assert bridges
    for service in bridges:
        assert int(service["stop_grace_period"].removesuffix("s")) > grace_s


@pytest.mark.parametrize("variables", [compose_variables, kubernetes_variables])
def test_every_variable_is_one_the_settings_read(variables: Any) -> None:
    referenced = variables()
    assert referenced <= known_variables(), referenced - known_variables()
    assert required_variables(ElasticPathSettings) <= referenced
    assert {"ERC_BRIDGE_ADAPTER", "ERC_BRIDGE_API_KEYS", "ERC_BRIDGE_CURSOR_SECRET"} <= referenced


def test_compose_and_kubernetes_configure_the_same_variables() -> None:
    assert compose_variables() == kubernetes_variables()


def test_credentials_come_from_the_secret_which_holds_placeholders_only() -> None:
    objects = manifests()
    secret = objects["Secret"]
    for entry in container(objects)["env"]:
        if entry["name"].endswith(("_SECRET", "_KEY", "_KEYS", "_CLIENT_ID")):
            reference = entry["valueFrom"]["secretKeyRef"]
            assert reference["name"] == secret["metadata"]["name"]
            assert reference["key"] in secret["stringData"]
    assert "data" not in secret
    assert all(value.startswith("replace-") for value in secret["stringData"].values())


def test_probes_resources_and_a_non_root_user() -> None:
    objects = manifests()
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    bridge = container(objects)
    ports = {port["name"]: port["containerPort"] for port in bridge["ports"]}
    assert ports == {"http": BridgeSettings.model_fields["port"].default}
    assert bridge["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert bridge["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(bridge["resources"][kind])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == dockerfile_user()
    # The preStop pause, then the requests in flight get the bridge's grace to finish.
    pause_s = int(bridge["lifecycle"]["preStop"]["exec"]["command"][-1])
    grace_s = graceful_shutdown_s(BridgeSettings(_env_file=None))
    assert pod["terminationGracePeriodSeconds"] > pause_s + grace_s


def test_the_pod_gets_no_service_links() -> None:
    # The kubelet would set ERC_BRIDGE_STORE_A_SERVICE_HOST and the like for the Service,
    # under the bridge's own prefix.
    pod = manifests()["Deployment"]["spec"]["template"]["spec"]
    assert pod["enableServiceLinks"] is False


def test_service_and_autoscaler_point_at_the_deployment() -> None:
    objects = manifests()
    deployment = objects["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == pod_labels
    service = objects["Service"]["spec"]
    assert service["selector"] == pod_labels
    assert {port["targetPort"] for port in service["ports"]} == {"http"}
    target = objects["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])


def test_the_autoscaler_alone_owns_the_replica_count() -> None:
    objects = manifests()
    assert "replicas" not in objects["Deployment"]["spec"]
    assert objects["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2


def test_replicas_spread_and_survive_a_drain() -> None:
    objects = manifests()
    pod_labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    budget = objects["PodDisruptionBudget"]["spec"]
    assert budget["selector"]["matchLabels"] == pod_labels
    assert budget["minAvailable"] < objects["HorizontalPodAutoscaler"]["spec"]["minReplicas"]
    spread = objects["Deployment"]["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} >= {"kubernetes.io/hostname"}
    assert all(c["labelSelector"]["matchLabels"] == pod_labels for c in spread)


def test_the_metrics_key_is_optional() -> None:
    [entry] = [e for e in container(manifests())["env"] if e["name"] == "ERC_BRIDGE_METRICS_KEY"]
    assert entry["valueFrom"]["secretKeyRef"]["optional"] is True
    assert not BridgeSettings.model_fields["metrics_key"].is_required()


# Replicas and Redis


def bridge_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose()["services"].items() if s.get("image", "").startswith("erc")}


def test_compose_runs_two_replicas_sharing_one_unpublished_redis() -> None:
    services = compose()["services"]
    replicas = bridge_services()
    assert len(replicas) >= 2
    published = [port.split(":")[1] for s in replicas.values() for port in s["ports"]]
    assert len(set(published)) == len(published), "each replica on a port of its own"
    redis = services["redis"]
    assert "ports" not in redis, "only the replicas reach Redis"
    command = redis["command"]
    assert command[command.index("--maxmemory-policy") + 1] == REDIS_POLICY
    assert "--requirepass" in command and "--maxmemory" in command
    for replica in replicas.values():
        url = replica["environment"]["ERC_BRIDGE_REDIS_URL"]
        assert url.startswith("redis://:${REDIS_PASSWORD") and "@redis:6379/" in url
        assert "redis" in replica["depends_on"]


def test_kubernetes_takes_the_redis_url_from_the_secret_and_ships_no_redis() -> None:
    objects = manifests()
    env = {entry["name"]: entry for entry in container(objects)["env"]}
    reference = env["ERC_BRIDGE_REDIS_URL"]["valueFrom"]["secretKeyRef"]
    assert reference["name"] == objects["Secret"]["metadata"]["name"]
    assert reference["optional"] is True
    assert reference["key"] in objects["Secret"]["stringData"]
    assert "ERC_BRIDGE_PLATFORM_RATE" in env
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert not any("redis" in c["image"] for c in pod["containers"])


def test_the_deploy_readme_says_when_to_use_redis_and_which_policy() -> None:
    text = (DEPLOY / "README.md").read_text()
    assert f"maxmemory-policy {REDIS_POLICY}" in text
    for topic in ("ERC_BRIDGE_REDIS_URL", "ERC_BRIDGE_PLATFORM_RATE", "redis_unreachable"):
        assert topic in text, topic


# Dockerfile


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def dockerfile_user() -> str:
    users = re.findall(r"^USER\s+(\S+)", dockerfile(), re.MULTILINE)
    assert users and users[-1] not in ("0", "root")
    return str(users[-1])


def test_the_image_installs_exactly_the_lock_and_runs_as_non_root() -> None:
    text = dockerfile()
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) >= 2  # build and runtime stages
    installs = re.findall(r"pip install [^\n]*", text)
    assert any("--no-deps" in i and "-r requirements.lock" in i for i in installs)
    assert all("--no-deps" in i for i in installs), installs
    assert "COPY requirements.lock" in text
    assert f"--uid {dockerfile_user()}" in text
    assert re.search(r"^HEALTHCHECK[^\n]*\n?[^\n]*/healthz", text, re.MULTILINE)


# requirements.lock


def locked() -> dict[str, str]:
    """name → pinned version; every entry must be pinned and hashed."""
    text = (ROOT / "requirements.lock").read_text().replace("\\\n", " ")
    pins: dict[str, str] = {}
    for line in text.splitlines():
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        requirement, *hashes = entry.split(" --hash=")
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!-]+)", requirement.strip())
        assert match, f"not an exact pin: {entry}"
        assert hashes, f"no hash: {requirement}"
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"]]


def test_the_lock_pins_every_runtime_dependency_within_its_range() -> None:
    pins = locked()
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is missing from requirements.lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (name, pins[name])


def test_every_locked_package_is_installed_here() -> None:
    for name in locked():
        assert importlib.metadata.version(name), name


def closure_gaps() -> Iterator[str]:
    """Requirements of locked packages, with the extras asked for, that the lock lacks.

    Read from the installed distributions, where their version is the locked one.
    """
    pins = locked()
    pending = [(canonicalize_name(r.name), frozenset(r.extras)) for r in runtime_requirements()]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, extras = pending.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        if name not in pins:
            yield name
            continue
        if importlib.metadata.version(name) != pins[name]:
            continue  # another version here: its metadata says nothing about the lock's
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in {"", *extras}):
                pending.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))


def test_the_lock_holds_the_whole_dependency_closure() -> None:
    assert sorted(set(closure_gaps())) == []


def test_uvicorn_is_pinned_to_the_minor_version_the_server_was_verified_against() -> None:
    # bridge/server.py subclasses uvicorn's httptools protocol: a new minor is a deliberate
    # change, made with the server's tests.
    (uvicorn,) = [r for r in runtime_requirements() if canonicalize_name(r.name) == "uvicorn"]
    major, minor, *_ = locked()["uvicorn"].split(".")
    assert uvicorn.specifier.contains(f"{major}.{minor}.0")
    assert not uvicorn.specifier.contains(f"{major}.{int(minor) + 1}.0")
    assert not uvicorn.specifier.contains(f"{major}.{int(minor) - 1}.99")
