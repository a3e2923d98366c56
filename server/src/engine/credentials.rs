//! The registry credentials docker would use for a push: `credHelpers` for that registry, else
//! `credsStore`, else `auths` in `$DOCKER_CONFIG/config.json` (the folder as `target.rs`
//! resolves it). A helper is `docker-credential-<name> get`, the registry on its stdin, as the
//! docker CLI runs it. None when docker would push anonymously.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;
use bollard::auth::DockerCredentials;

/// Docker Hub's key in config.json (what `docker login` writes for it).
const HUB: &str = "https://index.docker.io/v1/";

/// The registry a reference pushes to: its first part when that looks like a host (has a `.`
/// or a `:`, or is `localhost`), else Docker Hub.
pub(crate) fn registry_of(reference: &str) -> String {
    match reference.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => first.to_string(),
        _ => HUB.to_string(),
    }
}

/// A config.json key as docker compares it: without scheme and path (`https://host/v1/` is `host`).
fn normalise(key: &str) -> String {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    key.split('/').next().unwrap_or(key).to_string()
}

fn same_registry(key: &str, registry: &str) -> bool {
    if registry == HUB {
        return matches!(normalise(key).as_str(), "index.docker.io" | "docker.io" | "registry-1.docker.io");
    }
    normalise(key) == registry
}

/// The credentials for `registry`, from the config folder; Err names what went wrong (a
/// helper that failed, a malformed config).
pub(crate) fn for_registry(config_dir: &Path, registry: &str) -> Result<Option<DockerCredentials>, String> {
    let path = config_dir.join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let config: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?;
    let helper = config
        .get("credHelpers")
        .and_then(|h| h.as_object())
        .and_then(|h| h.iter().find(|(k, _)| same_registry(k, registry)).and_then(|(_, v)| v.as_str()))
        .or_else(|| config.get("credsStore").and_then(|s| s.as_str()))
        .filter(|h| !h.is_empty());
    if let Some(helper) = helper {
        return from_helper(helper, registry);
    }
    let Some((_, entry)) = config
        .get("auths")
        .and_then(|a| a.as_object())
        .and_then(|a| a.iter().find(|(k, _)| same_registry(k, registry)))
    else {
        return Ok(None);
    };
    let field = |name: &str| entry.get(name).and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_string);
    let (mut username, mut password) = (field("username"), field("password"));
    if let Some(auth) = field("auth") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|e| format!("the `auth` of {registry} in {} is not base64: {e}", path.display()))?;
        let decoded = String::from_utf8_lossy(&decoded).into_owned();
        let (user, pass) = decoded
            .split_once(':')
            .ok_or_else(|| format!("the `auth` of {registry} in {} is not user:password", path.display()))?;
        username = Some(user.to_string());
        password = Some(pass.to_string());
    }
    Ok(Some(DockerCredentials {
        username,
        password,
        identitytoken: field("identitytoken"),
        serveraddress: Some(registry.to_string()),
        ..Default::default()
    }))
}

/// `docker-credential-<helper> get`: its answer's Username and Secret (a Username of
/// `<token>` makes the Secret an identity token, as docker reads it).
fn from_helper(helper: &str, registry: &str) -> Result<Option<DockerCredentials>, String> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run the credential helper {program} (config.json names it): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(registry.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| format!("{program}: {e}"))?;
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        // As docker: a helper that has nothing for this registry means an anonymous push.
        if said.contains("credentials not found") || String::from_utf8_lossy(&out.stderr).contains("not found") {
            return Ok(None);
        }
        return Err(format!("{program} get failed: {} {}", said, String::from_utf8_lossy(&out.stderr).trim()));
    }
    let value: serde_json::Value =
        serde_json::from_str(&said).map_err(|e| format!("{program} answered something that is not JSON: {e}"))?;
    let get = |k: &str| value.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let (user, secret) = (get("Username"), get("Secret"));
    Ok(Some(if user == "<token>" {
        DockerCredentials { identitytoken: Some(secret), serveraddress: Some(registry.into()), ..Default::default() }
    } else {
        DockerCredentials {
            username: Some(user),
            password: Some(secret),
            serveraddress: Some(registry.into()),
            ..Default::default()
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_the_first_part_when_it_is_a_host() {
        assert_eq!(registry_of("127.0.0.1:5000/app:dev"), "127.0.0.1:5000");
        assert_eq!(registry_of("registry.example.com/team/app"), "registry.example.com");
        assert_eq!(registry_of("localhost/app"), "localhost");
        assert_eq!(registry_of("team/app:1"), HUB);
        assert_eq!(registry_of("app"), HUB);
    }

    #[test]
    fn auths_are_read_as_docker_reads_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let auth = base64::engine::general_purpose::STANDARD.encode("me:s3cret");
        std::fs::write(
            dir.path().join("config.json"),
            format!(r#"{{"auths": {{"https://127.0.0.1:5000/v2/": {{"auth": "{auth}"}}, "https://index.docker.io/v1/": {{"identitytoken": "tok"}}}}}}"#),
        )
        .expect("write");
        let c = for_registry(dir.path(), "127.0.0.1:5000").expect("reads").expect("found");
        assert_eq!((c.username.as_deref(), c.password.as_deref()), (Some("me"), Some("s3cret")));
        assert_eq!(c.serveraddress.as_deref(), Some("127.0.0.1:5000"));
        let hub = for_registry(dir.path(), HUB).expect("reads").expect("found");
        assert_eq!(hub.identitytoken.as_deref(), Some("tok"));
        assert!(for_registry(dir.path(), "other.example.com").expect("reads").is_none());
        assert!(for_registry(&dir.path().join("none"), "x").expect("no file").is_none());
    }

    #[test]
    fn a_missing_helper_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("config.json"), r#"{"credsStore": "nonexistent-dr-test"}"#).expect("write");
        let e = for_registry(dir.path(), "r.example.com").expect_err("no such helper");
        assert!(e.contains("docker-credential-nonexistent-dr-test"), "{e}");
    }
}
