#!/usr/bin/env python3
"""Reads deploy/kubernetes the way kustomize does, for the tests and for .ci/deploy-checks.

  manifests.py render DIR [--component DIR]...
      Print the resources of the kustomization in DIR as a JSON list: its `resources`
      (files and directories, recursively), `components`, ConfigMap `patches` and `images`.
      That is all deploy/kubernetes uses; anything else is an error, not silently ignored.
      tests/e2e/pod.rs runs hookwall and the app from this output, so the tested pod is the
      shipped one. `check` compares it with `kubectl kustomize` where kubectl exists.

  manifests.py check [-k VERSION]...
      Validate every variant of deploy/kubernetes: each rendered resource against the
      Kubernetes JSON schemas of kubernetes-validate (strict, for each VERSION), and how the
      pieces fit together (ports, volumes, the paths hookwall.toml names, grace periods,
      hardening, the custom resources' references). Exits 1 on any problem.
"""

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KUBERNETES = os.path.join(REPO, "deploy", "kubernetes")
VARIANTS = [".", "native-sidecar", "unix-socket"]
COMPONENTS = ["components/cert-manager", "components/prometheus-operator"]
# Components that replace hookwall.toml, so they fit one variant only: checked with it alone.
CONFIG_COMPONENTS = {".": ["components/redis"]}
RULES_FILE = os.path.join(REPO, "deploy", "prometheus", "hookwall-rules.yml")
# Secrets the cluster owner creates (secret.example.yaml) or cert-manager issues.
EXTERNAL_SECRETS = {"visma-webhook", "hookwall-tls"}
KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources", "components", "patches", "images"}


def load_yaml_documents(path):
    with open(path) as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def kustomization_file(directory):
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise SystemExit(f"{directory}: no kustomization.yaml")


def render(directory, extra_components=(), into=None):
    """The resources of the kustomization in `directory`, as kustomize would build them.

    A component (`into` given) adds its resources to its parent's and patches them all."""
    path = kustomization_file(directory)
    (kustomization,) = load_yaml_documents(path)
    unknown = set(kustomization) - KUSTOMIZATION_KEYS
    if unknown:
        raise SystemExit(f"{path}: manifests.py does not implement {sorted(unknown)}")
    resources = [] if into is None else into
    for entry in kustomization.get("resources", []):
        target = os.path.join(directory, entry)
        if os.path.isdir(target):
            resources.extend(render(target))
        else:
            resources.extend(load_yaml_documents(target))
    components = [os.path.join(directory, c) for c in kustomization.get("components", [])]
    for component in components + list(extra_components):
        render(component, into=resources)
    for patch in kustomization.get("patches", []):
        apply_patch(resources, os.path.join(directory, patch["path"]), path)
    for image in kustomization.get("images", []):
        set_image(resources, image)
    return resources


def apply_patch(resources, patch_path, origin):
    for patch in load_yaml_documents(patch_path):
        if patch.get("kind") != "ConfigMap" or set(patch) - {"apiVersion", "kind", "metadata", "data"}:
            raise SystemExit(f"{origin}: manifests.py only applies ConfigMap data patches")
        name = patch["metadata"]["name"]
        targets = [r for r in resources if r["kind"] == "ConfigMap" and r["metadata"]["name"] == name]
        if len(targets) != 1:
            raise SystemExit(f"{patch_path}: patches ConfigMap {name}, found {len(targets)}")
        targets[0].setdefault("data", {}).update(patch.get("data", {}))


def pod_containers(pod_spec):
    return pod_spec.get("initContainers", []) + pod_spec.get("containers", [])


def set_image(resources, image):
    for resource in resources:
        spec = resource.get("spec", {}).get("template", {}).get("spec")
        if not spec:
            continue
        for container in pod_containers(spec):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                new_name = image.get("newName", name)
                new_tag = image.get("newTag", tag)
                container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name


