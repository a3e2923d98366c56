//! BuildKit's progress, as the engine streams it: `{"id":"moby.buildkit.trace","aux":"…"}`,
//! where `aux` is a base64 protobuf `moby.buildkit.v1.StatusResponse` (vertices, i.e. steps,
//! with their start, completion, cache hit and error; and their output in chunks). This turns
//! it into `BuildEvent`s: each step's state changes once per change, and its output as whole
//! lines (BuildKit's chunks split lines anywhere), with secret values masked.

use std::collections::HashMap;

use base64::Engine as _;
use bollard_buildkit_proto::google::protobuf::Timestamp;
use bollard_buildkit_proto::moby::buildkit::v1::StatusResponse;
use prost::Message as _;

use super::{BuildEvent, StepState};

/// A longer line is passed on in pieces of this size (a step printing without newlines).
const MAX_LINE: usize = 64 * 1024;
/// What BuildKit calls a step it stopped because another one failed.
const CANCELED: &str = "context canceled";

/// Decodes the `aux` of a `moby.buildkit.trace` message.
pub(super) fn decode_trace(aux: &serde_json::Value) -> Result<StatusResponse, String> {
    let text = aux.as_str().ok_or("the progress message is not a string")?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| format!("bad base64: {e}"))?;
    StatusResponse::decode(bytes.as_slice()).map_err(|e| format!("bad protobuf: {e}"))
}

#[derive(Default)]
struct Step {
    name: String,
    started: Option<(i64, i32)>,
    /// The start we reported (a step can start again: BuildKit retries some).
    started_reported: Option<(i64, i32)>,
    completed_reported: Option<(i64, i32)>,
    /// BuildKit's error text, when it failed.
    error: Option<String>,
}

/// The build's steps as reported so far.
pub(super) struct Progress {
    steps: HashMap<String, Step>,
    /// A step's output line not ended yet, per (step, stream).
    partial: HashMap<(String, i64), Vec<u8>>,
    masker: Masker,
    /// The first step that failed on its own (not cancelled because another one failed).
    first_failure: Option<String>,
}

/// The step that failed: BuildKit's name for it, and its error.
pub(super) struct Failure<'a> {
    pub(super) name: &'a str,
    pub(super) error: &'a str,
}

enum Completion {
    Cached,
    Done { millis: u64 },
    Failed,
}

impl Progress {
    pub(super) fn new(masker: Masker) -> Progress {
        Progress { steps: HashMap::new(), partial: HashMap::new(), masker, first_failure: None }
    }

    pub(super) fn masker(&self) -> &Masker {
        &self.masker
    }

