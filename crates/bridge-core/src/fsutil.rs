//! Atomic file writes: a temporary file in the same directory, created with the mode the
//! result must have, synced, renamed over the target, and the directory synced, so a crash
//! never leaves a half-written config and no other user can read a key in the meantime.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Mode of a file that did not exist before (the config directory holds the api key).
#[cfg(unix)]
const NEW_FILE_MODE: u32 = 0o600;

/// Most symlinks followed before giving up (a loop).
const MAX_LINKS: usize = 40;

/// Write `contents` to `path` atomically. A symlink at `path` is followed: the link stays and
/// the file it points to is replaced. An existing file keeps its permissions; a new one is
/// readable by its owner only.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let path = resolve_links(path)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} has no file name", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let old = std::fs::metadata(&path).ok();
    let result = (|| {
        let mut file = create_temp(&tmp, old.as_ref())?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `path` with every symlink (of the last component) followed.
fn resolve_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&current)?;
                current = match current.parent() {
                    Some(parent) if target.is_relative() => parent.join(target),
                    _ => target,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(std::io::Error::other(format!(
        "{}: too many levels of symbolic links",
        path.display()
    )))
}

/// Creates the temporary file with the final permissions from the start.
fn create_temp(tmp: &Path, old: Option<&std::fs::Metadata>) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mode = old.map_or(NEW_FILE_MODE, |m| m.permissions().mode() & 0o7777);
        options.mode(mode);
        let file = options.open(tmp)?;
        // The umask may have narrowed the mode; set it exactly.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        let file = options.open(tmp)?;
        if let Some(meta) = old {
            file.set_permissions(meta.permissions())?;
        }
        Ok(file)
    }
}

/// Makes the rename durable (the directory entry), where the platform allows it.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        std::fs::write(&path, "old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_new_file_is_private_and_an_old_file_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.jsonc");
        write_atomic(&path, b"{\"api_key\": \"k\"}").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a new file must not be readable by others");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&path, b"{}").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_file_is_followed_and_the_link_stays() {
        let dir = tempfile::tempdir().unwrap();
        let real_dir = dir.path().join("dotfiles");
        std::fs::create_dir(&real_dir).unwrap();
        let target = real_dir.join("config.jsonc");
        std::fs::write(&target, "old").unwrap();
        let link = dir.path().join("config.jsonc");
        std::os::unix::fs::symlink("dotfiles/config.jsonc", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(std::fs::read_dir(&real_dir).unwrap().count(), 1);
    }

    #[test]
    fn failure_keeps_old_file() {
        let dir = tempfile::tempdir().unwrap();
        // Target is a directory: rename fails, nothing is lost.
        let path = dir.path().join("sub");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("keep"), "x").unwrap();
        assert!(write_atomic(&path, b"new").is_err());
        assert_eq!(std::fs::read_to_string(path.join("keep")).unwrap(), "x");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
