#!/usr/bin/env python3
"""Runs README.md's commands exactly as written, in order, and checks what README says they print.

  walkthrough.py [run]
      The first-use walk-through: every fenced block of README.md whose info string carries
      the word `walkthrough`, in document order, from the repository root:

        ```sh walkthrough              bash runs it; it must exit 0 (`exit=N`: must exit N)
        ```sh walkthrough background   started and left running, as in a second terminal;
                                       at the end it gets SIGINT (Ctrl-C) and must exit 0
        ```text walkthrough output     what the marked block before it prints: exactly
                                       (trailing spaces aside) for a command; for a background
                                       one, lines that must appear in this order (waited for)
        ```toml walkthrough file=NAME  saved as NAME in the repository root

      Each command block stands alone (no shell state carries over; files do), as a reader
      pasting it into a terminal would need. It runs in a network namespace of its own, so
      README's fixed ports (8443, 9090) are free and nothing leaves loopback, with
      HOOKWALL_SECRET, VISMA_WEBHOOK_SECRET and RUST_LOG unset, as on a fresh machine.
      Files it leaves in the repository root are removed afterwards (any that were there
      before are put back).

  walkthrough.py kubernetes
      README's Kubernetes steps, against the manifests in deploy/kubernetes: every `kubectl`
      command of the section, in order (fenced lines and inline code alike), played on a
      model of a cluster that refuses what a real one would (a Secret in a namespace not
      created yet; a Deployment whose Secret, or a key of it that hookwall.toml reads, does
      not exist yet; logs of a container the Deployment does not have). Needs no cluster.
"""

import importlib.util
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import tomllib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = os.path.join(REPO, "README.md")
# The first `cargo run` of a fresh clone builds hookwall; on a 2-core CI machine that is
# minutes, so starting is given a generous bound. Every other step is quick.
START_TIMEOUT = float(os.environ.get("WALKTHROUGH_START_TIMEOUT", "1500"))
STEP_TIMEOUT = 120
UNSET_VARIABLES = ("HOOKWALL_SECRET", "VISMA_WEBHOOK_SECRET", "RUST_LOG")
FENCE = re.compile(r"^(\s*)```(\S*)(.*)$")


