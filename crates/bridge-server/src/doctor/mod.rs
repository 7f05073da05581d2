//! "Ready to chat?": the checks `bridge-server doctor` prints and the status page shows, each
//! with the one thing to do when it fails. Config checks run on the loaded files; tab checks
//! on the pool; the probe asks one tab for a same-origin GET and a reCAPTCHA token.
//! [`cli`] is the `doctor` subcommand, which runs the config checks itself and asks a
//! running server (`POST /internal/doctor`) for the rest.

pub mod cli;

use std::time::Duration;

use bridge_core::arena::{PROBE_PATH, PROBE_RECAPTCHA_ACTION};
use bridge_core::config::{Config, UpstreamFlow};
use bridge_core::models::{config_problems, ConfigProblem, ModelTable, Registry};
use bridge_core::protocol::ServerMessage;
use serde::{Deserialize, Serialize};

use crate::guide;
use crate::pool::{start_job_on, JobEvent, ProbeOutcome, TabSnapshot, WaitEnd};
use crate::state::AppState;

/// One check: what was found, and what to do when it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub(crate) fn pass(name: &str, detail: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    pub(crate) fn fail(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Checks of the config files: one passing check, or one failing check per problem.
pub(crate) fn config_checks(config: &Config, registry: &Registry) -> Vec<Check> {
    let problems = config_problems(config, registry);
    if problems.is_empty() {
        return vec![Check::pass(
            "config",
            format!(
                "{} model(s), {} with captured sessions; no placeholder or malformed ids in use",
                registry.model_names().len(),
                registry.endpoint_map.len()
            ),
        )];
    }
    problems.iter().map(problem_check).collect()
}

fn problem_check(p: &ConfigProblem) -> Check {
    Check::fail("config", p.to_string(), p.fix())
}

/// Whether a tab is connected, and whether its userscript can capture ids.
pub(crate) fn tab_checks(tabs: &[TabSnapshot], custom_url: Option<&str>) -> Vec<Check> {
    let Some(tab) = tabs.first() else {
        return vec![Check::fail(
            "tab",
            "no LMArena tab is connected",
            guide::connect_advice(custom_url),
        )];
    };
    let client = tab.client.as_deref().unwrap_or("an unnamed userscript");
    let mut checks = vec![Check::pass(
        "tab",
        format!(
            "{} tab(s) connected; {client} on {}",
            tabs.len(),
            tab.page.as_deref().unwrap_or(&tab.origin)
        ),
    )];
    if tabs.iter().any(|t| t.late_injection) {
        checks.push(Check::fail(
            "userscript",
            "the userscript was injected after the page started, so it cannot capture ids \
             (the retry flow's bridge-id-updater needs that)",
            "in Tampermonkey set Settings → Injection Mode to \"Instant\" (Chrome/Edge: also \
             allow user scripts for the extension), then reload the LMArena tab",
        ));
    }
    checks
}

/// What the flow in use needs, and whether the config gives it.
pub(crate) fn flow_check(config: &Config, models: &ModelTable) -> Check {
    match config.upstream_flow {
        UpstreamFlow::Evaluation => Check::pass(
            "flow",
            "evaluation: needs a tab logged in to LMArena that can mint reCAPTCHA tokens; no \
             captured ids",
        ),
        UpstreamFlow::Retry => {
            let servable = models
                .routes()
                .filter(|m| {
                    m.flow(config.upstream_flow) == UpstreamFlow::Evaluation || m.sessions().is_ok()
                })
                .count();
            if servable == 0 {
                Check::fail(
                    "flow",
                    "retry: needs captured session and message ids, and no model has usable ones",
                    "set \"upstream_flow\": \"evaluation\" in config/config.jsonc (no capture \
                     needed), or capture ids with bridge-id-updater",
                )
            } else {
                Check::pass(
                    "flow",
                    format!("retry: {servable} model(s) have captured ids"),
                )
            }
        }
    }
}

/// The checks the server can make without touching a tab (for `/status`).
pub(crate) fn ready_checks(state: &AppState) -> Vec<Check> {
    let snapshot = state.snapshot();
    let config = &snapshot.config;
    let mut checks = config_checks(config, &snapshot.registry);
    checks.extend(tab_checks(
        &state.pool().snapshot(),
        state.custom_userscript_url().as_deref(),
    ));
    checks.push(flow_check(config, &snapshot.models));
    checks
}

