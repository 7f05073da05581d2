//! Throughput of `arena::stream::StreamParser` on a realistic answer of more than 10 MB: short
//! deltas as upstream sends them (mostly `a0:"word "`, some with escapes, CJK and emoji, a
//! reasoning block first, a finish line last), fed in chunks of about 4 KiB.
//!
//! Run: `cargo bench -p bridge-core --bench stream_parser -- --warm-up-time 1 --measurement-time 5`

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bridge_core::arena::stream::{Participant, StreamEvent, StreamParser};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const TARGET_BYTES: usize = 10 * 1024 * 1024 + 1;
const CHUNK_BYTES: usize = 4096;

const WORDS: &[&str] = &[
    "the ", "model ", "answer ", "is ", "a ", "stream ", "of ", "short ", "deltas, ", "each ",
    "one ", "line. ", "Rust ", "parser ", "fast ", "and ", "it ", "should ", "keep ", "up ",
    "with ", "tokens ", "from ", "LMArena ", "today. ", "Hello ", "there! ", "How ", "can ", "I ",
    "help ", "you ",
];

/// Text lines (`a0:`) of the constructed fixtures: escapes, CJK, emoji escapes.
fn fixture_text_lines() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/upstream");
    let mut lines = Vec::new();
    for name in ["escapes.txt", "cjk_emoji.txt", "reasoning_then_text.txt"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        lines.extend(
            text.lines()
                .filter(|l| l.starts_with("a0:"))
                .map(str::to_owned),
        );
    }
    if lines.is_empty() {
        lines.push(r#"a0:"fallback \"escaped\" \u4f60\u597d \ud83d\ude00\n""#.to_owned());
    }
    lines
}

/// The transcript and its number of lines.
fn transcript() -> (String, u64) {
    let special = fixture_text_lines();
    let mut out = String::with_capacity(TARGET_BYTES + 4096);
    let mut lines = 0u64;
    let mut i = 0usize;
    // A reasoning block first, as reasoning models send it.
    while lines < 20_000 {
        out.push_str("ag:\"");
        out.push_str(WORDS[i % WORDS.len()]);
        out.push_str("\"\n");
        lines += 1;
        i += 1;
    }
    while out.len() < TARGET_BYTES {
        if i.is_multiple_of(97) {
            out.push_str(&special[(i / 97) % special.len()]);
            out.push('\n');
        } else if i.is_multiple_of(41) {
            out.push_str("a0:\"你好，世界 \"\n");
        } else {
            out.push_str("a0:\"");
            out.push_str(WORDS[i % WORDS.len()]);
            out.push_str("\"\n");
        }
        lines += 1;
        i += 1;
    }
    out.push_str("ad:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":1200,\"completionTokens\":900000}}\n");
    lines += 1;
    (out, lines)
}

/// Splits at the first char boundary at or after every `CHUNK_BYTES`.
fn chunks(text: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(text.len() / CHUNK_BYTES + 1);
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + CHUNK_BYTES).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        out.push(&text[start..end]);
        start = end;
    }
    out
}

/// Parses the whole transcript; returns the number of events.
fn parse_all(chunks: &[&str]) -> usize {
    let mut parser = StreamParser::new(Participant::A);
    let mut events: Vec<StreamEvent> = Vec::with_capacity(1024);
    let mut count = 0;
    for chunk in chunks {
        parser.push_into(chunk, &mut events);
        count += events.len();
        events.clear();
    }
    parser.finish_into(&mut events);
    count + events.len()
}

fn bench(c: &mut Criterion) {
    let (text, lines) = transcript();
    let chunks = chunks(&text);
    let bytes = text.len() as u64;

    // Sanity: every line is an event (text, reasoning or finish); nothing was skipped.
    let events = parse_all(&chunks) as u64;
    assert_eq!(events, lines, "every benchmark line must parse");

    // A direct lines/s figure next to criterion's bytes/s.
    let mut best = Duration::MAX;
    for _ in 0..10 {
        let start = Instant::now();
        black_box(parse_all(black_box(&chunks)));
        best = best.min(start.elapsed());
    }
    let secs = best.as_secs_f64();
    println!(
        "stream_parser: {:.1} MB, {} lines ({:.1} bytes/line), {} chunks; best of 10: {:.2} ms \
         = {:.1} M lines/s, {:.0} MB/s",
        bytes as f64 / 1e6,
        lines,
        bytes as f64 / lines as f64,
        chunks.len(),
        secs * 1e3,
        lines as f64 / secs / 1e6,
        bytes as f64 / secs / 1e6,
    );

    let mut group = c.benchmark_group("stream_parser");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("bytes_4k_chunks", |b| {
        b.iter(|| parse_all(black_box(&chunks)))
    });
    group.throughput(Throughput::Elements(lines));
    group.bench_function("lines_4k_chunks", |b| {
        b.iter(|| parse_all(black_box(&chunks)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
