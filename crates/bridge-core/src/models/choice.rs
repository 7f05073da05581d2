//! Session choice: which captured session(s) of a model's pool answer a request.
//!
//! A [`SessionPool`] is built once per config (re)load from the usable entries of a model's
//! pool (or from the global ids). A pick takes the session with the fewest requests in flight,
//! the least recently picked one first, through an ordered index: O(log n) per pick and
//! release, no scan and no copy of the pool. A pick is a [`SessionLease`], which counts as in
//! flight until it is dropped. (That two requests never run on one session at once is the tab
//! pool's rule; the choice only avoids picking a busy session while a free one exists.)

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

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

/// One usable session and its exclusivity key (`session_id/message_id`).
#[derive(Debug)]
struct Session {
    pick: SessionPick,
    key: String,
}

/// Where a session stands in the choice order: fewest in flight first, then least recently
/// picked (the field order is the sort order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    in_flight: usize,
    /// When the session was last picked (initially its position, so an idle pool is taken
    /// in file order).
    picked_at: u64,
    index: usize,
}

/// The ordered index of a pool: every session's [`Rank`], kept sorted.
#[derive(Debug)]
struct LeastBusy {
    order: BTreeSet<Rank>,
    /// The current rank of each session, by index.
    ranks: Vec<Rank>,
    next_pick: u64,
}

impl LeastBusy {
    fn new(len: usize) -> Self {
        let ranks: Vec<Rank> = (0..len)
            .map(|index| Rank {
                in_flight: 0,
                picked_at: index as u64,
                index,
            })
            .collect();
        Self {
            order: ranks.iter().copied().collect(),
            next_pick: len as u64,
            ranks,
        }
    }

    /// The first session in the order, now one more in flight and the most recently picked.
    fn take(&mut self) -> Option<usize> {
        let first = self.order.pop_first()?;
        let rank = Rank {
            in_flight: first.in_flight + 1,
            picked_at: self.next_pick,
            index: first.index,
        };
        self.next_pick += 1;
        self.order.insert(rank);
        *self.ranks.get_mut(first.index)? = rank;
        Some(first.index)
    }

    /// One request less in flight on session `index`.
    fn release(&mut self, index: usize) {
        let Some(rank) = self.ranks.get_mut(index) else {
            return;
        };
        self.order.remove(rank);
        rank.in_flight = rank.in_flight.saturating_sub(1);
        self.order.insert(*rank);
    }
}

/// The usable sessions of one model (or the global ids), with their choice index. Built on
/// config load and shared through an `Arc`; never copied per request.
#[derive(Debug)]
pub struct SessionPool {
    sessions: Box<[Session]>,
    index: Mutex<LeastBusy>,
}

impl SessionPool {
    /// A pool of `picks`; `None` when there are none.
    fn new(picks: Vec<SessionPick>) -> Option<Arc<SessionPool>> {
        if picks.is_empty() {
            return None;
        }
        let sessions: Box<[Session]> = picks
            .into_iter()
            .map(|pick| Session {
                key: format!("{}/{}", pick.session_id, pick.message_id),
                pick,
            })
            .collect();
        Some(Arc::new(SessionPool {
            index: Mutex::new(LeastBusy::new(sessions.len())),
            sessions,
        }))
    }

    /// Number of usable sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, LeastBusy> {
        // A panic elsewhere while holding the lock leaves only counters behind: keep using them.
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `n` sessions for one request: distinct while the pool has enough free ones, then the
    /// least busy again.
    pub fn choose(self: &Arc<Self>, n: usize) -> Vec<SessionLease> {
        let mut index = self.lock();
        (0..n)
            .filter_map(|_| index.take())
            .map(|i| SessionLease {
                pool: Arc::clone(self),
                index: i,
            })
            .collect()
    }

    /// Requests in flight on each session, in pool order (for tests and status).
    pub fn in_flight(&self) -> Vec<usize> {
        self.lock().ranks.iter().map(|r| r.in_flight).collect()
    }
}

/// A chosen session; it counts as in flight on its pool until dropped.
pub struct SessionLease {
    pool: Arc<SessionPool>,
    index: usize,
}

impl SessionLease {
    fn session(&self) -> &Session {
        // `index` came from this pool's own index, so it is in range.
        &self.pool.sessions[self.index]
    }

    pub fn pick(&self) -> &SessionPick {
        &self.session().pick
    }

    /// `session_id/message_id`: requests with the same key never run at once.
    pub fn key(&self) -> &str {
        &self.session().key
    }

    /// The pool this lease is from (shared, never a copy).
    pub fn pool(&self) -> &Arc<SessionPool> {
        &self.pool
    }
}

