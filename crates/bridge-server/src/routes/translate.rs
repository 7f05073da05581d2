//! Running a translated API's stream on the chat pipeline: the chat answer's SSE frames are
//! read back as chunks, fed to the API's translator, and its events written to the client.

use bridge_core::compat::SseEvent;
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::output::{SSE_DATA, SSE_KEEPALIVE};
use crate::request::EVENTS_CAPACITY;

/// The end of the chat stream.
const DONE_DATA: &str = "[DONE]";

/// What a translated API does with the chat stream.
pub(crate) trait StreamTranslator: Send + 'static {
    /// Events before the first chunk.
    fn start(&mut self) -> Vec<SseEvent>;
    /// Events for one chat chunk (or an error body inside the chat stream).
    fn chunk(&mut self, chunk: &Value) -> Vec<SseEvent>;
    /// What to send while the chat stream only keeps the connection alive.
    fn keepalive(&self) -> String;
    /// True when nothing more is wanted from the chat stream.
    fn done(&self) -> bool;
    /// The closing events.
    fn finish(&mut self) -> Vec<SseEvent>;
}

/// One frame of the chat pipeline's SSE output.
#[derive(Debug, PartialEq)]
enum Frame {
    Data(Value),
    Done,
    KeepAlive,
}

/// Splits the chat SSE bytes into frames (a frame may arrive in pieces).
#[derive(Debug, Default)]
struct FrameReader {
    buf: String,
}

impl FrameReader {
    fn push(&mut self, bytes: &[u8]) -> Vec<Frame> {
        self.buf.push_str(&String::from_utf8_lossy(bytes));
        let mut frames = Vec::new();
        while let Some(end) = self.buf.find("\n\n") {
            let frame: String = self.buf.drain(..end + 2).collect();
            let frame = frame.trim_end();
            if let Some(data) = frame.strip_prefix(SSE_DATA) {
                if data == DONE_DATA {
                    frames.push(Frame::Done);
                } else if let Ok(value) = serde_json::from_str(data) {
                    frames.push(Frame::Data(value));
                }
            } else if frame == SSE_KEEPALIVE.trim_end() {
                frames.push(Frame::KeepAlive);
            }
        }
        frames
    }
}

/// Spawns the task that translates `chat` (the chat pipeline's SSE frames) into the API's
/// events; the returned channel is the client's body. Dropping it ends the task, which
/// drops `chat` and so aborts the upstream job.
pub(crate) fn spawn(
    mut chat: mpsc::Receiver<bytes::Bytes>,
    mut translator: impl StreamTranslator,
) -> mpsc::Receiver<bytes::Bytes> {
    let (tx, rx) = mpsc::channel(EVENTS_CAPACITY);
    let task = async move {
        let send_all = |events: Vec<SseEvent>| {
            let text: String = events.iter().map(SseEvent::to_sse).collect();
            bytes::Bytes::from(text)
        };
        if tx.send(send_all(translator.start())).await.is_err() {
            return;
        }
        let mut reader = FrameReader::default();
        'read: while let Some(bytes) = chat.recv().await {
            for frame in reader.push(&bytes) {
                let out = match frame {
                    Frame::Data(chunk) => send_all(translator.chunk(&chunk)),
                    Frame::KeepAlive => bytes::Bytes::from(translator.keepalive()),
                    Frame::Done => break 'read,
                };
                if !out.is_empty() && tx.send(out).await.is_err() {
                    return;
                }
                if translator.done() {
                    break 'read;
                }
            }
        }
        drop(chat);
        let _ = tx.send(send_all(translator.finish())).await;
    };
    actix_web::rt::spawn(task.in_current_span());
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_across_pieces() {
        let mut r = FrameReader::default();
        assert!(r.push(b"data: {\"a\"").is_empty());
        assert_eq!(
            r.push(b":1}\n\n: keep-alive\n\ndata: [DONE]\n\n"),
            vec![
                Frame::Data(serde_json::json!({"a":1})),
                Frame::KeepAlive,
                Frame::Done
            ]
        );
    }
}
