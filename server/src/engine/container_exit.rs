//! A running container's end, as a service's watcher needs it: waiting until it stops, how it
//! ended, and the last lines it printed; and whether a stop had to kill it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bollard::container::LogOutput;
use bollard::query_parameters::{EventsOptionsBuilder, LogsOptionsBuilder, WaitContainerOptionsBuilder};
use futures_util::StreamExt;

use super::{engine_error, Engine};
use crate::error::{Error, ErrorKind, Result};

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerExit {
    pub code: i64,
    /// The kernel's OOM killer ended it.
    pub oom_killed: bool,
    /// Its restart policy is starting it again.
    pub restarting: bool,
    /// From its start to its exit, as the engine recorded them.
    pub ran_for: Option<std::time::Duration>,
}

/// Whether a container's exit `code` is what a stop gives it (`docker stop`, compose's `stop`,
/// `down` or its own recreate, Ctrl-C): 0, or a stop signal's 128 + n (SIGINT 130, SIGKILL 137,
/// SIGTERM 143). Any other code is the app's own failure.
pub fn is_stop_code(code: i64) -> bool {
    matches!(code, 0 | 130 | 137 | 143)
}

impl Engine {
    /// Waits until the container `id` is not running (at once when it already stopped) and
    /// says how it ended. A container its restart policy restarts counts as stopped at its exit.
    pub async fn wait_stopped(&self, id: &str) -> Result<ContainerExit> {
        let options = WaitContainerOptionsBuilder::default().condition("not-running").build();
        let code = match self.docker.wait_container(id, Some(options)).next().await {
            Some(Ok(answer)) => answer.status_code,
            // bollard makes a non-zero exit an error of its own.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(engine_error(&format!("wait for the container {id}"), e)),
            None => {
                return Err(Error::new(
                    ErrorKind::Engine,
                    format!("the engine ended the wait for the container {id} without an answer"),
                    "",
                ))
            }
        };
        let state = match self.docker.inspect_container(id, None).await {
            Ok(c) => c.state.unwrap_or_default(),
            // Removed as it ended (`--rm`, or compose recreating it): its code is all there is.
            Err(_) => Default::default(),
        };
        let ran_for =
            match (state.started_at.as_deref().and_then(seconds), state.finished_at.as_deref().and_then(seconds)) {
                (Some(started), Some(finished)) if finished >= started => {
                    Some(std::time::Duration::from_secs_f64(finished - started))
                }
                _ => None,
            };
        Ok(ContainerExit {
            code,
            oom_killed: state.oom_killed.unwrap_or(false),
            restarting: state.restarting.unwrap_or(false),
            ran_for,
        })
    }

    /// The last `lines` lines the container printed (stdout and stderr, interleaved as the
    /// engine logged them), since `since` (seconds since the epoch; 0: all).
    pub async fn container_output(&self, id: &str, lines: usize, since: i64) -> Result<Vec<u8>> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .since(i32::try_from(since).unwrap_or(0))
            .build();
        let mut stream = self.docker.logs(id, Some(options));
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(
                    LogOutput::StdOut { message }
                    | LogOutput::StdErr { message }
                    | LogOutput::Console { message }
                    | LogOutput::StdIn { message },
                ) => out.extend_from_slice(&message),
                Err(e) => return Err(engine_error(&format!("read the output of the container {id}"), e)),
            }
        }
        Ok(out)
    }

    /// The container's last `lines` of output printed at `after` or later, to the engine's
    /// sub-second precision (each line's own time stamp): a long-running container's output
    /// before some moment (an earlier save's errors) left out.
    pub async fn container_output_after(&self, id: &str, lines: usize, after: SystemTime) -> Result<Vec<u8>> {
        let after = after.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .tail(&lines.to_string())
            .since(i32::try_from(after as i64).unwrap_or(0))
            .build();
        let mut stream = self.docker.logs(id, Some(options));
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            let message = match chunk {
                Ok(
                    LogOutput::StdOut { message }
                    | LogOutput::StdErr { message }
                    | LogOutput::Console { message }
                    | LogOutput::StdIn { message },
                ) => message,
                Err(e) => return Err(engine_error(&format!("read the output of the container {id}"), e)),
            };
            if let Some(line) = stamped_at_or_after(&message, after) {
                out.extend_from_slice(line);
            }
        }
        Ok(out)
    }
}

/// A log message (`<RFC 3339 time> <text>`) without its time, when that time is `after` or
/// later; a message with no readable time is kept.
fn stamped_at_or_after(message: &[u8], after: f64) -> Option<&[u8]> {
    let space = message.iter().position(|b| *b == b' ')?;
    let stamp = std::str::from_utf8(&message[..space]).ok().and_then(seconds);
    match stamp {
        Some(at) if at < after => None,
        Some(_) => Some(&message[space + 1..]),
        None => Some(message),
    }
}

