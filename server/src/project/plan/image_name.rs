//! Image names: the one a project's image gets (configured, or made from its folder's name),
//! the extra names (`tags`) it carries, and the check that a name is one docker accepts.

use std::path::Path;

/// The image name: config's, else the folder name sanitised for Docker; tag `latest` by default.
pub fn image_name(configured: Option<&str>, project_dir: &Path) -> String {
    if let Some(image) = configured {
        return with_tag(image);
    }
    let folder = project_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!("{}:latest", sanitize_name(&folder))
}

/// Lowercase, `[a-z0-9]` separated by single `.`, `_` or `-`, starting with an alphanumeric.
pub fn sanitize_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with(['-', '.', '_']) {
            out.push(if matches!(c, '.' | '_') { c } else { '-' });
        }
    }
    let out = out.trim_end_matches(['-', '.', '_']).to_string();
    if out.is_empty() {
        "project".to_string()
    } else {
        out
    }
}

/// `image` with the tag `latest` when it has neither a tag nor a digest, as docker reads it.
pub fn with_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// Why docker would refuse `reference` as a name to tag an image with (`[HOST[:PORT]/]PATH[:TAG]`,
/// the path's parts lowercase `[a-z0-9]` separated by `.`, `_`, `__` or `-`s), or None.
pub fn reference_problem(reference: &str) -> Option<String> {
    if reference.contains('@') {
        return Some(format!("`{reference}` names a digest: an image can be tagged with a name, not a digest"));
    }
    let (name, tag) = match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (reference, None),
    };
    if let Some(tag) = tag {
        let first_ok = tag.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !first_ok
            || tag.len() > 128
            || !tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Some(format!(
                "`{reference}`: the tag `{tag}` must be letters, digits, `_`, `.` and `-` (not first), at most 128"
            ));
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    // A first part with a `.` or `:`, or `localhost`, is a registry host, as docker reads it.
    if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
        parts.remove(0);
    }
    parts.iter().find(|p| !name_part_ok(p)).map(|part| {
        format!("`{reference}`: `{part}` is not a valid name part (lowercase letters and digits, separated by `.`, `_` or `-`)")
    })
}

/// One part of an image name's path: `[a-z0-9]+` runs joined by `.`, `_`, `__` or `-`s.
fn name_part_ok(part: &str) -> bool {
    let bytes = part.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        let run = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == run {
            return false;
        }
        match bytes.get(i) {
            None => return true,
            Some(b'.') => i += 1,
            Some(b'_') => i += if bytes.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            Some(b'-') => {
                while bytes.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            Some(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_are_sanitised_folder_names() {
        assert_eq!(image_name(None, Path::new("/x/My Project_2")), "my-project_2:latest");
        assert_eq!(image_name(None, Path::new("/x/--weird--")), "weird:latest");
        assert_eq!(image_name(Some("reg:5000/team/app"), Path::new("/x")), "reg:5000/team/app:latest");
        assert_eq!(image_name(Some("app:dev"), Path::new("/x")), "app:dev");
    }

    #[test]
    fn references_docker_refuses_are_said_and_others_pass() {
        for good in ["app", "app:dev", "reg:5000/team/app:1.2", "localhost/a_b/c-d.e:v_1", "a__b", "x/y---z"] {
            assert_eq!(reference_problem(good), None, "{good}");
        }
        for bad in
            ["App:dev", "app:", "app:-x", "app@sha256:00", "/app", "app/", "a..b", "a_.b", "a___b", "-app", "app:a/b c"]
        {
            assert!(reference_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(with_tag("nginx"), "nginx:latest");
        assert_eq!(with_tag("nginx:1.25"), "nginx:1.25");
        assert_eq!(with_tag("localhost:5000/team/app"), "localhost:5000/team/app:latest");
        assert_eq!(with_tag("localhost:5000/app:v1"), "localhost:5000/app:v1");
        assert_eq!(with_tag("app@sha256:abc"), "app@sha256:abc");
    }
}
