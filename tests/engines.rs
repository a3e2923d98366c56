//! Every engine a docker user has: contexts, DOCKER_HOST forms, TLS, ssh — each in front of
//! the real engine (a loopback TCP proxy by socat, a TLS proxy with certificates made here, an
//! sshd of the test's own running `docker system dial-stdio`), each checked the same way:
//! build, edit, rebuild, and the engine's own `docker run` prints the new output.

mod support;

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

use support::remote::{free_port, make_certs, proxy, require, wait_for_port, Daemon, ENGINE_SOCKET};
use support::{docker_ok, TempProject};

/// Edits the project's data, rebuilds through `env`, and checks the engine's own `docker run`
/// prints the new content; returns the build's JSON.
fn edit_rebuild_run(p: &TempProject, env: &[(&str, &OsStr)], args: &[&str], text: &str) -> serde_json::Value {
    p.write("data/b.txt", &format!("{text}\n"));
    let mut all = vec!["build", "--json"];
    all.extend_from_slice(args);
    let run = p.run_env(&all, env);
    assert_eq!(run.code, 0, "build exited {}: {}\n{}", run.code, run.stdout, run.stderr);
    let json: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("build --json");
    assert!(p.run_image().contains(text), "docker run {} does not print {text:?}", p.image);
    json
}

#[test]
fn contexts_on_a_tcp_proxy_and_a_dead_port() {
    let p = TempProject::fixture("busybox-app");
    let config = tempfile::tempdir().expect("tempdir");
    let (port, dead) = (free_port(), free_port());
    let socat = proxy("TCP-LISTEN", "", port);
    let cfg = config.path().to_str().expect("utf-8 path");
    // The contexts as the docker CLI makes them.
    docker_ok(&["--config", cfg, "context", "create", "proxied", "--docker", &format!("host=tcp://127.0.0.1:{port}")]);
    docker_ok(&["--config", cfg, "context", "create", "dead", "--docker", &format!("host=tcp://127.0.0.1:{dead}")]);
    docker_ok(&["--config", cfg, "context", "use", "proxied"]);
    let env = [("DOCKER_CONFIG", config.path().as_os_str())];

    // `docker context use proxied`: the first build, then an edit, go through the proxy.
    let first = edit_rebuild_run(&p, &env, &[], "through the current context");
    assert_eq!(first["engine"]["address"], format!("tcp://127.0.0.1:{port}"), "{first}");
    assert!(
        first["engine"]["from"].as_str().unwrap_or_default().contains("context proxied (currentContext"),
        "{first}"
    );
    let second = edit_rebuild_run(&p, &env, &[], "edited through the proxy");
    assert_eq!(second["outcome"], "succeeded", "{second}");

    // --context and DOCKER_CONTEXT name another; the dead one is an error naming it.
    let run = p.run_env(&["status", "--context", "dead"], &env);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&format!("tcp://127.0.0.1:{dead}")), "{}", run.stderr);
    assert!(run.stderr.contains("context dead (--context)"), "{}", run.stderr);
    assert!(run.stderr.contains("refused"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("start the engine"),
        "a refused remote is not a local daemon to start: {}",
        run.stderr
    );
    let run =
        p.run_env(&["status"], &[("DOCKER_CONFIG", config.path().as_os_str()), ("DOCKER_CONTEXT", OsStr::new("dead"))]);
    assert!(run.stderr.contains("context dead (DOCKER_CONTEXT)"), "{}", run.stderr);
    // DOCKER_HOST beats the current context, as for docker; -H and --context together do not go.
    let host = format!("unix://{ENGINE_SOCKET}");
    let run = p.run_env(
        &["status", "--json"],
        &[("DOCKER_CONFIG", config.path().as_os_str()), ("DOCKER_HOST", OsStr::new(&host))],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("\"from\":\"DOCKER_HOST\""), "{}", run.stdout);
    let run = p.run_env(&["status", "-H", &host, "-c", "proxied"], &env);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("conflicting options"), "{}", run.stderr);
    // An empty DOCKER_HOST is unset (the current context is used).
    let run = p.run_env(
        &["status", "--json"],
        &[("DOCKER_CONFIG", config.path().as_os_str()), ("DOCKER_HOST", OsStr::new(""))],
    );
    assert!(run.stdout.contains("context proxied"), "{}\n{}", run.stdout, run.stderr);

    // With the proxy gone, the current context's engine is unreachable: not the local socket.
    drop(socat);
    let run = p.run_env(&["status"], &env);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains(&format!("tcp://127.0.0.1:{port}")), "{}", run.stderr);
    // A bare host:port is tcp, as docker takes it.
    let run = p.run_env(&["status"], &[("DOCKER_HOST", OsStr::new(&format!("127.0.0.1:{dead}")))]);
    assert!(run.stderr.contains(&format!("tcp://127.0.0.1:{dead}, from DOCKER_HOST")), "{}", run.stderr);
}

