//! A guard in front of the protocol library: it reads LSP frames from stdin and passes on
//! only well-formed JSON-RPC messages. The library stops serving at the first frame it
//! cannot decode, so a malformed message would otherwise end the server; here it becomes
//! a `$/docker-rebuilder/malformed` notification, which the server answers with a log line.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tower_lsp_server::jsonrpc::{Request, Response};

pub const MALFORMED: &str = "$/docker-rebuilder/malformed";

/// Frames larger than this are read and dropped, not buffered whole.
const MAX_FRAME: usize = 64 * 1024 * 1024;

/// The sanitized input stream for the server.
pub fn guard(input: impl AsyncRead + Unpin + Send + 'static) -> DuplexStream {
    let (reader, mut writer) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let mut input = BufReader::new(input);
        loop {
            let forwarded = match read_frame(&mut input).await {
                Ok(Some(Ok(body))) => frame(&body),
                Ok(Some(Err(problem))) => frame(&malformed(&problem)),
                // End of input or a broken pipe: the client is gone.
                Ok(None) | Err(_) => break,
            };
            if writer.write_all(&forwarded).await.is_err() {
                break;
            }
        }
    });
    reader
}

/// One frame: Ok(Some(Ok(body))) when it is a JSON-RPC message, Ok(Some(Err(why))) when not.
async fn read_frame(
    input: &mut (impl tokio::io::AsyncBufRead + Unpin),
) -> std::io::Result<Option<Result<Vec<u8>, String>>> {
    let mut length: Option<usize> = None;
    let mut bad_header = None;
    loop {
        let mut line = String::new();
        if input.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if length.is_some() || bad_header.is_some() {
                break;
            }
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("content-length") => match value.trim().parse() {
                Ok(n) => length = Some(n),
                Err(_) => bad_header = Some(format!("bad Content-Length `{}`", value.trim())),
            },
            Some((name, _)) if name.eq_ignore_ascii_case("content-type") => {}
            _ => bad_header = Some(format!("unexpected header line `{}`", line.chars().take(80).collect::<String>())),
        }
    }
    let Some(length) = length else {
        return Ok(Some(Err(bad_header.unwrap_or_else(|| "missing Content-Length".to_string()))));
    };
    if length > MAX_FRAME {
        tokio::io::copy(&mut input.take(length as u64), &mut tokio::io::sink()).await?;
        return Ok(Some(Err(format!("a {length}-byte message is larger than the {MAX_FRAME}-byte limit"))));
    }
    let mut body = vec![0; length];
    input.read_exact(&mut body).await?;
    if serde_json::from_slice::<Request>(&body).is_ok() || serde_json::from_slice::<Response>(&body).is_ok() {
        Ok(Some(Ok(body)))
    } else {
        let preview: String = String::from_utf8_lossy(&body).chars().take(120).collect();
        Ok(Some(Err(format!("not a JSON-RPC 2.0 message: {preview}"))))
    }
}

fn malformed(problem: &str) -> Vec<u8> {
    serde_json::json!({ "jsonrpc": "2.0", "method": MALFORMED, "params": { "problem": problem } })
        .to_string()
        .into_bytes()
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &str) -> Vec<Result<String, String>> {
        let mut reader = BufReader::new(input.as_bytes());
        let mut out = Vec::new();
        while let Ok(Some(f)) = read_frame(&mut reader).await {
            out.push(f.map(|b| String::from_utf8_lossy(&b).into_owned()));
        }
        out
    }

    #[tokio::test]
    async fn well_formed_messages_pass_and_garbage_is_flagged_without_losing_the_next_one() {
        let ok = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#;
        let input = format!(
            "Content-Length: 5\r\n\r\n{{ bad\r\nContent-Length: 5\r\n\r\n[1,2]Content-Length: {}\r\n\r\n{ok}",
            ok.len()
        );
        let got = frames(&input).await;
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].is_err() && got[1].is_err(), "{got:?}");
        assert_eq!(got[2].as_deref(), Ok(ok));
    }

    #[tokio::test]
    async fn a_frame_without_content_length_is_flagged() {
        let got = frames("X-Foo: 1\r\n\r\n").await;
        assert!(matches!(got.as_slice(), [Err(e)] if e.contains("X-Foo")), "{got:?}");
    }
}
