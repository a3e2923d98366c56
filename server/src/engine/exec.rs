//! Running commands in a builder: stream the output live, return the exit code.

use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;

use super::{engine_error, Engine};
use crate::cancel::CancelToken;
use crate::error::{Error, ErrorKind, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

pub struct ExecRequest<'a> {
    pub argv: &'a [String],
    /// What the user knows the command as (the Dockerfile's step, never a wrapper script of
    /// ours): every message about it says this.
    pub display: &'a str,
    pub workdir: Option<&'a str>,
    /// `NAME=value` pairs added to the container's environment.
    pub env: &'a [(String, String)],
    /// `user[:group]`; None runs as the container's user.
    pub user: Option<&'a str>,
    /// Written to the command's stdin, which is then closed; None leaves stdin unattached.
    pub stdin: Option<Stdin<'a>>,
}

/// What an exec reads on stdin, and when it may be written.
#[derive(Clone, Copy)]
pub struct Stdin<'a> {
    pub bytes: &'a [u8],
    /// Written only once this is notified (by whoever reads the output): a command that
    /// stops before it reads stdin would otherwise leave the write, and the exec, hanging.
    pub ready: &'a tokio::sync::Notify,
}

/// How an exec ended.
#[derive(Debug, Clone, Copy)]
pub struct ExecExit {
    pub code: i64,
    /// From asking the engine for the exec until its output was attached (create + start).
    pub start: Duration,
}

/// An exec started and attached, its output not read yet (see `Engine::start_exec`).
pub struct Attached {
    id: String,
    display: String,
    output: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = std::result::Result<LogOutput, bollard::errors::Error>> + Send>,
    >,
    input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    /// What creating and starting it cost.
    pub start: Duration,
}

