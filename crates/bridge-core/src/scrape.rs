//! The model list scraped from the LMArena page HTML (UPSTREAM.md §6).
//!
//! The page is a Next.js app whose data arrives in inline scripts
//! `self.__next_f.push([1,"…"])`. [`extract_models`] decodes every such string argument as
//! the JSON string it is, joins the pieces in page order (a list may be cut across pushes) and
//! then finds every JSON object that carries both `id` and `publicName`: first the objects of
//! each `initialModels` array, then any others, wherever they are. All scanning is done by
//! `serde_json` from candidate positions, so escaped quotes and braces inside values, any key
//! order and stray text around the data are all fine. Nothing here panics on any input.

use std::collections::HashSet;

use scraper::Html;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::models::ModelKind;

/// The call that carries Next.js flight data in an inline script.
const NEXT_F_PUSH: &str = "self.__next_f.push(";
/// The key under which the page lists its models.
const INITIAL_MODELS_KEY: &str = "\"initialModels\"";
/// The key every model object carries; used to find model objects outside `initialModels`.
const PUBLIC_NAME_KEY: &str = "\"publicName\"";
/// Field names of a model object (UPSTREAM.md §6).
const FIELD_ID: &str = "id";
const FIELD_PUBLIC_NAME: &str = "publicName";
const FIELD_CAPABILITIES: &str = "capabilities";
const FIELD_INPUT_CAPABILITIES: &str = "inputCapabilities";
const FIELD_OUTPUT_CAPABILITIES: &str = "outputCapabilities";
const CAPABILITY_IMAGE: &str = "image";
const CAPABILITY_SEARCH: &str = "search";
const CAPABILITY_WEB: &str = "web";
/// `models.json` type suffixes (DESIGN.md §3).
const SUFFIX_IMAGE: &str = ":image";
const SUFFIX_SEARCH: &str = ":search";

/// How many `{` before a `"publicName"` key are tried as the start of its object. A model
/// object has a handful of nested objects (capabilities) before that key at most; the bound
/// keeps hostile input from costing quadratic time.
const MAX_OBJECT_START_CANDIDATES: usize = 64;

/// Why no model list could be taken from a page.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScrapeError {
    /// No object with both `id` and `publicName` anywhere in the page's inline scripts.
    #[error(
        "no model list found in the page HTML ({scripts} inline scripts, {chunks} Next.js data \
         chunks scanned): LMArena may have changed its page, or this is not the LMArena page"
    )]
    NoModelList {
        /// Inline `<script>` elements seen.
        scripts: usize,
        /// `self.__next_f.push([1,"…"])` strings decoded.
        chunks: usize,
    },
}

/// One model of the page's list: every field LMArena sent, as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapedModel {
    public_name: String,
    id: String,
    fields: Map<String, Value>,
}

impl ScrapedModel {
    /// A model from a JSON value: an object with a string `id` and a non-empty string
    /// `publicName`; anything else is `None`.
    pub fn from_value(value: Value) -> Option<Self> {
        let Value::Object(fields) = value else {
            return None;
        };
        let public_name = fields.get(FIELD_PUBLIC_NAME)?.as_str()?.to_owned();
        let id = fields.get(FIELD_ID)?.as_str()?.to_owned();
        if public_name.is_empty() {
            return None;
        }
        Some(Self {
            public_name,
            id,
            fields,
        })
    }

    /// The name clients use (`publicName`).
    pub fn public_name(&self) -> &str {
        &self.public_name
    }

    /// LMArena's model id (usually a UUID).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Every field of the object as the page sent it.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// The object as a JSON value.
    pub fn into_value(self) -> Value {
        Value::Object(self.fields)
    }

    /// The model with `key` set to `value` (replacing what the source sent under that key).
    pub(crate) fn with_field(mut self, key: &str, value: Value) -> Self {
        self.fields.insert(key.to_owned(), value);
        self
    }

