//! Where a file of a multi-stage image came from when the image's stage copied it out of a
//! builder (`COPY --from=build /app/.nginx/nginx.conf /etc/nginx/conf.d/default.conf`), and
//! the builder had it from the context (`COPY . /app`): what a running container names at
//! its own path (nginx refusing its config) is the user's file two copies back.

use std::path::PathBuf;

use super::{clean_container_path, CopySource, Plan, ReplayOp};

impl Plan {
    /// The host file behind `container_path` in this plan's container: copied from the
    /// context by this plan's own rules, else (an image's stage) copied out of a builder that
    /// copied it from the context. None when it is neither (a build's output, a base image's
    /// file).
    pub fn host_path_through_copies(&self, container_path: &str) -> Option<PathBuf> {
        if let Some(host) = self.host_path(container_path) {
            return Some(host);
        }
        let assembly = self.assembly.as_ref()?;
        let path = clean_container_path(container_path);
        // The last copy to a path is what the image holds there.
        for op in assembly.ops.iter().rev() {
            let ReplayOp::CopyFrom { source: CopySource::Builder(b), sources, dest, dest_is_dir, .. } = op else {
                continue;
            };
            let view = self.builder_view(*b);
            for candidate in in_source(&path, sources, dest, *dest_is_dir) {
                if let Some(host) = view.host_path(&candidate).filter(|h| h.is_file()) {
                    return Some(host);
                }
            }
        }
        None
    }
}

/// The paths in the copy's source stage that `path` may have come from: the source itself (a
/// file copied to `dest`, or into the folder `dest` under its name), or a file below a source
/// folder whose contents went into `dest`. Which one is decided by what the host holds.
fn in_source(path: &str, sources: &[String], dest: &str, dest_is_dir: bool) -> Vec<String> {
    let dest = clean_container_path(dest);
    let below = if path == dest {
        ""
    } else {
        match path.strip_prefix(dest.trim_end_matches('/')).and_then(|r| r.strip_prefix('/')) {
            Some(below) => below,
            None => return Vec::new(),
        }
    };
    let mut candidates = Vec::new();
    for source in sources {
        let source = clean_container_path(source);
        let name = source.rsplit('/').next().unwrap_or_default();
        if below.is_empty() && !dest_is_dir {
            candidates.push(source.clone());
        }
        if !below.is_empty() {
            if dest_is_dir && below == name {
                candidates.push(source.clone());
            }
            candidates.push(format!("{}/{below}", source.trim_end_matches('/')));
        }
    }
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    /// awesome-compose's react-nginx: the proxy config is the build stage's copy of the
    /// context's `.nginx/nginx.conf`, copied on into the nginx stage.
    #[test]
    fn a_file_copied_out_of_a_builder_is_the_context_file_the_builder_copied() {
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |rel: &str, text: &str| {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        };
        write(
            "Dockerfile",
            "FROM node AS development\nWORKDIR /app\nCOPY package.json /app/package.json\nRUN npm ci\n\
             COPY . /app\nCMD [\"npm\", \"start\"]\n\nFROM development AS build\nRUN npm run build\n\n\
             FROM nginx\nCOPY --from=build /app/.nginx/nginx.conf /etc/nginx/conf.d/default.conf\n\
             COPY --from=build /app/conf /etc/app\nWORKDIR /usr/share/nginx/html\nCOPY --from=build /app/build .\n",
        );
        write("package.json", "{}\n");
        write(".nginx/nginx.conf", "server {}\n");
        write("conf/site.conf", "x\n");
        let plan = Plan::infer(dir.path(), &crate::project::config::Config::default()).expect("plan");
        let host = |p: &str| plan.host_path_through_copies(p);
        let root = dir.path().canonicalize().expect("root");
        assert_eq!(host("/etc/nginx/conf.d/default.conf"), Some(root.join(".nginx/nginx.conf")));
        assert_eq!(host("/etc/app/site.conf"), Some(root.join("conf/site.conf")), "a file below a copied folder");
        assert_eq!(host("/usr/share/nginx/html/index.html"), None, "the build's output is no host file");
        assert_eq!(host("/etc/passwd"), None);
    }

    #[test]
    fn the_candidates_follow_docker_s_copy_rules() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(in_source("/etc/a.conf", &s(&["/app/a.conf"]), "/etc/a.conf", false), s(&["/app/a.conf"]));
        assert_eq!(
            in_source("/etc/x/a.conf", &s(&["/app/a.conf"]), "/etc/x", true),
            s(&["/app/a.conf", "/app/a.conf/a.conf"])
        );
        assert_eq!(in_source("/srv/b/c", &s(&["/out"]), "/srv", true), s(&["/out/b/c"]));
        assert!(in_source("/elsewhere", &s(&["/out"]), "/srv", true).is_empty());
    }
}
