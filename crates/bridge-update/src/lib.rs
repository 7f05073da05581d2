//! bridge-update: self-update of the lmarena-bridge binaries from the project's GitHub releases.
//!
//! A release carries, per binary and platform, an archive `<bin>-<target triple>.tar.gz` with the
//! executable at its root, and optionally `<archive>.sha256` (the hex digest, as written by
//! `sha256sum`). `scripts/release` builds both.
//!
//! - [`ReleaseSource`]: where releases are looked up (owner/repo and API base URL, overridable by
//!   `BRIDGE_UPDATE_REPO` and `BRIDGE_UPDATE_API`).
//! - [`Updater`]: [`Updater::check`] reports whether a newer release exists; [`Updater::update`]
//!   downloads it, verifies the checksum when the release publishes one, and replaces the binary
//!   (or any target path). A failed download, a bad archive or a checksum mismatch leaves the
//!   installed binary as it was.
//! - [`install`]: which install paths cannot be replaced (package-managed, read-only).
//! - [`cli`]: the `--check-update` / `--update` flags every binary carries.
//!
//! The HTTP calls block: async callers run them on a blocking thread.

pub mod cli;
pub mod install;

use std::path::{Path, PathBuf};
use std::time::Duration;

use self_update::backends::github;
use self_update::{ReleaseAsset, ReleaseStatus, UpdateStrategy};

pub use cli::{run_cli, Action, UpdateFlags};

/// GitHub owner of the project's releases.
pub const DEFAULT_OWNER: &str = "lmarena-bridge";
/// GitHub repository of the project's releases.
pub const DEFAULT_REPO: &str = "lmarena-bridge";
/// The public GitHub API.
pub const DEFAULT_API: &str = "https://api.github.com";
/// Environment variable overriding the repository, as `owner/name`.
pub const REPO_ENV: &str = "BRIDGE_UPDATE_REPO";
/// Environment variable overriding the API base URL (a mirror, GitHub Enterprise, a test server).
pub const API_ENV: &str = "BRIDGE_UPDATE_API";
/// Extension of release archives.
pub const ARCHIVE_SUFFIX: &str = ".tar.gz";
/// Extension of the checksum asset published next to an archive.
pub const CHECKSUM_SUFFIX: &str = ".sha256";
/// Set for a process started by [`reexec`] after an update, to the version it updated to; that
/// process does not install again at startup (so a release whose binary reports an older
/// version cannot make it update in a loop).
pub const JUST_UPDATED_ENV: &str = "BRIDGE_JUST_UPDATED";
/// Time allowed for each HTTP request (listing, checksum, download).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a check or an update failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{var}={value:?} is not of the form owner/name")]
    BadRepo { var: &'static str, value: String },
    #[error(
        "cannot reach the release server {api} ({source}); check the network connection, \
         or point {API_ENV} at a reachable mirror"
    )]
    Unreachable {
        api: String,
        #[source]
        source: self_update::errors::Error,
    },
    #[error("cannot read the releases of {repo} from {api}: {source}")]
    Releases {
        repo: String,
        api: String,
        #[source]
        source: self_update::errors::Error,
    },
    #[error(
        "release {version} of {repo} has no asset {asset}: there is no build for this platform \
         (download one by hand or build from source)"
    )]
    NoAsset {
        repo: String,
        version: String,
        asset: String,
    },
    #[error(
        "{asset} does not match its published checksum: the download was damaged or altered; \
         {} was left unchanged ({source})", path.display()
    )]
    ChecksumMismatch {
        asset: String,
        path: PathBuf,
        #[source]
        source: self_update::errors::Error,
    },
    #[error("{} cannot be replaced: {reason}", path.display())]
    NotReplaceable { path: PathBuf, reason: String },
    #[error(
        "installing {version} to {} failed; the installed binary was left unchanged: {source}",
        path.display()
    )]
    Install {
        version: String,
        path: PathBuf,
        #[source]
        source: self_update::errors::Error,
    },
    #[error("cannot find the path of the running executable: {0}")]
    CurrentExe(#[source] std::io::Error),
}

