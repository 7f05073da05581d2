//! One run of `bridge-model-updater`: get the model list (the site's catalog, else the page),
//! write `available_models.json`, report ids that changed on the site (and fix them with
//! `--fix-ids`), choose models, add them to `models.json`.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use bridge_cli::{say, OrExit};
use bridge_core::arena::catalog::parse_catalog;
use bridge_core::config::{self, edit::set_string_values, load_config, ConfigError};
use bridge_core::fsutil::write_atomic;
use bridge_core::models::Models;
use bridge_core::scrape::{self, ScrapedModel};
use inquire::{InquireError, MultiSelect};

use crate::cli::Args;
use crate::exit::{Exit, Failure, Own};
use crate::source::{self, CatalogMiss};
use crate::update::{self, Choice, Drift};

/// The list, written next to `models.json`.
pub const AVAILABLE_MODELS_FILE_NAME: &str = config::AVAILABLE_MODELS_FILE_NAME;
/// Lines shown at once by the checklist.
const CHECKLIST_PAGE_SIZE: usize = 15;

/// Entry point of the binary: parse arguments, run, map the outcome to an exit code.
pub fn main() -> ExitCode {
    bridge_cli::run_main(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), run)
}

/// `models.json` as found on disk.
struct ModelsFile {
    path: PathBuf,
    /// `None` when the file does not exist yet.
    text: Option<String>,
    models: Models,
}

/// One run. `interactive` allows the checklist; the report goes to `out`.
pub fn run(args: &Args, interactive: bool, out: &mut dyn Write) -> Result<(), Failure> {
    let dir = args.config_dir.as_path();
    let scraped = model_list(args, dir, out)?;
    let mut models_file = read_models(dir)?;
    let available_path = dir.join(AVAILABLE_MODELS_FILE_NAME);
    let previous = read_previous(&available_path)?;
    // Checked before anything is written: a typo must not leave half a run behind.
    let named = if args.add.is_empty() {
        None
    } else {
        Some(update::pick_named(&args.add, &scraped).or_exit(Exit::Own(Own::UnknownModel))?)
    };

    let available = update::available_models_json(&scraped)
        .context("cannot render available_models.json")
        .or_exit(Exit::Other)?;
    if args.dry_run {
        say!(
            out,
            "Dry run: would write {} ({} models).",
            available_path.display(),
            scraped.len()
        );
    } else {
        write_file(&available_path, &available)?;
        say!(out, "Wrote {}.", available_path.display());
    }
    say!(out, "{}", update::summarize(&scraped, previous.as_ref()));

    let drifts = update::drifted_ids(&scraped, &models_file.models);
    report_drifts(out, &drifts, args.fix_ids);
    let fixed = args.fix_ids && !drifts.is_empty();
    if fixed {
        models_file = with_fixed_ids(models_file, &drifts);
    }

    let models = &models_file.models;
    let missing = update::not_in_models(&scraped, |name| models.contains(name));
    let chosen = if let Some(named) = named {
        report_present(out, &named, models);
        named
            .into_iter()
            .filter(|m| !models.contains(m.public_name()))
            .collect()
    } else if args.all_new {
        missing
    } else if interactive {
        checklist(&missing)?
    } else {
        if !missing.is_empty() {
            say!(
                out,
                "{} scraped models are not in models.json; add them with --add NAME… or \
                 --all-new.",
                missing.len()
            );
        }
        Vec::new()
    };
    if chosen.is_empty() {
        if !fixed {
            say!(out, "models.json unchanged.");
        } else if args.dry_run {
            say!(out, "Dry run: nothing written.");
        } else if let Some(text) = &models_file.text {
            write_file(&models_file.path, text)?;
            say!(out, "Wrote {}.", models_file.path.display());
        }
        return Ok(());
    }

    let text = models_json_with(&models_file, &chosen);
    say!(
        out,
        "{} {} models to {}:",
        if args.dry_run { "Would add" } else { "Adding" },
        chosen.len(),
        models_file.path.display()
    );
    for m in &chosen {
        say!(
            out,
            "  + {}: {}",
            json_string(m.public_name()),
            json_string(&m.models_json_value())
        );
    }
    if args.dry_run {
        say!(out, "Dry run: nothing written.");
    } else {
        write_file(&models_file.path, &text)?;
        say!(out, "Wrote {}.", models_file.path.display());
    }
    Ok(())
}

