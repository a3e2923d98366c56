//! `COPY --from` done as `docker build` does it, on the archive the engine gives of the
//! source path: a folder's contents go into the destination folder, a file goes to the
//! destination (or into it, when it is a folder); owners and modes are the source's unless
//! `--chown`/`--chmod` say otherwise; links stay links. The result is extracted at `/`.

use std::io::{Read, Write};

use crate::error::{Error, Result};

/// Where one source's archive goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyTarget {
    /// Absolute destination path.
    pub dest: String,
    /// The destination is a folder (written with a trailing `/`, several sources, or a folder
    /// that exists): a file source lands inside it under its own name.
    pub into_dir: bool,
    /// The destination folder does not exist yet: it is made (root, 0755, as docker does).
    pub make_dest: bool,
    /// `--chown`, resolved.
    pub owner: Option<(u32, u32)>,
    /// `--chmod`, parsed.
    pub mode: Option<u32>,
}

/// Rewrites the engine's archive of one source path (entries named from its last component)
/// into an archive to extract at `/`. Returns it and the number of entries.
pub fn rewrite(archive: &[u8], target: &CopyTarget) -> Result<(Vec<u8>, usize)> {
    let mut out = tar::Builder::new(Vec::new());
    let count = rewrite_into(&mut out, archive, target)?;
    let tar = out.into_inner().map_err(|e| Error::io("cannot pack a COPY --from", e))?;
    Ok((tar, count))
}

/// `rewrite`, appending to `out` (several sources of one COPY go up in one archive).
pub fn rewrite_into(out: &mut tar::Builder<Vec<u8>>, archive: &[u8], target: &CopyTarget) -> Result<usize> {
    rewrite_entries(out, archive, target, dest_is_made_for_a_folder(archive))
}

/// `rewrite` as the archive streams in, written out as it goes (the engine's archive of one
/// source, straight to the upload). The first header is read ahead: whether the source is a
/// folder decides the destination's shape. An archive that opens with an extension header
/// (a long name) is read whole first.
pub fn rewrite_stream(archive: &mut dyn Read, out: &mut dyn Write, target: &CopyTarget) -> Result<()> {
    let bad = |e: std::io::Error| Error::io("cannot read the archive of a COPY --from source", e);
    let mut first = [0u8; 512];
    let mut filled = 0;
    while filled < first.len() {
        match archive.read(&mut first[filled..]).map_err(bad)? {
            0 => break,
            n => filled += n,
        }
    }
    let header = (filled == first.len()).then(|| tar::Header::from_byte_slice(&first));
    let kind = header.map(|h| h.entry_type());
    let mut out = tar::Builder::new(out);
    let plain = kind.is_some_and(|k| {
        !(k.is_pax_local_extensions() || k.is_pax_global_extensions() || k.is_gnu_longname() || k.is_gnu_longlink())
    });
    if plain {
        let is_dir = kind.is_some_and(|k| k.is_dir());
        rewrite_entries(&mut out, std::io::Cursor::new(first).chain(archive), target, is_dir)?;
    } else {
        let mut whole = first[..filled].to_vec();
        archive.read_to_end(&mut whole).map_err(bad)?;
        rewrite_entries(&mut out, whole.as_slice(), target, dest_is_made_for_a_folder(&whole))?;
    }
    out.finish().map_err(|e| Error::io("cannot pack a COPY --from", e))
}

