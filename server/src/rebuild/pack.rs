//! The host side of a sync: scan the sources, pack what changed (with the owners COPY gives
//! and the mtimes make needs) and, when the changes cannot ride on the build's exec, deliver
//! them through the engine's archive endpoint.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use super::builder::Builder;
use super::phases::Phases;
use super::Rebuilder;
use crate::engine::ExecRequest;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, Phase, Stage};
use crate::sync::archive::ArchiveWriter;
use crate::sync::owner;
use crate::sync::walk::{scan, HashSource, SourceKind};
use crate::sync::{Changes, HostTree, Manifest};

impl Rebuilder {
    /// Says once per entry that a link pointing out of the context, or a name that is not
    /// UTF-8, is not synced.
    pub(super) fn warn_refused(&self, tree: &HostTree, reporter: &mut dyn crate::events::Reporter) {
        let mut warned = self.warned_links.lock().unwrap_or_else(|e| e.into_inner());
        for name in &tree.refused_names {
            if warned.insert(name.clone()) {
                reporter.report(Event::Warning(format!(
                    "{name}: the name is not valid UTF-8, so it is not synced (and not in the image's build \
                     context); rename it"
                )));
            }
        }
        for (rel, target) in &tree.refused_links {
            if warned.insert(format!("{rel}\0{target}")) {
                reporter.report(Event::Warning(format!(
                    "{rel} is a link to {target}, outside the build context: not synced (docker-rebuilder never \
                     sends links out of the project); point it inside the project, or copy what it needs"
                )));
            }
        }
    }

    /// The host's sources, and the manifest they would have.
    pub(super) fn host_state(&self) -> Result<(HostTree, Manifest)> {
        let plan = &self.project.plan;
        let tree = scan(plan, &self.project.ignore, HashSource::Cached(&self.hashes))?;
        let manifest = Manifest::of(&tree, &self.project.recipe);
        Ok((tree, manifest))
    }

    /// Deletes what was removed, then packs one archive with every changed entry and the new
    /// manifest (marked pending until a build succeeds). Returns that manifest and the archive.
    ///
    /// Files keep their host mtime, as COPY keeps it, except a file the builder held before
    /// whose mtime is not past `floor` (the end of the builder's last build): it was written
    /// while that build ran (or its mtime was set back: `cp -p`, `touch -d`), and an object
    /// that build made from the old content would look newer to make. It gets the sync's time.
    pub(super) async fn pack(
        &self,
        builder: &Builder,
        tree: &HostTree,
        host: &Manifest,
        changes: &Changes,
        floor: SystemTime,
        phases: &mut Phases<'_>,
    ) -> Result<(Manifest, Vec<u8>)> {
        phases.start(Phase::Sync, format!("{} changed, {} deleted", changes.upload.len(), changes.delete.len()));
        if !changes.delete.is_empty() {
            phases.timed(Stage::Upload, self.delete(builder, changes)).await?;
        }
        let packing = Instant::now();
        let owners = self.owners(builder).await?;
        let mut archive = ArchiveWriter::new();
        let mut manifest = host.clone();
        for path in &changes.upload {
            let Some(file) = tree.entries.get(path) else { continue };
            let owner = owners.get(&file.rule).copied().unwrap_or((0, 0));
            let floor = builder.manifest.entries.contains_key(path).then_some(floor);
            match &file.kind {
                SourceKind::File => match archive.add_file(path, &file.host, file.mode, owner, floor)? {
                    Some(hash) => {
                        if let Some(e) = manifest.entries.get_mut(path) {
                            e.hash = hash;
                        }
                    }
                    // Gone since the scan: the builder keeps what it had, and the manifest must
                    // say so, or nothing would ever delete it. The next cycle mirrors the loss.
                    None => match builder.manifest.entries.get(path) {
                        Some(old) => {
                            manifest.entries.insert(path.clone(), old.clone());
                        }
                        None => {
                            manifest.entries.remove(path);
                        }
                    },
                },
                SourceKind::Dir => archive.add_dir(path, &file.host, file.mode, owner)?,
                SourceKind::Symlink(target) => archive.add_symlink(path, target, owner)?,
            }
        }
        manifest.pending = true;
        manifest.first_layer = builder.manifest.first_layer.clone().filter(|f| f.builder == builder.id);
        manifest.assembly = builder.manifest.assembly.clone();
        archive.add_bytes(crate::sync::MANIFEST_PATH, &manifest.to_json(), 0o644)?;
        let archive = archive.finish()?;
        phases.stage(Stage::Archive, packing.elapsed());
        Ok((manifest, archive))
    }