/// The model list: `--html` or `--catalog` from a file, else from the server: the site's
/// catalog first, the page HTML when the catalog cannot be had (or with `--page`).
fn model_list(args: &Args, dir: &Path, out: &mut dyn Write) -> Result<Vec<ScrapedModel>, Failure> {
    if let Some(path) = &args.html {
        let html = source::read_html(path, args.html_from_stdin())?;
        return scrape::extract_models(&html).or_exit(Exit::Own(Own::NoModelList));
    }
    if let Some(path) = &args.catalog {
        let text = source::read_html(path, args.catalog_from_stdin())?;
        let catalog = parse_catalog(&text).or_exit(Exit::Own(Own::NoModelList))?;
        say!(
            out,
            "Model catalog from {}: {} arenas, {} entries.",
            path.display(),
            catalog.arenas.len(),
            catalog.entries
        );
        return Ok(catalog.models);
    }
    let key = api_key(dir)?;
    if !args.page {
        let reason = match source::fetch_catalog_from_server(&args.server, key.as_deref()) {
            Ok(text) => match parse_catalog(&text) {
                Ok(catalog) => {
                    say!(
                        out,
                        "Model catalog from the LMArena tab: {} arenas, {} entries.",
                        catalog.arenas.len(),
                        catalog.entries
                    );
                    return Ok(catalog.models);
                }
                Err(e) => e.to_string(),
            },
            Err(CatalogMiss::Fallback(reason)) => reason,
            Err(CatalogMiss::Fatal(failure)) => return Err(failure),
        };
        say!(
            out,
            "The model catalog could not be had ({reason}); using the page HTML instead."
        );
    }
    let html = source::fetch_from_server(&args.server, key.as_deref())?;
    scrape::extract_models(&html).or_exit(Exit::Own(Own::NoModelList))
}

/// Say which ids changed on the site, and what `--fix-ids` does about them.
fn report_drifts(out: &mut dyn Write, drifts: &[Drift], fixing: bool) {
    if drifts.is_empty() {
        return;
    }
    say!(
        out,
        "Model ids that changed on the site ({}; same name, new id):",
        drifts.len()
    );
    for d in drifts {
        say!(out, "  ~ {}: {} -> {}", json_string(&d.name), d.old, d.new);
    }
    if !fixing {
        say!(out, "Run with --fix-ids to rewrite them in models.json.");
    }
}

/// `models.json` with the drifted ids replaced in place (order, comments and suffixes kept;
/// a file the CST edit cannot handle is rendered from the entries).
fn with_fixed_ids(file: ModelsFile, drifts: &[Drift]) -> ModelsFile {
    let mut merged = file.models.clone();
    for d in drifts {
        if let Some(entry) = file.models.get(&d.name) {
            merged.insert(&d.name, Some(d.new.clone()), entry.kind.clone());
        }
    }
    let edits: Vec<(&str, &str)> = drifts
        .iter()
        .map(|d| (d.name.as_str(), d.value.as_str()))
        .collect();
    let text = file
        .text
        .as_deref()
        .and_then(|text| set_string_values(text, &edits).ok())
        // Only trusted when it reads back as exactly the merged entries.
        .filter(|edited| Models::parse(edited, &file.path).is_ok_and(|m| m == merged))
        .unwrap_or_else(|| {
            tracing::warn!(
                "could not edit {} in place; rewriting it",
                file.path.display()
            );
            merged.to_json_pretty()
        });
    ModelsFile {
        path: file.path,
        text: Some(text),
        models: merged,
    }
}

/// The api key bridge-server expects, from `config.jsonc`; none when the file is missing.
fn api_key(dir: &Path) -> Result<Option<String>, Failure> {
    match load_config(&config::config_file(dir)) {
        Ok((config, warnings)) => {
            for w in warnings {
                tracing::debug!("{w}");
            }
            Ok(config.api_key)
        }
        Err(ConfigError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            tracing::debug!("no config.jsonc: sending no api key");
            Ok(None)
        }
        Err(e @ ConfigError::Io { .. }) => Err(Failure::new(Exit::File, e)),
        Err(e) => Err(Failure::new(Exit::Config, e)),
    }
}

fn read_models(dir: &Path) -> Result<ModelsFile, Failure> {
    let path = config::models_file(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(Failure::new(
                Exit::File,
                anyhow::Error::new(e).context(format!("cannot read {}", path.display())),
            ))
        }
    };
    let models = match &text {
        Some(text) => Models::parse(text, &path).or_exit(Exit::Config)?,
        None => Models::default(),
    };
    Ok(ModelsFile { path, text, models })
}

/// Names of the previous `available_models.json`; a broken one only loses the "new" list.
fn read_previous(path: &Path) -> Result<Option<HashSet<String>>, Failure> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Failure::new(
                Exit::File,
                anyhow::Error::new(e).context(format!("cannot read {}", path.display())),
            ))
        }
    };
    match update::previous_names(&text) {
        Ok(names) => Ok(Some(names)),
        Err(e) => {
            eprintln!(
                "warning: ignoring the previous {} ({e}); it will be replaced",
                path.display()
            );
            Ok(None)
        }
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), Failure> {
    write_atomic(path, text.as_bytes())
        .with_context(|| {
            format!(
                "cannot write {} (does the config directory exist? see --config-dir)",
                path.display()
            )
        })
        .or_exit(Exit::File)
}

