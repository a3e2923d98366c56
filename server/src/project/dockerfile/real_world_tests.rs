//! Dockerfiles as `docker init`, awesome-compose and the Docker docs write them: each parses,
//! with its mounts, heredocs and flags typed, and lists what it needs from its builder.

use super::tests::*;
use super::{ConstructKind, Dockerfile, Instruction};

fn runs(dockerfile: &Dockerfile) -> Vec<&Instruction> {
    let all = dockerfile.stages.iter().flat_map(|s| &s.instructions);
    all.filter(|i| matches!(i.kind, InstructionKind::Run { .. })).collect()
}

fn mounts_of(instruction: &Instruction) -> Vec<(MountKind, Option<&str>, Option<&str>)> {
    match &instruction.kind {
        InstructionKind::Run { mounts, .. } => {
            mounts.iter().map(|m| (m.kind, m.source.as_deref(), m.target.as_deref())).collect()
        }
        _ => vec![],
    }
}

fn command_of(instruction: &Instruction) -> &Command {
    match &instruction.kind {
        InstructionKind::Run { command, .. } => command,
        other => panic!("not a RUN: {other:?}"),
    }
}

fn construct_ids(dockerfile: &Dockerfile) -> Vec<(usize, &'static str)> {
    dockerfile.constructs().into_iter().map(|c| (c.line, c.kind.id())).collect()
}

const DOCKER_INIT_GO: &str = r#"# syntax=docker/dockerfile:1

# Comments are provided throughout this file to help you get started.
ARG GO_VERSION=1.21
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src

# Download dependencies as a separate step to take advantage of Docker's caching.
RUN --mount=type=cache,target=/go/pkg/mod/ \
    --mount=type=bind,source=go.sum,target=go.sum \
    --mount=type=bind,source=go.mod,target=go.mod \
    go mod download -x

ARG TARGETARCH

RUN --mount=type=cache,target=/go/pkg/mod/ \
    --mount=type=bind,target=. \
    CGO_ENABLED=0 GOARCH=$TARGETARCH go build -o /bin/server .

FROM alpine:latest AS final

RUN --mount=type=cache,target=/var/cache/apk \
    apk --update add \
        ca-certificates \
        tzdata \
        && \
        update-ca-certificates

ARG UID=10001
RUN adduser \
    --disabled-password \
    --gecos "" \
    --home "/nonexistent" \
    --shell "/sbin/nologin" \
    --no-create-home \
    --uid "${UID}" \
    appuser
USER appuser

COPY --from=build /bin/server /bin/

EXPOSE 8080

ENTRYPOINT [ "/bin/server" ]
"#;

#[test]
fn docker_init_go() {
    let dockerfile = parse(DOCKER_INIT_GO).expect("parses");
    let runs = runs(&dockerfile);
    assert_eq!(
        mounts_of(runs[0]),
        vec![
            (MountKind::Cache, None, Some("/go/pkg/mod/")),
            (MountKind::Bind, Some("go.sum"), Some("go.sum")),
            (MountKind::Bind, Some("go.mod"), Some("go.mod")),
        ]
    );
    assert_eq!(*command_of(runs[0]), shell("go mod download -x"));
    assert_eq!(
        mounts_of(runs[1]),
        vec![(MountKind::Cache, None, Some("/go/pkg/mod/")), (MountKind::Bind, None, Some("."))]
    );
    assert_eq!(dockerfile.syntax.as_ref().map(|s| s.image.as_str()), Some("docker/dockerfile:1"));
    assert_eq!(
        construct_ids(&dockerfile),
        vec![
            (1, "syntax-directive"),
            (9, "run-mount-cache"),
            (9, "run-mount-bind"),
            (9, "run-mount-bind"),
            (16, "run-mount-cache"),
            (16, "run-mount-bind"),
            (22, "run-mount-cache"),
        ]
    );
}

