//! What a scraped list means for the files: the summary printed after a scrape, the text of
//! `available_models.json`, and which models `--add` / `--all-new` / the checklist add to
//! `models.json`. Pure functions over values; the files are read and written by
//! [`crate::app`].

use std::collections::HashSet;
use std::fmt;

use bridge_core::models::{ModelKind, Models};
use bridge_core::scrape::ScrapedModel;

/// How many names a summary line lists before it says "and N more".
const LISTED_NAMES: usize = 20;
/// How many close names an unknown `--add` name suggests.
const SUGGESTIONS: usize = 5;
/// Jaro-Winkler similarity from which a name counts as close.
const CLOSE_SIMILARITY: f64 = 0.8;

/// The counts printed after a scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub total: usize,
    pub text: usize,
    pub image: usize,
    pub search: usize,
    pub vision: usize,
    /// Names not in the previous `available_models.json`; `None` when there was none.
    pub new: Option<Vec<String>>,
    /// Names of the previous file that the page no longer lists, sorted.
    pub gone: Vec<String>,
}

/// Count a scraped list and compare it with the previous file's names.
pub fn summarize(models: &[ScrapedModel], previous: Option<&HashSet<String>>) -> Summary {
    let count = |kind: ModelKind| models.iter().filter(|m| m.kind() == kind).count();
    Summary {
        total: models.len(),
        text: count(ModelKind::Text),
        image: count(ModelKind::Image),
        search: count(ModelKind::Search),
        vision: models.iter().filter(|m| m.has_vision()).count(),
        new: previous.map(|names| {
            models
                .iter()
                .filter(|m| !names.contains(m.public_name()))
                .map(|m| m.public_name().to_owned())
                .collect()
        }),
        gone: previous
            .map(|names| {
                let listed: HashSet<&str> = models.iter().map(ScrapedModel::public_name).collect();
                let mut gone: Vec<String> = names
                    .iter()
                    .filter(|n| !listed.contains(n.as_str()))
                    .cloned()
                    .collect();
                gone.sort();
                gone
            })
            .unwrap_or_default(),
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Scraped {} models: {} text, {} image, {} search; {} accept images (vision).",
            self.total, self.text, self.image, self.search, self.vision
        )?;
        match &self.new {
            None => write!(f, "No previous available_models.json: every model is new."),
            Some(new) if new.is_empty() => {
                write!(f, "No new models since the last available_models.json.")
            }
            Some(new) => write!(
                f,
                "New since the last available_models.json ({}): {}",
                new.len(),
                list_names(new)
            ),
        }?;
        if !self.gone.is_empty() {
            write!(
                f,
                "\nNo longer listed ({}): {}",
                self.gone.len(),
                list_names(&self.gone)
            )?;
        }
        Ok(())
    }
}

/// `a, b, c` or `a, b, … and 7 more`.
pub fn list_names(names: &[String]) -> String {
    let shown: Vec<&str> = names
        .iter()
        .take(LISTED_NAMES)
        .map(String::as_str)
        .collect();
    let mut text = shown.join(", ");
    if names.len() > LISTED_NAMES {
        text.push_str(&format!(" … and {} more", names.len() - LISTED_NAMES));
    }
    text
}

/// The `publicName`s of a previous `available_models.json` (a JSON array of objects).
pub fn previous_names(text: &str) -> Result<HashSet<String>, serde_json::Error> {
    let items: Vec<serde_json::Value> = serde_json::from_str(text)?;
    Ok(items
        .iter()
        .filter_map(|item| item.get("publicName")?.as_str().map(str::to_owned))
        .collect())
}

/// The text of `available_models.json`: a pretty JSON array, newline-terminated.
pub fn available_models_json(models: &[ScrapedModel]) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(models)?;
    text.push('\n');
    Ok(text)
}

/// `--add` names that are not in the scraped list, each with close names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownNames(pub Vec<(String, Vec<String>)>);

impl fmt::Display for UnknownNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(name, close)| {
                if close.is_empty() {
                    format!("{name:?} (no close name)")
                } else {
                    let close: Vec<String> = close.iter().map(|c| format!("{c:?}")).collect();
                    format!("{name:?} (did you mean {}?)", close.join(", "))
                }
            })
            .collect();
        write!(f, "not in the scraped model list: {}", parts.join("; "))
    }
}

impl std::error::Error for UnknownNames {}

