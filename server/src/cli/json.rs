//! The one JSON shape of a cycle, for `build --json` and each line of `watch --json`.

use serde_json::{json, Value};

use super::render::millis;
use crate::events::{FileDiagnostic, Severity};
use crate::rebuild::{CycleReport, Outcome, ServiceExit};

/// `cycle` counts cycles in this run (1 for `build`); `found` are the cycle's problems,
/// `notes` what it said (warnings prefixed `warning: `), `output` the kept tail of the
/// build's output (empty when not kept).
pub fn cycle(report: &CycleReport, cycle: u64, found: &[FileDiagnostic], notes: &[String], output: &str) -> Value {
    let detail = match &report.outcome {
        Outcome::ImageBuilt { reason } => json!({ "reason": reason }),
        Outcome::UpToDate => json!({}),
        Outcome::Succeeded { committed } => json!({ "committed": committed }),
        Outcome::BuildFailed { exit_code, step } => json!({ "exit_code": exit_code, "step": step }),
        Outcome::Cancelled { reason } => json!({ "reason": reason }),
        Outcome::TimedOut { step, timeout_secs } => json!({
            "step": step,
            "timeout_secs": timeout_secs,
            "reason": report.message(),
            "fix": report.outcome.fix(),
        }),
    };
    let count = |severity: Severity| found.iter().filter(|d| d.severity == severity).count();
    let phases: serde_json::Map<String, Value> =
        report.timings.iter().map(|(p, d)| (p.name().to_string(), json!(millis(*d)))).collect();
    let stages: serde_json::Map<String, Value> =
        report.stages.iter().map(|(s, d)| (s.name().to_string(), json!(millis(*d)))).collect();
    json!({
        "cycle": cycle,
        "outcome": report.outcome.name(),
        "detail": detail,
        "message": report.message(),
        "stage": report.stage,
        "service_update": report.service_update,
        "push": report.push,
        "image": report.image,
        "image_id": report.image_id,
        "uploaded": report.uploaded,
        "deleted": report.deleted,
        "files_read": report.files_read,
        "errors": count(Severity::Error),
        "diagnostics": super::problems::json(found),
        "warnings": count(Severity::Warning),
        "phases_ms": phases,
        "stages_ms": stages,
        "total_ms": millis(report.total),
        "notes": notes,
        "output": output,
    })
}

/// A container a recreate started that died as it started: `watch --json`'s line of its own
/// (with `"event": "service_exited"`), `build --json`'s `service_exited`.
pub fn service_exit(exit: &ServiceExit) -> Value {
    json!({
        "service": exit.service,
        "container": exit.container,
        // Left running by the recreate (its binds show the change), not a new one.
        "kept": exit.kept,
        "exit_code": exit.exit.as_ref().map(|e| e.code),
        "oom_killed": exit.exit.as_ref().is_some_and(|e| e.oom_killed),
        "restarting": exit.exit.as_ref().is_some_and(|e| e.restarting),
        // A dev server that outlived its app (the error is in its output).
        "running": exit.exit.is_none(),
        "after_ms": millis(exit.after),
        "message": exit.message(),
        "output": exit.output,
        "diagnostics": super::problems::json(&exit.diagnostics),
        // Those that failed with it (a twin's container, a replica).
        "others": exit.others.iter().map(|(service, container)| json!({ "service": service, "container": container })).collect::<Vec<_>>(),
    })
}

/// The engine a command used, and why (flag, environment, context, default).
pub fn engine(target: &crate::engine::Target) -> Value {
    json!({ "address": target.address(), "from": target.source.to_string() })
}
