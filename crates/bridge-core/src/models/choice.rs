//! Session choice: which captured session(s) of a model's pool answer a request.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{is_placeholder_id, ResolvedModel, SessionEntry};
use crate::config::{BattleTarget, Config, Mode};

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
    use crate::config::UpstreamFlow;
    use crate::models::test_fixtures::registry;

    /// Always the same index: pins the choice in tests.
    struct Fixed(usize);
    impl PoolStrategy for Fixed {
        fn pick(&self, _: &str, _: usize) -> usize {
            self.0
        }
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
}