const DOCKER_INIT_RUST: &str = r#"# syntax=docker/dockerfile:1

ARG RUST_VERSION=1.70.0
ARG APP_NAME=myapp

FROM rust:${RUST_VERSION}-slim-bullseye AS build
ARG APP_NAME
WORKDIR /app

# Build the application.
RUN --mount=type=bind,source=src,target=src \
    --mount=type=bind,source=Cargo.toml,target=Cargo.toml \
    --mount=type=bind,source=Cargo.lock,target=Cargo.lock \
    --mount=type=cache,target=/app/target/ \
    --mount=type=cache,target=/usr/local/cargo/git/db \
    --mount=type=cache,target=/usr/local/cargo/registry/ \
    <<EOF
set -e
cargo build --locked --release
cp ./target/release/$APP_NAME /bin/server
EOF

FROM debian:bullseye-slim AS final
ARG UID=10001
RUN adduser \
    --disabled-password \
    --gecos "" \
    --home "/nonexistent" \
    --shell "/sbin/nologin" \
    --no-create-home \
    --uid "${UID}" \
    appuser
USER appuser
COPY --from=build /bin/server /bin/
EXPOSE 8000
CMD ["/bin/server"]
"#;

#[test]
fn docker_init_rust() {
    let dockerfile = parse(DOCKER_INIT_RUST).expect("parses");
    let build = &runs(&dockerfile)[0];
    assert_eq!((build.line, build.end_line), (11, 21));
    assert_eq!(
        mounts_of(build),
        vec![
            (MountKind::Bind, Some("src"), Some("src")),
            (MountKind::Bind, Some("Cargo.toml"), Some("Cargo.toml")),
            (MountKind::Bind, Some("Cargo.lock"), Some("Cargo.lock")),
            (MountKind::Cache, None, Some("/app/target/")),
            (MountKind::Cache, None, Some("/usr/local/cargo/git/db")),
            (MountKind::Cache, None, Some("/usr/local/cargo/registry/")),
        ]
    );
    // The shell runs the body; `$APP_NAME` is the shell's to expand (it is a build arg in env).
    assert_eq!(
        *command_of(build),
        shell("set -e\ncargo build --locked --release\ncp ./target/release/$APP_NAME /bin/server\n")
    );
    assert_eq!(dockerfile.stages[1].line, 23);
    let ids = construct_ids(&dockerfile);
    assert_eq!(ids.iter().filter(|(line, _)| *line == 11).count(), 7, "six mounts and a heredoc: {ids:?}");
    assert!(ids.contains(&(11, "heredoc")));
}

#[test]
fn docker_init_python_and_node() {
    let python = "# syntax=docker/dockerfile:1\nARG PYTHON_VERSION=3.11.4\nFROM python:${PYTHON_VERSION}-slim as base\n\
        ENV PYTHONDONTWRITEBYTECODE=1\nWORKDIR /app\n\
        RUN --mount=type=cache,target=/root/.cache/pip \\\n    --mount=type=bind,source=requirements.txt,target=requirements.txt \\\n    python -m pip install -r requirements.txt\n\
        USER appuser\nCOPY . .\nEXPOSE 8000\nCMD gunicorn 'app:app' --bind=0.0.0.0:8000\n";
    let dockerfile = parse(python).expect("parses");
    assert_eq!(
        mounts_of(runs(&dockerfile)[0]),
        vec![
            (MountKind::Cache, None, Some("/root/.cache/pip")),
            (MountKind::Bind, Some("requirements.txt"), Some("requirements.txt"))
        ]
    );
    let node = "# syntax=docker/dockerfile:1\nARG NODE_VERSION=20.10.0\nFROM node:${NODE_VERSION}-alpine\nENV NODE_ENV production\nWORKDIR /usr/src/app\n\
        RUN --mount=type=bind,source=package.json,target=package.json \\\n    --mount=type=bind,source=package-lock.json,target=package-lock.json \\\n    --mount=type=cache,target=/root/.npm \\\n    npm ci --omit=dev\n\
        USER node\nCOPY . .\nEXPOSE 3000\nCMD npm start\n";
    let dockerfile = parse(node).expect("parses");
    let run = runs(&dockerfile)[0];
    assert_eq!(mounts_of(run).len(), 3);
    assert_eq!(*command_of(run), shell("npm ci --omit=dev"));
}

