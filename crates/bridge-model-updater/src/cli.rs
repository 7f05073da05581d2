//! The command line of `bridge-model-updater`.

use std::path::PathBuf;

use bridge_cli::{parse_server_url, DEFAULT_SERVER};
use bridge_core::config::DEFAULT_CONFIG_DIR;
use clap::Parser;

/// The `--html` value that means standard input.
pub const STDIN_MARKER: &str = "-";

/// Shown after `--help`; every code of [`crate::exit::Exit`] is listed.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    other error
  2    no model list in the HTML or the catalog (LMArena may have changed its format)
  3    bridge-server is not running (start it: cargo run --release -p bridge-server)
  4    no LMArena tab is connected to bridge-server (HTTP 503)
  5    the tab did not send the page in time (HTTP 504, or no answer within 40 s)
  6    bridge-server refused the api_key of config.jsonc (HTTP 401)
  7    a file could not be read or written
  8    config.jsonc or models.json could not be parsed
  9    a --add name is not in the scraped list
  64   invalid command line
  130  interrupted at the prompt (Ctrl-C)

Examples:
  bridge-model-updater                        catalog through the running server, then pick
  bridge-model-updater --all-new --yes        add every model not yet in models.json
  bridge-model-updater --fix-ids --yes        rewrite the ids that changed on the site
  bridge-model-updater --catalog model-catalog.json --dry-run
  bridge-model-updater --html page.html --add gemini-2.5-pro --dry-run";

/// Get the LMArena model list into available_models.json and add models to models.json.
///
/// The list comes from the site's model catalog, fetched by the connected LMArena tab through
/// the running bridge-server; when that fails, from the page HTML the tab sends. --catalog and
/// --html read a saved catalog or page instead (no server needed). available_models.json is
/// always rewritten; models.json gains entries (chosen with --add, --all-new or, on a
/// terminal, a checklist); ids that changed on the site are reported and, with --fix-ids,
/// rewritten in place. Entries are never removed or reordered.
#[derive(Parser, Debug, Clone)]
#[command(version, about, long_about, after_help = EXIT_CODES_HELP)]
pub struct Args {
    /// Directory holding config.jsonc, models.json and available_models.json.
    #[arg(long, env = "BRIDGE_CONFIG_DIR", default_value = DEFAULT_CONFIG_DIR, value_name = "DIR")]
    pub config_dir: PathBuf,

    /// bridge-server base URL; its api_key is read from config.jsonc.
    #[arg(long, default_value = DEFAULT_SERVER, value_name = "URL", value_parser = parse_server_url)]
    pub server: String,

    /// Read the page HTML from FILE instead of the server (`-` for standard input).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["catalog", "page"])]
    pub html: Option<PathBuf>,

    /// Read a saved model catalog (the JSON of /nextjs-api/model-catalog) from FILE instead
    /// of the server (`-` for standard input).
    #[arg(long, value_name = "FILE", conflicts_with = "page")]
    pub catalog: Option<PathBuf>,

    /// Ask the server for the page HTML only, not the catalog first.
    #[arg(long)]
    pub page: bool,

    /// Rewrite the ids of models.json entries whose id changed on the site (same name, new
    /// id), keeping the file's order, comments and type suffixes.
    #[arg(long)]
    pub fix_ids: bool,

    /// Add these models (by public name) to models.json.
    #[arg(long, value_name = "NAME", num_args = 1.., conflicts_with = "all_new")]
    pub add: Vec<String>,

    /// Add every scraped model that is not yet in models.json.
    #[arg(long)]
    pub all_new: bool,

    /// Print what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Never prompt (implied when standard input is not a terminal); without --add or
    /// --all-new, models.json is then left as it is.
    #[arg(short = 'y', long, visible_alias = "non-interactive")]
    pub yes: bool,

    #[command(flatten)]
    pub update: bridge_update::UpdateFlags,
}

impl bridge_cli::CliArgs for Args {
    fn common_flags(&self) -> (&bridge_update::UpdateFlags, bool) {
        (&self.update, self.yes)
    }
}

impl Args {
    /// `--html -`.
    pub fn html_from_stdin(&self) -> bool {
        is_stdin(self.html.as_deref())
    }

    /// `--catalog -`.
    pub fn catalog_from_stdin(&self) -> bool {
        is_stdin(self.catalog.as_deref())
    }
}

fn is_stdin(path: Option<&std::path::Path>) -> bool {
    path.is_some_and(|p| p.as_os_str() == STDIN_MARKER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_and_exit_codes_are_well_formed() {
        let problems = bridge_cli::entry::cli_problems::<Args, crate::exit::Own>(EXIT_CODES_HELP);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn defaults() {
        let args = Args::try_parse_from(["bridge-model-updater"]).unwrap();
        assert_eq!(args.server, DEFAULT_SERVER);
        assert!(args.add.is_empty() && !args.all_new && !args.dry_run && !args.yes);
    }

    #[test]
    fn add_takes_several_names_and_conflicts_with_all_new() {
        let args = Args::try_parse_from(["x", "--add", "a", "b", "--add", "c"]).unwrap();
        assert_eq!(args.add, ["a", "b", "c"]);
        assert!(Args::try_parse_from(["x", "--add", "a", "--all-new"]).is_err());
    }

    #[test]
    fn server_url_is_checked_and_trimmed() {
        let args = Args::try_parse_from(["x", "--server", "http://127.0.0.1:9/"]).unwrap();
        assert_eq!(args.server, "http://127.0.0.1:9");
        assert!(Args::try_parse_from(["x", "--server", "127.0.0.1:9"]).is_err());
        assert!(Args::try_parse_from(["x", "--server", "ftp://h"]).is_err());
    }

    #[test]
    fn sources_exclude_each_other() {
        assert!(Args::try_parse_from(["x", "--html", "a", "--catalog", "b"]).is_err());
        assert!(Args::try_parse_from(["x", "--html", "a", "--page"]).is_err());
        assert!(Args::try_parse_from(["x", "--catalog", "a", "--page"]).is_err());
        let args = Args::try_parse_from(["x", "--catalog", "-", "--fix-ids"]).unwrap();
        assert!(args.catalog_from_stdin() && !args.html_from_stdin() && args.fix_ids);
    }

    #[test]
    fn stdin_marker() {
        let args = Args::try_parse_from(["x", "--html", "-"]).unwrap();
        assert!(args.html_from_stdin());
        let args = Args::try_parse_from(["x", "--html", "p.html"]).unwrap();
        assert!(!args.html_from_stdin());
    }
}
