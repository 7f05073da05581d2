//! `models.json` and `model_endpoint_map.json`: model resolution, session pools, session choice.
//!
//! - [`Models`]: public model name → LMArena model id and kind (`"id"`, `"id:image"`,
//!   `"null:image"`, `"id:search"`), in file order.
//! - [`EndpointMap`]: public model name → session pool (one object or a list of objects).
//! - [`Registry`]: both files together; [`Registry::resolve`] turns a requested name into a
//!   [`ResolvedModel`] or a [`ResolveError::ModelNotFound`].
//! - [`choose_session`] / [`choose_sessions`]: pick the captured session(s) for a request from
//!   the model's pool through an injectable [`PoolStrategy`], falling back to the global ids of
//!   `config.jsonc` only when `use_default_ids_if_mapping_not_found` allows it.
//!
//! Both files are read with the same JSONC dialect as `config.jsonc`, and can be written back
//! (for the updater tools) without reordering models.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use jsonc_parser::ast::{Object, Value};
use jsonc_parser::common::Ranged;

use crate::config::{
    line_col, parse_jsonc, strip_bom, value_kind, BattleTarget, Config, Mode, UpstreamFlow,
    ENDPOINT_MAP_FILE_NAME, MODELS_FILE_NAME,
};

/// Model id written for image models that have none (`"null:image"`), as the original did.
pub const NULL_MODEL_ID: &str = "null";
/// Type suffixes of `models.json` values.
pub const KIND_TEXT: &str = "text";
pub const KIND_IMAGE: &str = "image";
pub const KIND_SEARCH: &str = "search";

/// Field names of an entry of `model_endpoint_map.json`.
pub mod map_keys {
    pub const SESSION_ID: &str = "session_id";
    pub const MESSAGE_ID: &str = "message_id";
    pub const MODE: &str = "mode";
    pub const BATTLE_TARGET: &str = "battle_target";
    pub const FLOW: &str = "flow";
}

/// Prefix of the placeholder ids shipped in the default config (`YOUR_SESSION_ID`); compared
/// case-insensitively. `your-` covers forks of the original that wrote `your-session-id-here`.
const PLACEHOLDER_PREFIXES: [&str; 2] = ["your_", "your-"];

/// What kind of model an entry of `models.json` is (the `:type` suffix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelKind {
    Text,
    Image,
    Search,
    /// Any other suffix, kept as written.
    Other(String),
}

impl ModelKind {
    /// The kind for a `:type` suffix (`image`, `search`, `text` in any case; anything else is
    /// [`ModelKind::Other`]).
    pub fn from_suffix(suffix: &str) -> ModelKind {
        if suffix.eq_ignore_ascii_case(KIND_IMAGE) {
            ModelKind::Image
        } else if suffix.eq_ignore_ascii_case(KIND_SEARCH) {
            ModelKind::Search
        } else if suffix.eq_ignore_ascii_case(KIND_TEXT) {
            ModelKind::Text
        } else {
            ModelKind::Other(suffix.to_owned())
        }
    }

    /// The suffix written after `:` in `models.json`; `None` for text models, which have none.
    pub fn suffix(&self) -> Option<&str> {
        match self {
            ModelKind::Text => None,
            ModelKind::Image => Some(KIND_IMAGE),
            ModelKind::Search => Some(KIND_SEARCH),
            ModelKind::Other(s) => Some(s),
        }
    }

    pub fn is_image(&self) -> bool {
        matches!(self, ModelKind::Image)
    }
}

/// One session of a pool in `model_endpoint_map.json` (or the global ids).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionEntry {
    pub session_id: Option<String>,
    pub message_id: Option<String>,
    pub mode: Option<Mode>,
    pub battle_target: Option<BattleTarget>,
    /// Per-model flow override (`{"flow":"evaluation"}` needs no ids).
    pub flow: Option<UpstreamFlow>,
}

impl SessionEntry {
    /// An entry with both ids and no overrides.
    pub fn new(session_id: impl Into<String>, message_id: impl Into<String>) -> Self {
        Self {
            session_id: Some(session_id.into()),
            message_id: Some(message_id.into()),
            ..Self::default()
        }
    }

    /// Why this entry cannot be used for the `retry` flow, or `None` when it can.
    pub fn unusable_reason(&self) -> Option<String> {
        if self.flow == Some(UpstreamFlow::Evaluation) {
            return Some("the entry uses flow \"evaluation\", which needs no ids".to_owned());
        }
        id_problem(map_keys::SESSION_ID, self.session_id.as_deref())
            .or_else(|| id_problem(map_keys::MESSAGE_ID, self.message_id.as_deref()))
    }

    /// Pretty JSON with fields in the order users read them, nested at `indent` spaces.
    fn render(&self, indent: usize) -> String {
        let fields = [
            (map_keys::SESSION_ID, self.session_id.as_deref()),
            (map_keys::MESSAGE_ID, self.message_id.as_deref()),
            (map_keys::MODE, self.mode.map(Mode::as_str)),
            (
                map_keys::BATTLE_TARGET,
                self.battle_target.map(BattleTarget::as_str),
            ),
            (map_keys::FLOW, self.flow.map(UpstreamFlow::as_str)),
        ];
        pretty_object(
            fields
                .into_iter()
                .filter_map(|(k, v)| Some((k, json_string(v?)))),
            indent,
        )
    }
}

/// Whether `id` is one of the shipped placeholders such as `YOUR_SESSION_ID`.
pub fn is_placeholder_id(id: &str) -> bool {
    let id = id.trim();
    PLACEHOLDER_PREFIXES.iter().any(|p| {
        id.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    })
}

/// What is wrong with one id, for error messages.
fn id_problem(name: &str, id: Option<&str>) -> Option<String> {
    match id.map(str::trim) {
        None => Some(format!("{name} is missing")),
        Some("") => Some(format!("{name} is empty")),
        Some(id) if is_placeholder_id(id) => Some(format!("{name} is the placeholder `{id}`")),
        Some(_) => None,
    }
}