def render_with_kubectl(directory, components=()):
    if components:
        scratch = tempfile.mkdtemp()
        with open(os.path.join(scratch, "kustomization.yaml"), "w") as f:
            yaml.safe_dump(
                {
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    # kustomize takes relative paths only.
                    "resources": [os.path.relpath(directory, scratch)],
                    "components": [os.path.relpath(c, scratch) for c in components],
                },
                f,
            )
        directory = scratch
    result = subprocess.run(
        ["kubectl", "kustomize", directory], capture_output=True, text=True, timeout=60
    )
    if components:
        shutil.rmtree(directory)
    if result.returncode != 0:
        raise SystemExit(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_identity(resources):
    return {(r["kind"], r["metadata"]["name"]): r for r in resources}


# ---- checks ---------------------------------------------------------------------------


class Problems:
    def __init__(self):
        self.count = 0

    def check(self, ok, where, message):
        if ok:
            return True
        self.count += 1
        print(f"FAIL {where}: {message}")
        return False


def seconds(text):
    match = re.fullmatch(r"(\d+)(ms|s|m|h)", text)
    if not match:
        raise SystemExit(f"unexpected duration {text!r} in hookwall.toml")
    value, unit = int(match.group(1)), match.group(2)
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def mount_for(container, path):
    """The volumeMount whose mountPath holds `path`, and the path inside the volume."""
    for mount in container.get("volumeMounts", []):
        prefix = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix):
            return mount, path[len(prefix):]
    return None, None


def check_hardening(where, spec, problems):
    """Pod and container hardening every Deployment here keeps."""
    containers = {c["name"]: c for c in pod_containers(spec)}
    pod_security = spec.get("securityContext", {})
    problems.check(pod_security.get("runAsNonRoot") is True, where, "runAsNonRoot must be true")
    problems.check(pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault",
                   where, "seccompProfile must be RuntimeDefault")
    problems.check(spec.get("automountServiceAccountToken") is False, where,
                   "neither container needs the Kubernetes API: automountServiceAccountToken false")
    for container in containers.values():
        security = container.get("securityContext", {})
        at = f"{where} container {container['name']}"
        problems.check(security.get("readOnlyRootFilesystem") is True, at, "readOnlyRootFilesystem")
        problems.check(security.get("allowPrivilegeEscalation") is False, at,
                       "allowPrivilegeEscalation false")
        problems.check(security.get("capabilities", {}).get("drop") == ["ALL"], at,
                       "capabilities drop ALL")
        resources_spec = container.get("resources", {})
        problems.check("requests" in resources_spec and "memory" in resources_spec.get("limits", {}),
                       at, "resource requests and a memory limit")