#[test]
fn tls_is_refused_without_the_certificates_and_works_with_them() {
    let p = TempProject::fixture("busybox-app");
    let certs = tempfile::tempdir().expect("tempdir");
    make_certs(certs.path());
    let c = |f: &str| certs.path().join(f).display().to_string();
    let port = free_port();
    // The engine behind TLS that wants a client certificate signed by the CA, as dockerd
    // with --tlsverify does.
    let options = format!(",cert={},key={},cafile={},verify=1", c("server.pem"), c("server-key.pem"), c("ca.pem"));
    let _tls = proxy("OPENSSL-LISTEN", &options, port);
    let host = format!("tcp://127.0.0.1:{port}");
    let without = [("DOCKER_HOST", OsStr::new(&host))];

    // Plain text to a TLS engine: refused, with a fix that says TLS.
    let run = p.run_env(&["status"], &without);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains(&host), "{}", run.stderr);
    assert!(run.stderr.contains("DOCKER_TLS_VERIFY=1"), "{}", run.stderr);
    // TLS without the client certificate: the handshake fails, and says so.
    let empty = tempfile::tempdir().expect("tempdir");
    std::fs::copy(certs.path().join("ca.pem"), empty.path().join("ca.pem")).expect("copy ca");
    let run = p.run_env(
        &["status"],
        &[
            ("DOCKER_HOST", OsStr::new(&host)),
            ("DOCKER_TLS_VERIFY", OsStr::new("1")),
            ("DOCKER_CERT_PATH", empty.path().as_os_str()),
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains("(TLS)") && run.stderr.contains("wants a client certificate"), "{}", run.stderr);
    // A CA that did not sign the engine's certificate: not trusted.
    let other = tempfile::tempdir().expect("tempdir");
    make_certs(other.path());
    let run = p.run_env(
        &["status"],
        &[
            ("DOCKER_HOST", OsStr::new(&host)),
            ("DOCKER_TLS_VERIFY", OsStr::new("1")),
            ("DOCKER_CERT_PATH", other.path().as_os_str()),
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains("TLS handshake failed"), "{}", run.stderr);
    assert!(run.stderr.contains("not trusted"), "{}", run.stderr);

    // With them (DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, as docker takes them): build, edit, rebuild.
    let with = [
        ("DOCKER_HOST", OsStr::new(&host)),
        ("DOCKER_TLS_VERIFY", OsStr::new("1")),
        ("DOCKER_CERT_PATH", certs.path().as_os_str()),
    ];
    let first = edit_rebuild_run(&p, &with, &[], "over TLS");
    assert_eq!(first["engine"]["address"], format!("tcp://127.0.0.1:{port} (TLS)"), "{first}");
    edit_rebuild_run(&p, &with, &[], "edited over TLS");
    // The same through the flags docker takes.
    let (ca, cert, key) = (c("ca.pem"), c("cert.pem"), c("key.pem"));
    edit_rebuild_run(
        &p,
        &[],
        &["-H", &host, "--tlsverify", "--tlscacert", &ca, "--tlscert", &cert, "--tlskey", &key],
        "edited with the TLS flags",
    );
}

/// An sshd of the test's own on a loopback port, logging in root with a key made here, and an
/// `ssh` first in PATH that uses this test's config (key, known_hosts): ssh reads the user's
/// ~/.ssh from the password database, not from HOME.
struct Sshd {
    _daemon: Daemon,
    _dir: tempfile::TempDir,
    port: u16,
    path: std::ffi::OsString,
}

fn sshd() -> Option<Sshd> {
    require("ssh-keygen");
    assert!(Path::new("/usr/sbin/sshd").exists(), "openssh-server is not installed (.ci/engine.sh installs it)");
    // sshd refuses to start unless root, and logs in root here: the CI runs as root.
    if !String::from_utf8_lossy(&Command::new("id").arg("-u").output().expect("id").stdout).trim().eq("0") {
        eprintln!("skipped: the ssh test runs sshd and logs in as root; run it as root (CI does)");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let sh = |script: &str| {
        let out = Command::new("sh").arg("-ec").arg(script).current_dir(d).output().expect("sh");
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    };
    sh("ssh-keygen -q -t ed25519 -N '' -f host_key && ssh-keygen -q -t ed25519 -N '' -f user_key
        cp user_key.pub authorized_keys && chmod 600 authorized_keys");
    let port = free_port();
    let p = |f: &str| d.join(f).display().to_string();
    std::fs::write(
        d.join("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPasswordAuthentication no\n\
             PermitRootLogin prohibit-password\nStrictModes no\nPidFile {}\nUsePAM no\n",
            p("host_key"),
            p("authorized_keys"),
            p("sshd.pid")
        ),
    )
    .expect("sshd_config");
    let host_pub = std::fs::read_to_string(d.join("host_key.pub")).expect("host key");
    std::fs::write(d.join("known_hosts"), format!("[127.0.0.1]:{port} {host_pub}")).expect("known_hosts");
    std::fs::write(
        d.join("ssh_config"),
        format!(
            "Host *\n  IdentityFile {}\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  IdentitiesOnly yes\n",
            p("user_key"),
            p("known_hosts")
        ),
    )
    .expect("ssh_config");
    let bin = d.join("bin");
    std::fs::create_dir(&bin).expect("bin");
    std::fs::write(bin.join("ssh"), format!("#!/bin/sh\nexec /usr/bin/ssh -F {} \"$@\"\n", p("ssh_config")))
        .expect("ssh");
    std::fs::set_permissions(bin.join("ssh"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    std::fs::create_dir_all("/run/sshd").expect("/run/sshd (sshd's privilege separation folder)");
    let daemon = Command::new("/usr/sbin/sshd")
        .args(["-D", "-e", "-f"])
        .arg(d.join("sshd_config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("sshd.log")).expect("log"))
        .spawn()
        .expect("sshd starts");
    wait_for_port(port);
    let mut path = bin.into_os_string();
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    Some(Sshd { _daemon: Daemon(daemon), _dir: dir, port, path })
}

#[test]
fn ssh_runs_dial_stdio_and_says_why_it_cannot_log_in() {
    let Some(sshd) = sshd() else { return };
    let p = TempProject::fixture("busybox-app");
    let host = format!("ssh://root@127.0.0.1:{}", sshd.port);
    let env = [("DOCKER_HOST", OsStr::new(&host)), ("PATH", sshd.path.as_os_str())];
    let first = edit_rebuild_run(&p, &env, &[], "over ssh");
    assert_eq!(first["engine"]["address"], host, "{first}");
    edit_rebuild_run(&p, &env, &[], "edited over ssh");

    // A user the key does not log in: the error is ssh's, with a fix about keys.
    let nobody = format!("ssh://nobody@127.0.0.1:{}", sshd.port);
    let run = p.run_env(&["status"], &[("DOCKER_HOST", OsStr::new(&nobody)), ("PATH", sshd.path.as_os_str())]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains("Permission denied"), "{}", run.stderr);
    assert!(run.stderr.contains("ssh-add"), "{}", run.stderr);
}

#[test]
fn as_a_docker_cli_plugin_with_docker_s_global_flags() {
    let p = TempProject::fixture("busybox-app");
    let config = tempfile::tempdir().expect("tempdir");
    let plugins = config.path().join("cli-plugins");
    std::fs::create_dir_all(&plugins).expect("cli-plugins");
    std::fs::copy(env!("CARGO_BIN_EXE_docker-rebuilder"), plugins.join("docker-rebuilder"))
        .expect("install the plugin");
    let docker = |args: &[&str]| {
        let out = Command::new("docker")
            .arg("--config")
            .arg(config.path())
            .args(args)
            .env("XDG_CACHE_HOME", p.cache_home())
            .output()
            .expect("docker runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // docker lists it as a valid plugin, and `docker info` has nothing to say about it.
    let (_, help, _) = docker(&["--help"]);
    assert!(help.contains("rebuilder*") && help.contains("Incremental image rebuilds"), "{help}");
    let (_, info, info_err) = docker(&["info"]);
    assert!(!info.contains("Invalid Plugins") && !info_err.contains("rebuilder"), "{info}\n{info_err}");

    // `docker -H ADDRESS rebuilder build`: docker's global flag reaches us and picks the engine.
    let port = free_port();
    let _socat = proxy("TCP-LISTEN", "", port);
    let host = format!("tcp://127.0.0.1:{port}");
    let dir = p.dir.to_str().expect("utf-8 path");
    for text in ["built as a plugin", "edited, rebuilt as a plugin"] {
        p.write("data/b.txt", &format!("{text}\n"));
        let (code, out, err) = docker(&["-H", &host, "rebuilder", "build", "--json", dir]);
        assert_eq!(code, Some(0), "{out}\n{err}");
        let json: serde_json::Value = serde_json::from_str(out.trim()).expect("build --json");
        assert_eq!(json["engine"]["address"], host, "{json}");
        assert_eq!(json["engine"]["from"], "--host", "{json}");
        assert!(p.run_image().contains(text), "docker run does not print {text:?}");
    }
}
