//! CPU time of processes and threads from `/proc/<pid>/task/<tid>/schedstat` (nanoseconds on
//! CPU). CPU per request is a figure that other load on the machine barely disturbs, unlike
//! requests per second.

use std::path::Path;

/// CPU time split between the threads whose name starts with a prefix and the others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CpuSplit {
    pub matching_ns: u64,
    pub other_ns: u64,
}

impl CpuSplit {
    pub(crate) fn total_ns(&self) -> u64 {
        self.matching_ns + self.other_ns
    }

    /// CPU used between `earlier` and `self`.
    pub(crate) fn since(&self, earlier: &CpuSplit) -> CpuSplit {
        CpuSplit {
            matching_ns: self.matching_ns.saturating_sub(earlier.matching_ns),
            other_ns: self.other_ns.saturating_sub(earlier.other_ns),
        }
    }
}

/// The first field of a `schedstat` file: nanoseconds spent on a CPU.
pub(crate) fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// CPU time of every live thread of process `pid` ("self" for this one), split by whether
/// the thread name starts with `prefix`. Threads that ended are not counted; the bench's and
/// the server's threads live as long as their process.
pub(crate) fn threads_cpu(pid: &str, prefix: &str) -> std::io::Result<CpuSplit> {
    let tasks = Path::new("/proc").join(pid).join("task");
    let mut split = CpuSplit::default();
    for entry in std::fs::read_dir(tasks)? {
        let dir = entry?.path();
        // A thread may end between the listing and the read: skip it.
        let Ok(stat) = std::fs::read_to_string(dir.join("schedstat")) else {
            continue;
        };
        let ns = parse_schedstat(&stat).unwrap_or(0);
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !prefix.is_empty() && name.starts_with(prefix) {
            split.matching_ns += ns;
        } else {
            split.other_ns += ns;
        }
    }
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_first_field_is_cpu_nanoseconds() {
        assert_eq!(
            parse_schedstat("175094473 108884135 551\n"),
            Some(175_094_473)
        );
        assert_eq!(parse_schedstat(""), None);
    }

    #[test]
    fn this_process_uses_cpu_and_splits_by_thread_name() {
        let before = threads_cpu("self", "no-such-thread-name").unwrap();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let after = threads_cpu("self", "no-such-thread-name").unwrap();
        let used = after.since(&before);
        assert_eq!(used.matching_ns, 0);
        assert!(used.other_ns > 0, "{used:?}");
    }
}
