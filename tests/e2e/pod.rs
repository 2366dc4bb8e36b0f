//! The pod of deploy/kubernetes, run as Kubernetes would run it, without Kubernetes.
//!
//! The manifests are rendered as kustomize does (tests/support/manifests.py) and the
//! Deployment's two containers are started from them: their commands and args, their
//! volumeMounts filled from the ConfigMaps of the manifests (the shipped hookwall.toml and
//! receiver.py) and from test Secrets laid out the way the kubelet writes them, their
//! security context (user, group, fsGroup, no new privileges, no capabilities, read-only root
//! filesystem). Each container gets a private mount namespace (`unshare --mount`, overlays
//! for the mount points) and both share one network namespace, as containers of a pod do.
//! The sender is in another network namespace, across a veth pair, like the rest of a
//! cluster. Needs root; set HOOKWALL_SKIP_ROOT_TESTS=1 to skip where there is none.

use crate::common::*;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SKIP_ENV: &str = "HOOKWALL_SKIP_ROOT_TESTS";
/// The pod's address and the sender's, on the veth pair between their namespaces.
const POD_IP: &str = "10.213.0.1";
const SENDER_IP: &str = "10.213.0.2";
/// Bounds every wait (a container starting, a delivery arriving, a reload).
const PATIENCE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);
const VISMA_KEY: &str = "pod-test-visma-key";

/// True when root; otherwise skips (with HOOKWALL_SKIP_ROOT_TESTS=1) or fails.
fn root_or_skip(test: &str) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let uid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .unwrap();
    if uid == "0" {
        return true;
    }
    if std::env::var(SKIP_ENV).as_deref() == Ok("1") {
        // Straight to stderr, past the test harness's capture, so the skip is always seen.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "{test}: SKIPPED: needs root, and {SKIP_ENV}=1"
        );
        return false;
    }
    panic!(
        "{test} needs root (network namespaces, mounts, switching users); run it as root, \
         or set {SKIP_ENV}=1 to skip it"
    );
}