    /// Appends `item` to the list under `key` unless it is there already (a field that is
    /// not a list is replaced by one).
    pub(crate) fn push_to_list(&mut self, key: &str, item: &str) {
        let list = self
            .fields
            .entry(key.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if !list.is_array() {
            *list = Value::Array(Vec::new());
        }
        if let Value::Array(items) = list {
            if !items.iter().any(|v| v.as_str() == Some(item)) {
                items.push(Value::String(item.to_owned()));
            }
        }
    }

    /// An image-generation model: `outputCapabilities.image` present and not `false`/`null`.
    pub fn is_image(&self) -> bool {
        self.capability(FIELD_OUTPUT_CAPABILITIES, CAPABILITY_IMAGE)
    }

    /// A search model: `outputCapabilities.search` or `outputCapabilities.web`.
    pub fn is_search(&self) -> bool {
        self.capability(FIELD_OUTPUT_CAPABILITIES, CAPABILITY_SEARCH)
            || self.capability(FIELD_OUTPUT_CAPABILITIES, CAPABILITY_WEB)
    }

    /// Accepts images as input: `inputCapabilities.image`.
    pub fn has_vision(&self) -> bool {
        self.capability(FIELD_INPUT_CAPABILITIES, CAPABILITY_IMAGE)
    }

    /// The `models.json` type: image before search, text otherwise.
    pub fn kind(&self) -> ModelKind {
        if self.is_image() {
            ModelKind::Image
        } else if self.is_search() {
            ModelKind::Search
        } else {
            ModelKind::Text
        }
    }

    /// The `models.json` value for this model: `"id"`, `"id:image"` or `"id:search"`.
    pub fn models_json_value(&self) -> String {
        let suffix = match self.kind() {
            ModelKind::Image => SUFFIX_IMAGE,
            ModelKind::Search => SUFFIX_SEARCH,
            _ => "",
        };
        format!("{}{suffix}", self.id)
    }

    /// `capabilities.<group>.<name>` (or `<group>.<name>` at top level, in case a release
    /// flattens the capabilities) is present and truthy.
    fn capability(&self, group: &str, name: &str) -> bool {
        let nested = self
            .fields
            .get(FIELD_CAPABILITIES)
            .and_then(|c| c.get(group))
            .and_then(|g| g.get(name));
        let flat = self.fields.get(group).and_then(|g| g.get(name));
        nested.or(flat).is_some_and(truthy)
    }
}

impl Serialize for ScrapedModel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.fields.serialize(serializer)
    }
}

/// The models of a saved list (`available_models.json`: a JSON array of model objects);
/// entries without `id` and `publicName` are skipped, later duplicates of a name too.
pub fn parse_model_list(text: &str) -> Result<Vec<ScrapedModel>, serde_json::Error> {
    let items: Vec<Value> = serde_json::from_str(text)?;
    let mut found = Found::default();
    for item in items {
        found.add(item);
    }
    Ok(found.models)
}

/// A capability flag is on unless it is absent, `false` or `null`: image models carry an
/// object (`{"aspectRatios":[…]}`) rather than `true`.
fn truthy(value: &Value) -> bool {
    !matches!(value, Value::Null | Value::Bool(false))
}

/// The model list of an LMArena page: every object carrying `id` and `publicName` in its
/// inline scripts, `initialModels` entries first, one per `publicName` (first wins).
pub fn extract_models(html: &str) -> Result<Vec<ScrapedModel>, ScrapeError> {
    let scripts = inline_scripts(html);
    let mut chunks = Vec::new();
    let mut plain_scripts = Vec::new();
    for script in &scripts {
        let pushed = next_f_strings(script);
        if pushed.is_empty() {
            // Not flight data; still scanned, in case a release moves the list into a
            // JSON script such as `__NEXT_DATA__`.
            plain_scripts.push(script.as_str());
        }
        chunks.extend(pushed);
    }
    let flight = chunks.concat();

    let mut found = Found::default();
    scan(&flight, &mut found);
    for script in plain_scripts {
        scan(script, &mut found);
    }
    if found.models.is_empty() {
        return Err(ScrapeError::NoModelList {
            scripts: scripts.len(),
            chunks: chunks.len(),
        });
    }
    Ok(found.models)
}

