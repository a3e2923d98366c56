//! `RUN --mount=…` as BuildKit reads it (`instructions/commands_runmount.go`), with the defaults
//! its dispatch gives secret, ssh and cache mounts (`dockerfile2llb/convert_runmount.go`).

use super::directives::parse_go_bool;
use super::flags::with_suggestion;
use super::{expand, Mount, MountKind, Sharing};

const MOUNT_KINDS: [&str; 5] = ["bind", "cache", "tmpfs", "secret", "ssh"];
const SHARINGS: [&str; 3] = ["shared", "private", "locked"];
const MOUNT_KEYS: [&str; 19] = [
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];

impl MountKind {
    /// The `type=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Cache => "cache",
            MountKind::Tmpfs => "tmpfs",
            MountKind::Secret => "secret",
            MountKind::Ssh => "ssh",
        }
    }
}

impl Mount {
    /// The mount with every value expanded (`lookup` gives the build arguments and ENV in effect
    /// at the RUN), checked as BuildKit checks it when the RUN runs.
    pub fn expand(&self, escape: char, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Mount, String> {
        let mut mount = parse(&self.spec, Some(&|value: &str| expand(value, escape, lookup)))?;
        if mount.kind == MountKind::Ssh && mount.target.is_none() {
            // The default socket path depends on the mount's place among the RUN's ssh mounts.
            mount.target.clone_from(&self.target);
        }
        Ok(mount)
    }
}

/// The `--mount` values of one RUN, in order.
pub(super) fn parse_mounts(specs: &[String], escape: char) -> Result<Vec<Mount>, String> {
    let literal = |value: &str| !value.contains(['$', '\'', '"', escape]);
    let mut mounts = Vec::with_capacity(specs.len());
    for spec in specs {
        mounts.push(parse_with(spec, &literal, None)?);
    }
    // llb gives each ssh mount without a target its own socket, numbered among the RUN's ssh mounts.
    for (n, mount) in mounts.iter_mut().filter(|m| m.kind == MountKind::Ssh).enumerate() {
        if mount.target.is_none() {
            mount.target = Some(format!("/run/buildkit/ssh_agent.{n}"));
        }
    }
    Ok(mounts)
}

fn parse(spec: &str, expander: Option<&dyn Fn(&str) -> String>) -> Result<Mount, String> {
    parse_with(spec, &|_| true, expander)
}

/// BuildKit's `parseMount`. Without an `expander`, a value that is not `literal` (it holds a
/// variable, quotes or escapes) is kept as written, and a typed setting it gives is left for
/// [`Mount::expand`] (its key goes to `unresolved`).
fn parse_with(
    spec: &str,
    literal: &dyn Fn(&str) -> bool,
    expander: Option<&dyn Fn(&str) -> String>,
) -> Result<Mount, String> {
    let fields = csv_fields(spec).map_err(|e| format!("failed to parse csv mounts: {e}"))?;
    let mut m = Mount {
        kind: MountKind::Bind,
        target: None,
        source: None,
        from: None,
        id: None,
        read_only: false,
        sharing: None,
        mode: None,
        uid: None,
        gid: None,
        required: false,
        size: None,
        env: None,
        spec: spec.to_string(),
        unresolved: Vec::new(),
    };
    let mut read_only_auto = true;
    // The type is not known before expansion: checks that depend on it wait too.
    let mut kind_known = true;
    let file_info_kind = |kind: MountKind| matches!(kind, MountKind::Secret | MountKind::Ssh | MountKind::Cache);
    for field in &fields {
        let Some((key, value)) = field.split_once('=') else {
            match field.to_lowercase().as_str() {
                "readonly" | "ro" => (m.read_only, read_only_auto) = (true, false),
                "readwrite" | "rw" => (m.read_only, read_only_auto) = (false, false),
                "required" if !kind_known || matches!(m.kind, MountKind::Secret | MountKind::Ssh) => m.required = true,
                "required" => return Err(format!("unexpected key 'required' for mount type '{}'", m.kind.as_str())),
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        let key = key.to_lowercase();
        if expander.is_none() && key == "from" && value.find('$').is_some_and(|at| at != value.len() - 1) {
            return Err(format!("'{key}' doesn't support variable expansion, define alias stage instead"));
        }
        let value = match expander {
            Some(expander) => expander(value),
            None => value.to_string(),
        };
        let known = literal(&value);
        let canonical = MOUNT_KEYS.iter().copied().find(|k| *k == key);
        // A typed setting whose value waits for expansion.
        if !known
            && matches!(
                key.as_str(),
                "type"
                    | "readonly"
                    | "ro"
                    | "readwrite"
                    | "rw"
                    | "required"
                    | "size"
                    | "sharing"
                    | "mode"
                    | "uid"
                    | "gid"
            )
        {
            m.unresolved.extend(canonical);
            match key.as_str() {
                "type" => kind_known = false,
                "required" if kind_known && !matches!(m.kind, MountKind::Secret | MountKind::Ssh) => {
                    return Err(format!("unexpected key 'required' for mount type '{}'", m.kind.as_str()))
                }
                "size" if kind_known && m.kind != MountKind::Tmpfs => {
                    return Err(format!("unexpected key 'size' for mount type '{}'", m.kind.as_str()))
                }
                _ => {}
            }
            continue;
        }
        let invalid = || format!("invalid value for {key}: {value}");
        match key.as_str() {
            "type" => {
                m.kind = match value.to_lowercase().as_str() {
                    "bind" => MountKind::Bind,
                    "cache" => MountKind::Cache,
                    "tmpfs" => MountKind::Tmpfs,
                    "secret" => MountKind::Secret,
                    "ssh" => MountKind::Ssh,
                    _ => {
                        let message = format!("unsupported mount type {value:?}");
                        return Err(with_suggestion(message, &value, &MOUNT_KINDS, true));
                    }
                };
                kind_known = true;
            }
            "from" => m.from = Some(value),
            "source" | "src" => m.source = Some(value),
            "target" | "dst" | "destination" => m.target = Some(value),
            "readonly" | "ro" => (m.read_only, read_only_auto) = (parse_go_bool(&value).ok_or_else(invalid)?, false),
            "readwrite" | "rw" => (m.read_only, read_only_auto) = (!parse_go_bool(&value).ok_or_else(invalid)?, false),
            "required" if !kind_known || matches!(m.kind, MountKind::Secret | MountKind::Ssh) => {
                m.required = parse_go_bool(&value).ok_or_else(invalid)?
            }
            "size" if !kind_known || m.kind == MountKind::Tmpfs => {
                m.size = Some(ram_in_bytes(&value).ok_or_else(invalid)?)
            }
            "required" | "size" => return Err(format!("unexpected key '{key}' for mount type '{}'", m.kind.as_str())),
            "id" => m.id = Some(value),
            "sharing" => {
                m.sharing = Some(match value.to_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => {
                        let message = format!("unsupported sharing value {value:?}");
                        return Err(with_suggestion(message, &value, &SHARINGS, true));
                    }
                })
            }
            "mode" => m.mode = Some(parse_u32(&value, 8).ok_or_else(|| format!("invalid value {value} for mode"))?),
            "uid" => m.uid = Some(parse_u32(&value, 10).ok_or_else(|| format!("invalid value {value} for uid"))?),
            "gid" => m.gid = Some(parse_u32(&value, 10).ok_or_else(|| format!("invalid value {value} for gid"))?),
            "env" => m.env = Some(value),
            _ => {
                let message = format!("unexpected key '{key}' in '{field}'");
                return Err(with_suggestion(message, &key, &MOUNT_KEYS, true));
            }
        }
    }
    if !kind_known {
        return Ok(m);
    }

    let given = |m: &Mount, key: &str, set: bool| set || m.unresolved.contains(&key);
    if !file_info_kind(m.kind) {
        for (key, set) in [("mode", m.mode.is_some()), ("uid", m.uid.is_some()), ("gid", m.gid.is_some())] {
            if given(&m, key, set) {
                return Err(format!("{key} not allowed for {:?} type mounts", m.kind.as_str()));
            }
        }
    }
    if read_only_auto {
        m.read_only = !matches!(m.kind, MountKind::Cache | MountKind::Tmpfs);
    }
    if m.kind == MountKind::Secret {
        if m.from.as_deref().is_some_and(|from| !from.is_empty()) {
            return Err("secret mount should not have a from".to_string());
        }
        if given(&m, "sharing", m.sharing.is_some()) {
            return Err("secret mount should not define sharing".to_string());
        }
        let empty = |v: &Option<String>| v.as_deref().is_none_or(str::is_empty);
        if empty(&m.source) && empty(&m.target) && empty(&m.id) {
            return Err("invalid secret mount. one of source, target required".to_string());
        }
        if !empty(&m.source) && !empty(&m.id) {
            return Err("both source and id can't be set".to_string());
        }
    }
    if given(&m, "sharing", m.sharing.is_some()) && m.kind != MountKind::Cache {
        return Err(format!("invalid cache sharing set for {} mount", m.kind.as_str()));
    }
    if m.kind == MountKind::Ssh && m.source.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err("ssh does not support source".to_string());
    }
    apply_defaults(&mut m);
    Ok(m)
}

/// The ids and targets BuildKit's dispatch gives mounts that do not name them.
fn apply_defaults(m: &mut Mount) {
    let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    match m.kind {
        MountKind::Cache => {
            if non_empty(&m.id).is_none() {
                m.id = Some(clean_path(m.target.as_deref().unwrap_or_default()));
            }
        }
        MountKind::Secret => {
            let id = non_empty(&m.source)
                .or_else(|| non_empty(&m.id))
                .unwrap_or_else(|| base_name(m.target.as_deref().unwrap_or_default()));
            if m.env.is_none() && non_empty(&m.target).is_none() {
                m.target = Some(format!("/run/secrets/{}", base_name(&id)));
            }
            m.id = Some(id);
        }
        MountKind::Ssh => {
            if non_empty(&m.id).is_none() {
                m.id = Some("default".to_string());
            }
        }
        MountKind::Bind | MountKind::Tmpfs => {}
    }
}

/// Go's `path.Base`.
fn base_name(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if path.is_empty() {
        return ".".to_string();
    }
    if trimmed.is_empty() {
        return "/".to_string();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// Go's `path.Clean`.
fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Go's `strconv.ParseUint(value, radix, 32)`.
fn parse_u32(value: &str, radix: u32) -> Option<u32> {
    if value.starts_with('+') {
        return None;
    }
    u32::from_str_radix(value, radix).ok()
}

/// go-units' `RAMInBytes`: `64m`, `1.5GiB`, `512k`, `1024` (binary multiples, case-insensitive).
fn ram_in_bytes(value: &str) -> Option<u64> {
    let sep = value.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')?;
    let number = if value.as_bytes()[sep] == b' ' { &value[..sep] } else { &value[..=sep] };
    let suffix = value[sep + 1..].to_ascii_lowercase();
    let size: f64 = number.parse().ok()?;
    if size < 0.0 {
        return None;
    }
    let multiplier = match suffix.as_bytes() {
        [] | [b'b'] => 1u64,
        [unit, rest @ ..] if rest.is_empty() || rest == b"b" || rest == b"ib" => match unit {
            b'k' => 1 << 10,
            b'm' => 1 << 20,
            b'g' => 1 << 30,
            b't' => 1 << 40,
            b'p' => 1 << 50,
            _ => return None,
        },
        _ => return None,
    };
    // Go's conversion of the product to an integer, as go-units does it.
    Some((size * multiplier as f64) as u64)
}

/// go-csvvalue's `Fields`: one CSV record, `"` quoting a field (`""` a quote in it).
pub(super) fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let line = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(line);
    if line.is_empty() {
        return Err("EOF".to_string());
    }
    let error = |at: usize, what: &str| format!("parse error on line 1, column {}: {what}", at + 1);
    let bytes = line.as_bytes();
    let mut fields = Vec::new();
    let mut pos = 0;
    loop {
        if bytes.get(pos) != Some(&b'"') {
            let end = line[pos..].find(',').map_or(line.len(), |i| pos + i);
            let field = &line[pos..end];
            if let Some(quote) = field.find('"') {
                return Err(error(pos + quote, "bare \" in non-quoted-field"));
            }
            fields.push(field.to_string());
            if end == line.len() {
                return Ok(fields);
            }
            pos = end + 1;
            continue;
        }
        pos += 1;
        let mut field = String::new();
        loop {
            let Some(quote) = line[pos..].find('"') else {
                return Err(error(pos, "extraneous or missing \" in quoted-field"));
            };
            field.push_str(&line[pos..pos + quote]);
            pos += quote + 1;
            match bytes.get(pos) {
                Some(b'"') => {
                    field.push('"');
                    pos += 1;
                }
                Some(b',') => {
                    pos += 1;
                    fields.push(field);
                    break;
                }
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(_) => return Err(error(pos - 1, "extraneous or missing \" in quoted-field")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::dockerfile::tests::*;

    fn mounts(flags: &str) -> Vec<Mount> {
        only_run(&format!("FROM a\nRUN {flags} make\n")).1
    }

    fn mount(flag: &str) -> Mount {
        let mut all = mounts(flag);
        assert_eq!(all.len(), 1);
        all.remove(0)
    }

    fn mount_error(flags: &str) -> String {
        let e = error(&format!("FROM a\nRUN {flags} make\n"));
        assert_eq!(e.line, 2);
        e.message
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn bind_mounts_read_the_context_read_only() {
        let m = mount("--mount=type=bind,source=go.sum,target=go.sum");
        assert_eq!(
            m,
            Mount {
                source: some("go.sum"),
                target: some("go.sum"),
                spec: "type=bind,source=go.sum,target=go.sum".into(),
                ..Mount::bind()
            }
        );
        // The type defaults to bind; keys have aliases and are case-insensitive.
        let m = mount("--mount=SRC=/out,DST=/in,from=builder,rw");
        assert_eq!(
            (m.kind, m.source, m.target, m.from, m.read_only),
            (MountKind::Bind, some("/out"), some("/in"), some("builder"), false)
        );
        assert!(!mount("--mount=target=/x,readwrite=true").read_only);
        assert!(mount("--mount=type=cache,target=/x,ro").read_only);
        assert!(mount("--mount=type=cache,destination=/x,readonly=1").read_only);
        assert_eq!(mount("--mount=type=bind").target, None, "the working directory");
    }

    #[test]
    fn cache_mounts_are_writable_and_named_after_their_target() {
        let m = mount("--mount=type=cache,target=/go/pkg/mod/");
        assert_eq!((m.kind, m.read_only, m.id.as_deref()), (MountKind::Cache, false, Some("/go/pkg/mod")));
        let m = mount("--mount=type=cache,id=npm,target=/root/.npm,sharing=locked,uid=1000,gid=1000,mode=0755,from=seed,source=/cache");
        assert_eq!(m.id.as_deref(), Some("npm"));
        assert_eq!((m.sharing, m.uid, m.gid, m.mode), (Some(Sharing::Locked), Some(1000), Some(1000), Some(0o755)));
        assert_eq!((m.from.as_deref(), m.source.as_deref()), (Some("seed"), Some("/cache")));
        assert_eq!(mount("--mount=type=cache,target=a/../b/").id.as_deref(), Some("b"));
    }

    #[test]
    fn tmpfs_mounts_take_a_size() {
        let m = mount("--mount=type=tmpfs,target=/tmp,size=64m");
        assert_eq!((m.kind, m.read_only, m.size), (MountKind::Tmpfs, false, Some(64 << 20)));
        for (size, bytes) in [("1024", 1024), ("1k", 1024), ("1.5GiB", 3 << 29), ("2 MB", 2 << 20), ("10b", 10)] {
            assert_eq!(ram_in_bytes(size), Some(bytes), "{size}");
        }
        for bad in ["", "m", "1x", "1kib2", "-1", "1kbb"] {
            assert_eq!(ram_in_bytes(bad), None, "{bad}");
        }
        assert_eq!(mount_error("--mount=type=tmpfs,target=/t,size=lots"), "invalid value for size: lots");
    }

    #[test]
    fn secrets_default_their_id_and_target_from_each_other() {
        let m = mount("--mount=type=secret,id=aws,target=/root/.aws/credentials");
        assert_eq!(
            (m.id.as_deref(), m.target.as_deref(), m.read_only),
            (Some("aws"), Some("/root/.aws/credentials"), true)
        );
        let m = mount("--mount=type=secret,id=npmrc");
        assert_eq!(m.target.as_deref(), Some("/run/secrets/npmrc"));
        let m = mount("--mount=type=secret,target=/run/secrets/token");
        assert_eq!(m.id.as_deref(), Some("token"));
        let m = mount("--mount=type=secret,source=api_key,required");
        assert_eq!(
            (m.id.as_deref(), m.target.as_deref(), m.required),
            (Some("api_key"), Some("/run/secrets/api_key"), true)
        );
        // Docker docs: a secret as an environment variable has no file.
        let m = mount("--mount=type=secret,id=aws-key-id,env=AWS_ACCESS_KEY_ID");
        assert_eq!((m.env.as_deref(), m.target), (Some("AWS_ACCESS_KEY_ID"), None));
    }

    #[test]
    fn ssh_mounts_get_the_default_agent_and_numbered_sockets() {
        let all = mounts("--mount=type=ssh --mount=type=ssh,id=gitlab,required=true --mount=type=ssh,target=/s");
        assert_eq!(all[0].id.as_deref(), Some("default"));
        assert_eq!(all[0].target.as_deref(), Some("/run/buildkit/ssh_agent.0"));
        assert_eq!((all[1].id.as_deref(), all[1].required), (Some("gitlab"), true));
        assert_eq!(all[1].target.as_deref(), Some("/run/buildkit/ssh_agent.1"));
        assert_eq!(all[2].target.as_deref(), Some("/s"));
    }

    #[test]
    fn invalid_mounts_are_errors_in_buildkit_words() {
        for (flags, message) in [
            ("--mount=type=volume,target=/x", "unsupported mount type \"volume\""),
            ("--mount=type=cahce,target=/x", "unsupported mount type \"cahce\" (did you mean cache?)"),
            ("--mount=type=cache,target=/x,sharing=exclusive", "unsupported sharing value \"exclusive\""),
            ("--mount=type=cache,taget=/x", "unexpected key 'taget' in 'taget=/x' (did you mean target?)"),
            ("--mount=type=cache,/x", "invalid field '/x' must be a key=value pair"),
            ("--mount=target=/x,required", "unexpected key 'required' for mount type 'bind'"),
            ("--mount=required,type=secret,id=a", "unexpected key 'required' for mount type 'bind'"),
            ("--mount=type=cache,target=/x,size=1m", "unexpected key 'size' for mount type 'cache'"),
            ("--mount=target=/x,mode=0644", "mode not allowed for \"bind\" type mounts"),
            ("--mount=type=tmpfs,target=/x,uid=0", "uid not allowed for \"tmpfs\" type mounts"),
            ("--mount=type=cache,target=/x,uid=me", "invalid value me for uid"),
            ("--mount=type=cache,target=/x,mode=0999", "invalid value 0999 for mode"),
            ("--mount=type=cache,target=/x,ro=yes", "invalid value for ro: yes"),
            ("--mount=type=secret,id=a,from=b", "secret mount should not have a from"),
            ("--mount=type=secret,id=a,sharing=shared", "secret mount should not define sharing"),
            ("--mount=type=secret", "invalid secret mount. one of source, target required"),
            ("--mount=type=secret,id=a,source=b", "both source and id can't be set"),
            ("--mount=target=/x,sharing=private", "invalid cache sharing set for bind mount"),
            ("--mount=type=ssh,source=/agent", "ssh does not support source"),
            ("--mount=from=$STAGE,target=/x", "'from' doesn't support variable expansion, define alias stage instead"),
            ("--mount=", "failed to parse csv mounts: EOF"),
            (
                "--mount=type=bind,source=a\\\"b",
                "failed to parse csv mounts: parse error on line 1, column 19: bare \" in non-quoted-field",
            ),
        ] {
            assert_eq!(mount_error(flags), message, "{flags}");
        }
        // The line of the error is the instruction's first.
        assert_eq!(error("FROM a\nRUN --mount=type=cache \\\n    --mount=type=nope \\\n    make\n").line, 2);
    }

    #[test]
    fn csv_quotes_let_a_value_hold_a_comma() {
        // The flag's own quotes go first, so the CSV quotes are escaped.
        let m = mount("--mount=type=bind,\\\"source=a,b\\\",target=/x");
        assert_eq!(m.source.as_deref(), Some("a,b"));
        assert_eq!(csv_fields("a,\"b \"\"c\"\"\",,d"), Ok(strings(&["a", "b \"c\"", "", "d"])));
        assert_eq!(
            csv_fields("\"a\"b"),
            Err("parse error on line 1, column 3: extraneous or missing \" in quoted-field".to_string())
        );
        assert_eq!(
            csv_fields("\"a"),
            Err("parse error on line 1, column 2: extraneous or missing \" in quoted-field".to_string())
        );
    }

    #[test]
    fn values_with_variables_wait_for_expansion() {
        let m = mount("--mount=type=cache,target=$HOME/.cache,uid=${UID},sharing=$SHARING");
        assert_eq!((m.target.as_deref(), m.uid, m.sharing), (Some("$HOME/.cache"), None, None));
        assert_eq!(m.unresolved, vec!["uid", "sharing"]);
        let lookup = env(&[("HOME", "/root"), ("UID", "1000"), ("SHARING", "locked")]);
        let expanded = m.expand('\\', &lookup).expect("valid once expanded");
        assert_eq!(expanded.target.as_deref(), Some("/root/.cache"));
        assert_eq!(expanded.id.as_deref(), Some("/root/.cache"));
        assert_eq!((expanded.uid, expanded.sharing, expanded.unresolved.len()), (Some(1000), Some(Sharing::Locked), 0));
        assert_eq!(m.expand('\\', &env(&[("UID", "me")])).map(|_| ()), Err("invalid value me for uid".to_string()));

        // An unknown type defers the checks that depend on it.
        let m = mount("--mount=type=$KIND,target=/x,size=1g");
        assert_eq!(m.unresolved, vec!["type"]);
        let tmpfs = m.expand('\\', &env(&[("KIND", "tmpfs")])).expect("a tmpfs takes a size");
        assert_eq!((tmpfs.kind, tmpfs.size), (MountKind::Tmpfs, Some(1 << 30)));
        assert!(m.expand('\\', &env(&[("KIND", "cache")])).is_err());
        // The flag's quotes are gone before the CSV is read; escaped ones are removed by the
        // expansion, as BuildKit's shell lexer does.
        assert_eq!(mount("--mount=type=cache,id='my cache',target=/x").id.as_deref(), Some("my cache"));
        let quoted = mount("--mount=type=cache,id=\\'my\\'cache,target=/x");
        assert_eq!(quoted.id.as_deref(), Some("'my'cache"));
        assert_eq!(quoted.expand('\\', &env(&[])).map(|m| m.id), Ok(some("mycache")));
        // The ssh socket keeps its number.
        let ssh = &mounts("--mount=type=ssh --mount=type=ssh,id=$ID")[1];
        assert_eq!(ssh.expand('\\', &env(&[("ID", "x")])).map(|m| m.target), Ok(some("/run/buildkit/ssh_agent.1")));
    }

    #[test]
    fn network_security_and_devices_are_typed() {
        match only_kind("FROM a\nRUN --network=host --security=insecure --device=nvidia.com/gpu=all make\n") {
            InstructionKind::Run { network, security, devices, .. } => {
                assert_eq!((network, security), (Some(Network::Host), Some(Security::Insecure)));
                assert_eq!(devices, vec![Device { name: "nvidia.com/gpu=all".into(), required: false }]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(mount_error("--network=bridge"), "invalid network mode \"bridge\"");
        assert_eq!(mount_error("--security=root"), "security \"root\" is not valid");
        assert_eq!(mount_error("--network=none --network=host"), "Duplicate flag specified: network");
    }
}
