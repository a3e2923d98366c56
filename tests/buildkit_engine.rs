//! BuildKit builds through the Engine API (`Engine::build_image_buildkit`) against the real
//! engine: cache mounts and the cache, secrets (and that their values go nowhere), failing and
//! killed steps, the frontend's own errors, labels, build args and targets, SSH forwarding.
//!
//! Every image has a unique name and is removed by the test that made it; the Dockerfiles
//! carry a unique word so no build is served from another run's cache by accident.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use docker_rebuilder::engine::{BuildEvent, BuildKitRequest, Engine, SecretSource, StepState};
use docker_rebuilder::error::{Error, ErrorKind};
use support::proxy::Proxy;
use support::{docker, docker_ok, require_engine};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A word no other test or run uses.
fn unique(name: &str) -> String {
    format!("dr-bk-{name}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// A tag removed (with its image, when nothing else uses it) when dropped.
struct Tag(String);

impl Tag {
    fn new(name: &str) -> Tag {
        Tag(format!("{}:latest", unique(name)))
    }
}

impl Drop for Tag {
    fn drop(&mut self) {
        docker(&["rmi", "-f", "--no-prune", &self.0]);
    }
}

/// What the build reported, owned.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    Step { id: String, name: String, state: StepState },
    Log { id: String, text: String },
}

struct Build {
    events: Vec<Event>,
    result: Result<String, Error>,
}

impl Build {
    fn steps(&self) -> impl Iterator<Item = (&str, &str, &StepState)> {
        self.events.iter().filter_map(|e| match e {
            Event::Step { id, name, state } => Some((id.as_str(), name.as_str(), state)),
            Event::Log { .. } => None,
        })
    }

    /// The id and every state of the step whose name contains `needle`.
    fn step(&self, needle: &str) -> (String, Vec<StepState>) {
        let id = self
            .steps()
            .find(|(_, name, _)| name.contains(needle))
            .map(|(id, _, _)| id.to_string())
            .unwrap_or_else(|| panic!("no step named like {needle:?} in {:#?}", self.events));
        let states = self.steps().filter(|(i, _, _)| *i == id).map(|(_, _, s)| s.clone()).collect();
        (id, states)
    }

    fn lines_of(&self, step_id: &str) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Log { id, text } if id == step_id => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    fn image(&self) -> &str {
        match &self.result {
            Ok(id) => id,
            Err(e) => panic!("the build failed: {e}\n{:#?}", self.events),
        }
    }

    fn error(&self) -> &Error {
        match &self.result {
            Ok(id) => panic!("the build succeeded ({id}), it should have failed:\n{:#?}", self.events),
            Err(e) => {
                println!("the build failed as it should:\n{e}");
                e
            }
        }
    }

    /// Everything the build showed: events, and the error in every form.
    fn everything_shown(&self) -> String {
        let mut all = format!("{:?}", self.events);
        if let Err(e) = &self.result {
            all.push_str(&format!("\n{e}\n{e:?}\n{}", e.one_line()));
        }
        all
    }
}

fn context(files: &[(&str, &str)]) -> Vec<u8> {
    let mut archive = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        archive.append_data(&mut header, path, content.as_bytes()).expect("tar");
    }
    archive.into_inner().expect("tar")
}

fn request<'a>(tag: &'a Tag) -> BuildKitRequest<'a> {
    BuildKitRequest {
        tag: &tag.0,
        dockerfile: "Dockerfile",
        builder_only: &[],
        target: None,
        build_args: HashMap::new(),
        labels: HashMap::new(),
        network: None,
        extra_hosts: &[],
        platform: None,
        secrets: HashMap::new(),
        ssh: false,
    }
}

/// Held while connecting: `Engine::connect` reads DOCKER_HOST, which one test points elsewhere.
static CONNECTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn engine() -> Engine {
    require_engine();
    let _connecting = CONNECTING.lock().await;
    Engine::connect().await.expect("the engine answers")
}

/// An engine connected through DOCKER_HOST=`host`; DOCKER_HOST is as before when it returns.
async fn engine_at(host: &str) -> Engine {
    require_engine();
    let _connecting = CONNECTING.lock().await;
    let before = std::env::var_os("DOCKER_HOST");
    std::env::set_var("DOCKER_HOST", host);
    let engine = Engine::connect().await;
    match before {
        Some(value) => std::env::set_var("DOCKER_HOST", value),
        None => std::env::remove_var("DOCKER_HOST"),
    }
    engine.expect("the engine answers through the proxy")
}