/// The engine's SIGKILLs of some containers, heard while a stop of them runs: a stop that
/// ends in one means the container did not exit on its stop signal within its grace period,
/// and every stop of it takes that long. Heard live (from before the stop), so it needs
/// neither the engine's clock nor its event buffer.
pub struct KillWatch {
    task: tokio::task::JoinHandle<()>,
    killed: Arc<Mutex<Vec<String>>>,
}

impl KillWatch {
    /// The containers killed with SIGKILL so far; the watch ends.
    pub fn killed(self) -> Vec<String> {
        self.task.abort();
        let killed = self.killed.lock().unwrap_or_else(|e| e.into_inner());
        killed.clone()
    }
}

impl Drop for KillWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether the engine's `kill` event's `signal` attribute is SIGKILL (Docker writes the number).
fn is_sigkill(signal: &str) -> bool {
    matches!(signal, "9" | "KILL" | "SIGKILL")
}

impl Engine {
    /// Starts hearing the engine's SIGKILLs of the containers `ids` (see `KillWatch`).
    pub fn watch_kills(&self, ids: &[String]) -> KillWatch {
        let killed = Arc::new(Mutex::new(Vec::new()));
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("event".to_string(), vec!["kill".to_string()]),
            ("container".to_string(), ids.to_vec()),
        ]);
        let mut events = self.docker.events(Some(EventsOptionsBuilder::default().filters(&filters).build()));
        let heard = killed.clone();
        let task = tokio::spawn(async move {
            // An engine that cannot stream events: no news, as with no kill.
            while let Some(Ok(event)) = events.next().await {
                let Some(actor) = event.actor else { continue };
                let signal = actor.attributes.as_ref().and_then(|a| a.get("signal"));
                if let (Some(id), Some(true)) = (actor.id, signal.map(|s| is_sigkill(s))) {
                    heard.lock().unwrap_or_else(|e| e.into_inner()).push(id);
                }
            }
        });
        KillWatch { task, killed }
    }
}

/// Seconds since the epoch of an RFC 3339 time as the engine writes them
/// (`2026-12-05T00:05:01.123456789Z`, or with a `+01:00` offset); None for its zero time.
impl Engine {
    /// When the container `id` was created, to the engine's sub-second precision (the list
    /// gives whole seconds); None when it is gone or the engine does not say.
    pub async fn container_created(&self, id: &str) -> Option<std::time::SystemTime> {
        let inspect = self.docker.inspect_container(id, None).await.ok()?;
        let secs = seconds(inspect.created.as_deref()?)?;
        std::time::UNIX_EPOCH.checked_add(std::time::Duration::try_from_secs_f64(secs).ok()?)
    }
}

fn seconds(time: &str) -> Option<f64> {
    let (date, rest) = time.split_once('T')?;
    let mut parts = date.split('-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (parts.next()??, parts.next()??, parts.next()??);
    if year <= 1 {
        return None;
    }
    let (clock, offset) = match rest.find(['Z', '+', '-']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let mut hms = clock.split(':');
    let (hour, minute) = (hms.next()?.parse::<i64>().ok()?, hms.next()?.parse::<i64>().ok()?);
    let second = hms.next()?.parse::<f64>().ok()?;
    let offset = match offset.split_at_checked(1) {
        Some((sign @ ("+" | "-"), zone)) => {
            let (h, m) = zone.split_once(':')?;
            let minutes = h.parse::<i64>().ok()? * 60 + m.parse::<i64>().ok()?;
            if sign == "+" {
                minutes * 60
            } else {
                -minutes * 60
            }
        }
        _ => 0,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hour * 3_600 + minute * 60 - offset) as f64 + second)
}

#[cfg(test)]
mod tests {
    use super::{seconds, stamped_at_or_after};

    #[test]
    fn output_stamped_before_a_moment_is_left_out() {
        let after = seconds("2026-12-05T16:20:01.500Z").expect("parses");
        let line =
            |m: &'static str| stamped_at_or_after(m.as_bytes(), after).map(|b| String::from_utf8_lossy(b).into_owned());
        assert_eq!(line("2026-12-05T16:20:01.4999Z SyntaxError: old\n"), None, "an earlier save's");
        assert_eq!(line("2026-12-05T16:20:01.5001Z SyntaxError: new\n").as_deref(), Some("SyntaxError: new\n"));
        assert_eq!(line("no-time here\n").as_deref(), Some("no-time here\n"), "unreadable: kept");
    }

    #[test]
    fn the_engine_s_times_read_as_seconds_since_the_epoch() {
        assert_eq!(seconds("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(seconds("2026-12-05T00:05:01Z"), Some(1_796_429_101.0));
        let started = seconds("2026-12-05T00:05:01.250000000Z").expect("parses");
        let finished = seconds("2026-12-05T01:05:02.000000000+01:00").expect("parses");
        assert!((finished - started - 0.75).abs() < 1e-6, "{}", finished - started);
        assert_eq!(seconds("0001-01-01T00:00:00Z"), None, "the engine's zero time: never");
        assert_eq!(seconds("yesterday"), None);
    }
}
