//! Which install paths an update must not replace: files owned by a package manager (it would
//! undo or fight the update) and directories this user cannot write.

use std::path::Path;

/// Prefixes of package-managed installs; `/usr/local` is the user's own and allowed.
const MANAGED_PREFIXES: &[(&str, &str)] = &[
    ("/usr/local/Cellar/", "Homebrew"),
    ("/opt/homebrew/", "Homebrew"),
    ("/home/linuxbrew/.linuxbrew/", "Homebrew"),
    ("/nix/store/", "Nix"),
    ("/snap/", "snap"),
    ("/var/lib/flatpak/", "Flatpak"),
    ("/usr/", "the system package manager"),
];
/// Owned by the user even though it is under `/usr/`.
const USER_PREFIX: &str = "/usr/local/";

/// The package manager that owns `path`, if it lies under a known prefix.
pub fn package_manager(path: &Path) -> Option<&'static str> {
    let text = path.to_string_lossy();
    for (prefix, manager) in MANAGED_PREFIXES {
        if text.starts_with(prefix) {
            if *prefix == "/usr/" && text.starts_with(USER_PREFIX) {
                continue;
            }
            return Some(manager);
        }
    }
    None
}

/// Why `path` cannot be replaced by an update, or `None` when it can (as far as can be told
/// without replacing it).
pub fn install_blocker(path: &Path) -> Option<String> {
    if let Some(manager) = package_manager(path) {
        return Some(format!(
            "it looks installed by {manager}; update it with {manager} instead"
        ));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Some(format!("its directory {} does not exist", dir.display()));
    }
    // A real write is the only reliable test (read-only mounts, ACLs, other owners).
    match tempfile::Builder::new()
        .prefix(".bridge-update-probe")
        .tempfile_in(dir)
    {
        Ok(_) => None,
        Err(e) => Some(format!(
            "its directory {} is not writable ({e}); run the update as the user that owns it, \
             or install the new release by hand",
            dir.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_managed_paths_are_refused() {
        for (path, manager) in [
            ("/usr/bin/bridge-server", "the system package manager"),
            ("/nix/store/abc-bridge/bin/bridge-server", "Nix"),
            ("/opt/homebrew/bin/bridge-server", "Homebrew"),
            (
                "/usr/local/Cellar/bridge/0.1.0/bin/bridge-server",
                "Homebrew",
            ),
        ] {
            assert_eq!(package_manager(Path::new(path)), Some(manager), "{path}");
            let reason = install_blocker(Path::new(path)).unwrap();
            assert!(reason.contains(manager), "{reason}");
        }
    }

    #[test]
    fn user_paths_are_allowed() {
        assert_eq!(
            package_manager(Path::new("/usr/local/bin/bridge-server")),
            None
        );
        assert_eq!(
            package_manager(Path::new("/home/me/bin/bridge-server")),
            None
        );
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(install_blocker(&dir.path().join("bridge-server")), None);
        // The probe leaves nothing behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn missing_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let reason = install_blocker(&dir.path().join("gone/bridge-server")).unwrap();
        assert!(reason.contains("does not exist"), "{reason}");
    }
}
