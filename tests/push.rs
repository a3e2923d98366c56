//! `push = "REGISTRY/NAME[:TAG]"`: every image a build makes goes to a real registry (Debian's
//! docker-registry, on loopback, with htpasswd auth) with the credentials docker would use —
//! config.json's `auths` as `docker login` writes them, or a credential helper — and is pulled
//! back by its digest; without credentials the push fails with the fix, the local image made.

mod support;

use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{docker, docker_ok, TempProject};

const USER: &str = "drtest";
const PASSWORD: &str = "drtest-pass";
/// bcrypt of PASSWORD (the registry's htpasswd takes bcrypt only), made once with Python's crypt.
const HTPASSWD: &str = "drtest:$2b$12$mSYosTqlFTf/QjBxeQnpoON5QwIqjmcbcGjaK1X0z/18T2JM0zeKC";

struct Registry {
    child: Child,
    _dir: tempfile::TempDir,
    address: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn registry() -> Registry {
    assert!(
        Path::new("/usr/bin/docker-registry").exists(),
        "docker-registry is not installed (.ci/engine.sh installs Debian's)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    std::fs::write(dir.path().join("htpasswd"), format!("{HTPASSWD}\n")).expect("htpasswd");
    std::fs::write(
        dir.path().join("config.yml"),
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n\
             auth:\n  htpasswd:\n    realm: drtest\n    path: {}\n",
            dir.path().join("data").display(),
            dir.path().join("htpasswd").display()
        ),
    )
    .expect("config.yml");
    let child = Command::new("/usr/bin/docker-registry")
        .arg("serve")
        .arg(dir.path().join("config.yml"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("registry.log")).expect("log"))
        .spawn()
        .expect("docker-registry starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the registry does not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // 127.0.0.0/8 is an insecure registry for the engine by default: plain HTTP is fine.
    Registry { child, _dir: dir, address: format!("127.0.0.1:{port}") }
}

/// A docker config folder whose config.json is `json`.
fn docker_config(json: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("config.json"), json).expect("config.json");
    dir
}

fn build(p: &TempProject, config: &Path, extra_env: &[(&str, &OsStr)]) -> serde_json::Value {
    let mut env = vec![("DOCKER_CONFIG", config.as_os_str())];
    env.extend_from_slice(extra_env);
    let run = p.run_env(&["build", "--json"], &env);
    assert_eq!(run.code, 0, "build exited {}: {}\n{}", run.code, run.stdout, run.stderr);
    serde_json::from_str(run.stdout.trim()).expect("build --json")
}

/// `pushed REF@sha256:…` → the digest.
fn digest_of(json: &serde_json::Value, reference: &str) -> String {
    let push = json["push"].as_str().unwrap_or_default();
    let prefix = format!("pushed {reference}@");
    push.strip_prefix(&prefix).unwrap_or_else(|| panic!("not pushed as {reference}: {json}")).to_string()
}

/// Pulls `REF@digest` with `config`'s credentials and runs it: its output.
fn pull_and_run(config: &Path, name: &str, digest: &str) -> String {
    let by_digest = format!("{name}@{digest}");
    let cfg = config.to_str().expect("utf-8");
    let pulled = docker(&["--config", cfg, "pull", &by_digest]);
    assert!(pulled.status.success(), "docker pull {by_digest}: {}", String::from_utf8_lossy(&pulled.stderr));
    let out = docker_ok(&["run", "--rm", &by_digest]);
    let _ = docker(&["rmi", &by_digest]);
    out
}

#[test]
fn every_new_image_is_pushed_with_the_credentials_docker_uses() {
    let reg = registry();
    let p = TempProject::fixture("busybox-app");
    let name = format!("{}/{}", reg.address, p.image.split(':').next().unwrap_or("app"));
    let reference = format!("{name}:dev");
    let _untag = Untag(reference.clone());
    p.write("rebuilder.toml", &format!("push = \"{reference}\"\n"));

    // No credentials: the registry refuses; the local image is made and the fix says log in.
    let anonymous = docker_config("{}");
    p.write("data/b.txt", "not pushed\n");
    let v = build(&p, anonymous.path(), &[]);
    let push = v["push"].as_str().unwrap_or_default();
    assert!(push.starts_with("not pushed:"), "{v}");
    assert!(p.run_image().contains("not pushed"), "the local image is made");
    let run = p.run_env(&["build"], &[("DOCKER_CONFIG", anonymous.path().as_os_str())]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("docker login {}", reg.address)), "{}", run.stderr);

    // `docker login`'s auths: pushed, then an edit pushes the new image; each pulled back by digest.
    let auth = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    };
    let logged_in = docker_config(&format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, reg.address));
    let first = digest_of(&build(&p, logged_in.path(), &[]), &reference);
    assert!(pull_and_run(logged_in.path(), &name, &first).contains("not pushed"));
    p.write("data/b.txt", "pushed after an edit\n");
    let v = build(&p, logged_in.path(), &[]);
    assert_eq!(v["outcome"], "succeeded", "{v}");
    let second = digest_of(&v, &reference);
    assert_ne!(first, second);
    assert!(pull_and_run(logged_in.path(), &name, &second).contains("pushed after an edit"));
    // A later `build` with nothing new pushes the same image (a new process cannot know the
    // registry has it): the same digest.
    let again = build(&p, logged_in.path(), &[]);
    assert_eq!(digest_of(&again, &reference), second, "{again}");

    // A credential helper (`credsStore`), as docker runs it: `docker-credential-NAME get`.
    let helper_dir = tempfile::tempdir().expect("tempdir");
    let helper = helper_dir.path().join("docker-credential-drtest");
    std::fs::write(
        &helper,
        format!("#!/bin/sh\nread server\necho \"{{\\\"ServerURL\\\":\\\"$server\\\",\\\"Username\\\":\\\"{USER}\\\",\\\"Secret\\\":\\\"{PASSWORD}\\\"}}\"\n"),
    )
    .expect("helper");
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let mut path = helper_dir.path().as_os_str().to_owned();
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let with_helper = docker_config(r#"{"credsStore": "drtest"}"#);
    p.write("data/b.txt", "pushed with a credential helper\n");
    let third = digest_of(&build(&p, with_helper.path(), &[("PATH", path.as_os_str())]), &reference);
    assert!(pull_and_run(logged_in.path(), &name, &third).contains("pushed with a credential helper"));

    // The superseded images the push tag held are pruned; the tag names the last one.
    let tagged = docker_ok(&["image", "inspect", "--format", "{{.Id}}", &reference]);
    assert_eq!(tagged, p.image_id());
}

/// Removes the push reference's tag at the end, pass or fail (the project's own image goes
/// with the project).
struct Untag(String);

impl Drop for Untag {
    fn drop(&mut self) {
        let _ = docker(&["rmi", &self.0]);
    }
}
