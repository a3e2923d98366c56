//! An engine over ssh, as the docker CLI reaches one: each connection is `ssh … docker system
//! dial-stdio` on the remote host, whose stdin and stdout are the engine's socket. So the
//! user's ssh does the authentication (agent, keys, ~/.ssh/config, known_hosts), and the
//! remote needs only the docker CLI, as `docker -H ssh://…` itself needs.

use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::endpoint::EngineIo;

/// How to reach the engine: the ssh destination and, when given, the socket there.
#[derive(Debug, Clone)]
pub(crate) struct SshDial {
    pub(crate) user: Option<String>,
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
    pub(crate) socket: Option<String>,
    /// What ssh last said on stderr (why it could not connect), for the error message.
    pub(crate) said: Arc<Mutex<String>>,
}

impl PartialEq for SshDial {
    fn eq(&self, other: &SshDial) -> bool {
        (&self.user, &self.host, self.port, &self.socket) == (&other.user, &other.host, other.port, &other.socket)
    }
}
impl Eq for SshDial {}

impl SshDial {
    /// ssh's arguments, as docker's connection helper gives them; BatchMode because nobody can
    /// answer a password prompt (the LSP server's stdio is the editor's).
    pub(crate) fn args(&self) -> Vec<String> {
        let mut args: Vec<String> =
            ["-o", "ConnectTimeout=30", "-o", "BatchMode=yes", "-T"].iter().map(|s| s.to_string()).collect();
        if let Some(user) = &self.user {
            args.extend(["-l".to_string(), user.clone()]);
        }
        if let Some(port) = self.port {
            args.extend(["-p".to_string(), port.to_string()]);
        }
        args.extend(["--".to_string(), self.host.clone(), "docker".to_string()]);
        if let Some(socket) = &self.socket {
            args.push(format!("--host=unix://{socket}"));
        }
        args.extend(["system".to_string(), "dial-stdio".to_string()]);
        args
    }

    /// What ssh said last (its stderr), if anything.
    pub(crate) fn last_words(&self) -> String {
        self.said.lock().map(|s| s.trim().to_string()).unwrap_or_default()
    }

    pub(crate) async fn dial(&self) -> std::io::Result<Box<dyn EngineIo>> {
        let mut child = tokio::process::Command::new("ssh")
            .args(self.args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot run ssh: {e}")))?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(std::io::Error::other("ssh started without its pipes"));
        };
        let said = self.said.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut s) = said.lock() {
                    // The last few lines are the ones that say why.
                    if s.len() > 2000 {
                        s.clear();
                    }
                    s.push_str(&line);
                    s.push('\n');
                }
            }
        });
        Ok(Box::new(SshStream { _child: child, stdin, stdout }))
    }
}

/// The ssh process's stdout and stdin as one stream; the process ends with it.
struct SshStream {
    _child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl AsyncRead for SshStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stdin).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdin).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdin).poll_shutdown(cx)
    }
}