/// A model name resolved against both files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// The name the client asked for.
    pub public_name: String,
    /// Upstream `modelId`; `None` for `null:image` entries and endpoint-map-only models.
    pub model_id: Option<String>,
    pub kind: ModelKind,
    /// The model's session pool from `model_endpoint_map.json` (empty when it has none).
    pub pool: Vec<SessionEntry>,
}

impl ResolvedModel {
    /// The upstream flow for this model: the first pool entry that names one, else `default`
    /// (the config's `upstream_flow`).
    pub fn flow(&self, default: UpstreamFlow) -> UpstreamFlow {
        self.pool.iter().find_map(|e| e.flow).unwrap_or(default)
    }
}

/// The session chosen for one upstream request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPick {
    pub session_id: String,
    pub message_id: String,
    pub mode: Mode,
    pub battle_target: BattleTarget,
    /// True when it came from the model's pool, false for the global ids.
    pub from_pool: bool,
}

/// One model of `models.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    pub public_name: String,
    /// `None` for `null:image` (and `null`, or an empty id).
    pub model_id: Option<String>,
    pub kind: ModelKind,
}

impl ModelEntry {
    /// Reads a `models.json` value: `"id"`, `"id:image"`, `"null:image"`, `"id:search"`.
    ///
    /// The type suffix is split at the last `:` only when it is a word of ASCII letters, so an
    /// id that itself contains `:` followed by something else stays whole.
    pub fn from_value(public_name: &str, value: &str) -> ModelEntry {
        let value = value.trim();
        let (id, kind) = match value.rsplit_once(':') {
            Some((id, suffix))
                if !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_alphabetic()) =>
            {
                (id, ModelKind::from_suffix(suffix))
            }
            _ => (value, ModelKind::Text),
        };
        let id = id.trim();
        let model_id =
            (!id.is_empty() && !id.eq_ignore_ascii_case(NULL_MODEL_ID)).then(|| id.to_owned());
        ModelEntry {
            public_name: public_name.to_owned(),
            model_id,
            kind,
        }
    }

    /// The value as written in `models.json`.
    pub fn to_value(&self) -> String {
        let id = self.model_id.as_deref().unwrap_or(NULL_MODEL_ID);
        match self.kind.suffix() {
            Some(suffix) => format!("{id}:{suffix}"),
            None => id.to_owned(),
        }
    }
}

/// Why `models.json` or `model_endpoint_map.json` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: syntax error: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// Valid JSON, but not the shape the file needs.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// Parses `text` as a JSONC object; an empty file counts as `{}`.
fn parse_object<'a>(
    text: &'a str,
    path: &Path,
    expected: &str,
) -> Result<Option<Object<'a>>, ModelsError> {
    let parsed = parse_jsonc(text).map_err(|e| ModelsError::Syntax {
        path: path.to_owned(),
        line: e.line,
        column: e.column,
        message: e.message,
    })?;
    match parsed {
        None => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(other) => Err(invalid(
            text,
            path,
            &other,
            format!("expected {expected}, found {}", value_kind(&other)),
        )),
    }
}

fn invalid(text: &str, path: &Path, at: &Value<'_>, message: String) -> ModelsError {
    let (line, column) = line_col(text, at.start());
    ModelsError::Invalid {
        path: path.to_owned(),
        line,
        column,
        message,
    }
}

/// The entries of `models.json`, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Models {
    entries: Vec<ModelEntry>,
}

impl Models {
    /// Parses the text of `models.json`; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Models, ModelsError> {
        let text = strip_bom(text);
        let mut models = Models::default();
        let Some(object) = parse_object(text, path, "an object {\"public name\": \"model-id\"}")?
        else {
            return Ok(models);
        };
        for prop in &object.properties {
            let name = prop.name.as_str();
            let Value::StringLit(s) = &prop.value else {
                return Err(invalid(
                    text,
                    path,
                    &prop.value,
                    format!(
                        "model `{name}`: expected a string such as \"model-id\", \
                         \"model-id:image\" or \"null:image\", found {}",
                        value_kind(&prop.value)
                    ),
                ));
            };
            let entry = ModelEntry::from_value(name, &s.value);
            models.insert(name, entry.model_id, entry.kind);
        }
        Ok(models)
    }

    pub fn get(&self, name: &str) -> Option<&ModelEntry> {
        self.entries.iter().find(|e| e.public_name == name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Entries in file order.
    pub fn iter(&self) -> impl Iterator<Item = &ModelEntry> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a model at the end, or updates it in place when the name exists (never reorders).
    /// Returns true when the model is new.
    pub fn insert(&mut self, name: &str, model_id: Option<String>, kind: ModelKind) -> bool {
        if let Some(existing) = self.entries.iter_mut().find(|e| e.public_name == name) {
            existing.model_id = model_id;
            existing.kind = kind;
            false
        } else {
            self.entries.push(ModelEntry {
                public_name: name.to_owned(),
                model_id,
                kind,
            });
            true
        }
    }

    /// `models.json` text, two-space indented, in entry order, with a final newline.
    pub fn to_json_pretty(&self) -> String {
        let items = self
            .entries
            .iter()
            .map(|e| (e.public_name.as_str(), json_string(&e.to_value())));
        pretty_object(items, 0) + "\n"
    }
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// `{ "k": v, … }` with keys in the given order (serde_json's map would sort them); values are
/// already rendered JSON. The closing brace is indented by `indent` spaces.
fn pretty_object<'a>(items: impl Iterator<Item = (&'a str, String)>, indent: usize) -> String {
    pretty_container(
        '{',
        '}',
        items.map(|(k, v)| format!("{}: {v}", json_string(k))),
        indent,
    )
}

