//! The spinner and countdown shown on a terminal while waiting for the capture.

use std::io::Write;
use std::time::Duration;

/// Redraw interval of the spinner.
pub const TICK: Duration = Duration::from_millis(125);
const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/// Carriage return plus "erase line" (ANSI).
const CLEAR_LINE: &str = "\r\x1b[2K";

/// One status line on standard error, redrawn in place; silent when `enabled` is false (no
/// terminal), so logs and pipes get no control characters.
#[derive(Debug)]
pub struct Countdown {
    enabled: bool,
    frame: usize,
    drawn: bool,
}

impl Countdown {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            frame: 0,
            drawn: false,
        }
    }

    /// Draw the next spinner frame with the time left.
    pub fn draw(&mut self, remaining: Duration) {
        if !self.enabled {
            return;
        }
        let frame = FRAMES[self.frame % FRAMES.len()];
        self.frame = self.frame.wrapping_add(1);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "{CLEAR_LINE}{frame} Waiting for the capture… {} left (Ctrl-C to stop)",
            mm_ss(remaining)
        );
        let _ = err.flush();
        self.drawn = true;
    }

    /// Erase the status line, so a message can be printed in its place.
    pub fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{CLEAR_LINE}");
            let _ = err.flush();
            self.drawn = false;
        }
    }

    /// Print a line on standard error above the status line.
    pub fn note(&mut self, line: &str) {
        self.clear();
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

impl Drop for Countdown {
    fn drop(&mut self) {
        self.clear();
    }
}

/// `m:ss`, rounded up so the last second shows `0:01` rather than `0:00`.
pub fn mm_ss(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    format!("{}:{:02}", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_and_seconds() {
        assert_eq!(mm_ss(Duration::from_secs(300)), "5:00");
        assert_eq!(mm_ss(Duration::from_millis(299_001)), "5:00");
        assert_eq!(mm_ss(Duration::from_millis(1)), "0:01");
        assert_eq!(mm_ss(Duration::ZERO), "0:00");
        assert_eq!(mm_ss(Duration::from_secs(3671)), "61:11");
    }

    #[test]
    fn disabled_draws_nothing() {
        let mut c = Countdown::new(false);
        c.draw(Duration::from_secs(1));
        assert!(!c.drawn);
    }
}