/// The scraped models named by `--add`, in the order given, each once.
pub fn pick_named<'a>(
    names: &[String],
    scraped: &'a [ScrapedModel],
) -> Result<Vec<&'a ScrapedModel>, UnknownNames> {
    let mut picked: Vec<&ScrapedModel> = Vec::new();
    let mut unknown = Vec::new();
    for name in names {
        match scraped.iter().find(|m| m.public_name() == name) {
            Some(m) if !picked.iter().any(|p| p.public_name() == name) => picked.push(m),
            Some(_) => {}
            None => unknown.push((
                name.clone(),
                close_names(name, scraped.iter().map(ScrapedModel::public_name)),
            )),
        }
    }
    if unknown.is_empty() {
        Ok(picked)
    } else {
        Err(UnknownNames(unknown))
    }
}

/// Up to five names close to `query`, best first: same name but for case, containing it or
/// contained in it, or similar by Jaro-Winkler.
pub fn close_names<'a>(query: &str, names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let q = query.to_lowercase();
    let mut scored: Vec<(f64, &str)> = names
        .filter_map(|name| {
            let n = name.to_lowercase();
            let score = if n == q {
                2.0
            } else if !q.is_empty() && (n.contains(&q) || q.contains(&n)) {
                1.0 + strsim::jaro_winkler(&q, &n)
            } else {
                strsim::jaro_winkler(&q, &n)
            };
            (score >= CLOSE_SIMILARITY).then_some((score, name))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(SUGGESTIONS)
        .map(|(_, name)| name.to_owned())
        .collect()
}

/// The scraped models whose names `in_models` does not know, in page order.
pub fn not_in_models(
    scraped: &[ScrapedModel],
    in_models: impl Fn(&str) -> bool,
) -> Vec<&ScrapedModel> {
    scraped
        .iter()
        .filter(|m| !in_models(m.public_name()))
        .collect()
}

/// A `models.json` entry whose model the site now lists under another id (same name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub name: String,
    /// The id in `models.json`.
    pub old: String,
    /// The id on the site.
    pub new: String,
    /// The `models.json` value with the new id (its type suffix kept).
    pub value: String,
}

/// The entries of `models` whose id differs from the site's id for the same name, in file
/// order. Entries without an id (`null:image`) have nothing to drift.
pub fn drifted_ids(listed: &[ScrapedModel], models: &Models) -> Vec<Drift> {
    models
        .iter()
        .filter_map(|entry| {
            let old = entry.model_id.as_deref()?;
            let site = listed
                .iter()
                .find(|m| m.public_name() == entry.public_name)?;
            (site.id() != old).then(|| {
                let mut fixed = Models::default();
                fixed.insert(
                    &entry.public_name,
                    Some(site.id().to_owned()),
                    entry.kind.clone(),
                );
                Drift {
                    name: entry.public_name.clone(),
                    old: old.to_owned(),
                    new: site.id().to_owned(),
                    value: fixed
                        .get(&entry.public_name)
                        .map(|e| e.to_value())
                        .unwrap_or_default(),
                }
            })
        })
        .collect()
}

/// One checklist line: name, `models.json` value and whether it takes images.
pub struct Choice<'a>(pub &'a ScrapedModel);