fn pretty_container(
    open: char,
    close: char,
    items: impl Iterator<Item = String>,
    indent: usize,
) -> String {
    let mut out = String::from(open);
    let mut first = true;
    for item in items {
        out.push_str(if first { "\n" } else { ",\n" });
        first = false;
        let _ = write!(out, "{:width$}{item}", "", width = indent + 2);
    }
    if !first {
        let _ = write!(out, "\n{:indent$}", "");
    }
    out.push(close);
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PoolEntry {
    model: String,
    pool: Vec<SessionEntry>,
    /// Written as a list even with one entry (it was one in the file).
    as_list: bool,
}

/// The session pools of `model_endpoint_map.json`, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointMap {
    entries: Vec<PoolEntry>,
}

impl EndpointMap {
    /// Parses the text of `model_endpoint_map.json`; `path` is only used in messages.
    /// Unknown fields of an entry are ignored.
    pub fn parse(text: &str, path: &Path) -> Result<EndpointMap, ModelsError> {
        let text = strip_bom(text);
        let mut map = EndpointMap::default();
        let Some(object) = parse_object(
            text,
            path,
            "an object {\"model name\": {\"session_id\": …, \"message_id\": …}}",
        )?
        else {
            return Ok(map);
        };
        for prop in &object.properties {
            let model = prop.name.as_str();
            let (pool, as_list) = match &prop.value {
                Value::Object(o) => (vec![parse_session(text, path, model, o)?], false),
                Value::Array(a) => {
                    let mut pool = Vec::with_capacity(a.elements.len());
                    for item in &a.elements {
                        let Value::Object(o) = item else {
                            return Err(invalid(
                                text,
                                path,
                                item,
                                format!(
                                    "model `{model}`: each pool entry must be an object \
                                     {{\"session_id\": …, \"message_id\": …}}, found {}",
                                    value_kind(item)
                                ),
                            ));
                        };
                        pool.push(parse_session(text, path, model, o)?);
                    }
                    (pool, true)
                }
                other => {
                    return Err(invalid(
                        text,
                        path,
                        other,
                        format!(
                            "model `{model}`: expected an object {{\"session_id\": …, \
                             \"message_id\": …}} or a list of them, found {}",
                            value_kind(other)
                        ),
                    ))
                }
            };
            map.set_entry(model, pool, as_list);
        }
        Ok(map)
    }

    /// The pool of `model`, `None` when the map does not list it.
    pub fn pool(&self, model: &str) -> Option<&[SessionEntry]> {
        self.entry(model).map(|e| e.pool.as_slice())
    }

    pub fn contains(&self, model: &str) -> bool {
        self.entry(model).is_some()
    }

    /// Model names in file order.
    pub fn model_names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.model.as_str())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Replaces the pool of `model` (added at the end when new).
    pub fn set_pool(&mut self, model: &str, pool: Vec<SessionEntry>) {
        let as_list = pool.len() != 1;
        self.set_entry(model, pool, as_list);
    }

    /// Adds one session to the pool of `model` (creating it at the end when new).
    pub fn append(&mut self, model: &str, entry: SessionEntry) {
        match self.entries.iter_mut().find(|e| e.model == model) {
            Some(existing) => {
                existing.pool.push(entry);
                existing.as_list |= existing.pool.len() > 1;
            }
            None => self.entries.push(PoolEntry {
                model: model.to_owned(),
                pool: vec![entry],
                as_list: false,
            }),
        }
    }

    /// `model_endpoint_map.json` text in model order: a pool of one is written as an object
    /// (unless it was a list in the file), larger pools as lists.
    pub fn to_json_pretty(&self) -> String {
        let items = self.entries.iter().map(|e| {
            let value = match (e.as_list, e.pool.as_slice()) {
                (false, [single]) => single.render(2),
                (_, pool) => pretty_container('[', ']', pool.iter().map(|s| s.render(4)), 2),
            };
            (e.model.as_str(), value)
        });
        pretty_object(items, 0) + "\n"
    }

    fn entry(&self, model: &str) -> Option<&PoolEntry> {
        self.entries.iter().find(|e| e.model == model)
    }

    fn set_entry(&mut self, model: &str, pool: Vec<SessionEntry>, as_list: bool) {
        match self.entries.iter_mut().find(|e| e.model == model) {
            Some(existing) => {
                existing.pool = pool;
                existing.as_list = as_list;
            }
            None => self.entries.push(PoolEntry {
                model: model.to_owned(),
                pool,
                as_list,
            }),
        }
    }
}

/// One `{session_id, message_id, mode?, battle_target?, flow?}` object.
fn parse_session(
    text: &str,
    path: &Path,
    model: &str,
    object: &Object<'_>,
) -> Result<SessionEntry, ModelsError> {
    let mut entry = SessionEntry::default();
    for prop in &object.properties {
        let key = prop.name.as_str();
        let v = &prop.value;
        let string = || -> Result<Option<String>, ModelsError> {
            match v {
                Value::NullKeyword(_) => Ok(None),
                Value::StringLit(s) if s.value.trim().is_empty() => Ok(None),
                Value::StringLit(s) => Ok(Some(s.value.trim().to_owned())),
                _ => Err(invalid(
                    text,
                    path,
                    v,
                    format!(
                        "model `{model}`: `{key}` must be a string, found {}",
                        value_kind(v)
                    ),
                )),
            }
        };
        match key {
            map_keys::SESSION_ID => entry.session_id = string()?,
            map_keys::MESSAGE_ID => entry.message_id = string()?,
            map_keys::MODE => {
                entry.mode = parse_enum(text, path, model, key, v, string()?)?;
            }
            map_keys::BATTLE_TARGET => {
                entry.battle_target = parse_enum(text, path, model, key, v, string()?)?;
            }
            map_keys::FLOW => entry.flow = parse_enum(text, path, model, key, v, string()?)?,
            _ => {}
        }
    }
    Ok(entry)
}