/// The entries of `archive` as `target` places them, appended to `out`; `first_is_dir`:
/// whether the archive's first entry is a folder.
fn rewrite_entries<W: Write>(
    out: &mut tar::Builder<W>,
    archive: impl Read,
    target: &CopyTarget,
    first_is_dir: bool,
) -> Result<usize> {
    let bad = |e: std::io::Error| Error::io("cannot read the archive of a COPY --from source", e);
    let dest = target.dest.trim_end_matches('/');
    let mut count = 0;
    let mut reader = tar::Archive::new(archive);
    let mut root: Option<(String, bool)> = None;
    if target.make_dest && (target.into_dir || first_is_dir) {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        let (uid, gid) = target.owner.unwrap_or((0, 0));
        header.set_uid(uid.into());
        header.set_gid(gid.into());
        header.set_mtime(now_secs());
        out.append_data(&mut header, format!("{}/", dest.trim_start_matches('/')), std::io::empty()).map_err(bad)?;
        count += 1;
    }
    for entry in reader.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = entry.path().map_err(bad)?.to_string_lossy().trim_end_matches('/').to_string();
        let is_dir = entry.header().entry_type().is_dir();
        let (base, base_is_dir) = root.get_or_insert_with(|| (name.clone(), is_dir)).clone();
        let Some(mapped) = map_name(&name, &base, base_is_dir, dest, target.into_dir) else { continue };
        let mut header = entry.header().clone();
        if let Some((uid, gid)) = target.owner {
            header.set_uid(uid.into());
            header.set_gid(gid.into());
        }
        if let Some(mode) = target.mode {
            if !header.entry_type().is_symlink() {
                header.set_mode(mode);
            }
        }
        let path = mapped.trim_start_matches('/').to_string();
        match header.entry_type() {
            tar::EntryType::Symlink => {
                let link =
                    entry.link_name().map_err(bad)?.map(|l| l.to_string_lossy().into_owned()).unwrap_or_default();
                out.append_link(&mut header, &path, &link).map_err(bad)?;
            }
            tar::EntryType::Link => {
                let link =
                    entry.link_name().map_err(bad)?.map(|l| l.to_string_lossy().into_owned()).unwrap_or_default();
                let Some(link) = map_name(link.trim_end_matches('/'), &base, base_is_dir, dest, target.into_dir) else {
                    continue;
                };
                out.append_link(&mut header, &path, link.trim_start_matches('/')).map_err(bad)?;
            }
            _ => {
                let path = if is_dir { format!("{path}/") } else { path };
                out.append_data(&mut header, &path, &mut entry).map_err(bad)?;
            }
        }
        count += 1;
    }
    Ok(count)
}

/// The container path an entry of the source's archive goes to; None for the source folder
/// itself (its contents are copied, not it).
fn map_name(name: &str, base: &str, base_is_dir: bool, dest: &str, into_dir: bool) -> Option<String> {
    let below = if name == base { "" } else { name.strip_prefix(base)?.strip_prefix('/')? };
    if base_is_dir {
        return (!below.is_empty()).then(|| format!("{dest}/{below}"));
    }
    let file = base.rsplit('/').next().unwrap_or(base);
    Some(if into_dir { format!("{dest}/{file}") } else { dest.to_string() })
}