def check_variant(name, resources, problems):
    where = f"deploy/kubernetes/{name}"
    index = by_identity(resources)
    deployments = [r for r in resources if r["kind"] == "Deployment"
                   and any(c["name"] == "hookwall" for c in pod_containers(r["spec"]["template"]["spec"]))]
    if not problems.check(len(deployments) == 1, where, "expected exactly one Deployment with hookwall"):
        return
    for other in (r for r in resources if r["kind"] == "Deployment" and r not in deployments):
        check_hardening(f"{where} Deployment {other['metadata']['name']}",
                        other["spec"]["template"]["spec"], problems)
    deployment = deployments[0]
    pod = deployment["spec"]["template"]
    spec = pod["spec"]
    labels = pod["metadata"]["labels"]
    containers = {c["name"]: c for c in pod_containers(spec)}
    problems.check(
        matches(deployment["spec"]["selector"]["matchLabels"], labels),
        where, "the Deployment's selector does not match its pod labels")
    hookwall = containers.get("hookwall")
    app = containers.get("app")
    if not problems.check(hookwall and app, where, "containers 'hookwall' and 'app' expected"):
        return
    if "initContainers" in spec and hookwall in spec["initContainers"]:
        problems.check(hookwall.get("restartPolicy") == "Always", where,
                       "hookwall as an init container must have restartPolicy Always (a native sidecar)")

    check_hardening(where, spec, problems)

    # hookwall's config: mounted, and everything it names is where the pod puts it.
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    args = hookwall.get("args", [])
    config_path = args[args.index("--config") + 1] if "--config" in args else None
    if not problems.check(config_path, where, "hookwall runs without --config"):
        return
    mount, key = mount_for(hookwall, config_path)
    if not problems.check(mount, where, f"{config_path} is on no volume of hookwall"):
        return
    config_map = volumes[mount["name"]].get("configMap", {}).get("name")
    config_resource = index.get(("ConfigMap", config_map))
    if not problems.check(config_resource and key in config_resource.get("data", {}), where,
                          f"{config_path}: ConfigMap {config_map} has no key {key}"):
        return
    config = tomllib.loads(config_resource["data"][key])

    def secret_file(path, secret_name, what):
        mount, key = mount_for(hookwall, path)
        if not problems.check(mount, where, f"{what} {path} is on no volume of hookwall"):
            return
        secret = volumes[mount["name"]].get("secret", {})
        problems.check(secret.get("secretName") == secret_name, where,
                       f"{what} {path} should come from Secret {secret_name}")
        problems.check("subPath" not in mount, where,
                       f"{path}: a subPath mount is never updated, so rotation would need a restart")
        problems.check(secret_name in EXTERNAL_SECRETS, where, f"unknown Secret {secret_name}")

    tls = config["server"]["tls"]
    secret_file(tls["cert_file"], "hookwall-tls", "server.tls.cert_file")
    secret_file(tls["key_file"], "hookwall-tls", "server.tls.key_file")
    for route in config["route"]:
        for secret in route["secrets"]:
            problems.check("file" in secret, where,
                           f"route {route['path']}: use a file secret (a mounted Secret rotates "
                           "without a restart; an env var does not)")
            if "file" in secret:
                secret_file(secret["file"], "visma-webhook", f"route {route['path']} secret")
                example = by_identity(load_yaml_documents(os.path.join(KUBERNETES, "secret.example.yaml")))
                keys = example[("Secret", "visma-webhook")].get("stringData", {})
                problems.check(os.path.basename(secret["file"]) in keys, where,
                               f"secret.example.yaml has no key {os.path.basename(secret['file'])}")
    for kind, name in [("ConfigMap", v["configMap"]["name"]) for v in volumes.values() if "configMap" in v]:
        problems.check((kind, name) in index, where, f"a volume uses ConfigMap {name}, not in the manifests")

    # Ports and probes agree with hookwall.toml.
    ports = {p["name"]: p["containerPort"] for p in hookwall.get("ports", [])}
    listen_port = int(config["server"]["listen"].rsplit(":", 1)[1])
    admin_port = int(config["admin"]["listen"].rsplit(":", 1)[1])
    problems.check(ports.get("https") == listen_port, where, "port https is not server.listen's")
    problems.check(ports.get("admin") == admin_port, where, "port admin is not admin.listen's")
    for probe, path in [("livenessProbe", "/livez"), ("readinessProbe", "/readyz")]:
        get = hookwall.get(probe, {}).get("httpGet", {})
        problems.check(get.get("path") == path and get.get("port") in ("admin", admin_port),
                       where, f"hookwall's {probe} should GET {path} on the admin port")

    # The upstream is where the app listens, and only there.
    upstream = config["upstream"]["url"]
    command = app.get("command", []) + app.get("args", [])
    if upstream.startswith("unix:"):
        socket_path = upstream[len("unix:"):]
        problems.check(["--unix", socket_path] == command[-2:], where,
                       f"the app should listen on {socket_path}")
        hookwall_mount, _ = mount_for(hookwall, socket_path)
        app_mount, _ = mount_for(app, socket_path)
        problems.check(hookwall_mount and app_mount and hookwall_mount["name"] == app_mount["name"]
                       and "emptyDir" in volumes[app_mount["name"]], where,
                       f"{socket_path} must be on an emptyDir both containers mount")
    else:
        authority = upstream.removeprefix("http://")
        problems.check(authority.startswith("127.0.0.1:"), where, "the upstream must be on loopback")
        problems.check(["--listen", authority] == command[-2:], where,
                       f"the app should listen on {authority} only")

    # Shutdown fits in the grace period.
    drain = seconds(config["server"].get("shutdown_delay", "5s")) + seconds(
        config["server"].get("shutdown_grace", "20s"))
    grace = spec.get("terminationGracePeriodSeconds", 30)
    problems.check(grace > drain, where,
                   f"terminationGracePeriodSeconds {grace} must exceed shutdown_delay + shutdown_grace ({drain}s)")

    check_redis(where, config, resources, problems)

    # The Service, NetworkPolicy and PDB select these pods and reach hookwall only.
    for kind in ("Service", "NetworkPolicy", "PodDisruptionBudget"):
        for resource in (r for r in resources if r["kind"] == kind
                         and r["metadata"].get("labels", {}).get("app.kubernetes.io/name")
                         == labels.get("app.kubernetes.io/name")):
            spec_of = resource["spec"]
            selector = spec_of.get("selector") or spec_of.get("podSelector")
            selector = selector.get("matchLabels", selector) if selector else {}
            problems.check(matches(selector, labels), where,
                           f"{kind} {resource['metadata']['name']} does not select the pods")
    service = index[("Service", "webhook-receiver")]
    problems.check([p["targetPort"] for p in service["spec"]["ports"]] == ["https"], where,
                   "the webhook Service must expose hookwall's https port and nothing else")
    return config


