//! The service's HTTP side: health, readiness and metrics. The approval UI
//! and API mount on the same router.

use crate::runtime::Runtime;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone)]
pub struct AppState {
    pub runtime: Arc<Runtime>,
    /// Cleared when shutdown starts, so load balancers stop sending work.
    pub ready: Arc<AtomicBool>,
}

pub fn router(state: AppState) -> Router {
    let rt = &state.runtime;
    let web = crate::web::router(crate::web::WebContext {
        settings: rt.settings.clone(),
        store: rt.store.clone(),
        clock: rt.clock.clone(),
        metrics: rt.metrics.clone(),
    });
    let counted = rt.metrics.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .merge(web)
        .layer(axum::middleware::from_fn_with_state(
            counted,
            crate::observe::track_http,
        ))
        // Outermost: every request's lines carry its request id.
        .layer(axum::middleware::from_fn(crate::request_id::layer))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<AppState>) -> Response {
    if !s.ready.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match s.runtime.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            let text = crate::error_text::of(&e);
            if let Some(r) = crate::repeats::global().admit("readiness", &text) {
                tracing::warn!(error = %text, repeated = r.repeated, "readiness check failed{r}");
            }
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

async fn metrics(State(s): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let rt = &s.runtime;
    crate::observe::refresh(rt).await;
    if let Ok(states) = rt.store.count_by_state().await {
        for state in domain::CaseState::ALL {
            let n = states.iter().find(|(st, _)| st == state).map_or(0, |(_, n)| *n);
            rt.metrics
                .cases
                .get_or_create(&crate::metrics::StateLabels {
                    state: state.as_str().into(),
                })
                .set(n);
        }
    }
    if let Ok(n) = rt.store.count_open_work().await {
        rt.metrics.open_work.set(n);
    }
    // OpenMetrics for those who ask (Prometheus does), else the classic text format.
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if !openmetrics {
        return (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            rt.metrics.render_text(),
        )
            .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        rt.metrics.render(),
    )
        .into_response()
}
