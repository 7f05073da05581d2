//! Exit codes: the ones shared with bridge-model-updater ([`bridge_cli::Exit`]: 0, 1, 3 server
//! down, 4 no tab, 6 unauthorized, 7 file not written, 8 config unreadable, 64 usage,
//! 130 interrupted) and this CLI's own ([`Own`]), with the failures that carry them.
//!
//! The own codes follow bridge-model-updater where the meanings overlap (5 nothing arrived in
//! time, 9 unknown model); 2 stays unused because clap reports usage errors with it by default.

/// Every exit code of this CLI (listed for users in [`crate::cli::EXIT_CODES_HELP`]).
pub type Exit = bridge_cli::Exit<Own>;
/// A failure of a run, with its exit code.
pub type Failure = bridge_cli::Failure<Own>;

/// The codes only bridge-id-updater uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Own {
    /// No capture arrived within `--timeout`.
    Timeout,
    /// `--model` is not a known model.
    UnknownModel,
    /// The listener port is taken.
    PortInUse,
    /// The tab's userscript was injected after the page started, so it cannot capture.
    LateInjection,
}

impl bridge_cli::OwnExit for Own {
    const ALL: &'static [Self] = &[
        Own::Timeout,
        Own::UnknownModel,
        Own::PortInUse,
        Own::LateInjection,
    ];

    fn code(self) -> u8 {
        match self {
            Own::Timeout => 5,
            Own::UnknownModel => 9,
            Own::PortInUse => 10,
            Own::LateInjection => 11,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_avoid_clap_usage_code() {
        assert!(Exit::all().iter().all(|e| e.code() != 2));
        assert_eq!(Exit::Own(Own::PortInUse).code(), 10);
    }
}
