//! One watch per build context in a process. Services built from one context (compose's `api`
//! and `worker`, both `build: .`) share it: the tree is walked and watched once, not once per
//! service, and each session gets the batches that concern it. Shared only when the ignore
//! rules agree (a `Dockerfile.dockerignore` can make them differ); the control files (each
//! service's Dockerfile, rebuilder.toml, compose files) are the union, and a control file
//! outside the context goes only to the sessions that have it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::{Batch, WatchSpec, Watcher};
use crate::error::Result;

/// A session's share of a context's watch; dropping it leaves the watch (the last one stops it).
pub struct Subscription {
    hub: Arc<Hub>,
    id: u64,
    batches: UnboundedSender<Batch>,
}

/// A context's watch and who listens.
struct Hub {
    spec: WatchSpec,
    state: Mutex<HubState>,
}

struct HubState {
    watcher: Watcher,
    subscribers: Vec<Subscriber>,
}

struct Subscriber {
    id: u64,
    control_files: Vec<PathBuf>,
    batches: UnboundedSender<Batch>,
}

/// The live watches of this process, and the next subscriber id.
fn hubs() -> MutexGuard<'static, (Vec<Weak<Hub>>, u64)> {
    static HUBS: OnceLock<Mutex<(Vec<Weak<Hub>>, u64)>> = OnceLock::new();
    HUBS.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner())
}

fn lock(state: &Mutex<HubState>) -> MutexGuard<'_, HubState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl Subscription {
    /// Watches `spec`: joins the watch of its context if one runs with the same ignore rules,
    /// else starts one (which walks the context, blocking while it does).
    pub fn start(spec: WatchSpec) -> Result<(Subscription, UnboundedReceiver<Batch>)> {
        let (tx, rx) = unbounded_channel();
        Ok((Subscription::join(spec, tx)?, rx))
    }

    fn join(spec: WatchSpec, batches: UnboundedSender<Batch>) -> Result<Subscription> {
        let mut registry = hubs();
        registry.0.retain(|hub| hub.strong_count() > 0);
        registry.1 += 1;
        let id = registry.1;
        let subscriber = Subscriber { id, control_files: spec.control_files.clone(), batches: batches.clone() };
        let same = |hub: &Arc<Hub>| hub.spec.context == spec.context && hub.spec.ignore == spec.ignore;
        if let Some(hub) = registry.0.iter().filter_map(Weak::upgrade).find(same) {
            let mut state = lock(&hub.state);
            state.subscribers.push(subscriber);
            state.rewatch(&hub.spec);
            drop(state);
            return Ok(Subscription { hub, id, batches });
        }
        let (watcher, mut rx) = Watcher::start(spec.clone())?;
        let hub = Arc::new(Hub { spec, state: Mutex::new(HubState { watcher, subscribers: vec![subscriber] }) });
        registry.0.push(Arc::downgrade(&hub));
        let weak = Arc::downgrade(&hub);
        // Ends when the hub goes: its watcher's batcher then closes the channel.
        let forward = move || {
            while let Some(batch) = rx.blocking_recv() {
                let Some(hub) = weak.upgrade() else { return };
                lock(&hub.state).dispatch(&hub.spec, &batch);
            }
        };
        std::thread::Builder::new()
            .name("docker-rebuilder-watch-hub".into())
            .spawn(forward)
            .map_err(|e| crate::error::Error::io("cannot start the file watcher thread", e))?;
        Ok(Subscription { hub, id, batches })
    }

    /// A new spec (the recipe changed): the same watch when the context and ignore rules are
    /// the same, else another one; the batches keep coming on the same receiver.
    pub fn update(&mut self, spec: WatchSpec) {
        if self.hub.spec.context == spec.context && self.hub.spec.ignore == spec.ignore {
            let mut state = lock(&self.hub.state);
            if let Some(me) = state.subscribers.iter_mut().find(|s| s.id == self.id) {
                me.control_files = spec.control_files;
            }
            state.rewatch(&self.hub.spec);
            return;
        }
        match Subscription::join(spec, self.batches.clone()) {
            // Dropping the old one leaves its watch.
            Ok(moved) => *self = moved,
            // Keep the old watch: most of what it reports still matters; say that events may
            // have been missed so the next batch is a full comparison.
            Err(_) => {
                let _ = self.batches.send(Batch { paths: Default::default(), rescan: true });
            }
        }
    }

    /// Whether `self` and `other` share one watch (for tests and diagnostics).
    pub fn shares_with(&self, other: &Subscription) -> bool {
        Arc::ptr_eq(&self.hub, &other.hub)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut state = lock(&self.hub.state);
        state.subscribers.retain(|s| s.id != self.id);
        if !state.subscribers.is_empty() {
            state.rewatch(&self.hub.spec);
        }
    }
}

