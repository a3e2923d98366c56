//! What a Dockerfile needs from its builder: the constructs that not every builder reads
//! (the classic builder of Docker 20.10 reads none of them; BuildKit reads them from the
//! Dockerfile syntax version named below). Pure data: which builder supports which is decided
//! elsewhere.

use super::{Dockerfile, InstructionKind, MountKind, Network, Security, SourceKind};

/// A construct that only some builders support, where the Dockerfile uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Construct {
    /// 1-based line: the directive's, or the instruction's first line
    pub line: usize,
    pub kind: ConstructKind,
}

/// The constructs, by what a builder must support.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConstructKind {
    /// `<<EOF` on a RUN, COPY or ADD line, or an ONBUILD trigger of one (dockerfile 1.4).
    Heredoc {
        /// "RUN", "COPY", "ADD" or "ONBUILD"
        instruction: &'static str,
    },
    /// `RUN --mount=type=…` (1.2)
    RunMount(MountKind),
    /// `RUN --network=…` (1.3)
    RunNetwork(Network),
    /// `RUN --security=…` (1.20; `insecure` needs the `security.insecure` entitlement)
    RunSecurity(Security),
    /// `RUN --device=…` (1.14-labs)
    RunDevice,
    /// `COPY/ADD --chmod` (1.2)
    Chmod { add: bool },
    /// `COPY/ADD --link` (1.4)
    Link { add: bool },
    /// `COPY --parents` (1.20)
    Parents,
    /// `COPY/ADD --exclude` (1.19)
    Exclude { add: bool },
    /// `ADD --checksum` (1.6)
    Checksum,
    /// `ADD --keep-git-dir` (1.1)
    KeepGitDir,
    /// `ADD --unpack` (1.17)
    Unpack,
    /// `ADD <git repository>`
    AddGit,
    /// `# syntax=<image>`: BuildKit builds the file with that frontend image.
    Syntax { image: String },
    /// `# check=`: build checks.
    Check,
}

impl ConstructKind {
    /// A stable identifier, e.g. `run-mount-cache`, `copy-link`, `heredoc`.
    pub fn id(&self) -> &'static str {
        match self {
            ConstructKind::Heredoc { .. } => "heredoc",
            ConstructKind::RunMount(MountKind::Bind) => "run-mount-bind",
            ConstructKind::RunMount(MountKind::Cache) => "run-mount-cache",
            ConstructKind::RunMount(MountKind::Tmpfs) => "run-mount-tmpfs",
            ConstructKind::RunMount(MountKind::Secret) => "run-mount-secret",
            ConstructKind::RunMount(MountKind::Ssh) => "run-mount-ssh",
            ConstructKind::RunNetwork(Network::Default) => "run-network-default",
            ConstructKind::RunNetwork(Network::None) => "run-network-none",
            ConstructKind::RunNetwork(Network::Host) => "run-network-host",
            ConstructKind::RunSecurity(Security::Sandbox) => "run-security-sandbox",
            ConstructKind::RunSecurity(Security::Insecure) => "run-security-insecure",
            ConstructKind::RunDevice => "run-device",
            ConstructKind::Chmod { add: false } => "copy-chmod",
            ConstructKind::Chmod { add: true } => "add-chmod",
            ConstructKind::Link { add: false } => "copy-link",
            ConstructKind::Link { add: true } => "add-link",
            ConstructKind::Parents => "copy-parents",
            ConstructKind::Exclude { add: false } => "copy-exclude",
            ConstructKind::Exclude { add: true } => "add-exclude",
            ConstructKind::Checksum => "add-checksum",
            ConstructKind::KeepGitDir => "add-keep-git-dir",
            ConstructKind::Unpack => "add-unpack",
            ConstructKind::AddGit => "add-git",
            ConstructKind::Syntax { .. } => "syntax-directive",
            ConstructKind::Check => "check-directive",
        }
    }

    /// How a message names it: "a heredoc in RUN", "RUN --mount=type=cache", "COPY --link"…
    pub fn name(&self) -> String {
        let keyword = |add: bool| if add { "ADD" } else { "COPY" };
        match self {
            ConstructKind::Heredoc { instruction } => format!("a heredoc in {instruction}"),
            ConstructKind::RunMount(kind) => format!("RUN --mount=type={}", kind.as_str()),
            ConstructKind::RunNetwork(network) => format!("RUN --network={}", network_name(*network)),
            ConstructKind::RunSecurity(Security::Sandbox) => "RUN --security=sandbox".to_string(),
            ConstructKind::RunSecurity(Security::Insecure) => "RUN --security=insecure".to_string(),
            ConstructKind::RunDevice => "RUN --device".to_string(),
            ConstructKind::Chmod { add } => format!("{} --chmod", keyword(*add)),
            ConstructKind::Link { add } => format!("{} --link", keyword(*add)),
            ConstructKind::Parents => "COPY --parents".to_string(),
            ConstructKind::Exclude { add } => format!("{} --exclude", keyword(*add)),
            ConstructKind::Checksum => "ADD --checksum".to_string(),
            ConstructKind::KeepGitDir => "ADD --keep-git-dir".to_string(),
            ConstructKind::Unpack => "ADD --unpack".to_string(),
            ConstructKind::AddGit => "ADD from a git repository".to_string(),
            ConstructKind::Syntax { image } => format!("the `# syntax={image}` directive"),
            ConstructKind::Check => "the `# check=` directive".to_string(),
        }
    }
}

