//! One run of `bridge-id-updater`: decide the plan (flags, then prompts), open the listener,
//! arm capture through bridge-server, wait, store the ids.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bridge_cli::say;
use bridge_core::config::{self, load_config, Config, ConfigError, Mode};
use bridge_core::models::Models;

use crate::cli::Args;
use crate::exit::{Exit, Failure, Own};
use crate::listener::{CaptureListener, Event, UPDATE_PATH};
use crate::plan::{self, Destination, ModelChoice, Plan, PoolWrite};
use crate::progress::{self, Countdown};
use crate::store::{self, CONFIG_DIR_HINT};
use crate::{prompt, server};

/// How long the tab's answer may take to go out after the ids are stored.
const ANSWER_FLUSH: Duration = Duration::from_secs(2);

/// Entry point of the binary: parse arguments, run, map the outcome to an exit code.
pub fn main() -> ExitCode {
    bridge_cli::run_main(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), run)
}

/// One run. `interactive` allows the prompts; the report goes to `out`.
pub fn run(args: &Args, interactive: bool, out: &mut dyn Write) -> Result<(), Failure> {
    let dir = args.config_dir.as_path();
    let config = read_config(dir)?;
    let plan = decide(args, &config, interactive, out)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(|e| Failure::new(Exit::Other, e))?;
    let countdown = Countdown::new(std::io::stderr().is_terminal());
    runtime.block_on(capture(args, &config, &plan, countdown, out))
}

fn read_config(dir: &Path) -> Result<Config, Failure> {
    match load_config(&config::config_file(dir)) {
        Ok((config, warnings)) => {
            for w in warnings {
                tracing::debug!("{w}");
            }
            Ok(config)
        }
        // Only the top-level message: these errors already quote their source.
        Err(e @ ConfigError::Io { .. }) => Err(Failure::msg(
            Exit::Config,
            format!(
                "{e}: run from the folder holding config/, or pass --config-dir DIR (the folder \
                 holding config.jsonc)"
            ),
        )),
        Err(e) => Err(Failure::msg(
            Exit::Config,
            format!("{e}: {CONFIG_DIR_HINT}"),
        )),
    }
}

/// The plan: flags first, then (when interactive) a prompt for each missing answer, else the
/// defaults (the config's last mode and side, the global ids, append).
pub fn decide(
    args: &Args,
    config: &Config,
    interactive: bool,
    out: &mut dyn Write,
) -> Result<Plan, Failure> {
    let mode = match args.mode {
        Some(m) => m.into(),
        None if interactive => prompt::ask_mode(config.id_updater_last_mode)?,
        None => config.id_updater_last_mode,
    };
    let target = match args.target {
        Some(t) => t.into(),
        None if interactive && mode == Mode::Battle => {
            prompt::ask_target(config.id_updater_battle_target)?
        }
        None => config.id_updater_battle_target,
    };
    let mut plan = Plan {
        mode,
        target,
        destination: Destination::Global,
    };
    let choice = if let Some(name) = &args.model {
        let choices = model_choices(&args.config_dir)?;
        Some(plan::find_model(&choices, name)?.clone())
    } else if interactive && prompt::ask_pool_destination()? {
        Some(prompt::ask_model(&model_choices(&args.config_dir)?)?)
    } else {
        None
    };
    if let Some(choice) = choice {
        let write = if args.replace {
            PoolWrite::Replace
        } else if args.append || !interactive || choice.pool_len == 0 {
            PoolWrite::Append
        } else {
            prompt::ask_pool_write(choice.pool_len)?
        };
        plan.destination = Destination::Pool {
            model: choice.name.clone(),
            write,
        };
        if let Some(warning) = plan::search_side_warning(&plan, &choice) {
            say!(out, "warning: {warning}.");
        }
    }
    Ok(plan)
}

/// Models a pool can belong to (a missing `models.json` counts as empty).
fn model_choices(dir: &Path) -> Result<Vec<ModelChoice>, Failure> {
    let path = config::models_file(dir);
    let models = match std::fs::read_to_string(&path) {
        Ok(text) => Models::parse(&text, &path)
            .map_err(|e| Failure::msg(Exit::Config, format!("{e}: {CONFIG_DIR_HINT}")))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Models::default(),
        Err(e) => {
            return Err(Failure::msg(
                Exit::Config,
                format!("cannot read {}: {e}", path.display()),
            ))
        }
    };
    let (_, map) = store::read_endpoint_map(dir)?;
    Ok(plan::model_choices(&models, &map))
}

