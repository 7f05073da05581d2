//! `model_endpoint_map.json`: public model name → session pool, in file order.

use std::collections::HashMap;
use std::path::Path;

use jsonc_parser::ast::{Object, Value};

use super::json_file::{invalid, json_string, parse_object, pretty_container, pretty_object};
use super::{map_keys, ModelsError, SessionEntry};
use crate::config::{strip_bom, value_kind, BattleTarget, Mode, UpstreamFlow};

impl SessionEntry {
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

#[derive(Debug, Clone, PartialEq, Eq)]
struct PoolEntry {
    model: String,
    pool: Vec<SessionEntry>,
    /// Written as a list even with one entry (it was one in the file).
    as_list: bool,
}

/// The session pools of `model_endpoint_map.json`, in file order, with a name index so a
/// lookup does not scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointMap {
    entries: Vec<PoolEntry>,
    /// Model name → position in `entries`.
    index: HashMap<String, usize>,
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
        match self.entry_mut(model) {
            Some(existing) => {
                existing.pool.push(entry);
                existing.as_list |= existing.pool.len() > 1;
            }
            None => self.push(PoolEntry {
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
        self.index.get(model).and_then(|&i| self.entries.get(i))
    }

    fn entry_mut(&mut self, model: &str) -> Option<&mut PoolEntry> {
        self.index.get(model).and_then(|&i| self.entries.get_mut(i))
    }

    fn push(&mut self, entry: PoolEntry) {
        self.index.insert(entry.model.clone(), self.entries.len());
        self.entries.push(entry);
    }

    fn set_entry(&mut self, model: &str, pool: Vec<SessionEntry>, as_list: bool) {
        match self.entry_mut(model) {
            Some(existing) => {
                existing.pool = pool;
                existing.as_list = as_list;
            }
            None => self.push(PoolEntry {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::test_fixtures::MAP;

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
}
