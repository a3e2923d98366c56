//! `editors/vscode/src/protocol.ts` must say what these types put on the wire: every field
//! (by name, optional exactly where the Rust side may send null), the states and the
//! commands. A change on one side without the other fails here.

use std::collections::BTreeMap;

use serde_json::Value;

use super::*;

const PROTOCOL_TS: &str = include_str!("../../../editors/vscode/src/protocol.ts");

/// `export interface Name extends Base { field?: type; }` → fields (with inherited ones) as
/// name → (optional, type).
fn interfaces(ts: &str) -> BTreeMap<String, BTreeMap<String, (bool, String)>> {
    let mut all: BTreeMap<String, BTreeMap<String, (bool, String)>> = BTreeMap::new();
    let mut rest = ts;
    while let Some(at) = rest.find("export interface ") {
        rest = &rest[at + "export interface ".len()..];
        let Some(open) = rest.find('{') else { break };
        let head: Vec<&str> = rest[..open].split_whitespace().collect();
        let Some(close) = rest.find('}') else { break };
        let body = &rest[open + 1..close];
        let mut fields = match head.as_slice() {
            [_, "extends", base] => all.get(*base).cloned().unwrap_or_default(),
            _ => BTreeMap::new(),
        };
        for line in body.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("/*") && !l.starts_with('*'))
        {
            let line = line.trim_end_matches(';');
            let Some((name, ty)) = line.split_once(':') else { continue };
            let optional = name.ends_with('?');
            fields.insert(name.trim_end_matches('?').trim().to_string(), (optional, ty.trim().to_string()));
        }
        all.insert(head[0].to_string(), fields);
        rest = &rest[close..];
    }
    all
}

/// The JSON kind a TypeScript type names (with `| null` where it may be absent).
fn ts_kind(ty: &str) -> (String, bool) {
    let nullable = ty.contains("| null");
    let base = ty.replace("| null", "").trim().to_string();
    let kind = match base.as_str() {
        "string" | "BuildState" => "string",
        "number" => "number",
        "boolean" => "boolean",
        "string[]" => "array",
        other => panic!("protocol.ts uses a type this test does not know: {other}"),
    };
    (kind.to_string(), nullable)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

/// `full` has every Option filled, `empty` every Option None: together they tell the kind
/// of each field and which may be null.
fn assert_agrees(name: &str, full: Value, empty: Value, ts: &BTreeMap<String, BTreeMap<String, (bool, String)>>) {
    let fields = ts.get(name).unwrap_or_else(|| panic!("protocol.ts has no interface {name}"));
    let (Value::Object(full), Value::Object(empty)) = (full, empty) else { panic!("{name} is not an object") };
    let rust: Vec<&String> = full.keys().collect();
    let typescript: Vec<&String> = fields.keys().collect();
    assert_eq!(rust, typescript, "{name}: the fields differ (Rust, then protocol.ts)");
    for (field, (optional, ty)) in fields {
        let (kind, nullable) = ts_kind(ty);
        assert_eq!(json_kind(&full[field]), kind, "{name}.{field}: Rust sends a {}", json_kind(&full[field]));
        let may_be_null = empty[field].is_null();
        assert_eq!(
            may_be_null,
            *optional && nullable,
            "{name}.{field}: Rust {} send null; protocol.ts says `{field}{}: {ty}`",
            if may_be_null { "may" } else { "never" },
            if *optional { "?" } else { "" }
        );
    }
}

fn status(full: bool) -> StatusParams {
    StatusParams {
        project: "/p".into(),
        state: BuildState::Succeeded,
        image: "app:latest".into(),
        image_id: full.then(|| "sha256:1".into()),
        duration_ms: full.then_some(12),
        errors: 1,
        warnings: 2,
        message: "ok".into(),
        stage: full.then(|| "build".into()),
        service: full.then(|| "api".into()),
        context: full.then(|| "/p/api".into()),
        session: 3,
    }
}

#[test]
fn protocol_ts_says_what_the_server_sends() {
    let ts = interfaces(PROTOCOL_TS);
    assert_agrees("StatusParams", json(&status(true)), json(&status(false)), &ts);
    let reply = |full| StatusReply { status: status(full), builder: "docker-rebuilder-p-1".into() };
    assert_agrees("StatusReply", json(&reply(true)), json(&reply(false)), &ts);
    let clean = |full: bool| CleanReply {
        builder_removed: full.then(|| "b".into()),
        images_removed: if full { vec!["sha256:2".into()] } else { Vec::new() },
    };
    assert_agrees("CleanReply", json(&clean(true)), json(&clean(false)), &ts);
    let cycle = |full: bool| CycleReply {
        state: BuildState::Failed,
        outcome: "build_failed".into(),
        message: "m".into(),
        image: "app:latest".into(),
        image_id: full.then(|| "sha256:3".into()),
        duration_ms: 5,
        uploaded: 1,
        deleted: 0,
        files_read: 3,
    };
    assert_agrees("CycleReply", json(&cycle(true)), json(&cycle(false)), &ts);
}

#[test]
fn protocol_ts_names_the_same_states_and_commands() {
    let states: Vec<String> = [BuildState::Idle, BuildState::Building, BuildState::Succeeded, BuildState::Failed]
        .into_iter()
        .chain([BuildState::Down, BuildState::Error, BuildState::Stopped])
        .map(|s| serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default())
        .collect();
    let line =
        PROTOCOL_TS.lines().find(|l| l.starts_with("export type BuildState")).expect("BuildState in protocol.ts");
    let ts_states: Vec<String> = line.split('\'').skip(1).step_by(2).map(str::to_string).collect();
    assert_eq!(states, ts_states);
    for state in [State::Idle, State::Building, State::Succeeded, State::Failed, State::Down, State::Error] {
        assert!(ts_states.contains(&state.name().to_string()), "{}", state.name());
    }
    for command in COMMANDS {
        assert!(PROTOCOL_TS.contains(&format!("'{command}'")), "protocol.ts lacks the command {command}");
    }
    assert!(PROTOCOL_TS.contains(&format!("'{}'", StatusNotification::METHOD)));
}

fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
