//! Reading the server-sent events of a streamed answer.

/// Parses an SSE body into its `data:` payloads (comments skipped).
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| {
            let lines: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            (!lines.is_empty()).then(|| lines.join("\n"))
        })
        .collect()
}