/// Listen, arm, wait for one valid capture (or the timeout), store it.
async fn capture(
    args: &Args,
    config: &Config,
    plan: &Plan,
    mut countdown: Countdown,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    // Bound before the tab is armed, so a report cannot reach a closed port.
    let mut listener = CaptureListener::bind(args.listen_port, config.allowed_origins.clone())
        .await
        .map_err(|e| port_failure(args.listen_port, &e))?;
    let port = listener.port();
    let armed = server::start_id_capture(&args.server, config.api_key.as_deref(), port).await?;
    if armed.late_injection {
        return Err(Failure::msg(
            Exit::Own(Own::LateInjection),
            "the userscript in the LMArena tab was injected after the page started, so it \
             cannot see the request to capture: in Tampermonkey set Settings → Injection Mode \
             to \"Instant\" (Chrome/Edge 138+: also turn on \"Allow User Scripts\" for the \
             extension), reload the tab and run bridge-id-updater again. Or set \
             \"upstream_flow\": \"evaluation\" in config.jsonc, which needs no captured ids",
        ));
    }
    let expected = format!("http://127.0.0.1:{port}{UPDATE_PATH}");
    if let Some(report_to) = armed.report_to.as_deref().filter(|r| *r != expected) {
        say!(
            out,
            "warning: the server told the tab to report to {report_to}, not to this listener \
             ({expected}); the capture may not arrive here."
        );
    }
    let tab = armed.tab.map(|t| format!(" #{t}")).unwrap_or_default();
    say!(
        out,
        "Capture armed in LMArena tab{tab} (its title now starts with 🎯). In that tab:"
    );
    for line in instructions(plan) {
        say!(out, "  {line}");
    }
    say!(
        out,
        "Waiting up to {} s for the capture on {expected} …",
        args.timeout
    );
    let _ = out.flush();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let mut tick = tokio::time::interval(progress::TICK);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    // False when the handler could not be installed: Ctrl-C then just ends the process.
    let mut ctrl_c_armed = true;
    let mut last_refusal: Option<String> = None;
    loop {
        tokio::select! {
            event = listener.next_event() => match event {
                Some(Event::Refused { status, reason }) => {
                    countdown.note(&format!(
                        "note: refused {reason} (HTTP {status}); still waiting"
                    ));
                    last_refusal = Some(reason);
                }
                Some(Event::Capture { ids, origin, reply }) => {
                    countdown.clear();
                    let stored = store::store(&args.config_dir, plan, &ids);
                    let _ = reply.send(stored.as_ref().map(|_| ()).map_err(|_| ()));
                    if !listener.answered(ANSWER_FLUSH).await {
                        tracing::debug!("the tab's answer was not sent in time");
                    }
                    let lines = stored?;
                    say!(out, "Captured from {origin} ({}).", plan.describe_mode());
                    for line in lines {
                        say!(out, "{line}");
                    }
                    return Ok(());
                }
                None => return Err(Failure::msg(Exit::Other, "the capture listener stopped")),
            },
            () = tokio::time::sleep_until(deadline) => {
                countdown.clear();
                let refused = last_refusal
                    .map(|r| format!(" (last refused request: {r})"))
                    .unwrap_or_default();
                return Err(Failure::msg(
                    Exit::Own(Own::Timeout),
                    format!(
                        "no capture arrived within {} s{refused}: in the LMArena tab click Retry \
                         under an assistant answer while its title shows 🎯, or rerun with a \
                         longer --timeout; nothing was written",
                        args.timeout
                    ),
                ));
            }
            _ = tick.tick() => {
                countdown.draw(deadline.saturating_duration_since(tokio::time::Instant::now()));
            }
            signal = &mut ctrl_c, if ctrl_c_armed => {
                if signal.is_ok() {
                    countdown.clear();
                    return Err(Failure::msg(Exit::Interrupted, "interrupted; nothing was written"));
                }
                ctrl_c_armed = false;
            }
        }
    }
}

fn port_failure(port: u16, error: &std::io::Error) -> Failure {
    let message = if error.kind() == std::io::ErrorKind::AddrInUse {
        format!(
            "port {port} on 127.0.0.1 is in use (is another bridge-id-updater waiting?): stop \
             that program or pass --listen-port PORT"
        )
    } else {
        format!("cannot listen on 127.0.0.1:{port}: {error}: pass another --listen-port PORT")
    };
    Failure::msg(Exit::Own(Own::PortInUse), message)
}

