//! `config.jsonc` text → [`Config`], key by key, with warnings for keys without effect.

use std::collections::HashSet;
use std::path::Path;

use jsonc_parser::ast::{ObjectProp, Value};
use jsonc_parser::common::Ranged;

use super::jsonc::{line_col, parse_jsonc, strip_bom, value_kind};
use super::origin::split_origin;
use super::values::Spelled;
use super::*;

/// Parse the text of `config.jsonc`. `path` is only used in messages.
pub fn parse_config(text: &str, path: &Path) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
    let text = strip_bom(text);
    let parsed = parse_jsonc(text).map_err(|e| ConfigError::Syntax {
        path: path.to_owned(),
        line: e.line,
        column: e.column,
        message: e.message,
    })?;
    let object = match parsed {
        Some(Value::Object(object)) => object,
        Some(other) => {
            let (line, column) = line_col(text, other.start());
            return Err(ConfigError::NotAnObject {
                path: path.to_owned(),
                line,
                column,
                found: value_kind(&other),
            });
        }
        None => {
            return Err(ConfigError::NotAnObject {
                path: path.to_owned(),
                line: 1,
                column: 1,
                found: "nothing (the file is empty)",
            })
        }
    };

    let reader = Reader { text, path };
    let mut config = Config::default();
    let mut warnings = Vec::new();
    let mut seen = HashSet::new();
    for prop in &object.properties {
        let key = prop.name.as_str();
        if !seen.insert(key) {
            warnings.push(ConfigWarning {
                key: key.to_owned(),
                message: "appears more than once; the last value is used".to_owned(),
            });
        }
        if let Some(warning) = reader.apply(&mut config, key, prop)? {
            warnings.push(warning);
        }
    }
    Ok((config, warnings))
}

/// Read and parse `config.jsonc` at `path`.
pub fn load_config(path: &Path) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_config(&text, path)
}

/// Typed access to property values, producing errors with positions.
struct Reader<'t> {
    text: &'t str,
    path: &'t Path,
}

