//! docker-rebuilder as a Docker CLI plugin (`~/.docker/cli-plugins/docker-rebuilder`): the
//! metadata docker asks for, and `docker [GLOBAL FLAGS] rebuilder COMMAND …`, which docker runs
//! as `docker-rebuilder [GLOBAL FLAGS] rebuilder COMMAND …` — its own arguments, global flags
//! included, which are ours too (`--context`, `-H`, `--config`, `--tls*`).

use std::ffi::OsString;

/// The plugin's name: `docker rebuilder`.
const PLUGIN_NAME: &str = "rebuilder";

/// docker's global flags that take a value (the next argument, unless written `--flag=value`).
const FLAGS_WITH_VALUES: [&str; 10] =
    ["--config", "-c", "--context", "-H", "--host", "-l", "--log-level", "--tlscacert", "--tlscert", "--tlskey"];

/// The metadata, as docker's plugin manager reads it (SchemaVersion 0.1.0).
pub fn metadata() -> serde_json::Value {
    serde_json::json!({
        "SchemaVersion": "0.1.0",
        "Vendor": "docker-rebuilder",
        "Version": env!("CARGO_PKG_VERSION"),
        "ShortDescription": "Incremental image rebuilds in seconds (sync, build in a builder, commit)",
        "URL": "https://github.com/docker-rebuilder/docker-rebuilder",
    })
}

/// The arguments with docker's plugin name taken out: it is the first word that is not a
/// global flag (or a flag's value) when docker runs us as a plugin.
pub fn strip_plugin_name(args: Vec<OsString>) -> Vec<OsString> {
    let mut i = 1;
    while i < args.len() {
        let arg = args[i].to_string_lossy();
        if arg == PLUGIN_NAME {
            let mut args = args;
            args.remove(i);
            return args;
        }
        if !arg.starts_with('-') || arg == "--" {
            break;
        }
        i += if FLAGS_WITH_VALUES.contains(&arg.as_ref()) { 2 } else { 1 };
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn docker_s_global_flags_are_kept_and_the_plugin_name_dropped() {
        let run = |w: &[&str]| strip_plugin_name(args(w));
        assert_eq!(run(&["bin", "rebuilder", "build", "."]), args(&["bin", "build", "."]));
        assert_eq!(
            run(&["bin", "--context", "remote", "-D", "rebuilder", "status"]),
            args(&["bin", "--context", "remote", "-D", "status"])
        );
        assert_eq!(run(&["bin", "-H=tcp://e:2375", "rebuilder", "build"]), args(&["bin", "-H=tcp://e:2375", "build"]));
        // Run directly: nothing to drop (a folder named rebuilder after the command stays).
        assert_eq!(run(&["bin", "build", "rebuilder"]), args(&["bin", "build", "rebuilder"]));
        assert_eq!(run(&["bin", "--config", "rebuilder", "build"]), args(&["bin", "--config", "rebuilder", "build"]));
    }

    #[test]
    fn metadata_has_what_docker_checks() {
        let m = metadata();
        assert_eq!(m["SchemaVersion"], "0.1.0");
        assert!(m["Vendor"].as_str().is_some_and(|v| !v.is_empty()));
    }
}