impl HubState {
    /// Watches the context and every subscriber's control files.
    fn rewatch(&mut self, spec: &WatchSpec) {
        let mut control_files: Vec<PathBuf> = Vec::new();
        for file in self.subscribers.iter().flat_map(|s| &s.control_files) {
            if !control_files.contains(file) {
                control_files.push(file.clone());
            }
        }
        self.watcher.update(WatchSpec { control_files, ..spec.clone() });
    }

    /// Sends each subscriber the batch without the control files outside the context that are
    /// not its own (a change in the context concerns every service built from it).
    fn dispatch(&self, spec: &WatchSpec, batch: &Batch) {
        for subscriber in &self.subscribers {
            let paths = batch
                .paths
                .iter()
                .filter(|p| p.starts_with(&spec.context) || subscriber.control_files.contains(p))
                .cloned()
                .collect();
            let mine = Batch { paths, rescan: batch.rescan };
            if mine.rescan || !mine.paths.is_empty() {
                let _ = subscriber.batches.send(mine);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use super::*;
    use crate::project::dockerignore::DockerIgnore;

    const WAIT: Duration = Duration::from_secs(5);
    const SILENCE: Duration = Duration::from_millis(500);

    fn spec(ctx: &std::path::Path, controls: &[PathBuf], ignore: &str) -> WatchSpec {
        WatchSpec {
            context: ctx.to_path_buf(),
            control_files: controls.to_vec(),
            ignore: DockerIgnore::parse(ignore).expect("valid .dockerignore"),
            own_cache: None,
        }
    }

    async fn next(rx: &mut UnboundedReceiver<Batch>) -> BTreeSet<PathBuf> {
        tokio::time::timeout(WAIT, rx.recv()).await.expect("a batch within 5 s").expect("watching").paths
    }

    async fn silence(rx: &mut UnboundedReceiver<Batch>) {
        if let Ok(batch) = tokio::time::timeout(SILENCE, rx.recv()).await {
            panic!("expected no batch, got {batch:?}");
        }
    }

    #[tokio::test]
    async fn services_of_one_context_share_its_watch_and_each_gets_its_own_control_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        let ctx = root.join("ctx");
        std::fs::create_dir(&ctx).expect("mkdir");
        let (a_config, b_config) = (root.join("a.toml"), root.join("b.toml"));
        let (a, mut a_rx) = Subscription::start(spec(&ctx, std::slice::from_ref(&a_config), "")).expect("a");
        let (b, mut b_rx) = Subscription::start(spec(&ctx, std::slice::from_ref(&b_config), "")).expect("b");
        assert!(a.shares_with(&b), "one context, one watch");
        let (c, _c_rx) = Subscription::start(spec(&ctx, &[], "*.log")).expect("c");
        assert!(!c.shares_with(&a), "other ignore rules, a watch of their own");

        let source = ctx.join("main.c");
        std::fs::write(&source, "int main;").expect("write");
        assert_eq!(next(&mut a_rx).await, BTreeSet::from([source.clone()]));
        assert_eq!(next(&mut b_rx).await, BTreeSet::from([source.clone()]));

        // b's control file outside the context: b's news only (the shared watch has it).
        std::fs::write(&b_config, "x").expect("write");
        assert_eq!(next(&mut b_rx).await, BTreeSet::from([b_config.clone()]));
        silence(&mut a_rx).await;

        // a leaves: b keeps its watch, and a's control file is no longer watched.
        drop(a);
        std::fs::write(&a_config, "y").expect("write");
        std::fs::write(&source, "int main2;").expect("write");
        assert_eq!(next(&mut b_rx).await, BTreeSet::from([source.clone()]));
        assert!(a_rx.recv().await.is_none(), "a's batches end with its subscription");
        drop(c);
    }

    #[tokio::test]
    async fn an_update_to_other_ignore_rules_moves_to_another_watch_on_the_same_receiver() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = dir.path().canonicalize().expect("canonical");
        let (mut a, mut a_rx) = Subscription::start(spec(&ctx, &[], "")).expect("a");
        let (b, _b_rx) = Subscription::start(spec(&ctx, &[], "")).expect("b");
        assert!(a.shares_with(&b));
        a.update(spec(&ctx, &[], "*.tmp"));
        assert!(!a.shares_with(&b), "a moved");
        std::fs::write(ctx.join("x.tmp"), "ignored now").expect("write");
        std::fs::write(ctx.join("x.c"), "kept").expect("write");
        assert_eq!(next(&mut a_rx).await, BTreeSet::from([ctx.join("x.c")]));
    }
}