impl Reader<'_> {
    fn invalid(&self, key: &str, value: &Value<'_>, expected: impl Into<String>) -> ConfigError {
        let (line, column) = line_col(self.text, value.start());
        ConfigError::InvalidValue {
            path: self.path.to_owned(),
            key: key.to_owned(),
            line,
            column,
            expected: format!("{}, found {}", expected.into(), value_kind(value)),
        }
    }

    fn invalid_text(&self, key: &str, value: &Value<'_>, message: String) -> ConfigError {
        let (line, column) = line_col(self.text, value.start());
        ConfigError::InvalidValue {
            path: self.path.to_owned(),
            key: key.to_owned(),
            line,
            column,
            expected: message,
        }
    }

    /// Applies one property; returns the warning for keys that have no effect.
    fn apply(
        &self,
        config: &mut Config,
        key: &str,
        prop: &ObjectProp<'_>,
    ) -> Result<Option<ConfigWarning>, ConfigError> {
        let v = &prop.value;
        // `null` means "not set": the default stays.
        let is_null = matches!(v, Value::NullKeyword(_));
        match key {
            keys::SESSION_ID => config.session_id = self.opt_string(key, v)?,
            keys::MESSAGE_ID => config.message_id = self.opt_string(key, v)?,
            keys::API_KEY => config.api_key = self.opt_string(key, v)?,
            keys::VERSION => config.version = self.opt_string(key, v)?,
            k if is_null && keys::KNOWN.contains(&k) => {}
            keys::ID_UPDATER_LAST_MODE => config.id_updater_last_mode = self.parsed(key, v)?,
            keys::ID_UPDATER_BATTLE_TARGET => {
                config.id_updater_battle_target = self.parsed(key, v)?
            }
            keys::UPSTREAM_FLOW => {
                config.upstream_flow = self.parsed(key, v)?;
                if config.upstream_flow == UpstreamFlow::Retry {
                    return Ok(Some(ConfigWarning {
                        key: key.to_owned(),
                        message: RETRY_FLOW_WARNING.to_owned(),
                    }));
                }
            }
            keys::RECAPTCHA_SITE_KEY => {
                let site_key = self.string(key, v)?;
                let site_key = site_key.trim();
                if site_key.is_empty()
                    || !site_key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return Err(self.invalid_text(
                        key,
                        v,
                        "a reCAPTCHA site key (letters, digits, '_' and '-'), as in the page's \
                         recaptcha/enterprise.js?render=<key>"
                            .to_owned(),
                    ));
                }
                config.recaptcha_site_key = site_key.to_owned();
            }
            keys::RECAPTCHA_V2_WAIT_SECONDS => {
                config.recaptcha_v2_wait_seconds = self.whole_number(key, v, 1)?
            }
            keys::UPSTREAM_MIN_INTERVAL_SECONDS => {
                config.upstream_min_interval_seconds = self.whole_number(key, v, 0)?
            }
            keys::REASONING_OUTPUT => config.reasoning_output = self.parsed(key, v)?,
            keys::EVALUATION_CLEANUP => config.evaluation_cleanup = self.parsed(key, v)?,
            keys::BYPASS_ENABLED => config.bypass_enabled = self.boolean(key, v)?,
            keys::TAVERN_MODE_ENABLED => config.tavern_mode_enabled = self.boolean(key, v)?,
            keys::USE_DEFAULT_IDS_IF_MAPPING_NOT_FOUND => {
                config.use_default_ids_if_mapping_not_found = self.boolean(key, v)?
            }
            keys::ENABLE_AUTO_UPDATE => config.enable_auto_update = self.boolean(key, v)?,
            keys::STREAM_RESPONSE_TIMEOUT_SECONDS => {
                config.stream_response_timeout_seconds = self.whole_number(key, v, 1)?
            }
            keys::QUEUE_TIMEOUT_SECONDS => {
                config.queue_timeout_seconds = self.whole_number(key, v, 1)?
            }
            keys::FIRST_BYTE_TIMEOUT_SECONDS => {
                config.first_byte_timeout_seconds = self.whole_number(key, v, 1)?
            }
            keys::TOTAL_TIMEOUT_SECONDS => {
                config.total_timeout_seconds = self.whole_number(key, v, 1)?
            }
            keys::MAX_CONCURRENT_PER_TAB => {
                config.max_concurrent_per_tab =
                    self.to_usize(key, v, self.whole_number(key, v, 1)?)?
            }
            keys::EVALUATION_HISTORY_SIZE => {
                config.evaluation_history_size =
                    self.to_usize(key, v, self.whole_number(key, v, 0)?)?
            }
            keys::MAX_REQUEST_BYTES => {
                config.max_request_bytes = self.to_usize(key, v, self.whole_number(key, v, 1)?)?
            }
            keys::QUEUE_LIMIT => {
                config.queue_limit = self.to_usize(key, v, self.whole_number(key, v, 0)?)?
            }
            keys::HOST => {
                let host = self.string(key, v)?;
                if host.trim().is_empty() {
                    return Err(self.invalid_text(
                        key,
                        v,
                        "a host name or IP address such as \"127.0.0.1\"".to_owned(),
                    ));
                }
                config.host = host.trim().to_owned();
            }
            keys::PORT => {
                let n = self.whole_number(key, v, 0)?;
                config.port = u16::try_from(n).map_err(|_| {
                    self.invalid_text(key, v, format!("a port number 0-65535, found {n}"))
                })?;
            }
            keys::ALLOWED_ORIGINS => config.allowed_origins = self.origins(key, v)?,
            keys::CORS_ALLOWED_ORIGINS => config.cors_allowed_origins = self.origins(key, v)?,
            keys::ENABLE_IDLE_RESTART | keys::IDLE_RESTART_TIMEOUT_SECONDS => {
                return Ok(Some(ConfigWarning {
                    key: key.to_owned(),
                    message: "idle restart is not implemented (tabs reconnect on their own); \
                              ignored"
                        .to_owned(),
                }))
            }
            _ if key.starts_with(keys::FILE_BED_PREFIX) => {
                return Ok(Some(ConfigWarning {
                    key: key.to_owned(),
                    message: "file bed uploads are not implemented (attachments are sent \
                              inline); ignored"
                        .to_owned(),
                }))
            }
            _ => {
                return Ok(Some(ConfigWarning {
                    key: key.to_owned(),
                    message: "unknown key; ignored".to_owned(),
                }))
            }
        }
        Ok(None)
    }

    fn string(&self, key: &str, v: &Value<'_>) -> Result<String, ConfigError> {
        match v {
            Value::StringLit(s) => Ok(s.value.to_string()),
            _ => Err(self.invalid(key, v, "a string")),
        }
    }

    /// A string where `""` and `null` both mean "not set".
    fn opt_string(&self, key: &str, v: &Value<'_>) -> Result<Option<String>, ConfigError> {
        match v {
            Value::NullKeyword(_) => Ok(None),
            Value::StringLit(s) if s.value.trim().is_empty() => Ok(None),
            Value::StringLit(s) => Ok(Some(s.value.to_string())),
            _ => Err(self.invalid(key, v, "a string")),
        }
    }

    fn parsed<T: Spelled>(&self, key: &str, v: &Value<'_>) -> Result<T, ConfigError> {
        match v {
            Value::StringLit(s) => s
                .value
                .parse()
                .map_err(|e: UnknownValue| self.invalid_text(key, v, e.to_string())),
            _ => Err(self.invalid(key, v, T::EXPECTED)),
        }
    }

    fn boolean(&self, key: &str, v: &Value<'_>) -> Result<bool, ConfigError> {
        match v {
            Value::BooleanLit(b) => Ok(b.value),
            _ => Err(self.invalid(key, v, "true or false")),
        }
    }

    /// A whole number of at least `min`; `360.0` is accepted, `360.5` and `-1` are not.
    fn whole_number(&self, key: &str, v: &Value<'_>, min: u64) -> Result<u64, ConfigError> {
        let expected = match min {
            0 => "a whole number (0 or more)".to_owned(),
            1 => "a whole number above 0".to_owned(),
            _ => format!("a whole number of at least {min}"),
        };
        let Value::NumberLit(n) = v else {
            return Err(self.invalid(key, v, expected));
        };
        let parsed = n.value.parse::<u64>().ok().or_else(|| {
            let x = n.value.parse::<f64>().ok()?;
            // Below 2^53 every whole f64 is exact; beyond it nobody means a real setting.
            (x >= 0.0 && x.fract() == 0.0 && x < 9.0e15).then_some(x as u64)
        });
        match parsed {
            Some(x) if x >= min => Ok(x),
            _ => Err(self.invalid_text(key, v, format!("{expected}, found {}", n.value))),
        }
    }

    fn to_usize(&self, key: &str, v: &Value<'_>, n: u64) -> Result<usize, ConfigError> {
        usize::try_from(n)
            .map_err(|_| self.invalid_text(key, v, format!("a smaller number, found {n}")))
    }

    fn origins(&self, key: &str, v: &Value<'_>) -> Result<Vec<String>, ConfigError> {
        const EXPECTED: &str = "a list of origins such as [\"https://lmarena.ai\"]";
        let Value::Array(items) = v else {
            return Err(self.invalid(key, v, EXPECTED));
        };
        let mut out = Vec::with_capacity(items.elements.len());
        for item in &items.elements {
            match item {
                // `*` is only meaningful for CORS, and only honoured with an api_key.
                Value::StringLit(s)
                    if key == keys::CORS_ALLOWED_ORIGINS && s.value.trim() == CORS_ANY =>
                {
                    out.push(CORS_ANY.to_owned())
                }
                Value::StringLit(s) if split_origin(&s.value).is_some() => {
                    out.push(s.value.trim().to_owned())
                }
                Value::StringLit(s) => {
                    return Err(self.invalid_text(
                        key,
                        item,
                        format!(
                            "an origin `scheme://host[:port]` such as \"https://lmarena.ai\" or \
                             \"https://*.lmarena.ai\", found \"{}\"",
                            s.value
                        ),
                    ))
                }
                _ => return Err(self.invalid(key, item, "a string origin")),
            }
        }
        Ok(out)
    }
}
