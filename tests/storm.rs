//! Save storms through the real binary over stdio: many writes of one source, each followed
//! by `didSave`, some landing while a build runs. After the last write the image must hold
//! the last content — within one more cycle, with the server back to idle — and a second of
//! saves must coalesce into a few cycles, also on a loaded machine.
//!
//! The fixture builds as make does: an object is rewritten only when its source is newer, so
//! a synced source whose mtime predates an object made from older content would be skipped.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::lsp::{is_status, LspClient};
use support::{TempProject, BIN};

const FIRST_BUILD: Duration = Duration::from_secs(600);
/// How long a server with work left may stay silent before it counts as idle with it.
const SETTLE: Duration = Duration::from_secs(60);

/// xorshift64*, seeded from the clock (printed, so a failure can be replayed with DR_STORM_SEED).
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("DR_STORM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) | 1
        });
        eprintln!("storm seed: DR_STORM_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn is_done(n: &Value) -> bool {
    is_status(n, "succeeded") || is_status(n, "failed") || is_status(n, "error")
}

fn start(p: &TempProject) -> LspClient {
    let mut client = LspClient::start(BIN);
    client.initialize(&[&p.dir]);
    client.wait_for(0, FIRST_BUILD, |n| is_status(n, "succeeded"));
    client
}

/// Waits until the image holds `expected`, each check after a cycle ended; panics when the
/// server stays silent for SETTLE with the image still behind (a lost save).
fn wait_for_image(client: &mut LspClient, p: &TempProject, since: usize, expected: &str, what: &str) {
    let mut checked = since;
    // The image a check found behind: the same image id needs no second `docker run`.
    let mut behind: Option<Value> = None;
    loop {
        match client.try_wait_for(checked, SETTLE, is_done) {
            Some((i, done)) => {
                checked = i + 1;
                let id = done["params"]["imageId"].clone();
                if behind.as_ref() == Some(&id) {
                    continue;
                }
                let got = p.run_image();
                if got == expected {
                    return;
                }
                behind = Some(id);
                assert!(!is_status(&client.notifications[i], "error"), "{what}: {}", client.notifications[i]);
            }
            None => {
                let got = p.run_image();
                if got != expected {
                    let inside = p.in_builder(&[
                        "sh",
                        "-c",
                        "cd /app && stat -c '%n %y' src/main.c out/main.o && cat src/main.c out/main.o",
                    ]);
                    let recent: Vec<String> = client.notifications[since..]
                        .iter()
                        .filter(|n| n["method"] == "docker-rebuilder/status" || n["method"] == "window/logMessage")
                        .map(|n| n["params"].to_string().chars().take(300).collect())
                        .collect();
                    panic!(
                        "{what}: the server went idle with the image at {got:?}, the file at {expected:?}\nbuilder: {}{}\nsince the storm: {recent:#?}",
                        String::from_utf8_lossy(&inside.stdout),
                        String::from_utf8_lossy(&inside.stderr)
                    );
                }
                return;
            }
        }
    }
}

/// Cycles started since `mark`.
fn cycles_since(client: &LspClient, mark: usize) -> usize {
    client.notifications[mark..].iter().filter(|n| is_status(n, "building")).count()
}

#[test]
fn after_every_storm_of_saves_the_image_holds_the_last_content() {
    storms("storm-app", 200);
}

/// The same with a build step BuildKit must build (its full builds go through BuildKit, and
/// the builder holds the step's cache mount).
#[test]
fn after_every_storm_of_saves_with_buildkit_builds_the_image_holds_the_last_content() {
    storms("storm-app-buildkit", 40);
}

fn storms(fixture: &str, default_iterations: usize) {
    let iterations: usize =
        std::env::var("DR_STORM_ITERATIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(default_iterations);
    let p = TempProject::fixture(fixture);
    let mut client = start(&p);
    let file = p.path("src/main.c");
    let mut rng = Rng::new();
    let mut version = 0u64;
    let started = Instant::now();
    let mut cycles = 0;
    for iteration in 0..iterations {
        let mark = client.notifications.len();
        let writes = 1 + rng.below(30);
        for _ in 0..writes {
            version += 1;
            // Same length every time: the hash cache's size check cannot tell them apart.
            p.write("src/main.c", &format!("faults v{version:05}\n"));
            client.did_save(&file);
            std::thread::sleep(Duration::from_millis(rng.below(21)));
        }
        let expected = format!("faults v{version:05}");
        wait_for_image(&mut client, &p, mark, &expected, &format!("storm {iteration} ({writes} writes)"));
        cycles += cycles_since(&client, mark);
    }
    eprintln!(
        "{iterations} storms, {version} saves, {cycles} cycles, every one ended with the last content ({:.0?})",
        started.elapsed()
    );
    client.shutdown();
}

/// Two threads spinning on this 2-core machine while the saves come.
struct Load(Arc<AtomicBool>, Vec<std::thread::JoinHandle<()>>);

impl Load {
    fn start() -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..2)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                    }
                })
            })
            .collect();
        Load(stop, threads)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        for t in self.1.drain(..) {
            let _ = t.join();
        }
    }
}

fn fifty_saves_in_a_second(loaded: bool) {
    let p = TempProject::fixture("storm-app");
    let mut client = start(&p);
    let file = p.path("src/main.c");
    let load = loaded.then(Load::start);
    let mark = client.notifications.len();
    for version in 10..60 {
        p.write("src/main.c", &format!("faults v{version:05}\n"));
        client.did_save(&file);
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_for_image(&mut client, &p, mark, "faults v00059", "50 saves");
    drop(load);
    // Cycles still to come count too: wait until none starts for a while.
    let building = |n: &Value| is_status(n, "building");
    while let Some((i, _)) = client.try_wait_for(client.notifications.len(), Duration::from_secs(3), building) {
        client.wait_for(i, SETTLE, is_done);
    }
    let cycles = cycles_since(&client, mark);
    assert!((1..=3).contains(&cycles), "{cycles} cycles for 50 saves in a second (loaded: {loaded})");
    client.shutdown();
}

#[test]
fn fifty_saves_in_a_second_make_at_most_three_cycles() {
    fifty_saves_in_a_second(false);
}

#[test]
fn fifty_saves_in_a_second_make_at_most_three_cycles_on_a_loaded_machine() {
    fifty_saves_in_a_second(true);
}