    /// `rm -rf` of every deleted path, in one exec.
    pub(super) async fn delete(&self, builder: &Builder, changes: &Changes) -> Result<()> {
        let argv: Vec<String> =
            ["rm", "-rf", "--"].iter().map(|s| s.to_string()).chain(changes.delete.iter().cloned()).collect();
        let request =
            ExecRequest { argv: &argv, display: "rm -rf", workdir: None, env: &[], user: Some("0"), stdin: None };
        let mut output = String::new();
        let exit = self
            .engine
            .exec(&builder.id, request, None, None, &mut |_, b| output.push_str(&String::from_utf8_lossy(b)))
            .await?;
        if exit.code != 0 {
            return Err(Error::new(
                ErrorKind::Engine,
                format!("could not delete removed files in the builder: {}", output.trim()),
                "check that the image has `rm`",
            ));
        }
        Ok(())
    }

    /// Sends the archive through the engine's archive endpoint.
    pub(super) async fn deliver(
        &self,
        builder: &Builder,
        manifest: &Manifest,
        archive: &[u8],
        phases: &mut Phases<'_>,
    ) -> Result<()> {
        let started = Instant::now();
        self.engine.upload(&builder.id, archive.to_vec()).await?;
        self.remember(&builder.id, &builder.base, manifest).await?;
        phases.stage(Stage::Upload, started.elapsed());
        Ok(())
    }

    /// uid/gid for each sync rule: its `--chown`, else root (as COPY does). Remembered per
    /// image and recipe: reading passwd and group costs two archive downloads.
    pub(super) async fn owners(&self, builder: &Builder) -> Result<HashMap<usize, (u32, u32)>> {
        let key = format!("{} {}", builder.base.id, self.project.recipe);
        if let Some((k, owners)) = self.owners.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            if *k == key {
                return Ok(owners.clone());
            }
        }
        let owners = self.resolve_owners(builder).await?;
        *self.owners.lock().unwrap_or_else(|e| e.into_inner()) = Some((key, owners.clone()));
        Ok(owners)
    }

    pub(super) async fn resolve_owners(&self, builder: &Builder) -> Result<HashMap<usize, (u32, u32)>> {
        let specs: Vec<(usize, String)> = self
            .project
            .plan
            .sync
            .iter()
            .enumerate()
            // Without --chown, COPY makes root the owner, whatever USER says.
            .map(|(i, r)| (i, r.chown.clone().unwrap_or_else(|| "0:0".to_string())))
            .collect();
        let needs_lookup = specs.iter().any(|(_, s)| s.split(':').any(|p| !p.is_empty() && p.parse::<u32>().is_err()));
        let (passwd, group) = if needs_lookup {
            let read = |bytes: Option<Vec<u8>>| String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned();
            (
                read(self.engine.read_file(&builder.id, "/etc/passwd").await?),
                read(self.engine.read_file(&builder.id, "/etc/group").await?),
            )
        } else {
            Default::default()
        };
        let mut owners = HashMap::new();
        for (rule, spec) in specs {
            let ids = owner::resolve(&spec, &passwd, &group).ok_or_else(|| {
                Error::new(
                    ErrorKind::Project,
                    format!("the user `{spec}` that should own synced files does not exist in the image"),
                    "check the Dockerfile's USER or the COPY's --chown",
                )
            })?;
            owners.insert(rule, ids);
        }
        Ok(owners)
    }
}