/// Why a probe could not be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProbeError {
    NoTab,
    TabLost,
    Timeout(Duration),
}

/// Asks one ready tab for the probe GET and a reCAPTCHA token.
pub(crate) async fn probe(state: &AppState) -> Result<(TabSnapshot, ProbeOutcome), ProbeError> {
    let link = state.pool().any_ready_tab().ok_or(ProbeError::NoTab)?;
    let tab = state
        .pool()
        .snapshot_of(link.conn)
        .ok_or(ProbeError::TabLost)?;
    let site_key = state.config().recaptcha_site_key.clone();
    let (mut guard, mut rx) = start_job_on(state.pool(), &link, |id| ServerMessage::Probe {
        id,
        path: PROBE_PATH.to_owned(),
        recaptcha_action: Some(PROBE_RECAPTCHA_ACTION.to_owned()),
        site_key: Some(site_key.clone()).filter(|k| !k.trim().is_empty()),
    });
    let timeout = state.options().page_source_timeout;
    let outcome = rx
        .answer(timeout, |event| match event {
            JobEvent::Probe(outcome) => Some(*outcome),
            _ => None,
        })
        .await
        .map_err(|end| match end {
            WaitEnd::TabLost => ProbeError::TabLost,
            WaitEnd::TimedOut => ProbeError::Timeout(timeout),
        })?;
    guard.finish();
    Ok((tab, outcome))
}

/// Every check the server can make, the probe included (for `POST /internal/doctor`).
pub(crate) async fn full_checks(state: &AppState) -> Vec<Check> {
    let config = state.config();
    let mut checks = tab_checks(
        &state.pool().snapshot(),
        state.custom_userscript_url().as_deref(),
    );
    checks.extend(probe_checks(probe(state).await, config.upstream_flow));
    checks.push(flow_check(&config, &state.snapshot().models));
    checks
}

/// The probe's findings as checks: the site reachable through the tab, reCAPTCHA tokens.
pub(crate) fn probe_checks(
    result: Result<(TabSnapshot, ProbeOutcome), ProbeError>,
    flow: UpstreamFlow,
) -> Vec<Check> {
    let (tab, outcome) = match result {
        Ok(found) => found,
        // No tab: `tab_checks` already said so.
        Err(ProbeError::NoTab) => return Vec::new(),
        Err(ProbeError::TabLost) => {
            return vec![Check::fail(
                "site",
                "the tab disconnected during the check",
                "keep the LMArena tab open and run the check again",
            )]
        }
        Err(ProbeError::Timeout(t)) => {
            return vec![Check::fail(
            "site",
            format!("the tab did not answer the check within {} s", t.as_secs()),
            "update the userscript to the version in this repository and reload the LMArena tab",
        )]
        }
    };
    let why = outcome
        .message
        .as_deref()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    let site = if outcome.ok {
        Check::pass(
            "site",
            format!(
                "the tab reaches {} (GET {PROBE_PATH}: {})",
                tab.origin,
                outcome.status.unwrap_or(200)
            ),
        )
    } else {
        let status = outcome
            .status
            .map_or_else(|| "no answer".to_owned(), |s| format!("HTTP {s}"));
        Check::fail(
            "site",
            format!("the tab cannot reach {}: {status}{why}", tab.origin),
            "reload the LMArena tab and solve any Cloudflare check it shows",
        )
    };
    let recaptcha = match (outcome.recaptcha, flow) {
        (true, _) => Check::pass("recaptcha", "the tab minted a reCAPTCHA token"),
        (false, UpstreamFlow::Retry) => Check::pass(
            "recaptcha",
            format!(
                "the tab could not mint a reCAPTCHA token{why}; the retry flow does not need one"
            ),
        ),
        (false, UpstreamFlow::Evaluation) => Check::fail(
            "recaptcha",
            format!("the tab could not mint a reCAPTCHA token{why}"),
            "log in to LMArena in that tab, send one message by hand, then reload it",
        ),
    };
    vec![site, recaptcha]
}