impl fmt::Display for Choice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        let kind = match m.kind() {
            ModelKind::Image => " [image]",
            ModelKind::Search => " [search]",
            _ => "",
        };
        let vision = if m.has_vision() { " [vision]" } else { "" };
        write!(f, "{}{kind}{vision}", m.public_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model(name: &str, id: &str, out: serde_json::Value, vision: bool) -> ScrapedModel {
        ScrapedModel::from_value(json!({"id": id, "publicName": name, "capabilities": {
            "inputCapabilities": {"text": true, "image": vision}, "outputCapabilities": out}}))
        .unwrap()
    }

    fn sample() -> Vec<ScrapedModel> {
        vec![
            model("gpt-4.1", "1", json!({"text": true}), false),
            model("gemini-2.5-pro", "2", json!({"text": true}), true),
            model("imagen-4", "3", json!({"image": {}}), false),
            model("sonar", "4", json!({"search": true}), false),
        ]
    }

    #[test]
    fn summary_counts_and_new_names() {
        let models = sample();
        let previous: HashSet<String> = ["gpt-4.1".to_owned(), "gone".to_owned()].into();
        let s = summarize(&models, Some(&previous));
        assert_eq!(
            (s.total, s.text, s.image, s.search, s.vision),
            (4, 2, 1, 1, 1)
        );
        assert_eq!(
            s.new.as_deref().unwrap(),
            ["gemini-2.5-pro", "imagen-4", "sonar"]
        );
        assert_eq!(s.gone, ["gone"]);
        let text = s.to_string();
        assert!(text.ends_with("\nNo longer listed (1): gone"), "{text}");
        assert!(text.contains("Scraped 4 models: 2 text, 1 image, 1 search; 1 accept"));
        assert!(text.contains("New since the last available_models.json (3): gemini-2.5-pro"));
        assert!(summarize(&models, None)
            .to_string()
            .contains("every model is new"));
        let all: HashSet<String> = models.iter().map(|m| m.public_name().into()).collect();
        assert!(summarize(&models, Some(&all))
            .to_string()
            .contains("No new models"));
    }

    #[test]
    fn long_name_lists_are_cut() {
        let names: Vec<String> = (0..25).map(|i| format!("m{i}")).collect();
        let text = list_names(&names);
        assert!(text.ends_with("m19 … and 5 more"), "{text}");
    }

    #[test]
    fn previous_names_reads_public_names() {
        let names = previous_names(r#"[{"publicName":"a","id":"1"},{"id":"2"},3]"#).unwrap();
        assert_eq!(names, HashSet::from(["a".to_owned()]));
        assert!(previous_names("{}").is_err());
    }

    #[test]
    fn available_models_json_is_a_pretty_array() {
        let text = available_models_json(&sample()).unwrap();
        assert!(text.starts_with("[\n  {") && text.ends_with("]\n"));
        let back: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(back.len(), 4);
    }

    #[test]
    fn pick_named_keeps_order_and_reports_unknown_with_close_names() {
        let models = sample();
        let names = vec!["sonar".to_owned(), "gpt-4.1".to_owned(), "sonar".to_owned()];
        let picked = pick_named(&names, &models).unwrap();
        let picked: Vec<&str> = picked.iter().map(|m| m.public_name()).collect();
        assert_eq!(picked, ["sonar", "gpt-4.1"]);

        let err = pick_named(&["Gemini-2.5".to_owned(), "zzz".to_owned()], &models).unwrap_err();
        assert_eq!(err.0[0].1, ["gemini-2.5-pro"]);
        assert!(err.0[1].1.is_empty());
        assert_eq!(
            err.to_string(),
            "not in the scraped model list: \"Gemini-2.5\" (did you mean \"gemini-2.5-pro\"?); \
             \"zzz\" (no close name)"
        );
    }

    #[test]
    fn close_names_ranks_case_and_substring_first() {
        let names = ["GPT-4.1", "gpt-4.1-mini", "gpt-4o", "claude"];
        assert_eq!(
            close_names("gpt-4.1", names.into_iter()),
            ["GPT-4.1", "gpt-4.1-mini", "gpt-4o"]
        );
    }

    #[test]
    fn not_in_models_filters_by_name() {
        let models = sample();
        let missing = not_in_models(&models, |n| n == "gpt-4.1" || n == "sonar");
        let names: Vec<&str> = missing.iter().map(|m| m.public_name()).collect();
        assert_eq!(names, ["gemini-2.5-pro", "imagen-4"]);
    }

    #[test]
    fn drifted_ids_keep_the_suffix_and_skip_entries_without_id() {
        let listed = sample();
        let models = Models::parse(
            r#"{"gemini-2.5-pro": "old-2", "imagen-4": "old-3:image", "gpt-4.1": "1",
                "sonar": "null:search", "gone": "9"}"#,
            std::path::Path::new("models.json"),
        )
        .unwrap();
        let drift = drifted_ids(&listed, &models);
        let found: Vec<(&str, &str, &str, &str)> = drift
            .iter()
            .map(|d| {
                (
                    d.name.as_str(),
                    d.old.as_str(),
                    d.new.as_str(),
                    d.value.as_str(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                ("gemini-2.5-pro", "old-2", "2", "2"),
                ("imagen-4", "old-3", "3", "3:image")
            ]
        );
    }

    #[test]
    fn choice_shows_kind_and_vision() {
        let models = sample();
        assert_eq!(Choice(&models[1]).to_string(), "gemini-2.5-pro [vision]");
        assert_eq!(Choice(&models[2]).to_string(), "imagen-4 [image]");
    }
}