#[test]
fn awesome_compose_dev_envs_with_heredocs() {
    // awesome-compose react-express-mysql/backend/Dockerfile
    let text = "# syntax=docker/dockerfile:1.4\nFROM --platform=$BUILDPLATFORM node:lts AS development\n\nWORKDIR /code\n\
        COPY package.json /code/package.json\nCOPY package-lock.json /code/package-lock.json\n\nRUN npm ci\nCOPY . /code\n\n\
        ENV PORT=80\nEXPOSE 80\n\nCMD [ \"npm\", \"start\" ]\n\nFROM development as dev-envs\nRUN <<EOF\napt-get update\n\
        apt-get install -y --no-install-recommends git\nEOF\n\nRUN <<EOF\nuseradd -s /bin/bash -m vscode\ngroupadd docker\n\
        usermod -aG docker vscode\nEOF\n# install Docker tools (cli, buildx, compose)\nCOPY --from=gloursdocker/docker / /\n\
        CMD [ \"npm\", \"start\" ]\n";
    let dockerfile = parse(text).expect("parses");
    let dev = &dockerfile.stages[1];
    assert_eq!(dev.name.as_deref(), Some("dev-envs"));
    assert_eq!(
        dev.instructions.iter().map(|i| (i.line, i.end_line)).collect::<Vec<_>>(),
        vec![(17, 20), (22, 26), (28, 28), (29, 29)]
    );
    assert_eq!(
        *command_of(&dev.instructions[0]),
        shell("apt-get update\napt-get install -y --no-install-recommends git\n")
    );
    assert_eq!(construct_ids(&dockerfile), vec![(1, "syntax-directive"), (17, "heredoc"), (22, "heredoc")]);
}

#[test]
fn docker_docs_secrets_ssh_caches_and_network() {
    let text = "# syntax=docker/dockerfile:1\nFROM ubuntu\n\
        RUN rm -f /etc/apt/apt.conf.d/docker-clean; echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > /etc/apt/apt.conf.d/keep-cache\n\
        RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\\n  --mount=type=cache,target=/var/lib/apt,sharing=locked \\\n  apt update && apt-get --no-install-recommends install -y gcc\n\
        RUN --mount=type=secret,id=aws,target=/root/.aws/credentials \\\n  aws s3 cp s3://example/file .\n\
        RUN --mount=type=secret,id=aws-key-id,env=AWS_ACCESS_KEY_ID \\\n    --mount=type=secret,id=aws-secret-key,env=AWS_SECRET_ACCESS_KEY \\\n    aws s3 cp s3://example/file .\n\
        RUN --mount=type=ssh \\\n  ssh -q -T git@gitlab.com 2>&1 | tee /hello\n\
        RUN --network=none pip install --find-links wheels mypackage\n\
        RUN --security=insecure cat /proc/self/status | grep CapEff\n";
    let dockerfile = parse(text).expect("parses");
    assert_eq!(
        construct_ids(&dockerfile),
        vec![
            (1, "syntax-directive"),
            (4, "run-mount-cache"),
            (4, "run-mount-cache"),
            (7, "run-mount-secret"),
            (9, "run-mount-secret"),
            (9, "run-mount-secret"),
            (12, "run-mount-ssh"),
            (14, "run-network-none"),
            (15, "run-security-insecure"),
        ]
    );
    let names: Vec<String> = dockerfile.constructs().iter().map(|c| c.kind.name()).collect();
    assert_eq!(names[1], "RUN --mount=type=cache");
    assert_eq!(names[7], "RUN --network=none");
    assert_eq!(names[0], "the `# syntax=docker/dockerfile:1` directive");
}

