//! A request id for every HTTP request: taken from a well-formed incoming
//! `X-Request-Id` (a proxy's), else made here; put in the `http_request`
//! span, so every log line of the request carries it, and returned in the
//! response's `X-Request-Id`. One small layer, separate from the others on
//! the router (`http::router` adds it last, outermost).

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";

/// Whether an incoming id may be used: 1–64 characters of letters, digits,
/// `-`, `_`, `.` and `:`. Anything else (a header stuffed with text, an
/// attempt to forge log lines) is replaced by a fresh id.
pub fn well_formed(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A fresh id: 16 random bytes as hex.
pub fn fresh() -> String {
    hex::encode(audit::event::EventId::random().0)
}

/// The middleware (`axum::middleware::from_fn(request_id::layer)`).
pub async fn layer(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| well_formed(v))
        .map_or_else(fresh, str::to_string);
    if let Ok(v) = HeaderValue::from_str(&id) {
        // Handlers see the id that is logged and returned.
        req.headers_mut().insert(HEADER, v);
    }
    // No path: a path may name a case; the id joins the request's lines.
    let span = tracing::info_span!("http_request", request_id = %id, method = %req.method());
    let mut resp = next.run(req).instrument(span).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(HEADER, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_short_ids_are_taken() {
        assert!(well_formed("3f2a-01"));
        assert!(well_formed("req_1.2:3"));
        assert!(!well_formed(""));
        assert!(!well_formed(&"a".repeat(65)));
        assert!(!well_formed("a b"));
        assert!(!well_formed("a\"}\n{\"level\":\"ERROR\""));
        assert!(!well_formed("199001011234 Anna"));
        assert_eq!(fresh().len(), 32);
        assert_ne!(fresh(), fresh());
    }
}