/// Models found so far, deduplicated by `publicName`.
#[derive(Default)]
struct Found {
    models: Vec<ScrapedModel>,
    names: HashSet<String>,
}

impl Found {
    fn add(&mut self, value: Value) {
        if let Some(model) = ScrapedModel::from_value(value) {
            if self.names.insert(model.public_name.clone()) {
                self.models.push(model);
            }
        }
    }
}

/// Text of the inline `<script>` elements (no `src`), in page order.
fn inline_scripts(html: &str) -> Vec<String> {
    let document = Html::parse_document(html);
    document
        .root_element()
        .descendent_elements()
        .filter(|e| e.value().name() == "script" && e.value().attr("src").is_none())
        .map(|e| e.text().collect::<String>())
        .filter(|text| !text.trim().is_empty())
        .collect()
}

/// The decoded string arguments of every `self.__next_f.push([1,"…"])` in one script.
/// Other pushes (`[0]`, `[2,…]`, `[3,"<base64>"]`) and undecodable ones are skipped.
fn next_f_strings(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = script.get(from..).and_then(|rest| rest.find(NEXT_F_PUSH)) {
        let start = from + found + NEXT_F_PUSH.len();
        from = start;
        let Some(literal) = data_push_literal_start(script, start) else {
            continue;
        };
        let Some(rest) = script.get(literal..) else {
            continue;
        };
        // serde_json finds the end of the literal itself, escapes included.
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<String>();
        match stream.next() {
            Some(Ok(text)) => {
                out.push(text);
                from = literal + stream.byte_offset();
            }
            _ => tracing::debug!(offset = literal, "skipping an undecodable Next.js push"),
        }
    }
    out
}