impl std::fmt::Debug for SessionLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLease")
            .field("key", &self.key())
            .finish()
    }
}

impl Drop for SessionLease {
    fn drop(&mut self) {
        self.pool.lock().release(self.index);
    }
}

/// The global ids of `config.jsonc` as a pool of one, or why they cannot be used.
pub(crate) fn global_pool(config: &Config) -> Result<Arc<SessionPool>, String> {
    let global = SessionEntry {
        session_id: config.session_id.clone(),
        message_id: config.message_id.clone(),
        ..SessionEntry::default()
    };
    let (Some(session_id), Some(message_id)) = (
        usable_id(global.session_id.as_deref()),
        usable_id(global.message_id.as_deref()),
    ) else {
        return Err(global
            .unusable_reason()
            .unwrap_or_else(|| "they are not usable".to_owned()));
    };
    let pick = SessionPick {
        session_id: session_id.to_owned(),
        message_id: message_id.to_owned(),
        mode: config.id_updater_last_mode,
        battle_target: config.id_updater_battle_target,
        from_pool: false,
    };
    SessionPool::new(vec![pick]).ok_or_else(|| "they are not usable".to_owned())
}

/// The sessions of `model`, decided once per config load.
///
/// Usable pool entries have both ids, neither empty nor a `YOUR_…` placeholder, and do not use
/// flow `evaluation`; each takes the entry's `mode`/`battle_target`, else the config's
/// `id_updater_last_mode`/`id_updater_battle_target`. A model without a pool uses the global
/// ids (`global`, shared by all such models) only when `use_default_ids_if_mapping_not_found`
/// is true. A pool whose entries are all unusable is an error, not a reason to fall back.
pub(crate) fn model_sessions(
    model: &ResolvedModel,
    config: &Config,
    global: &Result<Arc<SessionPool>, String>,
) -> Result<Arc<SessionPool>, SessionError> {
    let name = &model.public_name;
    if model.pool.is_empty() {
        if !config.use_default_ids_if_mapping_not_found {
            return Err(SessionError::NoMapping {
                model: name.clone(),
            });
        }
        return global
            .clone()
            .map_err(|reason| SessionError::GlobalIdsUnusable {
                model: name.clone(),
                reason,
            });
    }
    let usable: Vec<SessionPick> = model
        .pool
        .iter()
        .filter(|e| e.unusable_reason().is_none())
        .filter_map(|e| {
            Some(SessionPick {
                session_id: usable_id(e.session_id.as_deref())?.to_owned(),
                message_id: usable_id(e.message_id.as_deref())?.to_owned(),
                mode: e.mode.unwrap_or(config.id_updater_last_mode),
                battle_target: e.battle_target.unwrap_or(config.id_updater_battle_target),
                from_pool: true,
            })
        })
        .collect();
    SessionPool::new(usable).ok_or_else(|| SessionError::PoolUnusable {
        model: name.clone(),
        pool_len: model.pool.len(),
        reason: model
            .pool
            .iter()
            .find_map(SessionEntry::unusable_reason)
            .unwrap_or_else(|| "no entry has usable ids".to_owned()),
    })
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
    use crate::models::{ModelRoute, ModelTable};

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

    fn table(config: &Config) -> ModelTable {
        ModelTable::build(&registry(), config)
    }

    /// One session for `model`, released at once.
    fn one(route: &ModelRoute) -> Result<SessionPick, SessionError> {
        let mut leases = route.choose_sessions(1)?;
        Ok(leases.pop().expect("one lease").pick().clone())
    }

    fn ids(leases: &[SessionLease]) -> Vec<&str> {
        leases
            .iter()
            .map(|l| l.pick().session_id.as_str())
            .collect()
    }

    #[test]
    fn idle_pool_is_taken_in_turn() {
        let t = table(&config_with(Some(("g", "g")), true));
        let m = t.resolve("pooled").unwrap();
        let picked: Vec<String> = (0..7).map(|_| one(m).unwrap().session_id).collect();
        assert_eq!(picked, ["s1", "s2", "s3", "s1", "s2", "s3", "s1"]);
        // Each model has its own pool and order.
        assert_eq!(one(t.resolve("half").unwrap()).unwrap().session_id, "ok");
        assert_eq!(one(m).unwrap().session_id, "s2");
    }

    #[test]
    fn busy_sessions_are_skipped_while_a_free_one_exists() {
        let t = table(&config_with(None, true));
        let pool = t.resolve("pooled").unwrap();
        let s1 = pool.choose_sessions(1).unwrap();
        let s2 = pool.choose_sessions(1).unwrap();
        assert_eq!((ids(&s1), ids(&s2)), (vec!["s1"], vec!["s2"]));
        // s1 and s2 are in flight: s3 comes next, then the least recently picked busy one.
        let s3 = pool.choose_sessions(1).unwrap();
        assert_eq!(ids(&s3), ["s3"]);
        drop(s2);
        // s2 is free again, s1 and s3 are not: s2, whatever the turn says.
        let again = pool.choose_sessions(1).unwrap();
        assert_eq!(ids(&again), ["s2"]);
        // All busy: the least recently picked of the least busy (s1), never an error.
        let extra = pool.choose_sessions(1).unwrap();
        assert_eq!(ids(&extra), ["s1"]);
        let shared = pool.sessions().unwrap();
        assert_eq!(shared.in_flight(), [2, 1, 1]);
        drop((s1, s3, again, extra));
        assert_eq!(shared.in_flight(), [0, 0, 0]);
    }

    #[test]
    fn picks_are_fair_over_many_requests() {
        let t = table(&config_with(None, true));
        let m = t.resolve("pooled").unwrap();
        let mut counts = std::collections::HashMap::new();
        // Two requests always in flight, released in turn: every session gets the same share.
        let mut held = std::collections::VecDeque::new();
        for _ in 0..300 {
            let lease = m.choose_sessions(1).unwrap().pop().unwrap();
            *counts
                .entry(lease.pick().session_id.clone())
                .or_insert(0usize) += 1;
            held.push_back(lease);
            if held.len() == 2 {
                held.pop_front();
            }
        }
        assert_eq!(counts.len(), 3);
        assert!(counts.values().all(|&c| c == 100), "{counts:?}");
    }

    #[test]
    fn concurrent_picks_share_one_pool() {
        let t = std::sync::Arc::new(table(&config_with(None, true)));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    let m = t.resolve("pooled").unwrap();
                    (0..300)
                        .map(|_| one(m).unwrap().session_id)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut counts = std::collections::HashMap::new();
        for h in handles {
            for id in h.join().unwrap() {
                *counts.entry(id).or_insert(0usize) += 1;
            }
        }
        assert_eq!(counts.values().sum::<usize>(), 1200);
        // How evenly threads spread depends on the scheduler (a thread preempted while it
        // holds a lease keeps that session busy, so the others take its turns); the even
        // spread itself is checked single-threaded above. Here: every session served and
        // every lease came back.
        assert_eq!(counts.len(), 3, "{counts:?}");
        let pool = t.resolve("pooled").unwrap().sessions().unwrap();
        assert_eq!(pool.in_flight(), [0, 0, 0]);
    }

    #[test]
    fn a_reloaded_table_has_new_pools_and_old_leases_release_into_theirs() {
        let config = config_with(None, true);
        let old = table(&config);
        let held = old.resolve("pooled").unwrap().choose_sessions(1).unwrap();
        let new = table(&config);
        let fresh = new.resolve("pooled").unwrap();
        assert!(!Arc::ptr_eq(held[0].pool(), fresh.sessions().unwrap()));
        // The new pool starts idle, in file order.
        assert_eq!(one(fresh).unwrap().session_id, "s1");
        let old_pool = Arc::clone(held[0].pool());
        drop(old);
        assert_eq!(old_pool.in_flight(), [1, 0, 0]);
        drop(held);
        assert_eq!(old_pool.in_flight(), [0, 0, 0]);
    }

    #[test]
    fn a_request_shares_the_pool_never_copies_it() {
        let t = table(&config_with(None, true));
        let m = t.resolve("pooled").unwrap();
        let pool = m.sessions().unwrap();
        let leases = m.choose_sessions(2).unwrap();
        for lease in &leases {
            assert!(Arc::ptr_eq(lease.pool(), pool));
        }
        // One reference per lease besides the table's: nothing else holds a pool.
        assert_eq!(Arc::strong_count(pool), 3);
        // Models without a pool share the one pool of the global ids.
        let t = table(&config_with(Some(("gs", "gm")), true));
        let a = t.resolve("gpt-text").unwrap().sessions().unwrap();
        let b = t.resolve("dalle").unwrap().sessions().unwrap();
        assert!(Arc::ptr_eq(a, b));
        // A lookup returns the table's own route.
        assert!(std::ptr::eq(
            t.resolve("pooled").unwrap(),
            t.resolve("pooled").unwrap()
        ));
    }

    #[test]
    fn pool_entry_mode_and_target_else_global() {
        let t = table(&config_with(None, true));
        let m = t.resolve("pooled").unwrap();
        let picks = m.choose_sessions(2).unwrap();
        assert_eq!(
            picks[0].pick(),
            &SessionPick {
                session_id: "s1".into(),
                message_id: "m1".into(),
                mode: Mode::Battle,
                battle_target: BattleTarget::A,
                from_pool: true,
            }
        );
        assert_eq!(picks[0].key(), "s1/m1");
        let p1 = picks[1].pick();
        assert_eq!((p1.mode, p1.battle_target), (Mode::Battle, BattleTarget::B));
        let p = one(t.resolve("map-only").unwrap()).unwrap();
        assert_eq!((p.session_id.as_str(), p.mode), ("s9", Mode::DirectChat));
    }

    #[test]
    fn fallback_to_global_ids() {
        let t = table(&config_with(Some(("gs", "gm")), true));
        let p = one(t.resolve("gpt-text").unwrap()).unwrap();
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
        assert!(!one(t.resolve("empty-list").unwrap()).unwrap().from_pool);
    }

    #[test]
    fn fallback_off_is_an_error_naming_the_model() {
        let t = table(&config_with(Some(("gs", "gm")), false));
        let e = one(t.resolve("dalle").unwrap()).unwrap_err();
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
        let t = table(&config_with(None, false));
        assert!(one(t.resolve("pooled").unwrap()).is_ok());
    }

    #[test]
    fn missing_and_placeholder_ids_point_to_the_id_updater() {
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
            let t = table(&config_with(*global, true));
            let e = one(t.resolve("gpt-text").unwrap()).unwrap_err();
            let msg = e.to_string();
            assert!(matches!(e, SessionError::GlobalIdsUnusable { .. }), "{msg}");
            assert!(msg.contains(reason), "{msg}");
            assert!(msg.contains("bridge-id-updater"), "{msg}");
            assert!(msg.contains("gpt-text"), "{msg}");
        }

        // A pool of only unusable entries is an error even though the fallback is on.
        let t = table(&config_with(Some(("gs", "gm")), true));
        let e = one(t.resolve("placeholders").unwrap()).unwrap_err();
        assert!(
            matches!(e, SessionError::PoolUnusable { pool_len: 2, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("bridge-id-updater"));
        assert!(e.to_string().contains("YOUR_SESSION_ID"));

        // Unusable entries are skipped when others remain.
        let half = t.resolve("half").unwrap();
        for _ in 0..3 {
            assert_eq!(one(half).unwrap().session_id, "ok");
        }
    }

    #[test]
    fn evaluation_entries_are_not_retry_sessions() {
        let t = table(&config_with(Some(("g", "g")), true));
        let m = t.resolve("eval").unwrap();
        assert_eq!(m.flow(UpstreamFlow::Retry), UpstreamFlow::Evaluation);
        assert_eq!(
            t.resolve("pooled").unwrap().flow(UpstreamFlow::Retry),
            UpstreamFlow::Retry
        );
        assert!(matches!(one(m), Err(SessionError::PoolUnusable { .. })));
    }

    #[test]
    fn choose_many_uses_distinct_sessions() {
        let t = table(&config_with(None, true));
        let m = t.resolve("pooled").unwrap();
        assert_eq!(ids(&m.choose_sessions(3).unwrap()), ["s1", "s2", "s3"]);
        assert_eq!(
            ids(&m.choose_sessions(5).unwrap()),
            ["s1", "s2", "s3", "s1", "s2"]
        );
        assert!(m.choose_sessions(0).unwrap().is_empty());
        // The turn continues after the sessions a multi-pick used.
        assert_eq!(ids(&m.choose_sessions(2).unwrap()), ["s3", "s1"]);
        // Global ids repeat.
        let t = table(&config_with(Some(("gs", "gm")), true));
        let g = t.resolve("web").unwrap();
        assert_eq!(ids(&g.choose_sessions(2).unwrap()), ["gs", "gs"]);
    }

    #[test]
    fn least_busy_index_stays_consistent() {
        let mut index = LeastBusy::new(4);
        let taken: Vec<usize> = (0..6).filter_map(|_| index.take()).collect();
        assert_eq!(taken, [0, 1, 2, 3, 0, 1]);
        index.release(3);
        index.release(3); // one release too many saturates instead of wrapping
        index.release(99); // out of range is ignored
        assert_eq!(index.take(), Some(3));
        assert_eq!(index.order.len(), 4);
        let ranks: BTreeSet<Rank> = index.ranks.iter().copied().collect();
        assert_eq!(ranks, index.order);
    }
}