/// Say which `--add` names are already in `models.json` (they are left as they are).
fn report_present(out: &mut dyn Write, named: &[&ScrapedModel], models: &Models) {
    for m in named {
        let Some(entry) = models.get(m.public_name()) else {
            continue;
        };
        let current = entry.to_value();
        let page = m.models_json_value();
        if current == page {
            say!(out, "{} is already in models.json.", m.public_name());
        } else {
            say!(
                out,
                "{} is already in models.json as {}; the site says {}; left as it is.",
                m.public_name(),
                json_string(&current),
                json_string(&page)
            );
        }
    }
}

/// The checklist of models not yet in `models.json`. Esc chooses none.
fn checklist<'a>(missing: &[&'a ScrapedModel]) -> Result<Vec<&'a ScrapedModel>, Failure> {
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let choices: Vec<Choice<'a>> = missing.iter().map(|m| Choice(m)).collect();
    let answer = MultiSelect::new("Add which models to models.json?", choices)
        .with_help_message(
            "↑↓ move, space select, → all, ← none, type to filter, enter to add, esc to skip",
        )
        .with_page_size(CHECKLIST_PAGE_SIZE)
        .prompt();
    match answer {
        Ok(selected) => Ok(selected.into_iter().map(|c| c.0).collect()),
        Err(InquireError::OperationCanceled) => Ok(Vec::new()),
        Err(InquireError::OperationInterrupted) => Err(Failure::msg(
            Exit::Interrupted,
            "interrupted; models.json left as it is",
        )),
        Err(e) => Err(Failure::new(
            Exit::Other,
            anyhow::Error::new(e).context("the model checklist failed"),
        )),
    }
}

/// The new text of `models.json` with `chosen` appended. An existing file is edited through
/// the JSONC CST so its entries, comments and layout stay byte-identical; a new file (or one
/// the CST edit cannot handle) is rendered from the entries.
fn models_json_with(file: &ModelsFile, chosen: &[&ScrapedModel]) -> String {
    let values: Vec<(&str, String)> = chosen
        .iter()
        .map(|m| (m.public_name(), m.models_json_value()))
        .collect();
    let mut merged = file.models.clone();
    for m in chosen {
        merged.insert(m.public_name(), Some(m.id().to_owned()), m.kind());
    }
    if let Some(text) = file.text.as_deref().filter(|t| !t.trim().is_empty()) {
        let edits: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if let Ok(edited) = set_string_values(text, &edits) {
            // Only trusted when it reads back as exactly the merged entries.
            if Models::parse(&edited, &file.path).is_ok_and(|m| m == merged) {
                return edited;
            }
        }
        tracing::warn!(
            "could not append to {} in place; rewriting it",
            file.path.display()
        );
    }
    merged.to_json_pretty()
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scraped(name: &str, id: &str, image: bool) -> ScrapedModel {
        let out = if image {
            json!({"image": {}})
        } else {
            json!({"text": true})
        };
        ScrapedModel::from_value(
            json!({"id": id, "publicName": name, "capabilities": {"outputCapabilities": out}}),
        )
        .unwrap()
    }

    fn file(text: Option<&str>) -> ModelsFile {
        let path = PathBuf::from("models.json");
        let models = text
            .map(|t| Models::parse(t, &path).unwrap())
            .unwrap_or_default();
        ModelsFile {
            path,
            text: text.map(str::to_owned),
            models,
        }
    }

    #[test]
    fn appends_in_place_keeping_comments_and_order() {
        let text = "{\n  // mine\n  \"z-model\": \"1\",\n  \"a-model\": \"null:image\"\n}\n";
        let a = scraped("new one", "u1", false);
        let b = scraped("pic", "u2", true);
        let out = models_json_with(&file(Some(text)), &[&a, &b]);
        assert!(
            out.starts_with("{\n  // mine\n  \"z-model\": \"1\",\n  \"a-model\": \"null:image\""),
            "{out}"
        );
        let back = Models::parse(&out, Path::new("m")).unwrap();
        let names: Vec<&str> = back.iter().map(|e| e.public_name.as_str()).collect();
        assert_eq!(names, ["z-model", "a-model", "new one", "pic"]);
        assert_eq!(back.get("pic").unwrap().to_value(), "u2:image");
    }

    #[test]
    fn new_or_empty_file_is_rendered() {
        let a = scraped("m", "u1", false);
        for f in [file(None), file(Some("  \n"))] {
            assert_eq!(models_json_with(&f, &[&a]), "{\n  \"m\": \"u1\"\n}\n");
        }
    }
}