/// Whether the archive's first entry is a folder (its contents then go into the destination).
fn dest_is_made_for_a_folder(archive: &[u8]) -> bool {
    let mut reader = tar::Archive::new(archive);
    let first = reader.entries().ok().and_then(|mut e| e.next()).and_then(|e| e.ok());
    first.is_some_and(|e| e.header().entry_type().is_dir())
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `--chmod=0755` (octal, as BuildKit reads it).
pub fn parse_chmod(spec: &str) -> Option<u32> {
    u32::from_str_radix(spec, 8).ok().filter(|m| *m <= 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// name, kind (`d`, `l` or file), mode, owner, content (a link's target).
    type Entry<'a> = (&'a str, char, u32, (u64, u64), &'a str);

    fn source(entries: &[Entry]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, mode, (uid, gid), content) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(*mode);
            h.set_uid(*uid);
            h.set_gid(*gid);
            match kind {
                'd' => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    b.append_data(&mut h, format!("{name}/"), std::io::empty()).expect("dir");
                }
                'l' => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, name, content).expect("link");
                }
                _ => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(content.len() as u64);
                    b.append_data(&mut h, name, content.as_bytes()).expect("file");
                }
            }
        }
        b.into_inner().expect("tar")
    }

    fn listing(tar: &[u8]) -> Vec<(String, u32, u64, u64)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                let h = e.header();
                (
                    e.path().expect("path").to_string_lossy().into_owned(),
                    h.mode().expect("mode"),
                    h.uid().expect("uid"),
                    h.gid().expect("gid"),
                )
            })
            .collect()
    }

    fn target(dest: &str, into_dir: bool, make_dest: bool) -> CopyTarget {
        CopyTarget { dest: dest.into(), into_dir, make_dest, owner: None, mode: None }
    }

    #[test]
    fn a_file_goes_to_the_destination_keeping_its_owner_and_mode() {
        let tar = source(&[("app", 'f', 0o750, (1000, 1000), "bin")]);
        let (out, n) = rewrite(&tar, &target("/bin/app", false, false)).expect("rewrite");
        assert_eq!(n, 1);
        assert_eq!(listing(&out), [("bin/app".to_string(), 0o750, 1000, 1000)]);
        let (out, _) = rewrite(&tar, &target("/usr/local/bin/", true, false)).expect("rewrite");
        assert_eq!(listing(&out)[0].0, "usr/local/bin/app");
    }

    #[test]
    fn a_folder_s_contents_go_into_a_destination_made_as_root() {
        let tar = source(&[
            ("sub", 'd', 0o700, (1234, 5678), ""),
            ("sub/f", 'f', 0o644, (1234, 5678), "x"),
            ("sub/link", 'l', 0o777, (0, 0), "f"),
        ]);
        let (out, n) = rewrite(&tar, &target("/deep/new", false, true)).expect("rewrite");
        assert_eq!(n, 3);
        assert_eq!(
            listing(&out),
            [
                ("deep/new/".to_string(), 0o755, 0, 0),
                ("deep/new/f".to_string(), 0o644, 1234, 5678),
                ("deep/new/link".to_string(), 0o777, 0, 0)
            ]
        );
        let (out, _) = rewrite(&tar, &target("/srv", true, false)).expect("rewrite");
        assert_eq!(listing(&out).len(), 2, "an existing folder is left as it is");
    }

    #[test]
    fn chown_and_chmod_apply_to_every_entry_but_links_keep_their_mode() {
        let tar = source(&[
            ("sub", 'd', 0o700, (1, 1), ""),
            ("sub/f", 'f', 0o600, (1, 1), "x"),
            ("sub/l", 'l', 0o777, (1, 1), "f"),
        ]);
        let t = CopyTarget { owner: Some((65532, 65532)), mode: Some(0o755), ..target("/app", true, false) };
        let (out, _) = rewrite(&tar, &t).expect("rewrite");
        assert_eq!(
            listing(&out),
            [("app/f".to_string(), 0o755, 65532, 65532), ("app/l".to_string(), 0o777, 65532, 65532)]
        );
        assert_eq!(parse_chmod("0755"), Some(0o755));
        assert_eq!(parse_chmod("u+x"), None);
    }

    /// Reads in pieces of at most 7 bytes, as a network stream may hand them over.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn contents(tar: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut a = tar::Archive::new(tar);
        let entries = a.entries().expect("entries");
        entries
            .map(|e| {
                let mut e = e.expect("entry");
                let mut data = Vec::new();
                e.read_to_end(&mut data).expect("read");
                (e.path().expect("path").to_string_lossy().into_owned(), data)
            })
            .collect()
    }

    #[test]
    fn streamed_the_rewrite_places_the_same_entries_as_whole() {
        let long = format!("{}/bin", "very-long-folder-name".repeat(6));
        let sources = [
            source(&[("app", 'f', 0o750, (1000, 1000), "binary")]),
            source(&[
                ("sub", 'd', 0o700, (1, 2), ""),
                ("sub/f", 'f', 0o644, (1, 2), "x"),
                ("sub/l", 'l', 0o777, (0, 0), "f"),
            ]),
            // A long name: the archive opens with an extension header, read whole first.
            source(&[(long.as_str(), 'f', 0o755, (0, 0), "long")]),
        ];
        let targets = [target("/server", false, true), target("/deep/new", false, true), target("/srv/", true, false)];
        for tar in &sources {
            for t in &targets {
                let (whole, _) = rewrite(tar, t).expect("rewrite");
                let mut streamed = Vec::new();
                rewrite_stream(&mut Trickle(tar), &mut streamed, t).expect("rewrite_stream");
                assert_eq!(listing(&streamed), listing(&whole), "{t:?}");
                assert_eq!(contents(&streamed), contents(&whole), "{t:?}");
            }
        }
        let mut out = Vec::new();
        let e = rewrite_stream(&mut Trickle(&sources[0][..700]), &mut out, &targets[0]).expect_err("a cut archive");
        assert!(e.cause.contains("COPY --from"), "{e}");
    }
}