/// Runs a short command to completion; panics with its output if it fails.
fn run(program: &str, args: &[&str]) -> std::process::Output {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("{program} {args:?}: {err}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The pod's and the sender's network namespaces and the veth pair between them; deleted
/// on drop, whatever happened.
struct Network {
    pod: String,
    sender: String,
}

impl Network {
    fn create() -> Network {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let unique = format!(
            "{}x{}",
            std::process::id() % 1_000_000,
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let network = Network {
            pod: format!("hookwall-pod-{unique}"),
            sender: format!("hookwall-sender-{unique}"),
        };
        let (pod_end, sender_end) = (format!("hwp{unique}"), format!("hws{unique}"));
        run("ip", &["netns", "add", &network.pod]);
        run("ip", &["netns", "add", &network.sender]);
        run(
            "ip",
            &[
                "link",
                "add",
                &pod_end,
                "netns",
                &network.pod,
                "type",
                "veth",
                "peer",
                "name",
                &sender_end,
                "netns",
                &network.sender,
            ],
        );
        for (ns, end, ip) in [
            (&network.pod, &pod_end, POD_IP),
            (&network.sender, &sender_end, SENDER_IP),
        ] {
            run(
                "ip",
                &["-n", ns, "addr", "add", &format!("{ip}/30"), "dev", end],
            );
            run("ip", &["-n", ns, "link", "set", end, "up"]);
            run("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        network
    }

    /// A command run in `namespace` (one of ours).
    fn exec(namespace: &str, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", namespace, program]);
        command
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and so the pair.
        for ns in [&self.pod, &self.sender] {
            let _ = std::process::Command::new("ip")
                .args(["netns", "delete", ns])
                .output();
        }
    }
}

/// The rendered manifests of one variant (a directory under deploy/kubernetes).
struct Manifests {
    resources: Vec<Value>,
}

impl Manifests {
    fn render(variant: &str) -> Manifests {
        let output = std::process::Command::new("python3")
            .arg(repo_path("tests/support/manifests.py"))
            .arg("render")
            .arg(repo_path(&format!("deploy/kubernetes/{variant}")))
            .output()
            .expect("python3 runs");
        assert!(output.status.success(), "{output:?}");
        Manifests {
            resources: serde_json::from_slice(&output.stdout).unwrap(),
        }
    }

    fn find(&self, kind: &str, name: &str) -> &Value {
        self.resources
            .iter()
            .find(|r| r["kind"] == kind && r["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in the manifests"))
    }

    fn pod_spec(&self) -> &Value {
        let deployment = self
            .resources
            .iter()
            .find(|r| r["kind"] == "Deployment")
            .expect("a Deployment");
        &deployment["spec"]["template"]["spec"]
    }

    /// A container by name, whether a regular one or a native sidecar.
    fn container(&self, name: &str) -> &Value {
        let spec = self.pod_spec();
        ["containers", "initContainers"]
            .iter()
            .filter_map(|list| spec[*list].as_array())
            .flatten()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no container {name}"))
    }

    fn config_map_data(&self, name: &str) -> Vec<(String, Vec<u8>)> {
        self.find("ConfigMap", name)["data"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(key, value)| (key.clone(), value.as_str().unwrap().as_bytes().to_vec()))
            .collect()
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A volume in the kubelet's layout: the files in a `..<generation>` directory, `..data` a
/// symlink to it, each key a symlink through `..data`. Updates swap `..data` atomically, as
/// the kubelet does for a changed Secret (which is why hookwall polls by content).
struct Volume {
    dir: PathBuf,
    generation: u32,
    mode: u32,
    group: Option<u32>,
}

impl Volume {
    fn create(dir: PathBuf, files: &[(String, Vec<u8>)], mode: u32, group: Option<u32>) -> Volume {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut volume = Volume {
            dir,
            generation: 0,
            mode,
            group,
        };
        volume.update(files);
        volume
    }

    fn update(&mut self, files: &[(String, Vec<u8>)]) {
        self.generation += 1;
        let data = format!("..{}", self.generation);
        let data_dir = self.dir.join(&data);
        std::fs::create_dir(&data_dir).unwrap();
        std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        for (key, content) in files {
            let file = data_dir.join(key);
            std::fs::write(&file, content).unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(self.mode)).unwrap();
            std::os::unix::fs::chown(&file, Some(0), self.group).unwrap();
        }
        let staged = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&data, &staged).unwrap();
        std::fs::rename(&staged, self.dir.join("..data")).unwrap();
        for (key, _) in files {
            let link = self.dir.join(key);
            if link.symlink_metadata().is_err() {
                std::os::unix::fs::symlink(format!("..data/{key}"), &link).unwrap();
            }
        }
        if self.generation > 1 {
            let _ = std::fs::remove_dir_all(self.dir.join(format!("..{}", self.generation - 1)));
        }
    }
}

/// A running container: its process and everything it printed.
struct Container {
    name: String,
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
}

impl Container {
    fn lines(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }

    /// Its JSON log lines (both containers log JSON).
    fn log(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// The process runs as the pod's user, with fsGroup as a supplementary group, no
    /// capabilities and no way to gain privileges (what the securityContext asks for).
    fn assert_confined(&self, uid: u32, fs_group: Option<u32>) {
        let pid = self.child.id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in {status}"))
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            field("Uid:"),
            format!("{uid} {uid} {uid} {uid}"),
            "{}",
            self.name
        );
        if let Some(group) = fs_group {
            assert!(
                field("Groups:").split(' ').any(|g| g == group.to_string()),
                "{}: {status}",
                self.name
            );
        }
        assert_eq!(field("NoNewPrivs:"), "1", "{}", self.name);
        for set in ["CapEff:", "CapPrm:", "CapBnd:"] {
            assert_eq!(field(set), "0000000000000000", "{} {set}", self.name);
        }
        // readOnlyRootFilesystem: "/" is mounted read-only in its mount namespace.
        let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
        let root_options = mounts
            .lines()
            .map(|line| line.split(' ').collect::<Vec<_>>())
            .rfind(|fields| fields[4] == "/")
            .map(|fields| fields[5].to_string())
            .unwrap();
        assert!(
            root_options.split(',').any(|o| o == "ro"),
            "{}: / is mounted {root_options}",
            self.name
        );
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "container {} exited ({status}):\n{}",
                self.name,
                self.lines().join("\n")
            );
        }
    }
}

/// What the containers of a pod share: the manifests they come from, their volumes, the
/// network namespace (and the sender's), the serving certificate, a scratch directory.
struct Sandbox {
    manifests: Manifests,
    volumes: HashMap<String, Volume>,
    network: Network,
    tls: TestCert,
    dir: tempfile::TempDir,
}

/// The running pod. Its containers are killed before the sandbox (and so the network) goes
/// away: fields drop in order.
struct Pod {
    app: Container,
    hookwall: Container,
    sandbox: Sandbox,
}

impl Pod {
    /// Starts the pod of `variant` with the Visma key `secret` in its Secret, and waits
    /// until both containers pass their readiness probes.
    async fn start(variant: &str, secret: &str) -> Pod {
        let manifests = Manifests::render(variant);
        let network = Network::create();
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let spec = manifests.pod_spec().clone();
        let security = &spec["securityContext"];
        let fs_group = security["fsGroup"].as_u64().map(|g| g as u32);
        let uid = security["runAsUser"].as_u64().expect("runAsUser") as u32;

        // The Secrets the cluster owner creates (deploy/kubernetes/secret.example.yaml).
        let tls = test_cert();
        let secrets: HashMap<&str, Vec<(String, Vec<u8>)>> = HashMap::from([
            (
                "visma-webhook",
                vec![(
                    "signature-key".to_string(),
                    format!("{secret}\n").into_bytes(),
                )],
            ),
            (
                "hookwall-tls",
                vec![
                    ("tls.crt".to_string(), tls.cert_pem.clone().into_bytes()),
                    ("tls.key".to_string(), tls.key_pem.clone().into_bytes()),
                ],
            ),
        ]);
        let mut volumes = HashMap::new();
        for volume in spec["volumes"].as_array().unwrap() {
            let name = volume["name"].as_str().unwrap().to_string();
            let path = dir.path().join("volumes").join(&name);
            let volume = if let Some(config_map) = volume.get("configMap") {
                let data = manifests.config_map_data(config_map["name"].as_str().unwrap());
                let mode = config_map["defaultMode"].as_u64().unwrap_or(0o644) as u32;
                Volume::create(path, &data, mode, None)
            } else if let Some(secret) = volume.get("secret") {
                let name = secret["secretName"].as_str().unwrap();
                let data = secrets
                    .get(name)
                    .unwrap_or_else(|| panic!("no Secret {name}"));
                let mode = secret["defaultMode"].as_u64().unwrap_or(0o644) as u32;
                Volume::create(path, data, mode, fs_group)
            } else if volume.get("emptyDir").is_some() {
                std::fs::create_dir_all(&path).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
                Volume {
                    dir: path,
                    generation: 0,
                    mode: 0,
                    group: None,
                }
            } else {
                panic!("volume kind not emulated: {volume}");
            };
            volumes.insert(name, volume);
        }

        // The image's entrypoint: the hookwall binary, where the pod's user can run it.
        let image = dir.path().join("image");
        std::fs::create_dir(&image).unwrap();
        std::fs::set_permissions(&image, std::fs::Permissions::from_mode(0o755)).unwrap();
        let entrypoint = image.join("hookwall");
        std::fs::copy(env!("CARGO_BIN_EXE_hookwall"), &entrypoint).unwrap();

        let sandbox = Sandbox {
            manifests,
            volumes,
            network,
            tls,
            dir,
        };
        let app_spec = sandbox.manifests.container("app").clone();
        let hookwall_spec = sandbox.manifests.container("hookwall").clone();
        assert!(
            hookwall_spec.get("command").is_none(),
            "hookwall runs its image's entrypoint"
        );
        let mut hookwall_argv = vec![entrypoint.display().to_string()];
        hookwall_argv.extend(strings(&hookwall_spec["args"]));
        let app_argv = [strings(&app_spec["command"]), strings(&app_spec["args"])].concat();
        let mut pod = Pod {
            hookwall: sandbox.spawn(&hookwall_spec, &hookwall_argv, "hookwall"),
            app: sandbox.spawn(&app_spec, &app_argv, "app"),
            sandbox,
        };
        pod.wait_until_ready(&hookwall_spec, &app_spec).await;
        for container in [&pod.hookwall, &pod.app] {
            container.assert_confined(uid, fs_group);
        }
        pod
    }
}

impl Sandbox {
    /// Starts `argv` as container `spec` of this pod: in the pod's network namespace, in a
    /// mount namespace of its own where each volumeMount is in place, as the pod's user.
    fn spawn(&self, spec: &Value, argv: &[String], name: &str) -> Container {
        let mut command = self.container_command(spec, argv, name);
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("ip netns exec runs");
        let output = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for stream in [
            Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(stderr),
        ] {
            let output = Arc::clone(&output);
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    output.lock().unwrap().push(line);
                }
            });
        }
        Container {
            name: name.to_string(),
            child,
            output,
        }
    }

    fn container_command(&self, spec: &Value, argv: &[String], name: &str) -> Command {
        let pod_security = &self.manifests.pod_spec()["securityContext"];
        let security = &spec["securityContext"];
        let setting = |key: &str| {
            security
                .get(key)
                .or_else(|| pod_security.get(key))
                .cloned()
                .unwrap_or(Value::Null)
        };
        let uid = setting("runAsUser").as_u64().expect("runAsUser is set");
        let gid = setting("runAsGroup").as_u64().unwrap_or(uid);
        let fs_group = pod_security["fsGroup"].as_u64().unwrap_or(gid);
        assert_eq!(pod_security["runAsNonRoot"], true);
        assert_ne!(uid, 0, "runAsNonRoot");

        let scratch = self.dir.path().join("scratch").join(name);
        std::fs::create_dir_all(&scratch).unwrap();
        let mounts: Vec<&Value> = spec["volumeMounts"]
            .as_array()
            .map(|m| m.iter().collect())
            .unwrap_or_default();
        let tops: BTreeSet<String> = mounts
            .iter()
            .map(|m| {
                let path = m["mountPath"].as_str().unwrap();
                format!(
                    "/{}",
                    path.trim_start_matches('/').split('/').next().unwrap()
                )
            })
            .collect();
        let q = |text: &str| format!("'{}'", text.replace('\'', r"'\''"));
        let mut script = vec![
            "set -eu".to_string(),
            format!(
                "mount -t tmpfs -o mode=0755 scratch {}",
                q(&scratch.display().to_string())
            ),
        ];
        // Mount points are made in an overlay of their top directory, private to this
        // container, so nothing is created on the machine itself.
        for (index, top) in tops.iter().enumerate() {
            let upper = scratch.join(format!("{index}/upper"));
            let work = scratch.join(format!("{index}/work"));
            script.push(format!(
                "mkdir -p {0} {1} && mount -t overlay overlay -o lowerdir={2},upperdir={0},workdir={1} {2}",
                q(&upper.display().to_string()),
                q(&work.display().to_string()),
                q(top)
            ));
        }
        for mount in &mounts {
            let target = mount["mountPath"].as_str().unwrap();
            let source = &self.volumes[mount["name"].as_str().unwrap()].dir;
            assert!(mount.get("subPath").is_none(), "subPath is not emulated");
            script.push(format!(
                "mkdir -p {0} && mount --bind {1} {0}",
                q(target),
                q(&source.display().to_string())
            ));
            if mount["readOnly"] == true {
                script.push(format!("mount -o remount,bind,ro {}", q(target)));
            }
        }
        if security["readOnlyRootFilesystem"] == true {
            script.push("mount -o remount,bind,ro /".to_string());
            for top in &tops {
                script.push(format!("mount -o remount,bind,ro {}", q(top)));
            }
        }
        let mut setpriv =
            format!("exec setpriv --reuid={uid} --regid={gid} --groups={fs_group} --inh-caps=-all");
        if security["allowPrivilegeEscalation"] == false {
            setpriv.push_str(" --no-new-privs");
        }
        if security["capabilities"]["drop"] == serde_json::json!(["ALL"]) {
            setpriv.push_str(" --bounding-set=-all");
        }
        // The image's environment (python:3.12-slim puts python3 on this PATH) and the
        // container's own.
        setpriv.push_str(" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/nonexistent");
        for variable in spec["env"].as_array().into_iter().flatten() {
            setpriv.push_str(&format!(
                " {}",
                q(&format!(
                    "{}={}",
                    variable["name"].as_str().unwrap(),
                    variable["value"].as_str().unwrap()
                ))
            ));
        }
        for arg in argv {
            setpriv.push_str(&format!(" {}", q(arg)));
        }
        script.push(setpriv);

        let mut command = Network::exec(&self.network.pod, "unshare");
        command
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(script.join("\n"));
        command
    }

    fn container_port(&self, name: &str) -> u64 {
        self.manifests.container("hookwall")["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["containerPort"]
            .as_u64()
            .unwrap()
    }

    /// curl's exit code for a GET of `url` from `namespace` (0 when something answered).
    async fn curl_exit_code(&self, namespace: &str, url: &str) -> i32 {
        let output = Network::exec(namespace, "curl")
            .args([
                "--silent",
                "--connect-timeout",
                "3",
                "--max-time",
                "5",
                "-o",
            ])
            .arg("/dev/null")
            .arg(url)
            .output()
            .await
            .unwrap();
        output.status.code().unwrap_or(-1)
    }
}

impl Pod {
    /// Runs the kubelet's probes until they pass: httpGet on the pod's address for
    /// hookwall, the exec probe inside the app's container.
    async fn wait_until_ready(&mut self, hookwall: &Value, app: &Value) {
        let readiness = &hookwall["readinessProbe"]["httpGet"];
        let port = match &readiness["port"] {
            Value::String(name) => hookwall["ports"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == *name)
                .unwrap()["containerPort"]
                .as_u64()
                .unwrap(),
            number => number.as_u64().unwrap(),
        };
        let url = format!(
            "http://{POD_IP}:{port}{}",
            readiness["path"].as_str().unwrap()
        );
        let probe = strings(&app["readinessProbe"]["exec"]["command"]);
        let deadline = Instant::now() + PATIENCE;
        let mut hookwall_ready = false;
        let mut app_ready = false;
        while !(hookwall_ready && app_ready) {
            self.hookwall.assert_running();
            self.app.assert_running();
            assert!(
                Instant::now() < deadline,
                "pod not ready within {PATIENCE:?} (hookwall {hookwall_ready}, app {app_ready})\n\
                 hookwall:\n{}\napp:\n{}",
                self.hookwall.lines().join("\n"),
                self.app.lines().join("\n")
            );
            if !hookwall_ready {
                let output = Network::exec(&self.sandbox.network.pod, "curl")
                    .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &url])
                    .output()
                    .await
                    .unwrap();
                hookwall_ready = output.stdout == b"200";
            }
            if !app_ready {
                let status = self
                    .sandbox
                    .container_command(app, &probe, "app-probe")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .await
                    .unwrap();
                app_ready = status.success();
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// POSTs `body` to hookwall from the sender's namespace, over the veth pair, with a
    /// Visma signature made with `key`; returns curl's HTTP status.
    async fn deliver(&self, body: &str, key: &str) -> u16 {
        let id = rand_hex();
        let body_file = self.sandbox.dir.path().join(format!("body-{id}.json"));
        let ca_file = self.sandbox.dir.path().join("ca.pem");
        std::fs::write(&body_file, body).unwrap();
        std::fs::write(&ca_file, &self.sandbox.tls.cert_pem).unwrap();
        let port = self.sandbox.container_port("https");
        let output = Network::exec(&self.sandbox.network.sender, "curl")
            .args(["--silent", "--show-error", "--max-time", "10"])
            .arg("--resolve")
            .arg(format!("localhost:{port}:{POD_IP}"))
            .arg("--cacert")
            .arg(&ca_file)
            .args(["-o", "/dev/null", "-w", "%{http_code}"])
            .args(["-H", "content-type: application/json"])
            .arg("-H")
            .arg(format!(
                "x-vwd-signature-v1: {}",
                visma_signature(key, body.as_bytes())
            ))
            .arg("--data-binary")
            .arg(format!("@{}", body_file.display()))
            .arg(format!("https://localhost:{port}/webhooks/visma"))
            .output()
            .await
            .unwrap();
        String::from_utf8_lossy(&output.stdout)
            .parse()
            .unwrap_or_else(|_| panic!("curl from the sender namespace: {output:?}"))
    }

    /// The deliveries the app logged, as their payloads.
    fn received(&self) -> Vec<Value> {
        self.app
            .log()
            .into_iter()
            .filter(|line| line["msg"] == "delivery received")
            .map(|line| line["payload"].clone())
            .collect()
    }

    /// Waits until the app has logged a delivery whose payload has `marker` as "id".
    async fn wait_for_delivery(&mut self, marker: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.received().iter().any(|p| p["id"] == marker) {
            self.app.assert_running();
            assert!(
                Instant::now() < deadline,
                "delivery {marker} not in the app's log within {PATIENCE:?}:\n{}\nhookwall:\n{}",
                self.app.lines().join("\n"),
                self.hookwall.lines().join("\n")
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// hookwall's /metrics, read from inside the pod's network namespace.
    async fn metrics(&self) -> String {
        let port = self.sandbox.container_port("admin");
        let output = Network::exec(&self.sandbox.network.pod, "curl")
            .args(["--silent", "--show-error", "--max-time", "5"])
            .arg(format!("http://127.0.0.1:{port}/metrics"))
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    }
}

fn rand_hex() -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    hex::encode(bytes)
}

/// A Visma-like notification body with a unique id to find it in the app's log.
fn notification(id: &str) -> String {
    format!(r#"{{"id":"{id}","event":"CustomerChanged","tenantId":"1234567","entityId":"10001"}}"#)
}

#[tokio::test]
async fn signed_delivery_from_another_namespace_reaches_the_app() {
    if !root_or_skip("signed_delivery_from_another_namespace_reaches_the_app") {
        return;
    }
    let mut pod = Pod::start(".", VISMA_KEY).await;
    let id = format!("genuine-{}", rand_hex());
    assert_eq!(pod.deliver(&notification(&id), VISMA_KEY).await, 200);
    pod.wait_for_delivery(&id).await;
    let received = pod.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["tenantId"], "1234567");
    // The route name from the shipped hookwall.toml labels the metrics.
    let metrics = pod.metrics().await;
    assert_eq!(
        metric_value(
            &metrics,
            "hookwall_requests_total{outcome=\"forwarded\",route=\"visma\"}"
        ),
        1.0
    );
}

#[tokio::test]
async fn forged_delivery_gets_401_and_never_reaches_the_app() {
    if !root_or_skip("forged_delivery_gets_401_and_never_reaches_the_app") {
        return;
    }
    let mut pod = Pod::start(".", VISMA_KEY).await;
    let forged = format!("forged-{}", rand_hex());
    assert_eq!(
        pod.deliver(&notification(&forged), "an-attackers-guess")
            .await,
        401
    );
    // A genuine delivery after it: once it is in the app's log, the forged one would be too.
    let genuine = format!("genuine-{}", rand_hex());
    assert_eq!(pod.deliver(&notification(&genuine), VISMA_KEY).await, 200);
    pod.wait_for_delivery(&genuine).await;
    let received = pod.received();
    assert!(
        !received.iter().any(|p| p["id"] == forged.as_str()),
        "the forged delivery reached the app: {received:?}"
    );
    assert_eq!(received.len(), 1, "{received:?}");
    let metrics = pod.metrics().await;
    assert_eq!(
        metric_value(
            &metrics,
            "hookwall_requests_total{outcome=\"bad_signature\",route=\"visma\"}"
        ),
        1.0
    );
}

#[tokio::test]
async fn the_app_is_reachable_only_through_hookwall() {
    if !root_or_skip("the_app_is_reachable_only_through_hookwall") {
        return;
    }
    let pod = Pod::start(".", VISMA_KEY).await;
    let app = format!("http://{POD_IP}:8080/healthz");
    // curl exit code 7: could not connect. Nothing listens on the pod's address at 8080.
    assert_eq!(
        pod.sandbox
            .curl_exit_code(&pod.sandbox.network.sender, &app)
            .await,
        7
    );
    assert_eq!(
        pod.sandbox
            .curl_exit_code(&pod.sandbox.network.pod, &app)
            .await,
        7
    );
    // The app is there, on the pod's loopback, where hookwall forwards to.
    assert_eq!(
        pod.sandbox
            .curl_exit_code(&pod.sandbox.network.pod, "http://127.0.0.1:8080/healthz")
            .await,
        0
    );
    // And hookwall's TLS port is what the sender can reach.
    let id = format!("genuine-{}", rand_hex());
    assert_eq!(pod.deliver(&notification(&id), VISMA_KEY).await, 200);
}

#[tokio::test]
async fn a_rotated_secret_takes_effect_without_a_restart() {
    if !root_or_skip("a_rotated_secret_takes_effect_without_a_restart") {
        return;
    }
    let mut pod = Pod::start(".", VISMA_KEY).await;
    let before = format!("before-{}", rand_hex());
    assert_eq!(pod.deliver(&notification(&before), VISMA_KEY).await, 200);

    // The kubelet updates the mounted Secret by swapping its ..data symlink.
    let rotated = "pod-test-visma-key-rotated";
    let volume = pod.sandbox.manifests.pod_spec()["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["secret"]["secretName"] == "visma-webhook")
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    pod.sandbox.volumes.get_mut(&volume).unwrap().update(&[(
        "signature-key".to_string(),
        format!("{rotated}\n").into_bytes(),
    )]);

    // Within reload_interval (5s in the shipped config) the new key verifies...
    let deadline = Instant::now() + PATIENCE;
    let after = loop {
        let id = format!("after-{}", rand_hex());
        match pod.deliver(&notification(&id), rotated).await {
            200 => break id,
            401 if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            status => panic!(
                "the rotated key got {status}\n{}",
                pod.hookwall.lines().join("\n")
            ),
        }
    };
    pod.wait_for_delivery(&after).await;
    // ...and the old one no longer does, without hookwall having restarted.
    let stale = format!("stale-{}", rand_hex());
    assert_eq!(pod.deliver(&notification(&stale), VISMA_KEY).await, 401);
    pod.hookwall.assert_running();
    assert!(
        pod.hookwall
            .log()
            .iter()
            .any(|line| line["message"] == "secrets reloaded" && line["kind"] == "secrets"),
        "{}",
        pod.hookwall.lines().join("\n")
    );
    assert!(!pod.received().iter().any(|p| p["id"] == stale.as_str()));
}

#[tokio::test]
async fn unix_socket_variant_delivers_and_refuses_forgeries() {
    if !root_or_skip("unix_socket_variant_delivers_and_refuses_forgeries") {
        return;
    }
    let mut pod = Pod::start("unix-socket", VISMA_KEY).await;
    let forged = format!("forged-{}", rand_hex());
    assert_eq!(pod.deliver(&notification(&forged), "guess").await, 401);
    let genuine = format!("genuine-{}", rand_hex());
    assert_eq!(pod.deliver(&notification(&genuine), VISMA_KEY).await, 200);
    pod.wait_for_delivery(&genuine).await;
    let received = pod.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["id"], genuine.as_str());
    // The app has no TCP port at all, not even on the pod's loopback.
    assert_eq!(
        pod.sandbox
            .curl_exit_code(&pod.sandbox.network.pod, "http://127.0.0.1:8080/healthz")
            .await,
        7
    );
}

#[tokio::test]
async fn native_sidecar_variant_delivers_and_refuses_forgeries() {
    if !root_or_skip("native_sidecar_variant_delivers_and_refuses_forgeries") {
        return;
    }
    let mut pod = Pod::start("native-sidecar", VISMA_KEY).await;
    assert_eq!(
        pod.sandbox.manifests.container("hookwall")["restartPolicy"],
        "Always"
    );
    let forged = format!("forged-{}", rand_hex());
    assert_eq!(pod.deliver(&notification(&forged), "guess").await, 401);
    let genuine = format!("genuine-{}", rand_hex());
    assert_eq!(pod.deliver(&notification(&genuine), VISMA_KEY).await, 200);
    pod.wait_for_delivery(&genuine).await;
    let received = pod.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["id"], genuine.as_str());
}