def fail(message):
    print(f"walkthrough: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def fenced_blocks(text):
    """(line number, language, info words, body) of every fenced block."""
    blocks, lines, index = [], text.split("\n"), 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, language, info = opening.group(1), opening.group(2), opening.group(3).split()
        start, body, index = index + 1, [], index + 1
        while index < len(lines) and lines[index].strip() != "```":
            line = lines[index]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            index += 1
        if index == len(lines):
            fail(f"README.md:{start}: the block opened here is never closed")
        blocks.append((start, language, info, "\n".join(body) + "\n"))
        index += 1
    return blocks


def walkthrough_steps(text):
    """README's marked blocks as steps; each `output` block attached to the step before it."""
    steps = []
    for line, language, info, body in fenced_blocks(text):
        if "walkthrough" not in info:
            continue
        options = dict(word.split("=", 1) for word in info if "=" in word)
        if "output" in info:
            if not steps or steps[-1]["kind"] not in ("run", "background"):
                fail(f"README.md:{line}: an output block must follow a command block")
            if "expected" in steps[-1]:
                fail(f"README.md:{line}: the command before already has an output block")
            steps[-1]["expected"] = body.rstrip("\n").split("\n")
        elif "file" in options:
            steps.append({"kind": "file", "line": line, "name": options["file"], "text": body})
        elif language in ("sh", "bash", "console"):
            kind = "background" if "background" in info else "run"
            steps.append({"kind": kind, "line": line, "text": body,
                          "exit": int(options.get("exit", "0"))})
        else:
            fail(f"README.md:{line}: a walkthrough block must be sh, an output or a file=")
    kinds = {step["kind"] for step in steps}
    if not {"background", "run"} <= kinds:
        fail("README.md has no walk-through (blocks marked `walkthrough`, one `background`)")
    return steps


def environment():
    env = {k: v for k, v in os.environ.items() if k not in UNSET_VARIABLES}
    env.pop("WALKTHROUGH_NETNS", None)
    return env


class Background:
    """A long-running block: its output (stdout and stderr, as a terminal shows both)."""

    def __init__(self, step):
        self.step = step
        self.lines = []
        self.lock = threading.Lock()
        self.process = subprocess.Popen(
            ["bash", "-c", step["text"]], cwd=REPO, env=environment(),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for raw in self.process.stdout:
            with self.lock:
                self.lines.append(raw.decode("utf-8", "replace").rstrip())

    def shows(self, expected):
        """Whether the expected lines have appeared, in order."""
        with self.lock:
            position = 0
            for line in self.lines:
                if position < len(expected) and line == expected[position].rstrip():
                    position += 1
            return position == len(expected)

    def output(self):
        with self.lock:
            return "\n".join(self.lines[-60:])

    def wait_for(self, expected, timeout):
        deadline = time.monotonic() + timeout
        while not self.shows(expected):
            if self.process.poll() is not None:
                time.sleep(0.2)  # let the reader take the last lines
                if self.shows(expected):
                    return
                fail(f"README.md:{self.step['line']}: exited ({self.process.returncode}) "
                     f"before printing what README shows:\n{self.output()}")
            if time.monotonic() > deadline:
                fail(f"README.md:{self.step['line']}: README's output not seen within "
                     f"{timeout:.0f} s; it printed:\n{self.output()}")
            time.sleep(0.1)

    def interrupt(self):
        """Ctrl-C, as README says; returns the exit status."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            fail(f"README.md:{self.step['line']}: still running 30 s after Ctrl-C")


def run_step(step):
    command = ["bash", "-e", "-o", "pipefail", "-c", step["text"]]
    try:
        done = subprocess.run(command, cwd=REPO, env=environment(), stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=STEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        fail(f"README.md:{step['line']}: still running after {STEP_TIMEOUT} s")
    stdout = done.stdout.decode("utf-8", "replace")
    stderr = done.stderr.decode("utf-8", "replace")
    if done.returncode != step["exit"]:
        fail(f"README.md:{step['line']}: exited {done.returncode}, not {step['exit']}\n"
             f"{step['text']}--- stdout:\n{stdout}--- stderr:\n{stderr}")
    if "expected" in step:
        got = [line.rstrip() for line in stdout.rstrip("\n").split("\n")]
        wanted = [line.rstrip() for line in step["expected"]]
        if got != wanted:
            fail(f"README.md:{step['line']}: prints something other than README shows\n"
                 f"{step['text']}--- README shows:\n" + "\n".join(wanted)
                 + "\n--- it printed:\n" + "\n".join(got) + f"\n--- stderr:\n{stderr}")
    print(f"ok   README.md:{step['line']}: {first_line(step['text'])}")


def first_line(text):
    line = text.strip().split("\n")[0]
    return line if len(line) <= 100 else line[:97] + "..."


def enter_own_network():
    """Re-runs this script in a new network namespace (as root, or in a user namespace)."""
    if os.environ.get("WALKTHROUGH_NETNS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    # Fetch outside: the namespace has no network, and `cargo run` may need crates.
    subprocess.run(["cargo", "fetch", "--quiet"], cwd=REPO, check=True)
    unshare = ["unshare", "--net"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    if subprocess.run(unshare + ["true"], capture_output=True).returncode != 0:
        fail("cannot make a network namespace (unshare --net); run as root, "
             "or where unprivileged user namespaces are allowed")
    env = dict(os.environ, WALKTHROUGH_NETNS="1")
    os.execvpe(unshare[0], unshare + [sys.executable, os.path.abspath(__file__)] + sys.argv[1:],
               env)


def root_files():
    return {name for name in os.listdir(REPO) if os.path.isfile(os.path.join(REPO, name))}


def run_walkthrough():
    with open(README) as f:
        steps = walkthrough_steps(f.read())
    enter_own_network()
    before = root_files()
    kept = {}
    for name in before:
        with open(os.path.join(REPO, name), "rb") as f:
            kept[name] = f.read()
    started = time.monotonic()
    backgrounds = []
    try:
        for step in steps:
            if step["kind"] == "file":
                with open(os.path.join(REPO, step["name"]), "w") as f:
                    f.write(step["text"])
                print(f"ok   README.md:{step['line']}: saved {step['name']}")
            elif step["kind"] == "background":
                background = Background(step)
                backgrounds.append(background)
                background.wait_for(step.get("expected", []), START_TIMEOUT)
                print(f"ok   README.md:{step['line']}: {first_line(step['text'])} "
                      f"(running after {time.monotonic() - started:.0f} s)")
            else:
                run_step(step)
        for background in backgrounds:
            status = background.interrupt()
            if status != 0:
                fail(f"README.md:{background.step['line']}: exited {status} after Ctrl-C:\n"
                     f"{background.output()}")
            print(f"ok   README.md:{background.step['line']}: stopped with Ctrl-C")
    finally:
        for background in backgrounds:
            if background.process.poll() is None:
                os.killpg(background.process.pid, signal.SIGKILL)
        for name in root_files() - before:
            os.remove(os.path.join(REPO, name))
        for name, content in kept.items():
            with open(os.path.join(REPO, name), "wb") as f:
                f.write(content)
    print(f"walkthrough: README's {len(steps)} steps ran as written "
          f"in {time.monotonic() - started:.0f} s")


# --- Kubernetes -------------------------------------------------------------------------

def kubernetes_section(text):
    match = re.search(r"^## Run it in Kubernetes\n(.*?)(?=^## )", text, re.S | re.M)
    if not match:
        fail("README.md has no '## Run it in Kubernetes' section")
    return match.group(1)


def kubectl_commands(section):
    """Every kubectl command of the section, in order: fenced lines and inline code."""
    commands = []
    for fenced, inline in re.findall(r"```[^\n]*\n(.*?)```|`([^`\n]+)`", section, re.S):
        lines = fenced.split("\n") if fenced else [inline]
        joined = "\n".join(lines).replace("\\\n", " ")
        for line in joined.split("\n"):
            line = line.split(" #")[0].strip()
            if line.startswith("kubectl "):
                commands.append(shlex.split(line))
    return commands


def load_manifests_module():
    spec = importlib.util.spec_from_file_location(
        "manifests", os.path.join(REPO, "tests", "support", "manifests.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Cluster:
    """What a cluster would refuse, for the commands README uses."""

    def __init__(self, manifests):
        self.manifests = manifests
        self.namespaces = {"default", "kube-system", "kube-public"}
        self.secrets = {}       # (namespace, name) -> set of keys
        self.deployments = {}   # (namespace, name) -> set of container names

    def run(self, argv):
        args = argv[1:]
        namespace, rest, index = "default", [], 0
        while index < len(args):
            if args[index] in ("-n", "--namespace"):
                namespace = args[index + 1]
                index += 2
            else:
                rest.append(args[index])
                index += 1
        words = [word for word in rest if not word.startswith("-")]
        flags = [word for word in rest if word.startswith("-")]
        if words[:2] == ["create", "namespace"]:
            if words[2] in self.namespaces:
                return f"namespace {words[2]} already exists"
            self.namespaces.add(words[2])
        elif words[:2] == ["create", "secret"]:
            if namespace not in self.namespaces:
                return f"namespaces \"{namespace}\" not found (create it first)"
            if words[2] == "tls":
                keys = {"tls.crt", "tls.key"}
            elif words[2] == "generic":
                keys = {flag.split("=", 1)[1].split("=", 1)[0]
                        for flag in flags if flag.startswith("--from-file=")}
            else:
                return f"kubectl create secret {words[2]}: not modelled"
            self.secrets[(namespace, words[3])] = keys
        elif words[:1] == ["apply"] and "-k" in rest:
            directory = rest[rest.index("-k") + 1]
            if namespace not in self.namespaces:
                return f"namespaces \"{namespace}\" not found (create it first)"
            return self.apply(namespace, os.path.join(REPO, directory))
        elif words[:2] == ["rollout", "status"] or words[:1] == ["logs"]:
            target = words[2] if words[0] == "rollout" else words[1]
            kind, _, name = target.partition("/")
            if kind not in ("deploy", "deployment") or (namespace, name) not in self.deployments:
                return f"{target} not found in namespace {namespace}"
            if words[0] == "logs" and "-c" in rest:
                container = rest[rest.index("-c") + 1]
                if container not in self.deployments[(namespace, name)]:
                    return f"{target} has no container {container!r}"
        else:
            return "this kubectl command is not modelled; extend walkthrough.py"
        return None

    def apply(self, namespace, directory):
        resources = self.manifests.render(directory)
        config_maps = {r["metadata"]["name"]: r for r in resources if r["kind"] == "ConfigMap"}
        for resource in resources:
            if resource["kind"] != "Deployment":
                continue
            pod = resource["spec"]["template"]["spec"]
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            containers = pod.get("containers", []) + pod.get("initContainers", [])
            for container in containers:
                for mount in container.get("volumeMounts", []):
                    volume = volumes.get(mount["name"], {})
                    if "secret" not in volume:
                        continue
                    key = (namespace, volume["secret"]["secretName"])
                    if key not in self.secrets:
                        return (f"Secret {key[1]} (mounted at {mount['mountPath']}) does not "
                                f"exist in namespace {namespace} yet; the pod cannot start")
                    for path in files_read_by_hookwall(config_maps, pod, container):
                        if path.startswith(mount["mountPath"] + "/"):
                            wanted = path[len(mount["mountPath"]) + 1:]
                            if wanted not in self.secrets[key]:
                                return (f"hookwall.toml reads {path}, but Secret {key[1]} has "
                                        f"no key {wanted!r} (it has {sorted(self.secrets[key])})")
            self.deployments[(namespace, resource["metadata"]["name"])] = {
                c["name"] for c in containers}
        return None


def files_read_by_hookwall(config_maps, pod, container):
    """The TLS and secret files the hookwall.toml mounted into `container` names."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    paths = []
    for mount in container.get("volumeMounts", []):
        config_map = volumes.get(mount["name"], {}).get("configMap", {}).get("name")
        data = config_maps.get(config_map, {}).get("data", {})
        if "hookwall.toml" not in data:
            continue
        config = tomllib.loads(data["hookwall.toml"])
        tls = config.get("server", {}).get("tls", {})
        paths += [tls[key] for key in ("cert_file", "key_file") if key in tls]
        for route in config.get("route", []):
            paths += [secret["file"] for secret in route.get("secrets", []) if "file" in secret]
    return paths


def check_kubernetes():
    with open(README) as f:
        commands = kubectl_commands(kubernetes_section(f.read()))
    if not commands:
        fail("README's Kubernetes section has no kubectl commands")
    cluster = Cluster(load_manifests_module())
    for argv in commands:
        problem = cluster.run(argv)
        if problem:
            fail(f"README's Kubernetes steps, in order: `{shlex.join(argv)}`: {problem}")
        print(f"ok   {shlex.join(argv)}")
    print(f"walkthrough: README's {len(commands)} kubectl commands run in order "
          f"against deploy/kubernetes")


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "run"
    if mode == "run":
        run_walkthrough()
    elif mode == "kubernetes":
        check_kubernetes()
    else:
        fail(f"unknown mode {mode!r}; use run or kubernetes")


if __name__ == "__main__":
    main()