def check_redis(where, config, resources, problems):
    """With [dedupe] store = "redis" at an in-cluster Service: the Service exists, has the
    port, selects a Redis pod, and a NetworkPolicy lets the hookwall pods reach it."""
    dedupe = config.get("dedupe", {})
    if dedupe.get("store") != "redis":
        return
    problems.check(any("dedupe" in route for route in config["route"]), where,
                   "[dedupe] store = \"redis\" but no route has a dedupe window")
    url = dedupe.get("redis_url")
    if not problems.check(url, where, "the example component should use redis_url"):
        return
    match = re.fullmatch(r"rediss?://(?:[^@/]+@)?([^:/]+):(\d+)(?:/\d+)?", url)
    if not problems.check(match, where, f"redis_url {url!r} is not redis://host:port[/db]"):
        return
    host, port = match.group(1), int(match.group(2))
    services = [r for r in resources if r["kind"] == "Service" and r["metadata"]["name"] == host]
    if not services:
        return  # a managed Redis outside the cluster
    service = services[0]
    ports = [p for p in service["spec"]["ports"] if p["port"] == port]
    problems.check(ports, where, f"Service {host} has no port {port}")
    pods = [r for r in resources if r["kind"] in ("Deployment", "StatefulSet")
            and matches(service["spec"]["selector"], r["spec"]["template"]["metadata"]["labels"])]
    problems.check(pods, where, f"Service {host} selects no pods")
    if pods and ports:
        redis_labels = pods[0]["spec"]["template"]["metadata"]["labels"]
        container_ports = {p.get("name"): p["containerPort"]
                           for c in pod_containers(pods[0]["spec"]["template"]["spec"])
                           for p in c.get("ports", [])}
        target = ports[0].get("targetPort", port)
        target_port = container_ports.get(target, target)
        problems.check(target_port in container_ports.values(), where,
                       f"Service {host}'s targetPort {target} is no container port")
        hookwall_labels = next(r for r in resources if r["kind"] == "Deployment"
                               and "hookwall" in {c["name"] for c in pod_containers(
                                   r["spec"]["template"]["spec"])})["spec"]["template"]["metadata"]["labels"]
        allowed = False
        for policy in (r for r in resources if r["kind"] == "NetworkPolicy"):
            if not matches(policy["spec"]["podSelector"].get("matchLabels", {}), redis_labels):
                continue
            for rule in policy["spec"].get("ingress", []):
                sources = [f.get("podSelector", {}).get("matchLabels") for f in rule.get("from", [])]
                rule_ports = [p["port"] for p in rule.get("ports", [])]
                if any(sel is not None and matches(sel, hookwall_labels) for sel in sources) \
                        and target_port in rule_ports:
                    allowed = True
        problems.check(allowed, where,
                       f"no NetworkPolicy lets the hookwall pods reach {host}:{target_port}")


def check_custom_resources(resources, problems, name):
    """What no schema checks here: the custom resources' references."""
    where = f"deploy/kubernetes/{name} with its components"
    index = by_identity(resources)
    certificate = index.get(("Certificate", "hookwall-tls"))
    if problems.check(certificate, where, "Certificate hookwall-tls missing"):
        problems.check(certificate["spec"].get("secretName") == "hookwall-tls", where,
                       "the Certificate must write the hookwall-tls Secret hookwall mounts")
        for key in ("dnsNames", "issuerRef"):
            problems.check(key in certificate["spec"], where, f"Certificate has no {key}")
    monitor = index.get(("ServiceMonitor", "hookwall"))
    if problems.check(monitor, where, "ServiceMonitor hookwall missing"):
        selector = monitor["spec"]["selector"]["matchLabels"]
        selected = [r for r in resources if r["kind"] == "Service"
                    and matches(selector, r["metadata"].get("labels", {}))]
        problems.check([s["metadata"]["name"] for s in selected] == ["webhook-receiver-metrics"],
                       where, "the ServiceMonitor must select the metrics Service only")
        if selected:
            port_names = {p["name"] for p in selected[0]["spec"]["ports"]}
            for endpoint in monitor["spec"]["endpoints"]:
                problems.check(endpoint["port"] in port_names, where,
                               f"ServiceMonitor port {endpoint['port']} not in the metrics Service")
                problems.check(endpoint.get("path", "/metrics") == "/metrics", where,
                               "hookwall serves /metrics")
    rule = index.get(("PrometheusRule", "hookwall"))
    if problems.check(rule, where, "PrometheusRule hookwall missing"):
        with open(RULES_FILE) as f:
            expected = yaml.safe_load(f)
        problems.check(rule["spec"] == expected, where,
                       "the PrometheusRule differs from deploy/prometheus/hookwall-rules.yml")