fn network_name(network: Network) -> &'static str {
    match network {
        Network::Default => "default",
        Network::None => "none",
        Network::Host => "host",
    }
}

impl Dockerfile {
    /// Every construct of the file that not every builder supports, by line (the directives
    /// first), each use listed (two cache mounts on a line are two constructs).
    ///
    /// A git source is told from the source as written ([`SourceKind::of`]); one that only a
    /// variable makes a git URL is not listed.
    pub fn constructs(&self) -> Vec<Construct> {
        let mut found = Vec::new();
        if let Some(syntax) = &self.syntax {
            found.push(Construct { line: syntax.line, kind: ConstructKind::Syntax { image: syntax.image.clone() } });
        }
        if let Some(check) = &self.check {
            found.push(Construct { line: check.line, kind: ConstructKind::Check });
        }
        for instruction in self.stages.iter().flat_map(|stage| &stage.instructions) {
            let mut add = |kind| found.push(Construct { line: instruction.line, kind });
            match &instruction.kind {
                InstructionKind::Run { mounts, network, security, devices, heredocs, .. } => {
                    mounts.iter().for_each(|m| add(ConstructKind::RunMount(m.kind)));
                    network.iter().for_each(|n| add(ConstructKind::RunNetwork(*n)));
                    security.iter().for_each(|s| add(ConstructKind::RunSecurity(*s)));
                    devices.iter().for_each(|_| add(ConstructKind::RunDevice));
                    heredocs.iter().for_each(|_| add(ConstructKind::Heredoc { instruction: "RUN" }));
                }
                InstructionKind::Copy { is_add, sources, flags, heredocs, .. } => {
                    let is_add = *is_add;
                    for flag in flags {
                        let name = flag.trim_start_matches('-').split('=').next().unwrap_or_default();
                        match name {
                            "chmod" => add(ConstructKind::Chmod { add: is_add }),
                            "link" => add(ConstructKind::Link { add: is_add }),
                            "parents" => add(ConstructKind::Parents),
                            "exclude" => add(ConstructKind::Exclude { add: is_add }),
                            "checksum" => add(ConstructKind::Checksum),
                            "keep-git-dir" => add(ConstructKind::KeepGitDir),
                            "unpack" => add(ConstructKind::Unpack),
                            _ => {}
                        }
                    }
                    if is_add {
                        let git = sources.iter().filter(|s| SourceKind::of(s) == SourceKind::Git);
                        git.for_each(|_| add(ConstructKind::AddGit));
                    }
                    let instruction = if is_add { "ADD" } else { "COPY" };
                    heredocs.iter().for_each(|_| add(ConstructKind::Heredoc { instruction }));
                }
                InstructionKind::Other { keyword, args } if keyword == "ONBUILD" && args.contains('\n') => {
                    add(ConstructKind::Heredoc { instruction: "ONBUILD" })
                }
                _ => {}
            }
        }
        found
    }
}