fn parse_enum<T>(
    text: &str,
    path: &Path,
    model: &str,
    key: &str,
    at: &Value<'_>,
    value: Option<String>,
) -> Result<Option<T>, ModelsError>
where
    T: std::str::FromStr<Err = crate::config::UnknownValue>,
{
    value
        .map(|s| {
            s.parse::<T>().map_err(|e| {
                invalid(
                    text,
                    path,
                    at,
                    format!("model `{model}`: invalid `{key}`: {e}"),
                )
            })
        })
        .transpose()
}

/// A requested model that neither file lists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "model `{model}` not found: add it to config/models.json or \
         config/model_endpoint_map.json (or run bridge-model-updater)"
    )]
    ModelNotFound { model: String },
}

/// Both model files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    pub models: Models,
    pub endpoint_map: EndpointMap,
}

impl Registry {
    /// Reads `models.json` and `model_endpoint_map.json` from the config directory. A missing
    /// file counts as empty; a broken one is an error naming the file, line and column.
    pub fn load(dir: &Path) -> Result<Registry, ModelsError> {
        let models_path = crate::config::models_file(dir);
        let map_path = crate::config::endpoint_map_file(dir);
        let models_text = read_optional(&models_path)?;
        let map_text = read_optional(&map_path)?;
        Ok(Registry {
            models: Models::parse(&models_text, &models_path)?,
            endpoint_map: EndpointMap::parse(&map_text, &map_path)?,
        })
    }

    /// Parses both files from text (messages name them by their plain file names).
    pub fn parse(models_text: &str, map_text: &str) -> Result<Registry, ModelsError> {
        Ok(Registry {
            models: Models::parse(models_text, Path::new(MODELS_FILE_NAME))?,
            endpoint_map: EndpointMap::parse(map_text, Path::new(ENDPOINT_MAP_FILE_NAME))?,
        })
    }

    /// The model for a requested name: id and kind from `models.json`, pool from the endpoint
    /// map. A model only in the map has no id (the captured session's own model answers).
    pub fn resolve(&self, name: &str) -> Result<ResolvedModel, ResolveError> {
        let pool = self.endpoint_map.pool(name);
        let (model_id, kind) = match (self.models.get(name), pool) {
            (Some(entry), _) => (entry.model_id.clone(), entry.kind.clone()),
            (None, Some(_)) => (None, ModelKind::Text),
            (None, None) => {
                return Err(ResolveError::ModelNotFound {
                    model: name.to_owned(),
                })
            }
        };
        Ok(ResolvedModel {
            public_name: name.to_owned(),
            model_id,
            kind,
            pool: pool.map(<[SessionEntry]>::to_vec).unwrap_or_default(),
        })
    }

    /// Every servable model name: `models.json` order, then names only in the endpoint map.
    pub fn model_names(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        self.models
            .iter()
            .map(|e| e.public_name.as_str())
            .chain(self.endpoint_map.model_names())
            .filter(|name| seen.insert(*name))
            .map(str::to_owned)
            .collect()
    }
}

fn read_optional(path: &Path) -> Result<String, ModelsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(ModelsError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// How a pool entry is chosen. Injectable so tests can pin the choice.
pub trait PoolStrategy: Send + Sync {
    /// An index below `pool_len` (`pool_len` is at least 1); larger values are wrapped.
    fn pick(&self, model: &str, pool_len: usize) -> usize;

    /// `n` indexes for one request that wants `n` answers: consecutive from one pick, so they
    /// are distinct while the pool is large enough.
    fn pick_many(&self, model: &str, pool_len: usize, n: usize) -> Vec<usize> {
        let start = self.pick(model, pool_len);
        (0..n).map(|i| start.wrapping_add(i) % pool_len).collect()
    }
}

/// Round-robin over each model's pool, one counter per model, safe to share between threads.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: Mutex<HashMap<String, usize>>,
}

impl RoundRobin {
    pub fn new() -> Self {
        Self::default()
    }

    fn advance(&self, model: &str, pool_len: usize, by: usize) -> usize {
        // A panic elsewhere while holding the lock leaves only a counter behind: keep using it.
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let counter = next.entry(model.to_owned()).or_insert(0);
        let start = *counter % pool_len.max(1);
        *counter = start.wrapping_add(by);
        start
    }
}

impl PoolStrategy for RoundRobin {
    fn pick(&self, model: &str, pool_len: usize) -> usize {
        self.advance(model, pool_len, 1)
    }

    /// Advances the counter by `n`, so the next request starts after this one's sessions.
    fn pick_many(&self, model: &str, pool_len: usize, n: usize) -> Vec<usize> {
        let len = pool_len.max(1);
        let start = self.advance(model, len, n);
        (0..n).map(|i| start.wrapping_add(i) % len).collect()
    }
}

/// Why no session could be chosen. Every variant names the model; the server answers 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No pool, and the config forbids falling back to the global ids.
    #[error(
        "model `{model}` has no session in config/model_endpoint_map.json and \
         use_default_ids_if_mapping_not_found is false in config/config.jsonc: add a \
         session for it to the map (capture one with bridge-id-updater), or set \
         use_default_ids_if_mapping_not_found to true to use the global ids"
    )]
    NoMapping { model: String },
    /// The model has a pool, but no entry of it can be used.
    #[error(
        "model `{model}`: none of its {pool_len} session(s) in config/model_endpoint_map.json \
         can be used ({reason}); run bridge-id-updater to capture a session_id and message_id \
         and put them into the model's entry"
    )]
    PoolUnusable {
        model: String,
        pool_len: usize,
        reason: String,
    },
    /// The fallback global ids of `config.jsonc` are missing or placeholders.
    #[error(
        "model `{model}` uses the global ids of config/config.jsonc, but {reason}; run \
         bridge-id-updater to capture a session_id and message_id"
    )]
    GlobalIdsUnusable { model: String, reason: String },
}

impl SessionError {
    /// The model the request asked for.
    pub fn model(&self) -> &str {
        match self {
            SessionError::NoMapping { model }
            | SessionError::PoolUnusable { model, .. }
            | SessionError::GlobalIdsUnusable { model, .. } => model,
        }
    }
}

