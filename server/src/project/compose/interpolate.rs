//! Compose's variable interpolation (compose-go's `template` package): `$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `${VAR:+alt}`,
//! `${VAR+alt}`, `$$` for a literal `$`; defaults, alternatives and messages are themselves
//! interpolated, so `${A:-${B}}` nests. Applied to every string scalar of a file's tree
//! (never to keys), before files are merged, as compose does.

use std::collections::BTreeMap;

use serde_norway::Value;

use super::locate::{self, Seg};
use super::{compose_error, key_string, SourceFile};
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum InterpolationError {
    /// A `${` without its `}`, or without a variable name: the text from that `$` on.
    Invalid { fragment: String },
    /// `${VAR:?message}` with VAR unset or empty, or `${VAR?message}` with VAR unset.
    Required { var: String, message: String },
}

/// `template` with its variables replaced by `lookup`'s values; an unset variable with no
/// default is empty (compose warns, nothing more).
pub(super) fn substitute(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let invalid = || InterpolationError::Invalid { fragment: rest[dollar..].chars().take(40).collect() };
            let end = closing_brace(inner).ok_or_else(invalid)?;
            out.push_str(&braced(&inner[..end], lookup).map_err(|e| match e {
                InterpolationError::Invalid { .. } => invalid(),
                required => required,
            })?);
            rest = &inner[end + 1..];
        } else {
            let len = name_len(after);
            if len == 0 {
                // `$` before anything that cannot start a name stays a `$`, as in compose.
                out.push('$');
            } else {
                out.push_str(&lookup(&after[..len]).unwrap_or_default());
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The operators of `${NAME<op>argument}`, the two-character ones first.
const OPERATORS: [&str; 6] = [":-", ":?", ":+", "-", "?", "+"];

/// The body of `${...}`: a name, then nothing or an operator and its argument.
fn braced(body: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, InterpolationError> {
    let len = name_len(body);
    if len == 0 {
        return Err(InterpolationError::Invalid { fragment: String::new() });
    }
    let (name, op) = body.split_at(len);
    let value = lookup(name);
    let set_and_not_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    let Some((operator, argument)) = OPERATORS.iter().find_map(|o| op.strip_prefix(o).map(|arg| (*o, arg))) else {
        return if op.is_empty() {
            Ok(value.unwrap_or_default())
        } else {
            Err(InterpolationError::Invalid { fragment: String::new() })
        };
    };
    let use_argument = match operator {
        ":-" | ":?" => !set_and_not_empty,
        "-" | "?" => value.is_none(),
        ":+" => set_and_not_empty,
        _ => value.is_some(),
    };
    if !use_argument {
        return Ok(value.unwrap_or_default());
    }
    let argument = substitute(argument, lookup)?;
    if operator.ends_with('?') {
        return Err(InterpolationError::Required { var: name.to_string(), message: argument });
    }
    Ok(argument)
}

/// The length of the variable name `text` starts with (`[_A-Za-z][_A-Za-z0-9]*`), 0 if none.
fn name_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    if !bytes.first().is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_') {
        return 0;
    }
    bytes.iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count()
}

/// Where the `}` closing a `${` is in `text` (what follows the `${`), counting nested braces.
fn closing_brace(text: &str) -> Option<usize> {
    let mut depth = 1usize;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Interpolates every string scalar of `value` (a document of `source`) with `env`.
pub(super) fn interpolate_tree(value: &mut Value, env: &BTreeMap<String, String>, source: &SourceFile) -> Result<()> {
    let lookup = |name: &str| env.get(name).cloned();
    walk(value, &mut Vec::new(), &lookup, source)
}

fn walk(
    value: &mut Value,
    path: &mut Vec<Seg>,
    lookup: &dyn Fn(&str) -> Option<String>,
    source: &SourceFile,
) -> Result<()> {
    match value {
        Value::String(text) => match substitute(text, lookup) {
            Ok(done) => *text = done,
            Err(e) => return Err(error(&e, text, path, source)),
        },
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(Seg::Item(i));
                walk(item, path, lookup, source)?;
                path.pop();
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                path.push(Seg::Key(key_string(key)));
                walk(item, path, lookup, source)?;
                path.pop();
            }
        }
        Value::Tagged(tagged) => walk(&mut tagged.value, path, lookup, source)?,
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

fn error(e: &InterpolationError, template: &str, path: &[Seg], source: &SourceFile) -> crate::error::Error {
    let key_line = locate::line_of(&source.text, path);
    let needle = match e {
        InterpolationError::Invalid { fragment } => fragment.lines().next().unwrap_or_default().to_string(),
        InterpolationError::Required { var, .. } => format!("${{{var}"),
    };
    let line = locate::line_containing(&source.text, key_line, &needle).unwrap_or(key_line);
    match e {
        InterpolationError::Invalid { .. } => compose_error(
            &source.path,
            line,
            format!("invalid interpolation format for {}: \"{template}\"", locate::dotted(path)),
            "close each `${` with `}` around a variable name (`${NAME}`, `${NAME:-default}`), or write `$$` for a \
             literal `$`",
        ),
        InterpolationError::Required { var, message } => {
            let reason = if message.is_empty() { String::new() } else { format!(": {message}") };
            compose_error(
                &source.path,
                line,
                format!("required variable {var} is missing a value{reason}"),
                format!("set {var} in the environment or in the .env file next to the compose file"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)], template: &str) -> Result<String, InterpolationError> {
        let env: BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        substitute(template, &|k| env.get(k).cloned())
    }

    fn ok(vars: &[(&str, &str)], template: &str) -> String {
        match with(vars, template) {
            Ok(s) => s,
            Err(e) => panic!("{template}: {e:?}"),
        }
    }

    #[test]
    fn plain_and_braced_variables() {
        let vars = [("A", "1"), ("lower_b", "two")];
        assert_eq!(ok(&vars, "x$A-y"), "x1-y");
        assert_eq!(ok(&vars, "${A}${lower_b}"), "1two");
        assert_eq!(ok(&vars, "$lower_b.txt"), "two.txt");
        assert_eq!(ok(&vars, "[$UNSET][${UNSET}]"), "[][]");
        assert_eq!(ok(&vars, "no variables"), "no variables");
    }

    #[test]
    fn a_double_dollar_is_a_literal_dollar_and_a_lone_one_stays() {
        assert_eq!(ok(&[("A", "1")], "$$A $${A} $$$A"), "$A ${A} $1");
        assert_eq!(ok(&[], "cost: 5$ or $1 or $-"), "cost: 5$ or $1 or $-");
    }

    #[test]
    fn defaults_apply_when_unset_or_when_empty_too() {
        let vars = [("EMPTY", ""), ("SET", "v")];
        assert_eq!(ok(&vars, "${UNSET:-d}|${EMPTY:-d}|${SET:-d}"), "d|d|v");
        assert_eq!(ok(&vars, "${UNSET-d}|${EMPTY-d}|${SET-d}"), "d||v");
    }

    #[test]
    fn alternatives_apply_when_set_or_when_not_empty_too() {
        let vars = [("EMPTY", ""), ("SET", "v")];
        assert_eq!(ok(&vars, "${UNSET:+a}|${EMPTY:+a}|${SET:+a}"), "||a");
        assert_eq!(ok(&vars, "${UNSET+a}|${EMPTY+a}|${SET+a}"), "|a|a");
    }

    #[test]
    fn required_variables_fail_with_their_message() {
        let vars = [("EMPTY", ""), ("SET", "v")];
        assert_eq!(ok(&vars, "${SET:?no}${SET?no}${EMPTY?no}"), "vv");
        assert_eq!(
            with(&vars, "${EMPTY:?must be set}"),
            Err(InterpolationError::Required { var: "EMPTY".into(), message: "must be set".into() })
        );
        assert_eq!(
            with(&vars, "a ${UNSET?} b"),
            Err(InterpolationError::Required { var: "UNSET".into(), message: String::new() })
        );
        // The message is interpolated too.
        assert_eq!(
            with(&vars, "${UNSET:?set it, not $SET}"),
            Err(InterpolationError::Required { var: "UNSET".into(), message: "set it, not v".into() })
        );
    }

    #[test]
    fn defaults_nest() {
        let vars = [("B", "b")];
        assert_eq!(ok(&vars, "${A:-${B}}"), "b");
        assert_eq!(ok(&vars, "${A:-${C:-${B}-x}}/y"), "b-x/y");
        assert_eq!(ok(&vars, "${B:+{json}}"), "{json}");
    }

    #[test]
    fn unterminated_or_nameless_braces_are_invalid() {
        for bad in ["${A", "x ${A:-${B}", "${}", "${1A}", "${A/x}"] {
            assert!(matches!(with(&[], bad), Err(InterpolationError::Invalid { .. })), "{bad}");
        }
        assert_eq!(with(&[], "ok ${A"), Err(InterpolationError::Invalid { fragment: "${A".into() }));
    }

    #[test]
    fn errors_in_a_tree_are_located_at_their_line() {
        let text = "services:\n  api:\n    image: app\n    build:\n      args:\n        - V=${NEEDED:?set NEEDED}\n";
        let source = SourceFile { path: "/p/compose.yaml".into(), text: text.into() };
        let mut value: Value = serde_norway::from_str(text).unwrap_or(Value::Null);
        let e = interpolate_tree(&mut value, &BTreeMap::new(), &source).err().map(|e| (e.cause, e.location));
        let (cause, location) = e.unwrap_or_default();
        assert_eq!(cause, "/p/compose.yaml:6: required variable NEEDED is missing a value: set NEEDED");
        assert_eq!(location, Some(("/p/compose.yaml".into(), 6)));

        let text = "services:\n  api:\n    image: \"app:${TAG\"\n";
        let source = SourceFile { path: "/p/compose.yaml".into(), text: text.into() };
        let mut value: Value = serde_norway::from_str(text).unwrap_or(Value::Null);
        let e = interpolate_tree(&mut value, &BTreeMap::new(), &source).err();
        assert!(
            e.as_ref().is_some_and(|e| e.cause.starts_with(
                "/p/compose.yaml:3: invalid interpolation format for \
                                                               services.api.image"
            )),
            "{e:?}"
        );
    }

    #[test]
    fn keys_are_left_alone_and_values_everywhere_interpolated() {
        let text = "services:\n  $A:\n    image: ${A}\n    profiles: [\"$A\"]\n";
        let source = SourceFile { path: "/p/compose.yaml".into(), text: text.into() };
        let mut value: Value = serde_norway::from_str(text).unwrap_or(Value::Null);
        let env = BTreeMap::from([("A".to_string(), "x".to_string())]);
        assert!(interpolate_tree(&mut value, &env, &source).is_ok());
        assert_eq!(value["services"]["$A"]["image"], Value::from("x"));
        assert_eq!(value["services"]["$A"]["profiles"][0], Value::from("x"));
    }
}
