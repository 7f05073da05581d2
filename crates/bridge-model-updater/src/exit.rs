//! Exit codes: the ones shared with bridge-id-updater ([`bridge_cli::Exit`]: 0, 1, 3 server
//! down, 4 no tab, 6 unauthorized, 7 file not read or written, 8 config not parsed, 64 usage,
//! 130 interrupted) and this CLI's own ([`Own`]), with the failures that carry them.

/// Every exit code of this CLI (listed for users in [`crate::cli::EXIT_CODES_HELP`]).
pub type Exit = bridge_cli::Exit<Own>;
/// A failure of a run, with its exit code.
pub type Failure = bridge_cli::Failure<Own>;

/// The codes only bridge-model-updater uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Own {
    /// The HTML holds no model list.
    NoModelList,
    /// The tab did not send the page in time (HTTP 504, or no answer at all).
    TabTimeout,
    /// A `--add` name is not on the page.
    UnknownModel,
}

impl bridge_cli::OwnExit for Own {
    const ALL: &'static [Self] = &[Own::NoModelList, Own::TabTimeout, Own::UnknownModel];

    fn code(self) -> u8 {
        match self {
            Own::NoModelList => 2,
            Own::TabTimeout => 5,
            Own::UnknownModel => 9,
        }
    }
}