/// After `self.__next_f.push(`: the position of the opening quote of `[1,"…"`, if this is a
/// data push.
fn data_push_literal_start(script: &str, at: usize) -> Option<usize> {
    let bytes = script.as_bytes();
    let mut i = skip_ws(bytes, at);
    i = expect(bytes, i, b'[')?;
    i = skip_ws(bytes, i);
    i = expect(bytes, i, b'1')?;
    if bytes.get(i).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    i = skip_ws(bytes, i);
    i = expect(bytes, i, b',')?;
    i = skip_ws(bytes, i);
    (bytes.get(i) == Some(&b'"')).then_some(i)
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

fn expect(bytes: &[u8], i: usize, byte: u8) -> Option<usize> {
    (bytes.get(i) == Some(&byte)).then_some(i + 1)
}

/// `key` at `at` is used as an object key: followed by optional whitespace and `:`. Returns
/// the position after the colon.
fn after_key(text: &str, at: usize, key: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let i = skip_ws(bytes, at + key.len());
    let i = expect(bytes, i, b':')?;
    Some(skip_ws(bytes, i))
}

/// Parse one JSON value starting exactly at `at`; returns it with its end position.
fn value_at(text: &str, at: usize) -> Option<(Value, usize)> {
    let rest = text.get(at..)?;
    let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
    match stream.next() {
        Some(Ok(value)) => Some((value, at + stream.byte_offset())),
        _ => None,
    }
}

/// Collect the model objects of one text: `initialModels` arrays first, then every other
/// object that has a `publicName` key.
fn scan(text: &str, found: &mut Found) {
    // Spans of parsed `initialModels` arrays: their `publicName` keys need no second look.
    let mut parsed: Vec<(usize, usize)> = Vec::new();
    for (at, _) in text.match_indices(INITIAL_MODELS_KEY) {
        let Some(start) = after_key(text, at, INITIAL_MODELS_KEY) else {
            continue;
        };
        if let Some((Value::Array(items), end)) = value_at(text, start) {
            parsed.push((start, end));
            for item in items {
                found.add(item);
            }
        }
    }

    for (at, _) in text.match_indices(PUBLIC_NAME_KEY) {
        if parsed.iter().any(|&(s, e)| s < at && at < e) {
            continue;
        }
        if after_key(text, at, PUBLIC_NAME_KEY).is_none() {
            continue; // the word as a value, not a key
        }
        if let Some(object) = enclosing_object(text, at) {
            found.add(object);
        }
    }
}

/// The innermost JSON object that contains the key at `key_at`: tries each `{` before it,
/// nearest first; the first one that parses as an object reaching past the key is it.
/// Objects that parse but end before the key are earlier siblings (e.g. `capabilities`).
fn enclosing_object(text: &str, key_at: usize) -> Option<Value> {
    let before = text.get(..key_at)?;
    for (start, _) in before.rmatch_indices('{').take(MAX_OBJECT_START_CANDIDATES) {
        if let Some((value @ Value::Object(_), end)) = value_at(text, start) {
            if end > key_at {
                return Some(value);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A page with one inline script per push, each argument JSON-encoded as Next.js does.
    fn page(pushes: &[&str]) -> String {
        let mut html = String::from("<!DOCTYPE html><html><head></head><body>");
        html.push_str("<script>(self.__next_f=self.__next_f||[]).push([0])</script>");
        for p in pushes {
            let literal = serde_json::to_string(p).unwrap();
            html.push_str(&format!(
                "<script>self.__next_f.push([1,{literal}])</script>"
            ));
        }
        html.push_str("</body></html>");
        html
    }

    #[test]
    fn saved_lists_keep_models_and_skip_the_rest() {
        let text = r#"[{"id":"1","publicName":"a","arenas":["text"]},{"id":"2"},7,
                       {"id":"3","publicName":"a"},{"id":"4","publicName":"b"}]"#;
        let models = parse_model_list(text).unwrap();
        assert_eq!(names(&models), ["a", "b"]);
        assert_eq!(models[0].id(), "1");
        assert_eq!(models[0].fields()["arenas"], json!(["text"]));
        assert!(parse_model_list("{}").is_err());
        assert!(parse_model_list("").is_err());
    }

    fn names(models: &[ScrapedModel]) -> Vec<&str> {
        models.iter().map(ScrapedModel::public_name).collect()
    }

    #[test]
    fn decodes_pushes_with_escapes_and_finds_the_literal_end() {
        let script =
            r#"self.__next_f.push([1,"a\"b\\\"])c\u003c"]);self.__next_f.push([ 1 , "d"])"#;
        assert_eq!(next_f_strings(script), vec!["a\"b\\\"])c<", "d"]);
    }

    #[test]
    fn skips_non_data_pushes() {
        let script = r#"self.__next_f.push([0]);self.__next_f.push([2,null]);self.__next_f.push([3,"QUJD"]);self.__next_f.push([12,"x"]);self.__next_f.push([1,"ok"])"#;
        assert_eq!(next_f_strings(script), vec!["ok"]);
    }

    #[test]
    fn skips_undecodable_push_and_keeps_going() {
        let script = r#"self.__next_f.push([1,"bad \x41"]);self.__next_f.push([1,"good"])"#;
        assert_eq!(next_f_strings(script), vec!["good"]);
    }

    #[test]
    fn finds_initial_models_in_rsc_row() {
        let row = r#"5:["$","$L6",null,{"initialModels":[{"id":"u1","publicName":"m1"},{"publicName":"m2","id":"u2"}],"initialModelAId":"u1"}]"#;
        let models = extract_models(&page(&[row])).unwrap();
        assert_eq!(names(&models), ["m1", "m2"]);
        assert_eq!(models[1].id(), "u2");
    }

    #[test]
    fn finds_model_objects_outside_initial_models_with_nested_objects_first() {
        let row = r#"7:{"x":[{"capabilities":{"outputCapabilities":{"image":{"aspectRatios":["1:1"]}}},"id":"u9","publicName":"img"}]}"#;
        let models = extract_models(&page(&[row])).unwrap();
        assert_eq!(names(&models), ["img"]);
        assert!(models[0].is_image());
        assert_eq!(models[0].models_json_value(), "u9:image");
    }

    #[test]
    fn public_name_as_a_value_is_not_a_key() {
        let row = r#"8:{"label":"publicName","id":"x"}"#;
        assert!(matches!(
            extract_models(&page(&[row])),
            Err(ScrapeError::NoModelList { chunks: 1, .. })
        ));
    }

    #[test]
    fn first_publicname_wins() {
        let row = r#"1:{"initialModels":[{"id":"a","publicName":"m","rank":1}]}
2:{"id":"b","publicName":"m"}"#;
        let models = extract_models(&page(&[row])).unwrap();
        assert_eq!(models.len(), 1);
        assert_eq!(models[0].id(), "a");
    }

    #[test]
    fn initial_models_win_over_earlier_objects() {
        let row = r#"1:{"id":"b","publicName":"m","stale":true}
2:{"initialModels":[{"id":"a","publicName":"m"}]}"#;
        let models = extract_models(&page(&[row])).unwrap();
        assert_eq!(models.len(), 1);
        assert_eq!(models[0].id(), "a");
    }

    #[test]
    fn json_script_without_pushes_is_scanned_too() {
        let html = r#"<script id="__NEXT_DATA__" type="application/json">{"props":{"initialModels":[{"publicName":"n","id":"1"}]}}</script><script src="/x.js">{"id":"2","publicName":"ignored"}</script>"#;
        let models = extract_models(html).unwrap();
        assert_eq!(names(&models), ["n"]);
    }

    #[test]
    fn no_scripts_is_no_model_list() {
        let err = extract_models("<html><title>Just a moment...</title></html>").unwrap_err();
        assert_eq!(
            err,
            ScrapeError::NoModelList {
                scripts: 0,
                chunks: 0
            }
        );
        assert!(err
            .to_string()
            .contains("LMArena may have changed its page"));
    }

    #[test]
    fn capabilities_and_kinds() {
        let m = |v: Value| ScrapedModel::from_value(v).unwrap();
        let text = m(json!({"id":"t","publicName":"t",
            "capabilities":{"inputCapabilities":{"text":true,"image":true},"outputCapabilities":{"text":true,"image":false}}}));
        assert!(!text.is_image() && !text.is_search() && text.has_vision());
        assert_eq!(text.models_json_value(), "t");
        assert_eq!(text.kind(), ModelKind::Text);

        let search = m(json!({"id":"s","publicName":"s",
            "capabilities":{"outputCapabilities":{"web":true}}}));
        assert!(search.is_search() && !search.has_vision());
        assert_eq!(search.models_json_value(), "s:search");

        let flat = m(json!({"id":"f","publicName":"f","outputCapabilities":{"search":{}}}));
        assert_eq!(flat.models_json_value(), "f:search");

        let bare = m(json!({"id":"b","publicName":"b"}));
        assert_eq!(bare.kind(), ModelKind::Text);
    }

    #[test]
    fn from_value_requires_string_id_and_name() {
        assert!(ScrapedModel::from_value(json!({"id":1,"publicName":"x"})).is_none());
        assert!(ScrapedModel::from_value(json!({"id":"1","publicName":""})).is_none());
        assert!(ScrapedModel::from_value(json!({"publicName":"x"})).is_none());
        assert!(ScrapedModel::from_value(json!(["x"])).is_none());
    }

    #[test]
    fn serializes_every_field_as_sent() {
        let v = json!({"id":"1","publicName":"x","rank":3,"extra":{"a":[1]}});
        let model = ScrapedModel::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&model).unwrap(), v);
    }
}