impl Attached {
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Engine {
    /// Runs `request` in `container`, feeding its output to `on_output` as it comes, and
    /// returns the exit code. After `timeout`, or when `cancel` fires, every process the build
    /// started is killed and the result is a Timeout or Cancelled error; the builder itself
    /// (PID 1) stays.
    pub async fn exec(
        &self,
        container: &str,
        request: ExecRequest<'_>,
        timeout: Option<Duration>,
        cancel: Option<&CancelToken>,
        on_output: &mut (dyn FnMut(OutputStream, &[u8]) + Send),
    ) -> Result<ExecExit> {
        let attached = self.start_exec(container, &request, request.stdin.is_some()).await?;
        self.finish_exec(container, attached, request.stdin, timeout, cancel, on_output).await
    }

    /// Creates and starts `request` in `container`, attached (with stdin when asked), without
    /// reading anything yet: the process runs, and waits once its output or stdin is full.
    /// A start cut off with the connection is handled as a build that lost it (its processes
    /// are stopped).
    pub async fn start_exec(&self, container: &str, request: &ExecRequest<'_>, stdin: bool) -> Result<Attached> {
        match self.attach(container, request, stdin).await {
            Ok(attached) => Ok(attached),
            Err(Failed::Create(e)) => Err(e),
            Err(Failed::Start(e)) => Err(self.lost_during(container, request.display, e).await),
        }
    }

    /// [`Engine::start_exec`] for a step started ahead of its cycle, outside the project's
    /// lock: a failure only means none is waiting, and never stops what another process runs
    /// in the builder.
    pub async fn start_exec_ahead(&self, container: &str, request: &ExecRequest<'_>) -> Result<Attached> {
        self.attach(container, request, true).await.map_err(|(Failed::Create(e) | Failed::Start(e))| e)
    }

    async fn attach(
        &self,
        container: &str,
        request: &ExecRequest<'_>,
        stdin: bool,
    ) -> std::result::Result<Attached, Failed> {
        let asked = std::time::Instant::now();
        let env: Vec<String> = request.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let options = CreateExecOptions::<String> {
            cmd: Some(request.argv.to_vec()),
            working_dir: request.workdir.map(str::to_string),
            env: if env.is_empty() { None } else { Some(env) },
            user: request.user.map(str::to_string),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            attach_stdin: Some(stdin),
            ..Default::default()
        };
        let display = request.display.to_string();
        let exec = self
            .docker
            .create_exec(container, options)
            .await
            .map_err(|e| Failed::Create(engine_error(&format!("start `{display}` in the builder"), e)))?;
        match self.docker.start_exec(&exec.id, None).await {
            Ok(StartExecResults::Attached { output, input }) => {
                Ok(Attached { id: exec.id, display, output, input, start: asked.elapsed() })
            }
            Ok(StartExecResults::Detached) => {
                Err(Failed::Create(Error::new(ErrorKind::Engine, format!("the engine ran `{display}` detached"), "")))
            }
            Err(e) => Err(Failed::Start(engine_error(&format!("run `{display}` in the builder"), e))),
        }
    }

    /// Whether a started exec's process still runs.
    pub async fn exec_running(&self, id: &str) -> bool {
        matches!(self.docker.inspect_exec(id).await, Ok(i) if i.running == Some(true))
    }

    /// Feeds a started exec its stdin (once `stdin.ready` is notified), reads its output to the
    /// end, and returns its exit code; timeouts and cancels as for [`Engine::exec`].
    pub async fn finish_exec(
        &self,
        container: &str,
        attached: Attached,
        stdin: Option<Stdin<'_>>,
        timeout: Option<Duration>,
        cancel: Option<&CancelToken>,
        on_output: &mut (dyn FnMut(OutputStream, &[u8]) + Send),
    ) -> Result<ExecExit> {
        let Attached { id, display, mut output, mut input, start } = attached;
        let run = async {
            // Fed while the output is read, so neither side can wait on the other. A write
            // error means the command stopped reading: its exit code tells why.
            let feed = async {
                if let Some(Stdin { bytes, ready }) = stdin {
                    use tokio::io::AsyncWriteExt;
                    ready.notified().await;
                    if input.write_all(bytes).await.is_ok() {
                        let _ = input.shutdown().await;
                    }
                }
                std::future::pending::<std::convert::Infallible>().await
            };
            let read = async {
                while let Some(chunk) = output.next().await {
                    match chunk {
                        Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                            on_output(OutputStream::Stdout, &message)
                        }
                        Ok(LogOutput::StdErr { message }) => on_output(OutputStream::Stderr, &message),
                        Ok(LogOutput::StdIn { .. }) => {}
                        Err(e) => return Err(engine_error(&format!("read the output of `{display}`"), e)),
                    }
                }
                Ok(())
            };
            // The output's end ends the exec, whether or not stdin was all taken.
            tokio::select! {
                never = feed => match never {},
                read = read => read,
            }
        };
        let limit = timeout.unwrap_or(Duration::MAX);
        let cancelled = async {
            match cancel {
                Some(token) => token.cancelled().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            finished = tokio::time::timeout(limit, run) => match finished {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(self.lost_during(container, &display, e).await),
                Err(_) => {
                    self.kill_build_processes(container).await;
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!("`{display}` ran longer than {} s and was stopped", limit.as_secs()),
                        "raise `timeout_secs` in rebuilder.toml if the build needs longer",
                    ));
                }
            },
            () = cancelled => {
                self.kill_build_processes(container).await;
                return Err(Error::new(ErrorKind::Cancelled, format!("`{display}` was cancelled"), ""));
            }
        }
        let inspect = match self.docker.inspect_exec(&id).await {
            Ok(inspect) => inspect,
            Err(e) => {
                let e = engine_error(&format!("read the exit code of `{display}`"), e);
                return Err(self.lost_during(container, &display, e).await);
            }
        };
        match (inspect.exit_code, inspect.running) {
            (Some(code), Some(false) | None) => Ok(ExecExit { code, start }),
            // The output ended but the process did not: the connection was cut.
            _ => {
                let e = Error::new(ErrorKind::Engine, "its output stopped while it still ran", "");
                Err(self.lost_during(container, &display, e).await)
            }
        }
    }

    /// The connection to the engine broke while a build ran: stop what the build left running
    /// so the next cycle never syncs under it (now, or at the next cycle if the engine is
    /// away), and say so.
    async fn lost_during(&self, container: &str, display: &str, cause: Error) -> Error {
        let stopped = self.kill_build_processes(container).await;
        if !stopped {
            lock_interrupted().insert(container.to_string());
        }
        let what = if stopped {
            "its processes in the builder were stopped"
        } else {
            "whatever it left running will be stopped before the next build"
        };
        let fix = if cause.fix.is_empty() {
            "check that the engine runs (`docker info`) and start it if it stopped; the next save builds again"
                .to_string()
        } else {
            format!("{}; the next save builds again", cause.fix)
        };
        Error::new(
            ErrorKind::EngineUnavailable,
            format!("the connection to the Docker engine was lost while `{display}` ran ({}); {what}", cause.cause),
            fix,
        )
    }

    /// Stops processes an interrupted build left in `container`, if any (see `lost_during`).
    pub async fn stop_interrupted_build(&self, container: &str) {
        let pending = lock_interrupted().remove(container);
        if pending && !self.kill_build_processes(container).await {
            lock_interrupted().insert(container.to_string());
        }
    }

    /// Kills every process in the builder but its keep-alive (PID 1): `kill -1` spares init.
    /// Returns whether that could be done.
    pub async fn kill_build_processes(&self, container: &str) -> bool {
        let argv = ["/bin/sh".to_string(), "-c".to_string(), "kill -KILL -1".to_string()];
        let request = ExecRequest {
            argv: &argv,
            display: "kill -KILL -1",
            workdir: None,
            env: &[],
            user: Some("0"),
            stdin: None,
        };
        // `kill -1` spares the caller too; its exit status says nothing either way.
        Box::pin(self.exec(container, request, None, None, &mut |_, _| {})).await.is_ok()
    }
}

