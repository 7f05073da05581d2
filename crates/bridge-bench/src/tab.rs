//! A lean fake userscript tab: connects to `/ws` with an LMArena `Origin`, says hello, and
//! answers every `fetch` at once from the task that read it (no task per job), like the test
//! fake tab of `bridge-test-support` but without its frame log.
//!
//! Every text delta carries its send time (see [`crate::stamp`]).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::{bail, Context as _};
use bridge_core::arena::wire::{
    FINISH_REASON_KEY, PARTICIPANT_A, TYPE_FINISH, TYPE_SEPARATOR, TYPE_TEXT,
};
use bridge_core::protocol::{JobId, ServerMessage, TabMessage, PROTOCOL_VERSION};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::stamp::{stamp_text, Clock};

/// The tab origin the server accepts by default.
pub(crate) const TAB_ORIGIN: &str = "https://lmarena.ai";
/// The page the fake tab claims to be on.
const TAB_PAGE: &str = "https://lmarena.ai/";
/// The client name in `hello`.
const TAB_CLIENT: &str = "bridge-bench/fake-tab";
/// Upstream answer head.
const CONTENT_TYPE: &str = "content-type";
const EVENT_STREAM: &str = "text/event-stream";
const STATUS_OK: u16 = 200;
/// Upstream finish reason of a complete answer.
const FINISH_STOP: &str = "stop";
/// How long to wait for `welcome`.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a fake tab answers a `fetch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behavior {
    /// The head, `lines` text lines, a finish line and `done`; all at once when `gap` is zero,
    /// else with `gap` before each text line (a model producing tokens at a steady rate).
    Burst { lines: usize, gap: Duration },
    /// The head and one text line, then nothing until the job is aborted.
    Hold,
}