/// What to click in the tab for `plan`'s mode.
pub fn instructions(plan: &Plan) -> [String; 2] {
    match plan.mode {
        Mode::DirectChat => [
            "1. Open a Direct chat conversation of your own (send any message if you have none)."
                .to_owned(),
            "2. Click Retry (the circular arrow) under an assistant answer.".to_owned(),
        ],
        Mode::Battle => {
            let side = match plan.target {
                config::BattleTarget::A => "Assistant A (left)",
                config::BattleTarget::B => "Assistant B (right)",
            };
            [
                "1. Open a Battle conversation of your own (send any message if you have none)."
                    .to_owned(),
                format!("2. Click Retry (the circular arrow) under the answer of {side}."),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_core::config::BattleTarget;
    use clap::Parser;

    fn args(argv: &[&str]) -> Args {
        let mut full = vec!["bridge-id-updater"];
        full.extend_from_slice(argv);
        Args::try_parse_from(full).unwrap()
    }

    fn dir_with(models: &str, map: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("models.json"), models).unwrap();
        std::fs::write(dir.path().join("model_endpoint_map.json"), map).unwrap();
        dir
    }

    #[test]
    fn defaults_come_from_the_config() {
        let config = Config {
            id_updater_last_mode: Mode::Battle,
            id_updater_battle_target: BattleTarget::B,
            ..Config::default()
        };
        let plan = decide(&args(&["--yes"]), &config, false, &mut Vec::new()).unwrap();
        assert_eq!(
            plan,
            Plan {
                mode: Mode::Battle,
                target: BattleTarget::B,
                destination: Destination::Global
            }
        );
        let plan = decide(
            &args(&["--mode", "direct_chat", "--target", "A"]),
            &config,
            false,
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(
            (plan.mode, plan.target),
            (Mode::DirectChat, BattleTarget::A)
        );
    }

    #[test]
    fn model_flag_picks_a_pool() {
        let dir = dir_with(r#"{"m": "id", "s": "id2:search"}"#, "{}");
        let d = dir.path().to_str().unwrap();
        let config = Config::default();
        let plan = decide(
            &args(&["--config-dir", d, "--model", "m"]),
            &config,
            false,
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(
            plan.destination,
            Destination::Pool {
                model: "m".to_owned(),
                write: PoolWrite::Append
            }
        );
        let mut out = Vec::new();
        let plan = decide(
            &args(&[
                "--config-dir",
                d,
                "--model",
                "s",
                "--replace",
                "--mode",
                "battle",
                "--target",
                "B",
            ]),
            &config,
            false,
            &mut out,
        )
        .unwrap();
        assert!(matches!(
            plan.destination,
            Destination::Pool {
                write: PoolWrite::Replace,
                ..
            }
        ));
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("search models answer only on battle side A"),
            "{out}"
        );

        let e = decide(
            &args(&["--config-dir", d, "--model", "nope"]),
            &config,
            false,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(e.exit, Exit::Own(Own::UnknownModel));
    }

    #[test]
    fn broken_models_json_is_a_config_error() {
        let dir = dir_with("{\"m\": 1}", "{}");
        let d = dir.path().to_str().unwrap();
        let e = decide(
            &args(&["--config-dir", d, "--model", "m"]),
            &Config::default(),
            false,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(e.exit, Exit::Config);
        assert!(e.to_string().contains("models.json:1:"), "{e}");
    }

    #[test]
    fn instructions_name_the_side() {
        let plan = |mode, target| Plan {
            mode,
            target,
            destination: Destination::Global,
        };
        let [first, second] = instructions(&plan(Mode::Battle, BattleTarget::B));
        assert!(first.contains("Battle"));
        assert!(
            second.contains("Retry") && second.contains("Assistant B"),
            "{second}"
        );
        let [first, second] = instructions(&plan(Mode::DirectChat, BattleTarget::B));
        assert!(first.contains("Direct chat"));
        assert!(second.contains("Retry") && !second.contains("Assistant B"));
    }

    #[test]
    fn port_failures_say_what_to_do() {
        let e = port_failure(5103, &std::io::Error::from(std::io::ErrorKind::AddrInUse));
        assert_eq!(e.exit, Exit::Own(Own::PortInUse));
        assert!(e.to_string().contains("--listen-port"), "{e}");
    }
}