#[test]
fn docker_docs_copy_and_add_flags() {
    let text = "# syntax=docker/dockerfile:1\n# check=error=true\nFROM alpine\n\
        ADD --keep-git-dir=true https://github.com/moby/buildkit.git#v0.10.1 /buildkit\n\
        ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://mirrors.edge.kernel.org/pub/linux/kernel/Historic/linux-0.01.tar.gz /\n\
        ADD git@github.com:user/repo.git /src\n\
        ADD --unpack=false my-archive.tar.gz .\n\
        COPY --link --chmod=755 /foo /bar\n\
        COPY --parents ./x/a.txt ./y/a.txt /parents/\n\
        COPY --exclude=*.txt --exclude=*.md hom* /mydir/\n\
        ADD --link=false --exclude=*.txt hom* /mydir/\n\
        COPY <<EOF /etc/motd\nhello\nEOF\n";
    let dockerfile = parse(text).expect("parses");
    assert_eq!(
        construct_ids(&dockerfile),
        vec![
            (1, "syntax-directive"),
            (2, "check-directive"),
            (4, "add-keep-git-dir"),
            (4, "add-git"),
            (5, "add-checksum"),
            (6, "add-git"),
            (7, "add-unpack"),
            (8, "copy-link"),
            (8, "copy-chmod"),
            (9, "copy-parents"),
            (10, "copy-exclude"),
            (10, "copy-exclude"),
            (11, "add-link"),
            (11, "add-exclude"),
            (12, "heredoc"),
        ]
    );
    let kinds: Vec<InstructionKind> = dockerfile.stages[0].instructions.iter().map(|i| i.kind.clone()).collect();
    let InstructionKind::Copy { keep_git_dir, sources, .. } = &kinds[0] else { panic!() };
    assert_eq!((*keep_git_dir, sources[0].as_str()), (Some(true), "https://github.com/moby/buildkit.git#v0.10.1"));
    let InstructionKind::Copy { checksum, .. } = &kinds[1] else { panic!() };
    assert_eq!(checksum.as_deref(), Some("sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d"));
    let InstructionKind::Copy { unpack, .. } = &kinds[3] else { panic!() };
    assert_eq!(*unpack, Some(false));
    let InstructionKind::Copy { link, chmod, .. } = &kinds[4] else { panic!() };
    assert_eq!((*link, chmod.as_deref()), (true, Some("755")));
    let InstructionKind::Copy { parents, sources, .. } = &kinds[5] else { panic!() };
    assert_eq!((*parents, sources.len()), (true, 2));
    let InstructionKind::Copy { excludes, .. } = &kinds[6] else { panic!() };
    assert_eq!(*excludes, strings(&["*.txt", "*.md"]));
    let InstructionKind::Copy { link, excludes, is_add, .. } = &kinds[7] else { panic!() };
    assert_eq!((*link, excludes.len(), *is_add), (false, 1, true));
    let heredoc = dockerfile.constructs().pop().map(|c| c.kind);
    assert_eq!(heredoc, Some(ConstructKind::Heredoc { instruction: "COPY" }));
}

#[test]
fn a_classic_dockerfile_needs_nothing_special() {
    let text = "FROM golang:1.22 AS build\nWORKDIR /src\nCOPY go.mod go.sum ./\nRUN go mod download\nCOPY . .\n\
        RUN CGO_ENABLED=0 go build -o /out/app ./cmd/app\nFROM gcr.io/distroless/static\nCOPY --from=build --chown=nonroot /out/app /app\n\
        ADD https://example.com/config.json /etc/app/\nUSER nonroot\nENTRYPOINT [\"/app\"]\n";
    assert_eq!(parse(text).expect("parses").constructs(), vec![]);
}