/// Connected fake tabs; their tasks end when this is dropped.
#[derive(Debug)]
pub(crate) struct Tabs {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Tabs {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Connects `count` tabs to the server on `port`; returns once each got `welcome`, which the
/// server sends only after adding the tab to its pool.
pub(crate) async fn connect(
    port: u16,
    count: usize,
    behavior: Behavior,
    clock: Clock,
) -> anyhow::Result<Tabs> {
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        let ws = handshake(port).await?;
        tasks.push(tokio::spawn(serve(ws, behavior, clock)));
    }
    Ok(Tabs { tasks })
}

async fn handshake(port: u16) -> anyhow::Result<Ws> {
    let mut request = format!("ws://127.0.0.1:{port}/ws").into_client_request()?;
    request
        .headers_mut()
        .insert("Origin", TAB_ORIGIN.parse().context("origin header")?);
    // No Nagle: browsers send WebSocket frames at once, and a paced answer's small frames
    // would otherwise wait for the server's delayed ACK.
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .context("fake tab cannot connect to /ws")?;
    ws.send(Message::text(encode(&TabMessage::Hello {
        protocol: PROTOCOL_VERSION,
        tab_id: uuid::Uuid::new_v4().to_string(),
        client: Some(TAB_CLIENT.to_owned()),
        page: Some(TAB_PAGE.to_owned()),
        late_injection: false,
        api_key: None,
    })))
    .await?;
    let welcome = tokio::time::timeout(WELCOME_TIMEOUT, async {
        while let Some(msg) = ws.next().await {
            if let Message::Text(text) = msg? {
                if let Ok(ServerMessage::Welcome { .. }) = serde_json::from_str(&text) {
                    return Ok(());
                }
            }
        }
        bail!("the server closed the tab connection before welcome")
    })
    .await;
    match welcome {
        Ok(r) => r.map(|()| ws),
        Err(_) => bail!("no welcome within {} s", WELCOME_TIMEOUT.as_secs()),
    }
}

/// Reads server frames and writes answers. Immediate answers are written by this task at
/// once; paced ones come from a task per job through `outbox`.
async fn serve(mut ws: Ws, behavior: Behavior, clock: Clock) {
    let (out_tx, mut outbox) = mpsc::unbounded_channel::<String>();
    let mut paced: HashMap<JobId, JoinHandle<()>> = HashMap::new();
    loop {
        let sent = tokio::select! {
            msg = ws.next() => {
                let Some(Ok(msg)) = msg else { break };
                let Message::Text(text) = msg else { continue };
                let Ok(frame) = serde_json::from_str::<ServerMessage>(&text) else {
                    continue;
                };
                match frame {
                    ServerMessage::Fetch { id, .. } => match behavior {
                        Behavior::Burst { lines, gap } if !gap.is_zero() => {
                            paced.retain(|_, job| !job.is_finished());
                            let out = out_tx.clone();
                            let job = tokio::spawn(paced_answer(id, lines, gap, clock, out));
                            paced.insert(id, job);
                            Ok(())
                        }
                        _ => {
                            let mut sent = Ok(());
                            for frame in answer_frames(id, behavior, clock) {
                                sent = ws.feed(Message::text(frame)).await;
                                if sent.is_err() {
                                    break;
                                }
                            }
                            match sent {
                                Ok(()) => ws.flush().await,
                                e => e,
                            }
                        }
                    },
                    ServerMessage::Abort { id } => {
                        if let Some(job) = paced.remove(&id) {
                            job.abort();
                        }
                        Ok(())
                    }
                    ServerMessage::Ping => ws.send(Message::text(encode(&TabMessage::Pong))).await,
                    _ => Ok(()),
                }
            }
            frame = outbox.recv() => {
                let Some(frame) = frame else { break };
                ws.send(Message::text(frame)).await
            }
        };
        if sent.is_err() {
            break;
        }
    }
    for job in paced.values() {
        job.abort();
    }
}

/// Every frame of an immediate answer: the head, the text lines (one for [`Behavior::Hold`]),
/// and for a burst the finish line and `done`.
fn answer_frames(id: JobId, behavior: Behavior, clock: Clock) -> Vec<String> {
    let lines = match behavior {
        Behavior::Burst { lines, .. } => lines,
        Behavior::Hold => 1,
    };
    let mut frames = Vec::with_capacity(lines + 3);
    frames.push(head_frame(id));
    for _ in 0..lines {
        frames.push(text_frame(id, clock));
    }
    if let Behavior::Burst { .. } = behavior {
        frames.extend(tail_frames(id));
    }
    frames
}

/// A burst answer with `gap` before each text line.
async fn paced_answer(
    id: JobId,
    lines: usize,
    gap: Duration,
    clock: Clock,
    out: mpsc::UnboundedSender<String>,
) {
    let _ = out.send(head_frame(id));
    let mut next = tokio::time::Instant::now();
    for _ in 0..lines {
        // Deadlines from the start, so timer lateness does not add up over the answer.
        next += gap;
        tokio::time::sleep_until(next).await;
        if out.send(text_frame(id, clock)).is_err() {
            return;
        }
    }
    for frame in tail_frames(id) {
        let _ = out.send(frame);
    }
}

fn head_frame(id: JobId) -> String {
    let mut headers = BTreeMap::new();
    headers.insert(CONTENT_TYPE.to_owned(), EVENT_STREAM.to_owned());
    encode(&TabMessage::Response {
        id,
        status: STATUS_OK,
        headers,
    })
}

/// A text line stamped now.
fn text_frame(id: JobId, clock: Clock) -> String {
    let data = text_line(&stamp_text(clock.now()));
    encode(&TabMessage::Chunk { id, data })
}

/// The finish line and `done`.
fn tail_frames(id: JobId) -> [String; 2] {
    [
        encode(&TabMessage::Chunk {
            id,
            data: finish_line(),
        }),
        encode(&TabMessage::Done { id }),
    ]
}

fn encode(msg: &TabMessage) -> String {
    // Serializing these plain enums cannot fail.
    serde_json::to_string(msg).unwrap_or_default()
}

/// `a0:"<text>"` and a newline: one upstream text line.
pub(crate) fn text_line(text: &str) -> String {
    let json = serde_json::Value::from(text).to_string();
    let mut line = String::with_capacity(json.len() + 4);
    line.push(char::from(PARTICIPANT_A));
    line.push(char::from(TYPE_TEXT));
    line.push(char::from(TYPE_SEPARATOR));
    line.push_str(&json);
    line.push('\n');
    line
}

/// `ad:{"finishReason":"stop"}` and a newline.
pub(crate) fn finish_line() -> String {
    let json = serde_json::json!({ FINISH_REASON_KEY: FINISH_STOP }).to_string();
    format!(
        "{}{}{}{json}\n",
        char::from(PARTICIPANT_A),
        char::from(TYPE_FINISH),
        char::from(TYPE_SEPARATOR)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_core::arena::stream::{FinishReason, Participant, StreamEvent, StreamParser};

    #[test]
    fn immediate_answers_are_head_lines_finish_and_done() {
        let clock = Clock::new();
        let id = JobId(7);
        let parse = |frames: Vec<String>| -> Vec<TabMessage> {
            frames
                .iter()
                .map(|f| serde_json::from_str(f).unwrap())
                .collect()
        };
        let burst = parse(answer_frames(
            id,
            Behavior::Burst {
                lines: 3,
                gap: Duration::ZERO,
            },
            clock,
        ));
        assert_eq!(burst.len(), 6);
        assert!(matches!(
            &burst[0],
            TabMessage::Response { id: JobId(7), status: 200, headers }
                if headers.get(CONTENT_TYPE).map(String::as_str) == Some(EVENT_STREAM)
        ));
        for f in &burst[1..4] {
            let TabMessage::Chunk { data, .. } = f else {
                panic!("{f:?}")
            };
            assert!(
                data.starts_with("a0:\"t") && data.ends_with(" \"\n"),
                "{data}"
            );
        }
        assert_eq!(
            burst[4],
            TabMessage::Chunk {
                id,
                data: finish_line()
            }
        );
        assert_eq!(burst[5], TabMessage::Done { id });
        let held = parse(answer_frames(id, Behavior::Hold, clock));
        assert_eq!(held.len(), 2, "head and one line, no done: {held:?}");
    }

    #[test]
    fn answer_lines_parse_as_upstream_text_and_finish() {
        let mut parser = StreamParser::new(Participant::A);
        let mut events = parser.push(&text_line("t12 "));
        events.extend(parser.push(&finish_line()));
        events.extend(parser.finish());
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0], StreamEvent::Text("t12 ".to_owned()));
        assert!(matches!(
            events[1],
            StreamEvent::Finish {
                reason: FinishReason::Stop,
                ..
            }
        ));
    }
}