/// Where starting an exec failed: before anything ran, or once it may have started.
enum Failed {
    Create(Error),
    Start(Error),
}

/// Builders whose interrupted build could not be stopped yet (the engine was away).
static INTERRUPTED: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

fn lock_interrupted() -> std::sync::MutexGuard<'static, std::collections::BTreeSet<String>> {
    INTERRUPTED.lock().unwrap_or_else(|e| e.into_inner())
}

/// What `docker-rebuilder shell` is wired to, as `docker exec -i` with or without `-t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellIo {
    /// Stdin is a terminal (of (rows, cols), when known): the exec gets a TTY. Raw mode is the
    /// caller's to set and restore.
    Terminal(Option<(u16, u16)>),
    /// Stdin is a pipe or a file: no TTY, the command's stdout and stderr kept apart, and stdin
    /// closed at its end so the shell sees EOF and exits.
    Piped,
}

impl Engine {
    /// Runs `argv` in `container` wired to this process's stdin, stdout and stderr (for
    /// `docker-rebuilder shell`), and returns as soon as it exits, with its exit code, whether
    /// or not stdin has more to give.
    pub async fn interactive(
        &self,
        container: &str,
        argv: &[String],
        workdir: Option<&str>,
        io: ShellIo,
    ) -> Result<i64> {
        use tokio::io::AsyncWriteExt;
        let tty = matches!(io, ShellIo::Terminal(_));
        let options = CreateExecOptions::<String> {
            cmd: Some(argv.to_vec()),
            working_dir: workdir.map(str::to_string),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(tty),
            env: tty.then(|| vec!["TERM=xterm-256color".to_string()]),
            ..Default::default()
        };
        let exec = self
            .docker
            .create_exec(container, options)
            .await
            .map_err(|e| engine_error("open a shell in the builder", e))?;
        let started = self
            .docker
            .start_exec(&exec.id, Some(bollard::exec::StartExecOptions { tty, ..Default::default() }))
            .await
            .map_err(|e| engine_error("open a shell in the builder", e))?;
        let StartExecResults::Attached { mut output, mut input } = started else {
            return Err(Error::new(ErrorKind::Engine, "the engine ran the shell detached", ""));
        };
        if let ShellIo::Terminal(Some((rows, cols))) = io {
            let resize = bollard::exec::ResizeExecOptions { height: rows, width: cols };
            let _ = self.docker.resize_exec(&exec.id, resize).await;
        }
        let mut typed = read_stdin_detached();
        let feed = async {
            while let Some(chunk) = typed.recv().await {
                if input.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            // The end of our stdin is the end of the shell's: close the write half.
            let _ = input.shutdown().await;
            std::future::pending::<std::convert::Infallible>().await
        };
        let show = async {
            let (mut stdout, mut stderr) = (tokio::io::stdout(), tokio::io::stderr());
            while let Some(chunk) = output.next().await {
                let chunk = chunk.map_err(|e| engine_error("read the shell's output", e))?;
                let (to, bytes): (&mut (dyn tokio::io::AsyncWrite + Unpin + Send), _) = match chunk {
                    LogOutput::StdErr { message } => (&mut stderr, message),
                    LogOutput::StdOut { message } | LogOutput::Console { message } => (&mut stdout, message),
                    LogOutput::StdIn { .. } => continue,
                };
                // Our own stdout closed (`shell | head`): keep the shell running to its end.
                if to.write_all(&bytes).await.is_ok() {
                    let _ = to.flush().await;
                }
            }
            Ok::<(), Error>(())
        };
        // The output ends when the shell exits: that, and not stdin, ends the command.
        tokio::select! {
            never = feed => match never {},
            shown = show => shown?,
        }
        let inspect =
            self.docker.inspect_exec(&exec.id).await.map_err(|e| engine_error("read the shell's exit code", e))?;
        inspect.exit_code.ok_or_else(|| {
            Error::new(
                ErrorKind::Engine,
                "the shell's output ended but the engine gives no exit status for it",
                "check the builder with `docker-rebuilder status`; the shell may still run in it",
            )
        })
    }
}

/// This process's stdin, chunk by chunk; the channel closes at its end. Read in a plain thread
/// nobody waits for: a read blocked on a terminal (nothing typed since the shell exited) must
/// not keep the process alive, as a tokio blocking task would when the runtime shuts down.
fn read_stdin_detached() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let (send, receive) = tokio::sync::mpsc::channel(16);
    let spawned = std::thread::Builder::new().name("shell-stdin".into()).spawn(move || {
        use std::io::Read;
        let mut stdin = std::io::stdin().lock();
        let mut buffer = vec![0u8; 8192];
        loop {
            match stdin.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    if send.blocking_send(buffer[..n].to_vec()).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    });
    // Without the thread the shell gets no input: it sees EOF at once, as with `< /dev/null`.
    drop(spawned);
    receive
}