/// The session for one upstream request of `model` (see [`choose_sessions`]).
pub fn choose_session(
    model: &ResolvedModel,
    config: &Config,
    strategy: &dyn PoolStrategy,
) -> Result<SessionPick, SessionError> {
    let mut picks = choose_sessions(model, config, strategy, 1)?;
    // `choose_sessions` returns exactly one pick for n = 1; stay panic-free regardless.
    picks.pop().ok_or_else(|| SessionError::PoolUnusable {
        model: model.public_name.clone(),
        pool_len: model.pool.len(),
        reason: "no session was chosen".to_owned(),
    })
}

/// `n` sessions for one request of `model`, spread over distinct pool sessions when the pool
/// has enough usable ones (repeating otherwise).
///
/// Usable pool entries have both ids, neither empty nor a `YOUR_…` placeholder, and do not use
/// flow `evaluation`; each pick takes the entry's `mode`/`battle_target`, else the config's
/// `id_updater_last_mode`/`id_updater_battle_target`. A model without a pool uses the global
/// `session_id`/`message_id` only when `use_default_ids_if_mapping_not_found` is true. A pool
/// whose entries are all unusable is an error, not a reason to fall back.
pub fn choose_sessions(
    model: &ResolvedModel,
    config: &Config,
    strategy: &dyn PoolStrategy,
    n: usize,
) -> Result<Vec<SessionPick>, SessionError> {
    let name = &model.public_name;
    let global_mode = config.id_updater_last_mode;
    let global_target = config.id_updater_battle_target;

    if model.pool.is_empty() {
        if !config.use_default_ids_if_mapping_not_found {
            return Err(SessionError::NoMapping {
                model: name.clone(),
            });
        }
        let global = SessionEntry {
            session_id: config.session_id.clone(),
            message_id: config.message_id.clone(),
            ..SessionEntry::default()
        };
        let (Some(session_id), Some(message_id)) = (
            usable_id(global.session_id.as_deref()),
            usable_id(global.message_id.as_deref()),
        ) else {
            return Err(SessionError::GlobalIdsUnusable {
                model: name.clone(),
                reason: global
                    .unusable_reason()
                    .unwrap_or_else(|| "they are not usable".to_owned()),
            });
        };
        let pick = SessionPick {
            session_id: session_id.to_owned(),
            message_id: message_id.to_owned(),
            mode: global_mode,
            battle_target: global_target,
            from_pool: false,
        };
        return Ok(vec![pick; n]);
    }

    let usable: Vec<SessionPick> = model
        .pool
        .iter()
        .filter(|e| e.unusable_reason().is_none())
        .filter_map(|e| {
            Some(SessionPick {
                session_id: usable_id(e.session_id.as_deref())?.to_owned(),
                message_id: usable_id(e.message_id.as_deref())?.to_owned(),
                mode: e.mode.unwrap_or(global_mode),
                battle_target: e.battle_target.unwrap_or(global_target),
                from_pool: true,
            })
        })
        .collect();
    if usable.is_empty() {
        let reason = model
            .pool
            .iter()
            .find_map(SessionEntry::unusable_reason)
            .unwrap_or_else(|| "no entry has usable ids".to_owned());
        return Err(SessionError::PoolUnusable {
            model: name.clone(),
            pool_len: model.pool.len(),
            reason,
        });
    }
    let len = usable.len();
    Ok(strategy
        .pick_many(name, len, n)
        .into_iter()
        .filter_map(|i| usable.get(i % len).cloned())
        .collect())
}