/// Where releases are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSource {
    pub owner: String,
    pub repo: String,
    /// API base URL without a trailing slash, e.g. `https://api.github.com`.
    pub api_base: String,
}

impl Default for ReleaseSource {
    fn default() -> Self {
        Self {
            owner: DEFAULT_OWNER.to_owned(),
            repo: DEFAULT_REPO.to_owned(),
            api_base: DEFAULT_API.to_owned(),
        }
    }
}

impl ReleaseSource {
    /// The project's releases, unless `BRIDGE_UPDATE_REPO` / `BRIDGE_UPDATE_API` say otherwise.
    pub fn from_env() -> Result<Self, UpdateError> {
        let repo = std::env::var(REPO_ENV).ok();
        let api = std::env::var(API_ENV).ok();
        Self::from_values(repo.as_deref(), api.as_deref())
    }

    /// Builds a source from optional overrides (empty values count as unset).
    pub fn from_values(repo: Option<&str>, api: Option<&str>) -> Result<Self, UpdateError> {
        let mut source = Self::default();
        if let Some(slug) = repo.map(str::trim).filter(|s| !s.is_empty()) {
            let bad = || UpdateError::BadRepo {
                var: REPO_ENV,
                value: slug.to_owned(),
            };
            let (owner, name) = slug.split_once('/').ok_or_else(bad)?;
            if owner.is_empty() || name.is_empty() || name.contains('/') {
                return Err(bad());
            }
            source.owner = owner.to_owned();
            source.repo = name.to_owned();
        }
        if let Some(api) = api.map(str::trim).filter(|s| !s.is_empty()) {
            source.api_base = api.trim_end_matches('/').to_owned();
        }
        Ok(source)
    }

    /// `owner/name`.
    pub fn slug(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }
}

/// A newer release than the running one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Available {
    pub current: String,
    pub latest: String,
    /// The release has `<bin>-<target>.tar.gz`.
    pub has_asset: bool,
    /// The release has `<bin>-<target>.tar.gz.sha256`.
    pub has_checksum: bool,
}

/// What [`Updater::check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    UpToDate { current: String },
    Available(Available),
}

/// How an installed download was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Against the release's `<archive>.sha256` asset.
    ChecksumAsset,
    /// Against the digest GitHub publishes for the asset.
    ReleaseDigest,
    /// The release publishes no checksum.
    Unverified,
}

/// What [`Updater::update`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateOutcome {
    UpToDate {
        current: String,
    },
    Updated {
        from: String,
        to: String,
        path: PathBuf,
        verification: Verification,
    },
}

/// Checks for and installs releases of one binary.
#[derive(Debug, Clone)]
pub struct Updater {
    bin_name: String,
    current_version: String,
    target: String,
    source: ReleaseSource,
    install_path: Option<PathBuf>,
    timeout: Duration,
}

impl Updater {
    /// An updater for `bin_name` at `current_version`, for the platform this was built for,
    /// replacing the running executable.
    pub fn new(bin_name: &str, current_version: &str, source: ReleaseSource) -> Self {
        Self {
            bin_name: bin_name.to_owned(),
            current_version: current_version.to_owned(),
            target: self_update::get_target().to_owned(),
            source,
            install_path: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Installs to `path` instead of the running executable.
    pub fn with_install_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.install_path = Some(path.into());
        self
    }

    /// Looks for the archive of another target triple.
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    /// Time allowed for each HTTP request.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn source(&self) -> &ReleaseSource {
        &self.source
    }

    pub fn current_version(&self) -> &str {
        &self.current_version
    }

    pub fn bin_name(&self) -> &str {
        &self.bin_name
    }

    /// `<bin>-<target>.tar.gz`.
    pub fn asset_name(&self) -> String {
        asset_name(&self.bin_name, &self.target)
    }

    /// `<bin>-<target>.tar.gz.sha256`.
    pub fn checksum_asset_name(&self) -> String {
        format!("{}{CHECKSUM_SUFFIX}", self.asset_name())
    }

