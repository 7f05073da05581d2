//! The server's log writer: log lines are gathered in memory and written by a background
//! thread in batches, so a request never waits on the terminal and a busy server does not
//! wake a thread (and make a `write` call) for every line.
//!
//! A line goes into a shared buffer under a mutex. The writer thread is woken only when a
//! line lands in an empty buffer; it then waits [`GATHER`] for more lines and writes them all
//! at once. An idle server has a sleeping writer thread and no timer. When the buffer holds
//! [`MAX_PENDING`] bytes (the output is stuck), further lines are dropped and counted, and
//! the count is written once the output moves again. Dropping the [`LogGuard`] writes what is
//! left and stops the thread.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the writer thread waits, after the first line of a batch, for more lines.
pub const GATHER: Duration = Duration::from_millis(30);

/// Bytes waiting to be written beyond which new lines are dropped (and counted).
pub const MAX_PENDING: usize = 8 << 20;

/// A spare buffer larger than this is freed after a write instead of being kept.
const KEEP_CAPACITY: usize = 1 << 20;

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    dropped: u64,
    closing: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding this lock cannot leave `Pending` half-updated in a way that
        // matters for logging, so a poisoned lock is used as it is.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, line: &[u8]) {
        let mut pending = self.lock();
        if pending.closing {
            return;
        }
        if pending.bytes.len() + line.len() > MAX_PENDING {
            pending.dropped += 1;
            return;
        }
        let was_empty = pending.bytes.is_empty();
        pending.bytes.extend_from_slice(line);
        drop(pending);
        if was_empty {
            self.wake.notify_one();
        }
    }
}

/// Hands out writers for `tracing_subscriber::fmt().with_writer(…)`.
#[derive(Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
}

/// Stops the writer thread when dropped, after writing every line given before.
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the writer thread for `out`.
pub fn batched<W: Write + Send + 'static>(out: W) -> std::io::Result<(BatchedWriter, LogGuard)> {
    let shared = Arc::new(Shared::default());
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn({
            let shared = Arc::clone(&shared);
            move || write_batches(&shared, out)
        })?;
    Ok((
        BatchedWriter {
            shared: Arc::clone(&shared),
        },
        LogGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

fn write_batches<W: Write>(shared: &Shared, mut out: W) {
    let mut batch = Vec::new();
    loop {
        let mut pending = shared.lock();
        while pending.bytes.is_empty() && pending.dropped == 0 && !pending.closing {
            pending = shared
                .wake
                .wait(pending)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if !pending.closing {
            // Let the lines of a burst join this batch.
            drop(pending);
            std::thread::sleep(GATHER);
            pending = shared.lock();
        }
        std::mem::swap(&mut pending.bytes, &mut batch);
        let dropped = std::mem::take(&mut pending.dropped);
        let closing = pending.closing;
        drop(pending);
        // Nothing can be done about a failed write to the log: the lines are lost, as with
        // any logger whose terminal went away.
        let _ = out.write_all(&batch);
        if dropped > 0 {
            let _ = writeln!(
                out,
                "log: {dropped} line(s) dropped: the output was not taking them"
            );
        }
        let _ = out.flush();
        batch.clear();
        if batch.capacity() > KEEP_CAPACITY {
            batch = Vec::new();
        }
        if closing {
            // Lines are refused once closing is set, so this batch was the last.
            return;
        }
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Write for BatchedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.shared.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedWriter {
    type Writer = BatchedWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read while the writer thread owns a handle to it.
    #[derive(Clone, Default)]
    struct Sink {
        bytes: Arc<Mutex<Vec<u8>>>,
        writes: Arc<Mutex<usize>>,
        stuck: Arc<Mutex<bool>>,
        /// Set when a `write` began (even one still held by `stuck`).
        entered: Arc<Mutex<bool>>,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            *self.entered.lock().unwrap() = true;
            while *self.stuck.lock().unwrap() {
                std::thread::sleep(Duration::from_millis(1));
            }
            *self.writes.lock().unwrap() += 1;
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.bytes.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn every_line_is_written_in_order_and_the_guard_flushes_the_rest() {
        let sink = Sink::default();
        let (writer, guard) = batched(sink.clone()).unwrap();
        let mut expected = String::new();
        for i in 0..1000 {
            let line = format!("line {i}\n");
            writer.clone().write_all(line.as_bytes()).unwrap();
            expected.push_str(&line);
        }
        drop(guard);
        assert_eq!(sink.text(), expected);
    }

    #[test]
    fn a_burst_of_lines_is_written_in_few_writes() {
        let sink = Sink::default();
        let (writer, guard) = batched(sink.clone()).unwrap();
        for i in 0..500 {
            writer
                .clone()
                .write_all(format!("{i}\n").as_bytes())
                .unwrap();
        }
        // Well past one gathering pause: the burst has been written without the guard.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sink.text().lines().count() < 500 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(sink.text().lines().count(), 500);
        let writes = *sink.writes.lock().unwrap();
        assert!(writes < 50, "{writes} writes for 500 lines");
        drop(guard);
    }

    #[test]
    fn lines_beyond_the_cap_are_dropped_and_counted_while_the_output_is_stuck() {
        let sink = Sink::default();
        *sink.stuck.lock().unwrap() = true;
        let (writer, guard) = batched(sink.clone()).unwrap();
        // The first line is taken by the writer thread, which then hangs in `write`.
        writer.clone().write_all(b"first\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !*sink.entered.lock().unwrap() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(*sink.entered.lock().unwrap(), "the writer never wrote");
        let line = vec![b'x'; 1 << 20];
        let mut sent = 0;
        for _ in 0..(MAX_PENDING / line.len() + 3) {
            writer.clone().write_all(&line).unwrap();
            sent += 1;
        }
        let kept = MAX_PENDING / line.len();
        *sink.stuck.lock().unwrap() = false;
        // Let the writer write the kept lines and the note before the guard closes it.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !sink.text().contains("dropped") && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(guard);
        let text = sink.text();
        assert!(text.starts_with("first\n"));
        assert_eq!(text.matches('x').count(), kept * line.len());
        assert!(
            text.contains(&format!("log: {} line(s) dropped", sent - kept)),
            "{}",
            &text[text.len().saturating_sub(200)..]
        );
    }
}