def validate_schemas(resources, versions, problems, name, skipped):
    import kubernetes_validate.utils as kv

    for resource in resources:
        label = f"{name}: {resource['kind']}/{resource['metadata']['name']}"
        for version in versions:
            try:
                kv.validate(copy.deepcopy(resource), version, strict=True)
            except kv.SchemaNotFoundError:
                skipped.add(f"{resource['kind']} ({resource['apiVersion']})")
            except kv.ValidationError as err:
                path = ".".join(str(p) for p in err.path)
                problems.check(False, label, f"Kubernetes {version} schema: {path}: {err.message}")


def check(versions):
    problems = Problems()
    skipped = set()
    have_kubectl = shutil.which("kubectl") is not None
    base_config = None
    for variant in VARIANTS:
        directory = os.path.join(KUBERNETES, variant)
        combinations = [(), tuple(os.path.join(KUBERNETES, c) for c in COMPONENTS)]
        combinations += [(os.path.join(KUBERNETES, c),) for c in CONFIG_COMPONENTS.get(variant, [])]
        for components in combinations:
            config_component = len(components) == 1
            name = variant + (" + " + os.path.relpath(components[0], KUBERNETES) if config_component
                              else " + components" if components else "")
            resources = render(directory, components)
            if have_kubectl:
                from_kubectl = by_identity(render_with_kubectl(directory, components))
                mine = by_identity(resources)
                problems.check(from_kubectl == mine, name,
                               "manifests.py renders differently from kubectl kustomize: "
                               f"{sorted(set(mine) ^ set(from_kubectl)) or 'same resources, other content'}")
            validate_schemas(resources, versions, problems, name, skipped)
            config = check_variant(name, resources, problems)
            if components and not config_component:
                check_custom_resources(resources, problems, name)
            elif variant == "." and not components:
                base_config = config
            elif config and base_config:
                # The variants change how hookwall reaches the app, nothing else.
                # components/redis adds [dedupe] and the routes' windows, nothing else.
                different = copy.deepcopy(config)
                different["upstream"].pop("url")
                different.pop("dedupe", None)
                for route in different["route"]:
                    route.pop("dedupe", None)
                same = copy.deepcopy(base_config)
                same["upstream"].pop("url")
                problems.check(different == same, name,
                               "its hookwall.toml differs from base/hookwall-config.yaml beyond "
                               "upstream.url and dedupe")
        print(f"ok   deploy/kubernetes/{variant}: rendered, validated against Kubernetes "
              f"{', '.join(versions)}, cross-checked")
    if not have_kubectl:
        print("SKIP comparing with `kubectl kustomize`: kubectl is not installed")
    for kind in sorted(skipped):
        print(f"SKIP schema validation of {kind}: a custom resource or kustomize file with no "
              "schema in kubernetes-validate; its references are cross-checked above instead")
    # The example Secret is not in any kustomization; validate it on its own.
    example = load_yaml_documents(os.path.join(KUBERNETES, "secret.example.yaml"))
    validate_schemas(example, versions, problems, "secret.example.yaml", skipped)
    if problems.count:
        print(f"{problems.count} problem(s) in deploy/kubernetes")
        return 1
    print("deploy/kubernetes: all checks passed")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    render_parser = commands.add_parser("render")
    render_parser.add_argument("directory")
    render_parser.add_argument("--component", action="append", default=[])
    check_parser = commands.add_parser("check")
    check_parser.add_argument("-k", "--kubernetes-version", action="append", dest="versions")
    args = parser.parse_args()
    if args.command == "render":
        json.dump(render(args.directory, args.component), sys.stdout, indent=1)
        print()
        return 0
    return check(args.versions or ["1.30", "1.37"])


if __name__ == "__main__":
    sys.exit(main())
