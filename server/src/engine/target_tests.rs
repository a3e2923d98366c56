use super::*;

fn env() -> EnvVars {
    EnvVars { home: Some(PathBuf::from("/nonexistent-home")), ..EnvVars::default() }
}

/// A docker config folder with these contexts (name, Host, SkipTLSVerify, TLS files) and
/// this currentContext.
fn store(contexts: &[(&str, &str, bool, &[&str])], current: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, host, skip, files) in contexts {
        let meta = dir.path().join("contexts/meta").join(store_id(name));
        std::fs::create_dir_all(&meta).expect("meta dir");
        let json = serde_json::json!({"Name": name, "Metadata": {},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip}}});
        std::fs::write(meta.join("meta.json"), json.to_string()).expect("meta.json");
        let tls = dir.path().join("contexts/tls").join(store_id(name)).join("docker");
        std::fs::create_dir_all(&tls).expect("tls dir");
        for f in *files {
            std::fs::write(tls.join(f), "pem").expect("tls file");
        }
    }
    if let Some(c) = current {
        std::fs::write(dir.path().join("config.json"), format!(r#"{{"auths": {{}}, "currentContext": "{c}"}}"#))
            .expect("config.json");
    }
    dir
}

fn with_config(dir: &tempfile::TempDir) -> EnvVars {
    EnvVars { docker_config: Some(dir.path().to_path_buf()), ..env() }
}

#[test]
fn the_store_id_is_the_sha256_of_the_name() {
    // `docker context create remote` makes contexts/meta/<this>/ (`printf remote | sha256sum`).
    assert_eq!(store_id("remote"), "b71199ebd070b36beab7317920c2c2f1d777df8d05e5527d8458fda57cb17a7a");
    assert_eq!(store_id("default").len(), 64);
    assert_ne!(store_id("a"), store_id("b"));
}

#[test]
fn nothing_set_is_the_default_socket() {
    let t = resolve(&EngineFlags::default(), &env()).expect("resolves");
    assert_eq!(t.address, Address::Unix(DEFAULT_SOCKET.into()));
    assert_eq!(t.source, EngineSource::Default);
}

#[test]
fn docker_host_forms_as_docker_takes_them() {
    let at = |h: &str| parse_address(h, None);
    assert_eq!(at("unix:///run/user/1000/docker.sock"), Ok(Address::Unix("/run/user/1000/docker.sock".into())));
    assert_eq!(at("unix://"), Ok(Address::Unix(DEFAULT_SOCKET.into())));
    let tcp = |a: &str, h: &str| Address::Tcp { authority: a.into(), host: h.into(), tls: None };
    assert_eq!(at("tcp://10.0.0.2:2376"), Ok(tcp("10.0.0.2:2376", "10.0.0.2")));
    assert_eq!(at("tcp://engine"), Ok(tcp("engine:2375", "engine")));
    assert_eq!(at("http://[::1]:2375/"), Ok(tcp("[::1]:2375", "::1")));
    assert_eq!(at("tcp://[::1]"), Ok(tcp("[::1]:2375", "::1")));
    // A bare host:port is tcp, as docker's ParseHost makes it.
    assert_eq!(at("127.0.0.1:2375"), Ok(tcp("127.0.0.1:2375", "127.0.0.1")));
    assert_eq!(at("tcp://:2375"), Ok(tcp("localhost:2375", "localhost")));
    // https:// is TLS, on 2376 by default.
    assert!(
        matches!(at("https://engine"), Ok(Address::Tcp { ref authority, tls: Some(_), .. }) if authority == "engine:2376")
    );
    assert_eq!(
        at("ssh://me@box:2222"),
        Ok(Address::Ssh { user: Some("me".into()), host: "box".into(), port: Some(2222), socket: None })
    );
    assert_eq!(
        at("ssh://box/run/docker.sock"),
        Ok(Address::Ssh { user: None, host: "box".into(), port: None, socket: Some("/run/docker.sock".into()) })
    );
    assert!(at("tcp://engine:port").is_err());
    assert!(at("ftp://engine").is_err());
    assert!(at("ssh://").is_err());
}

#[test]
fn the_host_flag_beats_docker_host_and_contexts() {
    let dir = store(&[("remote", "tcp://remote:2375", false, &[])], Some("remote"));
    let env = EnvVars { docker_host: Some("tcp://fromenv:2375".into()), ..with_config(&dir) };
    let flags = EngineFlags { host: Some("unix:///flag.sock".into()), ..EngineFlags::default() };
    let t = resolve(&flags, &env).expect("resolves");
    assert_eq!((t.address, t.source), (Address::Unix("/flag.sock".into()), EngineSource::HostFlag));
    // DOCKER_HOST beats DOCKER_CONTEXT and the current context.
    let env = EnvVars { docker_context: Some("remote".into()), ..env };
    let t = resolve(&EngineFlags::default(), &env).expect("resolves");
    assert_eq!(t.source, EngineSource::HostEnv);
    assert!(t.to_string().contains("tcp://fromenv:2375, from DOCKER_HOST"), "{t}");
}

#[test]
fn host_and_context_flags_together_are_refused() {
    let flags = EngineFlags { host: Some("tcp://a:1".into()), context: Some("b".into()), ..EngineFlags::default() };
    let e = resolve(&flags, &env()).expect_err("conflict");
    assert!(e.cause.contains("conflicting options"), "{}", e.cause);
}

#[test]
fn contexts_come_from_the_flag_the_env_or_the_config() {
    let dir = store(&[("one", "tcp://one:2375", false, &[]), ("two", "unix:///two.sock", false, &[])], Some("two"));
    let base = with_config(&dir);
    let t = resolve(&EngineFlags::default(), &base).expect("current context");
    assert_eq!(t.address, Address::Unix("/two.sock".into()));
    assert!(
        matches!(t.source, EngineSource::Context { ref name, named_by: ContextNamedBy::Config(_) } if name == "two")
    );
    let t = resolve(&EngineFlags::default(), &EnvVars { docker_context: Some("one".into()), ..base.clone() })
        .expect("env context");
    assert_eq!(t.source, EngineSource::Context { name: "one".into(), named_by: ContextNamedBy::Env });
    let flags = EngineFlags { context: Some("one".into()), ..EngineFlags::default() };
    let t = resolve(&flags, &base).expect("flag context");
    assert_eq!(t.source, EngineSource::Context { name: "one".into(), named_by: ContextNamedBy::Flag });
    // `default` is the environment's engine, whatever names it.
    let flags = EngineFlags { context: Some("default".into()), ..EngineFlags::default() };
    assert_eq!(resolve(&flags, &base).expect("default").source, EngineSource::Default);
    // --config names the folder too.
    let flags = EngineFlags { config: Some(dir.path().to_path_buf()), ..EngineFlags::default() };
    assert_eq!(resolve(&flags, &env()).expect("--config").address, Address::Unix("/two.sock".into()));
}

#[test]
fn an_unknown_context_says_how_to_list_them() {
    let dir = store(&[], Some("gone"));
    let e = resolve(&EngineFlags::default(), &with_config(&dir)).expect_err("no such context");
    assert!(e.cause.contains("no docker context named \"gone\""), "{}", e.cause);
    assert!(e.cause.contains("currentContext"), "{}", e.cause);
    assert!(e.fix.contains("docker context ls"), "{}", e.fix);
}

#[test]
fn a_context_with_tls_material_speaks_tls() {
    let dir = store(
        &[("secure", "tcp://engine:2376", false, &["ca.pem", "cert.pem", "key.pem"]), ("skip", "tcp://e", true, &[])],
        None,
    );
    let flags = EngineFlags { context: Some("secure".into()), ..EngineFlags::default() };
    let t = resolve(&flags, &with_config(&dir)).expect("resolves");
    let Address::Tcp { tls: Some(tls), authority, .. } = t.address else { panic!("not TLS: {:?}", t.address) };
    assert_eq!(authority, "engine:2376");
    assert!(tls.ca.is_some() && tls.cert.is_some() && tls.key.is_some() && !tls.skip_verify);
    let flags = EngineFlags { context: Some("skip".into()), ..EngineFlags::default() };
    let t = resolve(&flags, &with_config(&dir)).expect("resolves");
    assert!(matches!(t.address, Address::Tcp { tls: Some(TlsFiles { skip_verify: true, .. }), .. }));
}

#[test]
fn docker_tls_verify_uses_the_cert_path() {
    let certs = tempfile::tempdir().expect("tempdir");
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::write(certs.path().join(f), "pem").expect("write");
    }
    let env = EnvVars {
        docker_host: Some("tcp://engine:2376".into()),
        tls_verify: true,
        cert_path: Some(certs.path().to_path_buf()),
        ..env()
    };
    let t = resolve(&EngineFlags::default(), &env).expect("resolves");
    let Address::Tcp { tls: Some(tls), .. } = t.address else { panic!("not TLS") };
    assert_eq!(tls.ca, Some(certs.path().join("ca.pem")));
    assert_eq!(tls.key, Some(certs.path().join("key.pem")));
    assert!(!tls.skip_verify);
    // DOCKER_TLS alone: TLS without verifying the engine.
    let env = EnvVars { tls_verify: false, tls: true, ..env };
    let t = resolve(&EngineFlags::default(), &env).expect("resolves");
    assert!(matches!(t.address, Address::Tcp { tls: Some(TlsFiles { skip_verify: true, .. }), .. }));
    // Plain tcp without either.
    let env = EnvVars { tls: false, ..env };
    assert!(matches!(resolve(&EngineFlags::default(), &env).expect("plain").address, Address::Tcp { tls: None, .. }));
}