    /// Takes one status update: a step's start is reported before the output that came with
    /// it, its end (done, cached, failed) after its last output line.
    pub(super) fn feed(&mut self, status: StatusResponse, on_event: &mut (dyn FnMut(BuildEvent<'_>) + Send)) {
        let mut completions = Vec::new();
        for vertex in status.vertexes {
            let step = self.steps.entry(vertex.digest.clone()).or_default();
            if !vertex.name.is_empty() {
                step.name = vertex.name;
            }
            let started = vertex.started.as_ref().map(stamp);
            let completed = vertex.completed.as_ref().map(stamp);
            if started.is_some() {
                step.started = started;
            }
            if !vertex.cached && started.is_some() && started != step.started_reported {
                step.started_reported = started;
                if completed.is_none() || completed != step.completed_reported {
                    on_event(BuildEvent::Step { id: &vertex.digest, name: &step.name, state: StepState::Started });
                }
            }
            // BuildKit marks a failed step completed; an error without it counts as its end.
            let ended = completed.or(if vertex.error.is_empty() { None } else { Some((0, 0)) });
            if let Some(end) = ended {
                if Some(end) != step.completed_reported {
                    step.completed_reported = Some(end);
                    let completion = if !vertex.error.is_empty() {
                        step.error = Some(self.masker.mask(&vertex.error));
                        if self.first_failure.is_none() && !vertex.error.contains(CANCELED) {
                            self.first_failure = Some(vertex.digest.clone());
                        }
                        Completion::Failed
                    } else if vertex.cached {
                        Completion::Cached
                    } else {
                        Completion::Done { millis: millis_between(step.started, completed) }
                    };
                    completions.push((vertex.digest, completion));
                }
            }
        }
        for log in status.logs {
            self.output(log.vertex, log.stream, &log.msg, on_event);
        }
        for (digest, completion) in completions {
            self.flush(&digest, on_event);
            let Some(step) = self.steps.get(&digest) else { continue };
            let state = match completion {
                Completion::Cached => StepState::Cached,
                Completion::Done { millis } => StepState::Done { millis },
                Completion::Failed => StepState::Failed { error: step.error.clone().unwrap_or_default() },
            };
            on_event(BuildEvent::Step { id: &digest, name: &step.name, state });
        }
    }

    /// Passes on what is left of every step's output (at the end of the build).
    pub(super) fn finish(&mut self, on_event: &mut (dyn FnMut(BuildEvent<'_>) + Send)) {
        let mut keys: Vec<String> = self.partial.keys().map(|(digest, _)| digest.clone()).collect();
        keys.sort();
        keys.dedup();
        for digest in keys {
            self.flush(&digest, on_event);
        }
    }

    /// The step that failed first on its own, if any did.
    pub(super) fn failure(&self) -> Option<Failure<'_>> {
        let step = self.steps.get(self.first_failure.as_ref()?)?;
        Some(Failure { name: &step.name, error: step.error.as_deref().unwrap_or_default() })
    }

    fn output(&mut self, digest: String, stream: i64, chunk: &[u8], on_event: &mut (dyn FnMut(BuildEvent<'_>) + Send)) {
        let key = (digest, stream);
        let mut buffer = self.partial.remove(&key).unwrap_or_default();
        buffer.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(offset) = buffer[start..].iter().position(|&b| b == b'\n') {
            self.line(&key.0, &buffer[start..start + offset], on_event);
            start += offset + 1;
        }
        while buffer.len() - start > MAX_LINE {
            self.line(&key.0, &buffer[start..start + MAX_LINE], on_event);
            start += MAX_LINE;
        }
        buffer.drain(..start);
        if !buffer.is_empty() {
            self.partial.insert(key, buffer);
        }
    }

    /// Ends the step's unfinished output lines (stdout, then stderr).
    fn flush(&mut self, digest: &str, on_event: &mut (dyn FnMut(BuildEvent<'_>) + Send)) {
        for stream in [1, 2] {
            if let Some(rest) = self.partial.remove(&(digest.to_string(), stream)) {
                self.line(digest, &rest, on_event);
            }
        }
        let others: Vec<(String, i64)> = self.partial.keys().filter(|(d, _)| d == digest).cloned().collect();
        for key in others {
            if let Some(rest) = self.partial.remove(&key) {
                self.line(digest, &rest, on_event);
            }
        }
    }

    fn line(&self, digest: &str, bytes: &[u8], on_event: &mut (dyn FnMut(BuildEvent<'_>) + Send)) {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let text = self.masker.mask(&String::from_utf8_lossy(bytes));
        on_event(BuildEvent::Log { id: digest, text: &text });
    }
}

fn stamp(t: &Timestamp) -> (i64, i32) {
    (t.seconds, t.nanos)
}

fn millis_between(start: Option<(i64, i32)>, end: Option<(i64, i32)>) -> u64 {
    match (start, end) {
        (Some((s, sn)), Some((e, en))) => {
            let nanos = (i128::from(e) - i128::from(s)) * 1_000_000_000 + i128::from(en) - i128::from(sn);
            u64::try_from(nanos / 1_000_000).unwrap_or(0)
        }
        _ => 0,
    }
}

/// Replaces secret values in text that reaches the user: a step that prints a secret (or an
/// error that quotes it) shows `****` instead. Values, and each line of a multi-line value,
/// shorter than 4 characters are left alone: masking them would garble ordinary output.
#[derive(Default)]
pub(super) struct Masker {
    needles: Vec<String>,
}

impl Masker {
    pub(super) const MASK: &'static str = "****";
    const SHORTEST: usize = 4;

    pub(super) fn new<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Masker {
        let mut needles = Vec::new();
        for value in values {
            let text = String::from_utf8_lossy(value);
            let whole = text.trim_end_matches(['\n', '\r']);
            for candidate in std::iter::once(whole).chain(whole.lines()) {
                let candidate = candidate.trim_end_matches('\r');
                if candidate.chars().count() >= Self::SHORTEST && !needles.iter().any(|n| n == candidate) {
                    needles.push(candidate.to_string());
                }
            }
        }
        // Longest first: a value that contains another is masked whole.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        Masker { needles }
    }

    pub(super) fn mask(&self, text: &str) -> String {
        let mut text = text.to_string();
        for needle in &self.needles {
            if text.contains(needle.as_str()) {
                text = text.replace(needle.as_str(), Self::MASK);
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_buildkit_proto::moby::buildkit::v1::{Vertex, VertexLog};

    #[derive(Debug, PartialEq)]
    enum Seen {
        Step(String, String),
        Log(String, String),
    }

    fn run(progress: &mut Progress, updates: Vec<StatusResponse>) -> Vec<Seen> {
        let mut seen = Vec::new();
        let mut on_event = |e: BuildEvent<'_>| {
            seen.push(match e {
                BuildEvent::Step { id, state, .. } => Seen::Step(id.to_string(), format!("{state:?}")),
                BuildEvent::Log { id, text } => Seen::Log(id.to_string(), text.to_string()),
            })
        };
        for update in updates {
            progress.feed(update, &mut on_event);
        }
        progress.finish(&mut on_event);
        seen
    }

    fn ts(seconds: i64, nanos: i32) -> Option<Timestamp> {
        Some(Timestamp { seconds, nanos })
    }

    fn vertex(digest: &str, started: Option<Timestamp>, completed: Option<Timestamp>) -> Vertex {
        Vertex { digest: digest.into(), name: format!("[1/2] RUN {digest}"), started, completed, ..Default::default() }
    }

    fn log(digest: &str, msg: &str) -> VertexLog {
        VertexLog { vertex: digest.into(), stream: 1, msg: msg.as_bytes().to_vec(), timestamp: None }
    }

    fn step(id: &str, state: &str) -> Seen {
        Seen::Step(id.into(), state.into())
    }

    fn line(id: &str, text: &str) -> Seen {
        Seen::Log(id.into(), text.into())
    }

    #[test]
    fn lines_are_whole_and_the_end_follows_them() {
        let mut progress = Progress::new(Masker::default());
        let seen = run(
            &mut progress,
            vec![
                StatusResponse { vertexes: vec![vertex("a", ts(10, 0), None)], ..Default::default() },
                StatusResponse { logs: vec![log("a", "hel"), log("a", "lo\nwor")], ..Default::default() },
                StatusResponse {
                    vertexes: vec![vertex("a", ts(10, 0), ts(11, 500_000_000))],
                    logs: vec![log("a", "ld\r\nlast")],
                    ..Default::default()
                },
            ],
        );
        assert_eq!(
            seen,
            vec![
                step("a", "Started"),
                line("a", "hello"),
                line("a", "world"),
                line("a", "last"),
                step("a", "Done { millis: 1500 }"),
            ]
        );
    }

    #[test]
    fn cached_steps_are_reported_once_and_never_as_started() {
        let mut progress = Progress::new(Masker::default());
        let mut cached = vertex("c", ts(5, 0), ts(5, 0));
        cached.cached = true;
        let seen = run(
            &mut progress,
            vec![
                StatusResponse { vertexes: vec![cached.clone()], ..Default::default() },
                StatusResponse { vertexes: vec![cached], ..Default::default() },
            ],
        );
        assert_eq!(seen, vec![step("c", "Cached")]);
    }

    #[test]
    fn the_first_failure_is_the_one_not_cancelled() {
        let mut progress = Progress::new(Masker::default());
        let mut cancelled = vertex("x", ts(1, 0), ts(2, 0));
        cancelled.error = "context canceled".into();
        let mut failed = vertex("y", ts(1, 0), ts(2, 0));
        failed.error = "executor failed running [/bin/sh -c exit 3]: exit code: 3".into();
        let seen = run(
            &mut progress,
            vec![StatusResponse {
                vertexes: vec![cancelled, failed],
                logs: vec![log("y", "boom")],
                ..Default::default()
            }],
        );
        assert!(seen.contains(&line("y", "boom")));
        let failure = progress.failure().expect("a failure");
        assert_eq!(failure.name, "[1/2] RUN y");
        assert!(failure.error.contains("exit code: 3"));
        let last = seen.last().expect("events");
        assert!(matches!(last, Seen::Step(id, state) if id == "y" && state.starts_with("Failed")), "{seen:?}");
    }

    #[test]
    fn secrets_are_masked_in_output_and_errors() {
        let masker = Masker::new([b"s3cr3t-value\n".as_slice(), b"ab".as_slice(), b"line-one\nline-two".as_slice()]);
        assert_eq!(masker.mask("token=s3cr3t-value!"), "token=****!");
        assert_eq!(masker.mask("ab stays"), "ab stays");
        assert_eq!(masker.mask("got line-two"), "got ****");
        let mut progress = Progress::new(masker);
        let seen = run(
            &mut progress,
            vec![
                StatusResponse { logs: vec![log("a", "s3cr3t-")], ..Default::default() },
                StatusResponse { logs: vec![log("a", "value\n")], ..Default::default() },
            ],
        );
        assert_eq!(seen, vec![line("a", "****")]);
    }

    #[test]
    fn decodes_the_engines_trace() {
        let status = StatusResponse { vertexes: vec![vertex("a", ts(1, 0), None)], ..Default::default() };
        let aux = serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(status.encode_to_vec()));
        assert_eq!(decode_trace(&aux).expect("decodes"), status);
        assert!(decode_trace(&serde_json::json!({"ID": "x"})).is_err());
    }
}
