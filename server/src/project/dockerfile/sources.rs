//! What a COPY/ADD source names, as BuildKit tells (`dfgitutil.ParseGitRef`, `isHTTPSource`):
//! a path, a URL or a git repository.

/// A COPY/ADD source's kind. Only ADD fetches URLs and git repositories; BuildKit fails a COPY
/// that names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// A path in the build context (or in the `--from` stage or image).
    Local,
    /// An `http://` or `https://` URL that is not a git repository.
    Url,
    /// A git repository: `git@host:path`, `ssh://…`, `git://…`, or `http(s)://…` whose path ends
    /// in `.git`; each may end in `#ref[:subdir]` or `?ref=…` options.
    Git,
}

impl SourceKind {
    /// The kind of `source`, which should be expanded first ([`super::expand`]): BuildKit
    /// looks at the value after expansion.
    pub fn of(source: &str) -> SourceKind {
        if is_git(source) {
            SourceKind::Git
        } else if source.starts_with("http://") || source.starts_with("https://") {
            SourceKind::Url
        } else {
            SourceKind::Local
        }
    }
}

/// `ParseGitRef` succeeds or fails for a git reason (either way, ADD treats it as git).
fn is_git(source: &str) -> bool {
    if source.starts_with("./") || source.starts_with("../") || source.starts_with("github.com/") {
        // `github.com/…` reads as git only for build contexts, not for ADD.
        return false;
    }
    let scheme_len = source.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(source.len());
    if scheme_len > 0 && source[scheme_len..].starts_with("://") {
        let scheme = source[..scheme_len].to_ascii_lowercase();
        return match scheme.as_str() {
            "http" | "https" => url_path(&source[scheme_len + 3..]).is_some_and(|path| path.ends_with(".git")),
            "ssh" | "git" => url_path(&source[scheme_len + 3..]).is_some(),
            _ => false,
        };
    }
    is_scp_style(source)
}

/// The decoded path of what follows `scheme://`, or `None` where Go's `url.Parse` fails.
fn url_path(rest: &str) -> Option<String> {
    if rest.chars().any(|c| c < ' ' || c == '\u{7f}') {
        return None;
    }
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    percent_decode(fragment)?;
    let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
    let (authority, path) = rest.find('/').map_or((rest, ""), |at| rest.split_at(at));
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let port = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.rsplit_once("]:").map(|(_, port)| port),
        None => host.rsplit_once(':').map(|(_, port)| port),
    };
    if port.is_some_and(|port| !port.chars().all(|c| c.is_ascii_digit())) {
        return None;
    }
    percent_decode(path)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3).filter(|hex| hex.chars().all(|c| c.is_ascii_hexdigit()))?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// sshutil's `^([a-zA-Z0-9-_]+)@([a-zA-Z0-9-.]+):(.*?)(?:\?(.*?))?(?:#(.*))?$`, with a query
/// that Go's `url.ParseQuery` accepts.
fn is_scp_style(source: &str) -> bool {
    let Some((user, rest)) = source.split_once('@') else { return false };
    let Some((host, path)) = rest.split_once(':') else { return false };
    let user_ok = !user.is_empty() && user.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let host_ok = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !user_ok || !host_ok {
        return false;
    }
    let before_fragment = path.split_once('#').map_or(path, |(before, _)| before);
    match before_fragment.split_once('?') {
        None => true,
        Some((_, query)) => !query.contains(';') && query.split(['&', '=']).all(|part| percent_decode(part).is_some()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_sources_are_git_urls_or_paths_as_buildkit_tells() {
        for git in [
            "git@github.com:moby/buildkit.git",
            "git@github.com:moby/buildkit.git#v0.12.0",
            "git@gitlab.com:group/repo#main:docs",
            "git://example.com/repo",
            "ssh://git@github.com/moby/buildkit",
            "https://github.com/moby/buildkit.git",
            "https://github.com/moby/buildkit.git#v0.10.1",
            "https://github.com/moby/buildkit.git#main:frontend/dockerfile",
            "https://github.com/moby/buildkit.git?ref=v0.12.0&subdir=docs",
            "HTTPS://github.com/moby/buildkit.git",
            "http://example.com/repo%2Egit",
        ] {
            assert_eq!(SourceKind::of(git), SourceKind::Git, "{git}");
        }
        for url in [
            "https://github.com/moby/buildkit",
            "https://github.com/moby/buildkit#main",
            "https://example.com/archive.tar.gz",
            "http://example.com/x.git/file",
            "https://example.com/download?file=x.git",
        ] {
            assert_eq!(SourceKind::of(url), SourceKind::Url, "{url}");
        }
        for local in [
            "src/",
            "./git@host:x",
            "github.com/moby/buildkit",
            "app.git",
            "ftp://example.com/x.git",
            "user@host",
            "us er@host:path",
            "HTTPS://example.com/archive.tgz",
        ] {
            assert_eq!(SourceKind::of(local), SourceKind::Local, "{local}");
        }
    }

    #[test]
    fn what_go_cannot_parse_as_a_url_is_no_git_repository() {
        assert_eq!(SourceKind::of("https://host:port/x.git"), SourceKind::Url);
        assert_eq!(SourceKind::of("https://host/x%zz.git"), SourceKind::Url);
        assert_eq!(SourceKind::of("https://[::1]:8080/x.git"), SourceKind::Git);
        assert_eq!(SourceKind::of("git@host:repo?a=%zz"), SourceKind::Local);
        assert_eq!(SourceKind::of("git@host:repo?a=%+f"), SourceKind::Local);
    }
}