/// The trimmed id when it is present, non-empty and not a placeholder.
fn usable_id(id: Option<&str>) -> Option<&str> {
    let id = id?.trim();
    (!id.is_empty() && !is_placeholder_id(id)).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Always the same index: pins the choice in tests.
    struct Fixed(usize);
    impl PoolStrategy for Fixed {
        fn pick(&self, _: &str, _: usize) -> usize {
            self.0
        }
    }

    const MODELS: &str = r#"{
        "gpt-text": "11111111-1111-4111-8111-111111111111",
        "dalle": "22222222-2222-4222-8222-222222222222:image",
        "anon-image": "null:image",
        "web": "33333333-3333-4333-8333-333333333333:search",
        "odd": "44444444:video",
        "colon-id": "vendor:model:1",
        "pooled": "55555555-5555-4555-8555-555555555555"
    }"#;

    const MAP: &str = r#"{
        // a pool of three, one with its own mode and target
        "pooled": [
            {"session_id": "s1", "message_id": "m1"},
            {"session_id": "s2", "message_id": "m2", "mode": "battle", "battle_target": "b"},
            {"session_id": "s3", "message_id": "m3", "extra": 1},
        ],
        "map-only": {"session_id": "s9", "message_id": "m9", "mode": "direct_chat"},
        "placeholders": [
            {"session_id": "YOUR_SESSION_ID", "message_id": "YOUR_MESSAGE_ID"},
            {"session_id": "", "message_id": "m"},
        ],
        "half": [
            {"session_id": "your_session_id", "message_id": "m"},
            {"session_id": "ok", "message_id": "ok"},
        ],
        "eval": {"flow": "evaluation"},
        "empty-list": []
    }"#;

    fn registry() -> Registry {
        Registry::parse(MODELS, MAP).unwrap()
    }

    fn config_with(global: Option<(&str, &str)>, fallback: bool) -> Config {
        Config {
            session_id: global.map(|g| g.0.to_owned()),
            message_id: global.map(|g| g.1.to_owned()),
            use_default_ids_if_mapping_not_found: fallback,
            id_updater_last_mode: Mode::Battle,
            id_updater_battle_target: BattleTarget::A,
            ..Config::default()
        }
    }

    #[test]
    fn model_values() {
        let cases: &[(&str, Option<&str>, ModelKind)] = &[
            ("abc", Some("abc"), ModelKind::Text),
            ("abc:image", Some("abc"), ModelKind::Image),
            ("abc:IMAGE", Some("abc"), ModelKind::Image),
            ("null:image", None, ModelKind::Image),
            (":image", None, ModelKind::Image),
            ("abc:search", Some("abc"), ModelKind::Search),
            ("abc:text", Some("abc"), ModelKind::Text),
            ("abc:video", Some("abc"), ModelKind::Other("video".into())),
            ("a:b:image", Some("a:b"), ModelKind::Image),
            ("a:b:1", Some("a:b:1"), ModelKind::Text),
            ("abc:", Some("abc:"), ModelKind::Text),
            ("null", None, ModelKind::Text),
            ("", None, ModelKind::Text),
        ];
        for (value, id, kind) in cases {
            let e = ModelEntry::from_value("n", value);
            assert_eq!(e.model_id.as_deref(), *id, "{value}");
            assert_eq!(&e.kind, kind, "{value}");
        }
        assert_eq!(
            ModelEntry::from_value("n", "null:image").to_value(),
            "null:image"
        );
        assert_eq!(ModelEntry::from_value("n", "x:video").to_value(), "x:video");
        assert_eq!(ModelEntry::from_value("n", "x").to_value(), "x");
    }

    #[test]
    fn resolve_table() {
        let r = registry();
        let cases: &[(&str, Option<&str>, ModelKind, usize)] = &[
            (
                "gpt-text",
                Some("11111111-1111-4111-8111-111111111111"),
                ModelKind::Text,
                0,
            ),
            (
                "dalle",
                Some("22222222-2222-4222-8222-222222222222"),
                ModelKind::Image,
                0,
            ),
            ("anon-image", None, ModelKind::Image, 0),
            (
                "web",
                Some("33333333-3333-4333-8333-333333333333"),
                ModelKind::Search,
                0,
            ),
            ("odd", Some("44444444"), ModelKind::Other("video".into()), 0),
            ("colon-id", Some("vendor:model:1"), ModelKind::Text, 0),
            (
                "pooled",
                Some("55555555-5555-4555-8555-555555555555"),
                ModelKind::Text,
                3,
            ),
            ("map-only", None, ModelKind::Text, 1),
            ("empty-list", None, ModelKind::Text, 0),
        ];
        for (name, id, kind, pool_len) in cases {
            let m = r.resolve(name).unwrap();
            assert_eq!(m.public_name, *name);
            assert_eq!(m.model_id.as_deref(), *id, "{name}");
            assert_eq!(&m.kind, kind, "{name}");
            assert_eq!(m.pool.len(), *pool_len, "{name}");
        }
    }

    #[test]
    fn unknown_model_names_model_and_files() {
        let e = registry().resolve("gpt-9").unwrap_err();
        assert_eq!(
            e,
            ResolveError::ModelNotFound {
                model: "gpt-9".into()
            }
        );
        let msg = e.to_string();
        for part in [
            "gpt-9",
            "config/models.json",
            "config/model_endpoint_map.json",
            "bridge-model-updater",
        ] {
            assert!(msg.contains(part), "{msg}");
        }
        // Names are exact: no case folding, no trimming.
        assert!(registry().resolve("GPT-TEXT").is_err());
    }

    #[test]
    fn model_names_order() {
        assert_eq!(
            registry().model_names(),
            [
                "gpt-text",
                "dalle",
                "anon-image",
                "web",
                "odd",
                "colon-id",
                "pooled",
                "map-only",
                "placeholders",
                "half",
                "eval",
                "empty-list"
            ]
        );
    }

    #[test]
    fn round_robin_spreads_over_the_pool() {
        let r = registry();
        let m = r.resolve("pooled").unwrap();
        let config = config_with(Some(("g", "g")), true);
        let rr = RoundRobin::new();
        let ids: Vec<String> = (0..7)
            .map(|_| choose_session(&m, &config, &rr).unwrap().session_id)
            .collect();
        assert_eq!(ids, ["s1", "s2", "s3", "s1", "s2", "s3", "s1"]);
        // Counters are per model.
        let other = r.resolve("half").unwrap();
        assert_eq!(
            choose_session(&other, &config, &rr).unwrap().session_id,
            "ok"
        );
        assert_eq!(choose_session(&m, &config, &rr).unwrap().session_id, "s2");
    }

    #[test]
    fn pool_entry_mode_and_target_else_global() {
        let m = registry().resolve("pooled").unwrap();
        let config = config_with(None, true);
        let p0 = choose_session(&m, &config, &Fixed(0)).unwrap();
        assert_eq!(
            p0,
            SessionPick {
                session_id: "s1".into(),
                message_id: "m1".into(),
                mode: Mode::Battle,
                battle_target: BattleTarget::A,
                from_pool: true,
            }
        );
        let p1 = choose_session(&m, &config, &Fixed(1)).unwrap();
        assert_eq!((p1.mode, p1.battle_target), (Mode::Battle, BattleTarget::B));
        let only = registry().resolve("map-only").unwrap();
        let p = choose_session(&only, &config, &Fixed(0)).unwrap();
        assert_eq!((p.session_id.as_str(), p.mode), ("s9", Mode::DirectChat));
        // An out-of-range strategy answer wraps instead of panicking.
        assert_eq!(
            choose_session(&m, &config, &Fixed(5)).unwrap().session_id,
            "s3"
        );
    }

    #[test]
    fn fallback_to_global_ids() {
        let m = registry().resolve("gpt-text").unwrap();
        let p = choose_session(&m, &config_with(Some(("gs", "gm")), true), &Fixed(0)).unwrap();
        assert_eq!(
            p,
            SessionPick {
                session_id: "gs".into(),
                message_id: "gm".into(),
                mode: Mode::Battle,
                battle_target: BattleTarget::A,
                from_pool: false,
            }
        );
        // An empty list is no pool.
        let m = registry().resolve("empty-list").unwrap();
        assert!(
            !choose_session(&m, &config_with(Some(("gs", "gm")), true), &Fixed(0))
                .unwrap()
                .from_pool
        );
    }

    #[test]
    fn fallback_off_is_an_error_naming_the_model() {
        let m = registry().resolve("dalle").unwrap();
        let e = choose_session(&m, &config_with(Some(("gs", "gm")), false), &Fixed(0)).unwrap_err();
        assert_eq!(
            e,
            SessionError::NoMapping {
                model: "dalle".into()
            }
        );
        assert!(e.to_string().contains("`dalle`"));
        assert!(e
            .to_string()
            .contains("use_default_ids_if_mapping_not_found"));
        // A pooled model does not need the fallback.
        let m = registry().resolve("pooled").unwrap();
        assert!(choose_session(&m, &config_with(None, false), &Fixed(0)).is_ok());
    }

    #[test]
    fn missing_and_placeholder_ids_point_to_the_id_updater() {
        let m = registry().resolve("gpt-text").unwrap();
        let globals: &[(Option<(&str, &str)>, &str)] = &[
            (None, "session_id is missing"),
            (
                Some(("YOUR_SESSION_ID", "m")),
                "placeholder `YOUR_SESSION_ID`",
            ),
            (
                Some(("s", "your_message_id")),
                "message_id is the placeholder",
            ),
            (Some(("s", "  ")), "message_id is empty"),
        ];
        for (global, reason) in globals {
            let e = choose_session(&m, &config_with(*global, true), &Fixed(0)).unwrap_err();
            let msg = e.to_string();
            assert!(matches!(e, SessionError::GlobalIdsUnusable { .. }), "{msg}");
            assert!(msg.contains(reason), "{msg}");
            assert!(msg.contains("bridge-id-updater"), "{msg}");
            assert!(msg.contains("gpt-text"), "{msg}");
        }

        // A pool of only unusable entries is an error even though the fallback is on.
        let m = registry().resolve("placeholders").unwrap();
        let e = choose_session(&m, &config_with(Some(("gs", "gm")), true), &Fixed(0)).unwrap_err();
        assert!(
            matches!(e, SessionError::PoolUnusable { pool_len: 2, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("bridge-id-updater"));
        assert!(e.to_string().contains("YOUR_SESSION_ID"));

        // Unusable entries are skipped when others remain.
        let m = registry().resolve("half").unwrap();
        for i in 0..3 {
            assert_eq!(
                choose_session(&m, &config_with(None, true), &Fixed(i))
                    .unwrap()
                    .session_id,
                "ok"
            );
        }
    }

    #[test]
    fn evaluation_entries_are_not_retry_sessions() {
        let m = registry().resolve("eval").unwrap();
        assert_eq!(m.flow(UpstreamFlow::Retry), UpstreamFlow::Evaluation);
        assert_eq!(
            registry()
                .resolve("pooled")
                .unwrap()
                .flow(UpstreamFlow::Retry),
            UpstreamFlow::Retry
        );
        assert!(matches!(
            choose_session(&m, &config_with(Some(("g", "g")), true), &Fixed(0)),
            Err(SessionError::PoolUnusable { .. })
        ));
    }

    #[test]
    fn choose_many_uses_distinct_sessions() {
        let m = registry().resolve("pooled").unwrap();
        let config = config_with(None, true);
        let ids =
            |picks: Vec<SessionPick>| picks.into_iter().map(|p| p.session_id).collect::<Vec<_>>();
        assert_eq!(
            ids(choose_sessions(&m, &config, &Fixed(1), 3).unwrap()),
            ["s2", "s3", "s1"]
        );
        assert_eq!(
            ids(choose_sessions(&m, &config, &Fixed(2), 5).unwrap()),
            ["s3", "s1", "s2", "s3", "s1"]
        );
        assert!(choose_sessions(&m, &config, &Fixed(0), 0)
            .unwrap()
            .is_empty());
        // Round robin continues after the sessions a multi-pick used.
        let rr = RoundRobin::new();
        assert_eq!(
            ids(choose_sessions(&m, &config, &rr, 2).unwrap()),
            ["s1", "s2"]
        );
        assert_eq!(
            ids(choose_sessions(&m, &config, &rr, 2).unwrap()),
            ["s3", "s1"]
        );
        // Global ids repeat.
        let g = registry().resolve("web").unwrap();
        let picks = choose_sessions(&g, &config_with(Some(("gs", "gm")), true), &rr, 2).unwrap();
        assert_eq!(ids(picks), ["gs", "gs"]);
    }

    #[test]
    fn round_robin_is_shared_between_threads() {
        let rr = std::sync::Arc::new(RoundRobin::new());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let rr = rr.clone();
                std::thread::spawn(move || (0..300).map(|_| rr.pick("m", 3)).collect::<Vec<_>>())
            })
            .collect();
        let mut counts = [0usize; 3];
        for h in handles {
            for i in h.join().unwrap() {
                counts[i] += 1;
            }
        }
        assert_eq!(counts, [400, 400, 400]);
    }

    #[test]
    fn broken_files_name_file_and_position() {
        // (models.json text, model_endpoint_map.json text, file named, position, message part)
        type Case = (
            &'static str,
            &'static str,
            &'static str,
            (usize, usize),
            &'static str,
        );
        let cases: &[Case] = &[
            ("{\"a\": 1}", "{}", "models.json", (1, 7), "model `a`"),
            ("[]", "{}", "models.json", (1, 1), "found an array"),
            (
                "{\"a\": \"x\"",
                "{}",
                "models.json",
                (1, 1),
                "syntax error: Unterminated object",
            ),
            (
                "{}",
                "{\n  \"m\": \"s\"\n}",
                "model_endpoint_map.json",
                (2, 8),
                "model `m`",
            ),
            (
                "{}",
                "{\"m\": [1]}",
                "model_endpoint_map.json",
                (1, 8),
                "pool entry",
            ),
            (
                "{}",
                "{\"m\": {\"session_id\": 5}}",
                "model_endpoint_map.json",
                (1, 22),
                "`session_id` must be a string",
            ),
            (
                "{}",
                "{\"m\": {\"mode\": \"duel\"}}",
                "model_endpoint_map.json",
                (1, 16),
                "invalid `mode`",
            ),
            (
                "{}",
                "{\"m\": {\"battle_target\": \"C\"}}",
                "model_endpoint_map.json",
                (1, 25),
                "invalid `battle_target`",
            ),
        ];
        for (models, map, file, (line, col), msg) in cases {
            let e = Registry::parse(models, map).unwrap_err();
            let text = e.to_string();
            assert!(text.starts_with(&format!("{file}:{line}:{col}:")), "{text}");
            assert!(text.contains(msg), "{text}");
        }
    }

    #[test]
    fn empty_files_are_empty() {
        let r = Registry::parse("", "  ").unwrap();
        assert!(r.models.is_empty() && r.endpoint_map.is_empty());
        assert!(r.model_names().is_empty());
    }

    #[test]
    fn load_missing_files_is_empty_and_broken_names_path() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::load(dir.path()).unwrap();
        assert_eq!(r, Registry::default());
        std::fs::write(dir.path().join("models.json"), "{\"x\": \"id\"}").unwrap();
        std::fs::write(dir.path().join("model_endpoint_map.json"), "{\"x\": ").unwrap();
        let e = Registry::load(dir.path()).unwrap_err();
        assert!(matches!(e, ModelsError::Syntax { .. }));
        assert!(e.to_string().contains("model_endpoint_map.json:1:"), "{e}");
    }

    #[test]
    fn models_insert_and_write_keep_order() {
        let mut models = Models::parse(MODELS, Path::new("models.json")).unwrap();
        assert!(models.insert("new", Some("n-id".into()), ModelKind::Image));
        assert!(!models.insert("dalle", None, ModelKind::Image));
        let text = models.to_json_pretty();
        let again = Models::parse(&text, Path::new("models.json")).unwrap();
        assert_eq!(again, models);
        let names: Vec<_> = again.iter().map(|e| e.public_name.as_str()).collect();
        assert_eq!(names.first(), Some(&"gpt-text"));
        assert_eq!(names.last(), Some(&"new"));
        assert_eq!(again.get("dalle").unwrap().to_value(), "null:image");
        assert!(text.starts_with("{\n  \"gpt-text\": \"11111111"), "{text}");
        assert_eq!(Models::default().to_json_pretty(), "{}\n");
    }

    #[test]
    fn endpoint_map_edit_and_write() {
        let mut map = EndpointMap::parse(MAP, Path::new("m")).unwrap();
        map.set_pool("solo", vec![SessionEntry::new("a", "b")]);
        map.append("map-only", SessionEntry::new("c", "d"));
        map.append("fresh", SessionEntry::new("e", "f"));
        map.set_pool(
            "pooled",
            vec![SessionEntry {
                flow: Some(UpstreamFlow::Retry),
                ..SessionEntry::new("x\"", "y")
            }],
        );
        let text = map.to_json_pretty();
        let again = EndpointMap::parse(&text, Path::new("m")).unwrap();
        assert_eq!(again.pool("map-only").unwrap().len(), 2);
        assert_eq!(
            again.pool("pooled").unwrap()[0].session_id.as_deref(),
            Some("x\"")
        );
        assert_eq!(again.pool("empty-list"), Some(&[][..]));
        let names: Vec<_> = again.model_names().collect();
        assert_eq!(
            names,
            [
                "pooled",
                "map-only",
                "placeholders",
                "half",
                "eval",
                "empty-list",
                "solo",
                "fresh"
            ]
        );
        // One-entry pools are objects, larger ones lists.
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(json["solo"].is_object());
        assert!(json["fresh"].is_object());
        assert!(json["pooled"].is_object());
        assert!(json["map-only"].is_array());
        assert_eq!(json["map-only"][0]["mode"], "direct_chat");
        assert_eq!(json["pooled"]["flow"], "retry");
        assert!(json["eval"].get("session_id").is_none());
        assert_eq!(EndpointMap::default().to_json_pretty(), "{}\n");
    }

    #[test]
    fn endpoint_map_layout() {
        let mut map = EndpointMap::default();
        map.set_pool("a", vec![SessionEntry::new("s", "m")]);
        let battle = SessionEntry {
            mode: Some(Mode::Battle),
            battle_target: Some(BattleTarget::B),
            ..SessionEntry::new("s1", "m1")
        };
        map.set_pool("b", vec![battle, SessionEntry::new("s2", "m2")]);
        map.set_pool("c", vec![]);
        let want = r#"{
  "a": {
    "session_id": "s",
    "message_id": "m"
  },
  "b": [
    {
      "session_id": "s1",
      "message_id": "m1",
      "mode": "battle",
      "battle_target": "B"
    },
    {
      "session_id": "s2",
      "message_id": "m2"
    }
  ],
  "c": []
}
"#;
        assert_eq!(map.to_json_pretty(), want);
    }

    #[test]
    fn single_entry_list_stays_a_list() {
        let map = EndpointMap::parse(
            r#"{"m": [{"session_id": "s", "message_id": "x"}]}"#,
            Path::new("m"),
        )
        .unwrap();
        let json: serde_json::Value = serde_json::from_str(&map.to_json_pretty()).unwrap();
        assert!(json["m"].is_array());
    }

    #[test]
    fn placeholder_detection() {
        for id in [
            "YOUR_SESSION_ID",
            "your_message_id",
            " Your_x ",
            "your-session-id-here",
        ] {
            assert!(is_placeholder_id(id), "{id}");
        }
        for id in ["", "a1b2", "yours", "you", "中文"] {
            assert!(!is_placeholder_id(id), "{id}");
        }
    }
}