    /// The file an update replaces.
    pub fn install_path(&self) -> Result<PathBuf, UpdateError> {
        match &self.install_path {
            Some(p) => Ok(p.clone()),
            None => std::env::current_exe().map_err(UpdateError::CurrentExe),
        }
    }

    /// Asks the release server whether a release newer than the running version exists.
    pub fn check(&self) -> Result<CheckOutcome, UpdateError> {
        let backend = self.backend(None, None)?;
        let releases = backend
            .get_newer_releases()
            .map_err(|e| self.listing_error(e))?;
        let newest = releases.into_vec().into_iter().max_by(|a, b| {
            self_update::version::cmp_versions(a.version(), b.version())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let Some(release) = newest else {
            return Ok(CheckOutcome::UpToDate {
                current: self.current_version.clone(),
            });
        };
        let find = |name: &str| release.assets().iter().any(|a| a.name() == name);
        Ok(CheckOutcome::Available(Available {
            current: self.current_version.clone(),
            latest: release.version().to_owned(),
            has_asset: find(&self.asset_name()),
            has_checksum: find(&self.checksum_asset_name()),
        }))
    }

    /// Installs the newest release if it is newer than the running version: download, verify
    /// (checksum asset, else GitHub's digest when present), extract, replace. Anything failing
    /// before the replace leaves the installed file untouched.
    pub fn update(&self) -> Result<UpdateOutcome, UpdateError> {
        let path = self.install_path()?;
        if let Some(reason) = install::install_blocker(&path) {
            return Err(UpdateError::NotReplaceable { path, reason });
        }
        let available = match self.check()? {
            CheckOutcome::UpToDate { current } => return Ok(UpdateOutcome::UpToDate { current }),
            CheckOutcome::Available(a) => a,
        };
        if !available.has_asset {
            return Err(UpdateError::NoAsset {
                repo: self.source.slug(),
                version: available.latest,
                asset: self.asset_name(),
            });
        }
        let checksum_asset = available.has_checksum.then(|| self.checksum_asset_name());
        let backend = self.backend(checksum_asset.as_deref(), Some(&path))?;
        let status = backend
            .update_extended()
            .map_err(|e| self.install_error(e, &available.latest, &path))?;
        match status {
            ReleaseStatus::UpToDate => Ok(UpdateOutcome::UpToDate {
                current: self.current_version.clone(),
            }),
            ReleaseStatus::Updated(release) => {
                let wanted = self.asset_name();
                let digest = release
                    .assets()
                    .iter()
                    .any(|a| a.name() == wanted && a.digest().is_some());
                let verification = if checksum_asset.is_some() {
                    Verification::ChecksumAsset
                } else if digest {
                    Verification::ReleaseDigest
                } else {
                    Verification::Unverified
                };
                Ok(UpdateOutcome::Updated {
                    from: self.current_version.clone(),
                    to: release.version().to_owned(),
                    path,
                    verification,
                })
            }
            // ReleaseStatus is non-exhaustive; any other answer installed nothing we know of.
            _ => Ok(UpdateOutcome::UpToDate {
                current: self.current_version.clone(),
            }),
        }
    }

    fn backend(
        &self,
        checksum_asset: Option<&str>,
        install_path: Option<&Path>,
    ) -> Result<github::Update, UpdateError> {
        let mut builder = github::Update::configure();
        builder
            .repo_owner(self.source.owner.as_str())
            .repo_name(self.source.repo.as_str())
            .api_base_url(self.source.api_base.as_str())
            .bin_name(self.bin_name.as_str())
            .target(self.target.as_str())
            .current_version(self.current_version.as_str())
            .timeout(self.timeout)
            .update_strategy(UpdateStrategy::Latest)
            .show_download_progress(false)
            .unattended();
        // Only the exact archive name: the crate's fuzzy matching could pick the .sha256 file or
        // another binary's archive.
        let wanted = self.asset_name();
        builder.asset_matcher(move |assets: &[ReleaseAsset]| {
            assets.iter().find(|a| a.name() == wanted).cloned()
        });
        if let Some(name) = checksum_asset {
            builder.checksum_from_asset(name);
        }
        if let Some(path) = install_path {
            builder.bin_install_path(path);
        }
        builder.build().map_err(|e| UpdateError::Releases {
            repo: self.source.slug(),
            api: self.source.api_base.clone(),
            source: e,
        })
    }

    fn listing_error(&self, e: self_update::errors::Error) -> UpdateError {
        if is_network(&e) {
            UpdateError::Unreachable {
                api: self.source.api_base.clone(),
                source: e,
            }
        } else {
            UpdateError::Releases {
                repo: self.source.slug(),
                api: self.source.api_base.clone(),
                source: e,
            }
        }
    }

    fn install_error(
        &self,
        e: self_update::errors::Error,
        version: &str,
        path: &Path,
    ) -> UpdateError {
        use self_update::errors::Error as E;
        match e {
            E::ChecksumMismatch { .. } | E::ChecksumSourceInvalid { .. } => {
                UpdateError::ChecksumMismatch {
                    asset: self.asset_name(),
                    path: path.to_owned(),
                    source: e,
                }
            }
            E::InstallPathNotWritable { .. } => UpdateError::NotReplaceable {
                path: path.to_owned(),
                reason: format!("{e}; run the update as the user that owns it"),
            },
            e if is_network(&e) => UpdateError::Unreachable {
                api: self.source.api_base.clone(),
                source: e,
            },
            e => UpdateError::Install {
                version: version.to_owned(),
                path: path.to_owned(),
                source: e,
            },
        }
    }
}

/// `<bin>-<target>.tar.gz`.
pub fn asset_name(bin_name: &str, target: &str) -> String {
    format!("{bin_name}-{target}{ARCHIVE_SUFFIX}")
}

/// The target triple this build runs on (as used in asset names).
pub fn current_target() -> &'static str {
    self_update::get_target()
}

fn is_network(e: &self_update::errors::Error) -> bool {
    matches!(e, self_update::errors::Error::Transport(_))
}

/// Replaces the running process with the program at `path`, given the same arguments and
/// [`JUST_UPDATED_ENV`] set to `version` (Unix), or starts it and returns (elsewhere; the caller
/// then exits). Returns the error when that failed.
pub fn reexec(path: &Path, version: &str) -> std::io::Error {
    let mut cmd = std::process::Command::new(path);
    cmd.args(std::env::args_os().skip(1))
        .env(JUST_UPDATED_ENV, version);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        cmd.exec()
    }
    #[cfg(not(unix))]
    {
        match cmd.spawn() {
            Ok(_) => std::io::Error::other("the new process was started; this one must exit"),
            Err(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_defaults_and_overrides() {
        assert_eq!(
            ReleaseSource::from_values(None, None).unwrap(),
            ReleaseSource::default()
        );
        let s =
            ReleaseSource::from_values(Some(" me/fork "), Some("http://127.0.0.1:9/api/")).unwrap();
        assert_eq!(s.slug(), "me/fork");
        assert_eq!(s.api_base, "http://127.0.0.1:9/api");
        let blank = ReleaseSource::from_values(Some(""), Some("  ")).unwrap();
        assert_eq!(blank, ReleaseSource::default());
    }

    #[test]
    fn bad_repo_values_are_errors_naming_the_variable() {
        for bad in ["noslash", "/name", "owner/", "a/b/c"] {
            let err = ReleaseSource::from_values(Some(bad), None).unwrap_err();
            assert!(err.to_string().contains(REPO_ENV), "{err}");
        }
    }

    #[test]
    fn asset_names_follow_the_release_layout() {
        let u = Updater::new("bridge-server", "0.1.0", ReleaseSource::default())
            .with_target("x86_64-unknown-linux-gnu");
        assert_eq!(
            u.asset_name(),
            "bridge-server-x86_64-unknown-linux-gnu.tar.gz"
        );
        assert_eq!(
            u.checksum_asset_name(),
            "bridge-server-x86_64-unknown-linux-gnu.tar.gz.sha256"
        );
        assert!(!current_target().is_empty());
    }
}
