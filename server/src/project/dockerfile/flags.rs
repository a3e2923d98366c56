//! The `--flags` each instruction takes (BuildKit's `BFlags`), and RUN's `--network`,
//! `--security` and `--device` (`instructions/commands_run*.go`). `--mount` is `mounts.rs`.

use super::directives::parse_go_bool;
use super::{Device, Network, Security};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FlagKind {
    Bool,
    String,
    /// may be repeated
    Strings,
}

/// The flags given to one instruction, checked against the ones it takes.
pub(super) struct Flags {
    values: Vec<(&'static str, String)>,
}

impl Flags {
    /// The value of a flag given once, if given with a non-empty value.
    pub(super) fn string(&self, name: &str) -> Option<String> {
        self.values.iter().find(|(flag, value)| *flag == name && !value.is_empty()).map(|(_, value)| value.clone())
    }

    /// Every value of a repeatable flag, in order.
    pub(super) fn strings(&self, name: &str) -> Vec<String> {
        self.values.iter().filter(|(flag, _)| *flag == name).map(|(_, value)| value.clone()).collect()
    }

    /// A boolean flag: `None` when not given.
    pub(super) fn bool(&self, name: &str) -> Option<bool> {
        self.values.iter().find(|(flag, _)| *flag == name).map(|(_, value)| value == "true")
    }
}

/// Docker's `BFlags.Parse`: checks `flags` against the `known` ones and returns their values.
pub(super) fn parse_flags(flags: &[String], known: &[(&'static str, FlagKind)]) -> Result<Flags, String> {
    let mut values: Vec<(&'static str, String)> = Vec::new();
    for flag in flags {
        let Some(body) = flag.strip_prefix("--") else {
            return Err(format!("Arguments should start with -- : {flag}"));
        };
        if body.is_empty() {
            break;
        }
        let (name, value) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (body, None),
        };
        let Some(&(name, kind)) = known.iter().find(|(known, _)| *known == name) else {
            let names: Vec<&str> = known.iter().map(|(name, _)| *name).collect();
            return Err(with_suggestion(format!("unknown flag: {name}"), name, &names, true));
        };
        if kind != FlagKind::Strings && values.iter().any(|(used, _)| *used == name) {
            return Err(format!("Duplicate flag specified: {name}"));
        }
        let value = match (kind, value) {
            (FlagKind::Bool, Some("")) | (FlagKind::String | FlagKind::Strings, None) => {
                return Err(format!("Missing a value on flag: {name}"));
            }
            (FlagKind::Bool, value) => match value.map(str::to_lowercase).as_deref() {
                None | Some("true") => "true".to_string(),
                Some("false") => "false".to_string(),
                Some(_) => {
                    return Err(format!("Expecting boolean value for flag {name}, not: {}", value.unwrap_or_default()))
                }
            },
            (_, Some(value)) => value.to_string(),
        };
        values.push((name, value));
    }
    Ok(Flags { values })
}

/// BuildKit's `suggest.WrapError`: "(did you mean X?)" after `message` when one of `options`
/// is less than three edits from `value` (the first of the closest, in the given order).
pub(super) fn with_suggestion(message: String, value: &str, options: &[&str], case_sensitive: bool) -> String {
    let fold = |s: &str| if case_sensitive { s.to_string() } else { s.to_lowercase() };
    let value_folded = fold(value);
    let mut best: Option<(usize, &str)> = None;
    for option in options {
        let option_folded = fold(option);
        if option_folded == value_folded {
            return message;
        }
        let distance = levenshtein(&value_folded, &option_folded);
        if distance < best.map_or(3, |(d, _)| d) {
            best = Some((distance, option));
        }
    }
    match best {
        None => message,
        Some((_, option)) if case_sensitive => format!("{message} (did you mean {option}?)"),
        Some((_, option)) => {
            let option = if value == value.to_lowercase() {
                option.to_lowercase()
            } else if value == value.to_uppercase() {
                option.to_uppercase()
            } else {
                option.to_string()
            };
            format!("{message} (did you mean {option}?)")
        }
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// `RUN --network=`: the value is not expanded.
pub(super) fn network(value: &str) -> Result<Network, String> {
    match value {
        "default" => Ok(Network::Default),
        "none" => Ok(Network::None),
        "host" => Ok(Network::Host),
        _ => Err(format!("invalid network mode {value:?}")),
    }
}

/// `RUN --security=`: the value is not expanded.
pub(super) fn security(value: &str) -> Result<Security, String> {
    match value {
        "sandbox" => Ok(Security::Sandbox),
        "insecure" => Ok(Security::Insecure),
        _ => Err(format!("security {value:?} is not valid")),
    }
}

/// `RUN --device=name[,required]` (BuildKit's `ParseDevice`; labs syntax).
pub(super) fn device(value: &str) -> Result<Device, String> {
    let fields = super::mounts::csv_fields(value).map_err(|e| format!("failed to parse csv devices: {e}"))?;
    let mut device = Device { name: String::new(), required: false };
    for field in fields {
        let Some((key, value)) = field.split_once('=') else {
            if field.eq_ignore_ascii_case("required") {
                device.required = true;
            } else if device.name.is_empty() {
                device.name = field;
            } else {
                return Err(format!("invalid field '{field}' must be a key=value pair"));
            }
            continue;
        };
        match key.to_lowercase().as_str() {
            "name" if !device.name.is_empty() => return Err(format!("device name already set to {}", device.name)),
            "name" => device.name = value.to_string(),
            "required" => {
                device.required =
                    parse_go_bool(value).ok_or_else(|| format!("invalid value for {}: {value}", key.to_lowercase()))?
            }
            _ if device.name.is_empty() => device.name = field.clone(),
            other => {
                let message = format!("unexpected key '{other}' in '{field}'");
                return Err(with_suggestion(message, other, &["name", "required"], true));
            }
        }
    }
    Ok(device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::dockerfile::tests::*;

    #[test]
    fn an_unknown_flag_names_the_closest_known_one() {
        assert_eq!(error("FROM a\nCOPY --chwon=app a b\n").message, "unknown flag: chwon (did you mean chown?)");
        assert_eq!(error("FROM a\nCOPY --bogus a b\n").message, "unknown flag: bogus");
        assert_eq!(
            error("FROM a\nRUN --mnt=type=cache,target=/x make\n").message,
            "unknown flag: mnt (did you mean mount?)"
        );
        // ADD has no --from, COPY no --checksum (BuildKit refuses both).
        assert_eq!(error("FROM a\nADD --from=b x y\n").message, "unknown flag: from");
        assert_eq!(error("FROM a\nCOPY --checksum=sha256:00 x y\n").message, "unknown flag: checksum");
    }

    #[test]
    fn suggestions_follow_buildkit() {
        let options = ["bind", "cache", "tmpfs", "secret", "ssh"];
        assert_eq!(with_suggestion("x".into(), "cahce", &options, true), "x (did you mean cache?)");
        assert_eq!(with_suggestion("x".into(), "volume", &options, true), "x");
        assert_eq!(with_suggestion("x".into(), "TARGT", &["target"], false), "x (did you mean TARGET?)");
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }

    #[test]
    fn network_and_security_take_buildkit_values() {
        assert_eq!(network("none"), Ok(Network::None));
        assert_eq!(network("bridge"), Err("invalid network mode \"bridge\"".to_string()));
        assert_eq!(security("insecure"), Ok(Security::Insecure));
        assert_eq!(security("privileged"), Err("security \"privileged\" is not valid".to_string()));
    }

    #[test]
    fn devices_are_read_as_buildkit_reads_them() {
        let d = |name: &str, required| Device { name: name.to_string(), required };
        assert_eq!(device("nvidia.com/gpu=all"), Ok(d("nvidia.com/gpu=all", false)));
        assert_eq!(device("name=vendor1.com/device=foo,required"), Ok(d("vendor1.com/device=foo", true)));
        assert_eq!(device("vendor1.com/device,required=false"), Ok(d("vendor1.com/device", false)));
        assert_eq!(device("a,b"), Err("invalid field 'b' must be a key=value pair".to_string()));
        assert_eq!(device("a,name=b"), Err("device name already set to a".to_string()));
    }
}
