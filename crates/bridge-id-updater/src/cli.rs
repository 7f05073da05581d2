//! The command line of `bridge-id-updater`: one flag for every prompt, and the documented exit
//! codes.

use std::path::PathBuf;

use bridge_cli::{parse_server_url, DEFAULT_SERVER};
use bridge_core::config::{BattleTarget, Mode, DEFAULT_CONFIG_DIR};
use clap::{ArgGroup, Parser, ValueEnum};

/// Port of the capture listener unless told otherwise; the userscript's default `report_to`
/// uses the same one.
pub const DEFAULT_LISTEN_PORT: u16 = 5103;
/// Seconds to wait for the capture unless told otherwise.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;

/// Shown after `--help`; every code of [`crate::exit::Exit`] is listed.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    the ids were captured and written
  1    other error
  3    bridge-server is not running at --server (start it: cargo run --release -p bridge-server)
  4    no LMArena tab is connected to bridge-server (HTTP 503): open https://lmarena.ai with the
       userscript enabled
  5    no capture arrived within --timeout seconds
  6    bridge-server refused the api_key of config.jsonc (HTTP 401)
  7    the captured ids could not be written
  8    config.jsonc, models.json or model_endpoint_map.json is missing, unreadable or invalid
  9    --model names a model that is in neither models.json nor model_endpoint_map.json
  10   the capture port (--listen-port) is in use or cannot be opened
  11   the userscript in the tab was injected too late to capture (Tampermonkey: set
       Injection Mode to Instant, then reload the tab)
  64   invalid command line
  130  interrupted or cancelled (Ctrl-C, Esc at a prompt)

Examples:
  bridge-id-updater                                   asks everything
  bridge-id-updater --yes --mode battle --target B    global ids, battle side B
  bridge-id-updater --yes --model gpt-5 --append      one more session in gpt-5's pool";

/// Capture an LMArena session id and message id for the `retry` flow.
///
/// Asks for the mode (direct chat or battle, and in battle the side A or B) and where the ids
/// go: the global session_id/message_id of config.jsonc, or a model's pool in
/// model_endpoint_map.json. Then it opens a listener on 127.0.0.1:--listen-port, asks
/// bridge-server to arm capture in the connected LMArena tab, and waits until you click Retry
/// in that tab. The ids are written atomically; config.jsonc keeps its comments.
/// Every question has a flag; with --yes (or without a terminal) missing answers take the
/// defaults: the mode and side used last time, the global ids, append.
#[derive(Parser, Debug, Clone)]
#[command(version, about, long_about, after_help = EXIT_CODES_HELP)]
#[command(group(ArgGroup::new("pool_write").args(["append", "replace"]).multiple(false)))]
pub struct Args {
    /// Directory holding config.jsonc, models.json and model_endpoint_map.json.
    #[arg(long, env = "BRIDGE_CONFIG_DIR", default_value = DEFAULT_CONFIG_DIR, value_name = "DIR")]
    pub config_dir: PathBuf,

    /// bridge-server base URL; its api_key is read from config.jsonc.
    #[arg(long, default_value = DEFAULT_SERVER, value_name = "URL", value_parser = parse_server_url)]
    pub server: String,

    /// How the captured session is used [default: the last one, id_updater_last_mode].
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,

    /// Battle side that answers; search models need A [default: id_updater_battle_target].
    #[arg(long, value_enum, ignore_case = true)]
    pub target: Option<TargetArg>,

    /// Put the ids into this model's pool in model_endpoint_map.json instead of the global
    /// session_id/message_id of config.jsonc.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,

    /// Add the session to the model's pool (the default).
    #[arg(long, requires = "model")]
    pub append: bool,

    /// Make the session the model's only one.
    #[arg(long, requires = "model")]
    pub replace: bool,

    /// Port of the temporary capture listener on 127.0.0.1.
    #[arg(long, default_value_t = DEFAULT_LISTEN_PORT, value_name = "PORT",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub listen_port: u16,

    /// Give up when no capture arrives within SECS seconds.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT_SECS, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,

    /// Never prompt (implied when standard input is not a terminal); missing choices take
    /// the defaults.
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

/// `--mode` values, spelled as in config.jsonc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    #[value(name = "direct_chat", alias = "direct")]
    DirectChat,
    #[value(name = "battle")]
    Battle,
}

impl From<ModeArg> for Mode {
    fn from(value: ModeArg) -> Self {
        match value {
            ModeArg::DirectChat => Mode::DirectChat,
            ModeArg::Battle => Mode::Battle,
        }
    }
}

/// `--target` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetArg {
    #[value(name = "A")]
    A,
    #[value(name = "B")]
    B,
}

impl From<TargetArg> for BattleTarget {
    fn from(value: TargetArg) -> Self {
        match value {
            TargetArg::A => BattleTarget::A,
            TargetArg::B => BattleTarget::B,
        }
    }
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
        let args = Args::try_parse_from(["bridge-id-updater"]).unwrap();
        assert_eq!(args.server, DEFAULT_SERVER);
        assert_eq!(args.listen_port, 5103);
        assert_eq!(args.timeout, 300);
        assert!(args.mode.is_none() && args.target.is_none() && args.model.is_none());
        assert!(!args.append && !args.replace && !args.yes);
    }

    #[test]
    fn every_flag_parses() {
        let args = Args::try_parse_from([
            "x",
            "--config-dir",
            "d",
            "--server",
            "http://127.0.0.1:9/",
            "--mode",
            "battle",
            "--target",
            "b",
            "--model",
            "m",
            "--replace",
            "--listen-port",
            "6000",
            "--timeout",
            "5",
            "--yes",
        ])
        .unwrap();
        assert_eq!(args.config_dir, PathBuf::from("d"));
        assert_eq!(args.server, "http://127.0.0.1:9");
        assert_eq!(args.mode.map(Mode::from), Some(Mode::Battle));
        assert_eq!(args.target.map(BattleTarget::from), Some(BattleTarget::B));
        assert_eq!(args.model.as_deref(), Some("m"));
        assert!(args.replace && !args.append && args.yes);
        assert_eq!((args.listen_port, args.timeout), (6000, 5));
        let args = Args::try_parse_from(["x", "--mode", "direct_chat", "--target", "A"]).unwrap();
        assert_eq!(args.mode.map(Mode::from), Some(Mode::DirectChat));
        assert_eq!(args.target.map(BattleTarget::from), Some(BattleTarget::A));
    }

    #[test]
    fn invalid_combinations_are_refused() {
        for argv in [
            &["x", "--append"][..],
            &["x", "--model", "m", "--append", "--replace"],
            &["x", "--mode", "duel"],
            &["x", "--target", "C"],
            &["x", "--listen-port", "0"],
            &["x", "--timeout", "0"],
            &["x", "--server", "127.0.0.1:5102"],
            &["x", "--server", "ftp://h"],
        ] {
            assert!(Args::try_parse_from(argv).is_err(), "{argv:?}");
        }
    }
}
