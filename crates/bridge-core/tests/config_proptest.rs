//! Properties of config editing and origin matching over arbitrary input.

use std::path::Path;

use bridge_core::config::edit::set_string_values;
use bridge_core::config::{origin_matches, parse_config, Config};
use proptest::prelude::*;

fn original() -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/config/original.jsonc");
    std::fs::read_to_string(path).unwrap()
}

proptest! {
    /// Whatever a tab reports as an id (quotes, backslashes, control characters, comment
    /// markers, any Unicode), the edited file loads with exactly that value and every other
    /// line is unchanged.
    #[test]
    fn any_value_round_trips_and_changes_one_line(value in any::<String>()) {
        let text = original();
        let edited = set_string_values(&text, &[("message_id", &value)]).unwrap();
        let (config, warnings) = parse_config(&edited, Path::new("config.jsonc")).unwrap();
        let expected = if value.trim().is_empty() { None } else { Some(value.clone()) };
        prop_assert_eq!(config.message_id, expected);
        prop_assert_eq!(config.api_key.as_deref(), Some("sk-local-test-key"));
        prop_assert_eq!(warnings.len(), 5);
        let before: Vec<&str> = text.split('\n').collect();
        let after: Vec<&str> = edited.split('\n').collect();
        prop_assert_eq!(before.len(), after.len());
        let changed = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        prop_assert!(changed <= 1);
    }

    #[test]
    fn origin_matching_never_panics(pattern in any::<String>(), origin in any::<String>()) {
        let _ = origin_matches(&pattern, &origin);
        let _ = Config::default().origin_allowed(&origin);
    }

    /// Hosts with multi-byte characters next to the wildcard's domain (a panic once).
    #[test]
    fn wildcard_with_unicode_hosts_never_panics(domain in "[abé]{1,4}", host in "[abé.中]{0,8}") {
        let _ = origin_matches(&format!("https://*.{domain}"), &format!("https://{host}"));
    }

    #[test]
    fn wildcard_matches_only_subdomains(label in "[a-z0-9-]{1,12}", other in "[a-z0-9-]{1,12}") {
        let pattern = "https://*.lmarena.ai";
        let subdomain = format!("https://{label}.lmarena.ai");
        let lookalike = format!("https://{label}lmarena.ai");
        let suffix_attack = format!("https://{label}.lmarena.ai.{other}.com");
        prop_assert!(origin_matches(pattern, &subdomain));
        prop_assert!(!origin_matches(pattern, &lookalike));
        prop_assert!(!origin_matches(pattern, &suffix_attack));
    }
}