/// Builds, and checks that the build left no task behind (its session's included).
async fn build(engine: &Engine, request: BuildKitRequest<'_>, dockerfile: &str) -> Build {
    // Asked once per engine (and bollard's connection pool warmed) before counting tasks.
    engine.builder_support().await.expect("builder support");
    let before = tasks();
    let mut events = Vec::new();
    let mut on_event = |e: BuildEvent<'_>| {
        events.push(match e {
            BuildEvent::Step { id, name, state } => Event::Step { id: id.into(), name: name.into(), state },
            BuildEvent::Log { id, text } => Event::Log { id: id.into(), text: text.into() },
        })
    };
    let result = engine.build_image_buildkit(request, context(&[("Dockerfile", dockerfile)]), &mut on_event).await;
    assert_tasks_at_most(before).await;
    Build { events, result }
}

/// Tasks alive on this test's runtime.
fn tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

/// Waits up to 2 s for at most `count` tasks to be alive (an aborted task ends soon after).
async fn assert_tasks_at_most(count: usize) {
    for _ in 0..100 {
        if tasks() <= count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{} tasks are alive after the build, {count} before", tasks());
}

/// `sha256sum` of `text`, as busybox prints it (the check a step makes without the value).
fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builder_support_names_the_engine() {
    let engine = engine().await;
    let support = engine.builder_support().await.expect("support");
    let version = docker_ok(&["version", "--format", "{{.Server.Version}}"]);
    assert!(support.buildkit, "{support:?}");
    assert_eq!(support.engine_version, version);
    assert_eq!(support.api_version, docker_ok(&["version", "--format", "{{.Server.APIVersion}}"]));
    let short = version.split(['+', '-']).next().expect("version");
    assert_eq!(support.builder_name(), format!("BuildKit (Docker Engine {short})"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_mount_build_gives_an_image_and_a_second_build_is_cached() {
    let engine = engine().await;
    let tag = Tag::new("cache");
    let word = unique("word");
    let dockerfile = format!(
        "FROM busybox:local\n\
         RUN --mount=type=cache,id={word},target=/cache echo {word} >> /cache/runs && cat /cache/runs | wc -l > /runs\n\
         RUN echo built {word} && echo to-stderr >&2\n"
    );
    let first = build(&engine, request(&tag), &dockerfile).await;
    let image = first.image().to_string();
    assert!(image.starts_with("sha256:"), "{image}");
    assert_eq!(docker_ok(&["image", "inspect", "--format", "{{.Id}}", &tag.0]), image);

    let (cache_step, states) = first.step("RUN --mount=type=cache");
    assert_eq!(states.first(), Some(&StepState::Started), "{states:?}");
    assert!(matches!(states.last(), Some(StepState::Done { .. })), "{states:?}");
    let (echo_step, _) = first.step(&format!("RUN echo built {word}"));
    let lines = first.lines_of(&echo_step);
    assert!(lines.contains(&format!("built {word}").as_str()), "{lines:?}");
    assert!(lines.contains(&"to-stderr"), "{lines:?}");
    // (BuildKit names a step shared with a concurrent build as that build does: no step numbers.)
    assert!(
        first.steps().any(|(_, name, _)| name.contains("FROM docker.io/library/busybox:local")),
        "{:#?}",
        first.events
    );
    assert_eq!(docker_ok(&["run", "--rm", &tag.0, "cat", "/runs"]), "1");

    let second = build(&engine, request(&tag), &dockerfile).await;
    assert_eq!(second.image(), image, "the same build gives the same image");
    let (again, states) = second.step("RUN --mount=type=cache");
    assert_eq!(again, cache_step, "BuildKit's step ids are stable");
    assert_eq!(states, vec![StepState::Cached]);
    assert_eq!(second.step(&format!("RUN echo built {word}")).1, vec![StepState::Cached]);
    assert!(second.lines_of(&echo_step).is_empty(), "a cached step prints nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_reach_the_step_and_nothing_else() {
    let engine = engine().await;
    let word = unique("secret");
    let value = format!("v4lue-of-{word}-Zq9");
    // The step checks the value by its hash (the value itself would be in the image's
    // history). The first build's step before it outlasts several of the engine's health
    // checks of the session (one a second), which must keep it.
    let dockerfile = |word: &str, slow: bool| {
        format!(
            "FROM busybox:local\n\
             RUN {} echo {word}\n\
             RUN --mount=type=secret,id=tok,required test \"$(cat /run/secrets/tok | sha256sum | cut -d' ' -f1)\" = {} \
                 && echo secret-checked {word} > /checked\n",
            if slow { "sleep 3 &&" } else { "" },
            sha256_hex(&value)
        )
    };
    let folder = tempfile::tempdir().expect("tempdir");
    let file = folder.path().join("tok");
    std::fs::write(&file, &value).expect("write");
    let variable = format!("DR_TEST_SECRET_{}", std::process::id());
    std::env::set_var(&variable, &value);

    // One word per source: BuildKit's cache does not know secrets, the second build's step
    // would otherwise be taken from the first's.
    for (n, source) in [SecretSource::File(file.clone()), SecretSource::Env(variable.clone())].into_iter().enumerate() {
        let tag = Tag::new("secret");
        let mut req = request(&tag);
        req.secrets.insert("tok".into(), source.clone());
        let word = format!("{word}-{n}");
        let built = build(&engine, req, &dockerfile(&word, n == 0)).await;
        built.image();
        assert!(
            matches!(built.step("RUN --mount=type=secret").1.last(), Some(StepState::Done { .. })),
            "{source:?}: it ran"
        );
        assert_eq!(docker_ok(&["run", "--rm", &tag.0, "cat", "/checked"]), format!("secret-checked {word}"));
        assert!(!built.everything_shown().contains(&value), "{source:?}: the value shows in {:#?}", built.events);
        let saved = docker(&["save", &tag.0]);
        assert!(saved.status.success());
        assert!(!contains(&saved.stdout, value.as_bytes()), "{source:?}: the value is in the image");
        let history = docker_ok(&["history", "--no-trunc", &tag.0]);
        let inspect = docker_ok(&["image", "inspect", &tag.0]);
        assert!(!history.contains(&value) && !inspect.contains(&value), "{source:?}: in history or inspect");
    }

    // A step that prints the secret and fails: its output and the error show a mask.
    let tag = Tag::new("secret-leak");
    let mut req = request(&tag);
    req.secrets.insert("tok".into(), SecretSource::File(file.clone()));
    let leaky =
        format!("FROM busybox:local\nRUN --mount=type=secret,id=tok echo {word}; cat /run/secrets/tok; echo; exit 5\n");
    let built = build(&engine, req, &leaky).await;
    assert_eq!(built.error().kind, ErrorKind::ImageBuild);
    let shown = built.everything_shown();
    assert!(!shown.contains(&value), "the value shows in {shown}");
    let (step, _) = built.step(&format!("echo {word}"));
    assert!(built.lines_of(&step).contains(&"****"), "{:?}", built.lines_of(&step));

    // The Dockerfile asks for a secret the build was not given. (Another word: BuildKit's
    // cache does not know secrets, the step above would be taken from it.)
    let tag = Tag::new("secret-missing");
    let built = build(&engine, request(&tag), &dockerfile(&format!("{word}-missing"), false)).await;
    let error = built.error();
    assert_eq!(error.kind, ErrorKind::ImageBuild, "{error}");
    assert!(error.cause.contains("\"tok\"") && error.cause.contains("not given"), "{error}");
    assert!(error.cause.contains("RUN --mount=type=secret,id=tok"), "names the step: {error}");
    assert!(error.fix.contains("secret"), "{error}");

    // A source that is not there fails before the build, naming the secret and the variable.
    let tag = Tag::new("secret-unset");
    let mut req = request(&tag);
    req.secrets.insert("tok".into(), SecretSource::Env(format!("{variable}_UNSET")));
    let built = build(&engine, req, &dockerfile(&format!("{word}-unset"), false)).await;
    let error = built.error();
    assert_eq!(error.kind, ErrorKind::Config, "{error}");
    assert!(error.cause.contains(&format!("{variable}_UNSET")) && error.cause.contains("\"tok\""), "{error}");
    assert!(built.events.is_empty(), "nothing was built: {:?}", built.events);
    std::env::remove_var(&variable);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_step_is_named_with_its_output() {
    let engine = engine().await;
    let tag = Tag::new("fail");
    let word = unique("fail");
    let dockerfile = format!("FROM busybox:local\nRUN echo out {word} && echo err {word} >&2 && exit 3\n");
    let built = build(&engine, request(&tag), &dockerfile).await;
    let (step, states) = built.step(&format!("RUN echo out {word}"));
    let Some(StepState::Failed { error }) = states.last() else { panic!("no Failed event: {states:?}") };
    assert!(error.contains("exit code: 3"), "{error}");
    let lines = built.lines_of(&step);
    assert!(
        lines.contains(&format!("out {word}").as_str()) && lines.contains(&format!("err {word}").as_str()),
        "{lines:?}"
    );
    let failed_at = built
        .events
        .iter()
        .position(|e| matches!(e, Event::Step { state: StepState::Failed { .. }, id, .. } if *id == step));
    let last_line = built.events.iter().rposition(|e| matches!(e, Event::Log { id, .. } if *id == step));
    assert!(last_line < failed_at, "the output comes before the failure: {:#?}", built.events);

    let error = built.error();
    assert_eq!(error.kind, ErrorKind::ImageBuild);
    assert!(error.cause.contains(&format!("\"[2/2] RUN echo out {word}")), "names the step: {error}");
    assert!(error.cause.contains("exit code: 3") && error.cause.contains("BuildKit (Docker Engine "), "{error}");
    assert!(error.fix.contains("Dockerfile"), "{error}");
    assert!(!docker(&["image", "inspect", &tag.0]).status.success(), "no image is tagged");

    // Killed (as the OOM killer does): not the Dockerfile's fault.
    let tag = Tag::new("killed");
    // (A child shell, not exec'd in place of the step's own: that is PID 1 of its container,
    // which SIGKILL does not stop.)
    let killed = format!("FROM busybox:local\nRUN echo {word} && sh -c 'kill -9 $$'; exit $?\n");
    let built = build(&engine, request(&tag), &killed).await;
    let error = built.error();
    assert_eq!(error.kind, ErrorKind::ImageBuild);
    assert!(error.cause.contains("was killed") && error.cause.contains(&format!("RUN echo {word}")), "{error}");
    assert!(error.fix.contains("memory") && !error.fix.contains("Dockerfile"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_build_ends_its_session_and_connection() {
    let engine = engine().await;
    engine.builder_support().await.expect("builder support");
    let before = tasks();
    let tag = Tag::new("dropped");
    let word = unique("dropped");
    let dockerfile = format!("FROM busybox:local\nRUN echo {word} && sleep 30\n");
    let mut started = false;
    let mut on_event = |e: BuildEvent<'_>| started |= matches!(e, BuildEvent::Log { text, .. } if text == word);
    let building = engine.build_image_buildkit(request(&tag), context(&[("Dockerfile", &dockerfile)]), &mut on_event);
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(4), building).await;
    assert!(outcome.is_err(), "the build ended by itself: {outcome:?}");
    assert!(started, "the step ran");
    assert_tasks_at_most(before).await;
    assert!(!docker(&["image", "inspect", &tag.0]).status.success(), "no image is tagged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_engine_connection_names_the_endpoint_and_the_builder() {
    let proxy = Proxy::start();
    let engine = engine_at(&proxy.docker_host()).await;
    let socket = proxy.socket().display().to_string();
    let word = unique("broken");

    // The engine refuses the session.
    proxy.fail_matching("POST", "/session$", 500, r#"{"message":"injected session failure"}"#);
    let tag = Tag::new("broken");
    let built = build(&engine, request(&tag), &format!("FROM busybox:local\nRUN echo {word}\n")).await;
    let error = built.error();
    assert_eq!(error.kind, ErrorKind::Engine, "{error}");
    assert!(error.cause.contains(&socket) && error.cause.contains("BuildKit (Docker Engine "), "{error}");
    assert!(error.cause.contains("session") && error.cause.contains("injected session failure"), "{error}");
    proxy.clear();

    // The engine goes away while a step runs.
    let tag = Tag::new("broken");
    let dockerfile = format!("FROM busybox:local\nRUN echo {word}-gone && sleep 20\n");
    let mut on_event = |e: BuildEvent<'_>| {
        if matches!(e, BuildEvent::Log { text, .. } if text.ends_with("-gone")) {
            proxy.down();
        }
    };
    let before = tasks();
    let result =
        engine.build_image_buildkit(request(&tag), context(&[("Dockerfile", &dockerfile)]), &mut on_event).await;
    assert_tasks_at_most(before).await;
    let error = result.expect_err("the engine went away");
    println!("the build failed as it should:\n{error}");
    assert_eq!(error.kind, ErrorKind::Engine, "{error}");
    assert!(error.cause.contains(&socket) && error.cause.contains("BuildKit (Docker Engine "), "{error}");
    assert!(!docker(&["image", "inspect", &tag.0]).status.success(), "no image is tagged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frontends_parse_error_is_surfaced() {
    let engine = engine().await;
    let tag = Tag::new("heredoc");
    let word = unique("heredoc");
    // This engine's built-in Dockerfile frontend predates heredocs: `echo` is an instruction.
    let dockerfile = format!("FROM busybox:local\nRUN <<EOF\necho {word}\nEOF\n");
    let built = build(&engine, request(&tag), &dockerfile).await;
    let error = built.error();
    assert_eq!(error.kind, ErrorKind::ImageBuild, "a build error, not the transport's: {error}");
    assert!(error.cause.contains("unknown instruction"), "{error}");
    assert!(error.cause.contains("BuildKit (Docker Engine "), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_build_args_and_target_apply() {
    let engine = engine().await;
    let tag = Tag::new("args");
    let word = unique("args");
    let dockerfile = "FROM busybox:local AS first\n\
                      ARG GREETING\n\
                      RUN echo \"$GREETING\" > /greeting\n\
                      LABEL stage=first\n\
                      FROM first AS second\n\
                      RUN echo second > /second\n";
    let mut req = request(&tag);
    req.build_args.insert("GREETING".into(), format!("hello {word}"));
    req.labels.insert("dev.docker-rebuilder.test".into(), word.clone());
    let built = build(&engine, req, dockerfile).await;
    built.image();
    assert_eq!(docker_ok(&["run", "--rm", &tag.0, "cat", "/greeting"]), format!("hello {word}"));
    assert_eq!(docker_ok(&["run", "--rm", &tag.0, "cat", "/second"]), "second");
    let labels = docker_ok(&["image", "inspect", "--format", "{{json .Config.Labels}}", &tag.0]);
    let labels: serde_json::Value = serde_json::from_str(&labels).expect("json");
    assert_eq!(labels["dev.docker-rebuilder.test"], word.as_str());
    assert_eq!(labels["stage"], "first");

    let tag = Tag::new("target");
    let mut req = request(&tag);
    req.target = Some("first");
    req.build_args.insert("GREETING".into(), format!("hi {word}"));
    let built = build(&engine, req, dockerfile).await;
    built.image();
    assert_eq!(docker_ok(&["run", "--rm", &tag.0, "cat", "/greeting"]), format!("hi {word}"));
    assert!(!docker(&["run", "--rm", &tag.0, "test", "-e", "/second"]).status.success(), "the target stage only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ssh_agent_is_forwarded() {
    let engine = engine().await;
    if std::process::Command::new("ssh-agent").arg("-h").output().is_err() {
        println!("SKIPPED: ssh-agent is not installed, SSH forwarding cannot be tested");
        return;
    }
    let folder = tempfile::tempdir().expect("tempdir");
    let socket = folder.path().join("agent.sock");
    let agent = Agent(
        std::process::Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("ssh-agent starts"),
    );
    for _ in 0..100 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::env::set_var("SSH_AUTH_SOCK", &socket);

    let word = unique("ssh");
    // Asks the forwarded agent for its identities (message 11); an agent answers 12.
    let dockerfile = format!(
        "FROM debian:bookworm-slim\n\
         RUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo {word} && perl -MIO::Socket::UNIX -e '\
         $s = IO::Socket::UNIX->new(Peer => $ENV{{SSH_AUTH_SOCK}}) or die \"connect: $!\"; \
         print $s pack(\"NC\", 1, 11); read($s, $h, 4) == 4 or die \"no answer\"; \
         read($s, $b, unpack(\"N\", $h)) or die \"short\"; printf \"agent answered %d\\n\", ord($b)'\n"
    );
    let tag = Tag::new("ssh");
    let mut req = request(&tag);
    req.ssh = true;
    let built = build(&engine, req, &dockerfile).await;
    let result = built.result.as_ref().map(|_| ()).map_err(|e| e.to_string());
    let (step, _) = built.step(&format!("echo {word}"));
    let lines: Vec<String> = built.lines_of(&step).into_iter().map(str::to_string).collect();

    // Without forwarding, the step's mount is refused with a clear error (another word: the
    // cache does not know the agent).
    let tag = Tag::new("ssh-off");
    let off = build(&engine, request(&tag), &dockerfile.replace(&word, &format!("{word}-off"))).await;

    drop(agent);
    result.unwrap_or_else(|e| panic!("{e}\n{:#?}", built.events));
    assert!(lines.contains(&"agent answered 12".to_string()), "{lines:?}");
    let error = off.error();
    assert_eq!(error.kind, ErrorKind::ImageBuild, "{error}");
    assert!(error.cause.contains("SSH agent") && error.fix.contains("SSH forwarding"), "{error}");
}

/// The agent this test started, stopped when dropped (also when the test fails).
struct Agent(std::process::Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_context_goes_through_the_session_as_the_docker_cli_sends_it() {
    let engine = engine().await;
    let tag = Tag::new("filesync");
    let word = unique("filesync");
    // Thousands of files (the engine asks for them while their stats still flow), one bigger
    // than a DATA packet, a Dockerfile in a folder, modes, a link; the build-only files hidden.
    let mut archive = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, mode: u32, content: &[u8], link: Option<&str>| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(content.len() as u64);
        header.set_mode(mode);
        header.set_mtime(1_700_000_000);
        if let Some(link) = link {
            header.set_link_name(link).expect("link");
        }
        header.set_cksum();
        archive.append_data(&mut header, path, content).expect("tar");
    };
    let dockerfile = "FROM busybox:local\nCOPY . /ctx\n\
                      RUN cd /ctx && find . | sort > /list && sha256sum big.bin > /big.sum \
                      && stat -c '%a %s' tool.sh > /tool && readlink link > /link\n";
    add("docker/Dockerfile.dev", tar::EntryType::Regular, 0o644, dockerfile.as_bytes(), None);
    add(".dockerignore", tar::EntryType::Regular, 0o644, b"docker\n.dockerignore\n", None);
    add("tool.sh", tar::EntryType::Regular, 0o751, word.as_bytes(), None);
    add("link", tar::EntryType::Symlink, 0o777, b"", Some("tool.sh"));
    let big: Vec<u8> = (0..3 * 1024 * 1024 + 7).map(|i| (i * 31 % 251) as u8).collect();
    add("big.bin", tar::EntryType::Regular, 0o644, &big, None);
    for i in 0..3000 {
        add(&format!("many/d{}/f{i}", i % 10), tar::EntryType::Regular, 0o644, i.to_string().as_bytes(), None);
    }
    let tar = archive.into_inner().expect("tar");
    // As `rebuild/context.rs` lists them for this .dockerignore: the folder too.
    let hidden = vec!["docker".to_string(), "docker/Dockerfile.dev".to_string(), ".dockerignore".to_string()];
    let mut req = request(&tag);
    req.dockerfile = "docker/Dockerfile.dev";
    req.builder_only = &hidden;
    let built = engine.build_image_buildkit(req, tar, &mut |_: BuildEvent<'_>| {}).await;
    built.unwrap_or_else(|e| panic!("the build failed: {e}"));

    let list = docker_ok(&["run", "--rm", &tag.0, "cat", "/list"]);
    let list: Vec<&str> = list.lines().collect();
    assert!(!list.iter().any(|p| p.contains("docker") || p.contains(".dockerignore")), "build-only files: {list:?}");
    assert!(list.contains(&"./many/d7/f2997") && list.contains(&"./big.bin"), "{:?}", &list[..list.len().min(20)]);
    assert_eq!(list.len(), 1 + 4 + 10 + 3000, "., tool.sh, link, big.bin, many, its 10 folders and 3000 files");
    let sum = docker_ok(&["run", "--rm", &tag.0, "cat", "/big.sum"]);
    let expected: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&big).iter().map(|b| format!("{b:02x}")).collect()
    };
    assert!(sum.starts_with(&expected), "{sum} vs {expected}");
    assert_eq!(docker_ok(&["run", "--rm", &tag.0, "cat", "/tool"]), format!("751 {}", word.len()));
    assert_eq!(docker_ok(&["run", "--rm", &tag.0, "cat", "/link"]), "tool.sh");
}
