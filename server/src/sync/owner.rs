//! Who owns synced files: a `user[:group]` spec resolved the way the container resolves it,
//! from its own /etc/passwd and /etc/group.

/// Resolves `spec` (empty means root) against passwd/group file contents.
/// Unknown names resolve to None; a numeric uid without a group takes the user's primary
/// group, or the same number when the user is not in passwd (as `COPY --chown` does).
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Option<(u32, u32)> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Some((0, 0));
    }
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd_entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && (f[0] == user || (user.parse::<u32>().is_ok() && f[2] == user)));
    let uid = match user.parse::<u32>() {
        Ok(uid) => uid,
        Err(_) => passwd_entry.as_ref()?.get(2)?.parse().ok()?,
    };
    let gid = match grp {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == g)?
                .get(2)?
                .parse()
                .ok()?,
        },
        None => match passwd_entry {
            Some(f) => f.get(3)?.parse().ok()?,
            None => uid,
        },
    };
    Some((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::resolve;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nstaff:x:50:\napp:x:1001:\n";

    #[test]
    fn names_resolve_through_passwd_and_group() {
        assert_eq!(resolve("", PASSWD, GROUP), Some((0, 0)));
        assert_eq!(resolve("app", PASSWD, GROUP), Some((1000, 1001)));
        assert_eq!(resolve("app:staff", PASSWD, GROUP), Some((1000, 50)));
        assert_eq!(resolve("1000", PASSWD, GROUP), Some((1000, 1001)));
        assert_eq!(resolve("4242", PASSWD, GROUP), Some((4242, 4242)));
        assert_eq!(resolve("4242:7", PASSWD, GROUP), Some((4242, 7)));
        assert_eq!(resolve("nobody-here", PASSWD, GROUP), None);
    }
}
