//! One error type for the API and one for the pages. A 4xx carries a safe
//! Swedish message and (in the API) a stable code; a 5xx says only that
//! something went wrong, with an incident number, and is logged once with
//! its whole cause chain under that number.

use crate::store::StoreError;
use crate::web::approval_core::ApprovalError;
use askama::Template;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// What went wrong, for either surface.
#[derive(Debug)]
pub enum Failure {
    BadRequest(String),
    Unauthenticated,
    Forbidden {
        code: &'static str,
        message: String,
    },
    NotFound,
    Conflict {
        code: &'static str,
        message: String,
    },
    Invalid(String),
    TooManyRequests {
        retry_after_secs: i64,
    },
    /// A system we depend on cannot be reached (503), e.g. the identity provider.
    Unavailable {
        code: &'static str,
        message: String,
    },
    Internal(anyhow::Error),
}

impl Failure {
    fn status(&self) -> StatusCode {
        match self {
            Failure::BadRequest(_) => StatusCode::BAD_REQUEST,
            Failure::Unauthenticated => StatusCode::UNAUTHORIZED,
            Failure::Forbidden { .. } => StatusCode::FORBIDDEN,
            Failure::NotFound => StatusCode::NOT_FOUND,
            Failure::Conflict { .. } => StatusCode::CONFLICT,
            Failure::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Failure::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Failure::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Failure::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Failure::BadRequest(_) => "bad_request",
            Failure::Unauthenticated => "unauthenticated",
            Failure::Forbidden { code, .. } | Failure::Conflict { code, .. } | Failure::Unavailable { code, .. } => {
                code
            }
            Failure::NotFound => "not_found",
            Failure::Invalid(_) => "invalid",
            Failure::TooManyRequests { .. } => "too_many_requests",
            Failure::Internal(_) => "internal",
        }
    }

    /// A failure the official can act on, shown on the page they were on
    /// (status and message); `None` for the rest (an error page).
    pub fn shown_in_place(&self) -> Option<(StatusCode, String)> {
        match self {
            Failure::Invalid(_) | Failure::BadRequest(_) | Failure::Conflict { .. } | Failure::Forbidden { .. } => {
                Some((self.status(), self.message()))
            }
            _ => None,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Failure::BadRequest(m) | Failure::Invalid(m) => m.clone(),
            Failure::Unauthenticated => "Du är inte inloggad, eller inloggningen har gått ut.".into(),
            Failure::Forbidden { message, .. }
            | Failure::Conflict { message, .. }
            | Failure::Unavailable { message, .. } => message.clone(),
            Failure::NotFound => "Sidan eller ärendet finns inte.".into(),
            Failure::TooManyRequests { retry_after_secs } if *retry_after_secs < 60 => format!(
                "För många misslyckade inloggningar. Försök igen om {} sekunder.",
                retry_after_secs.max(&1)
            ),
            Failure::TooManyRequests { retry_after_secs } => format!(
                "För många misslyckade inloggningar. Försök igen om {} minuter.",
                (retry_after_secs + 59) / 60
            ),
            Failure::Internal(_) => "Ett internt fel inträffade.".into(),
        }
    }

    /// Logs a 5xx once, with an incident number to quote.
    fn incident(&self) -> Option<String> {
        let Failure::Internal(e) = self else { return None };
        let mut id = [0u8; 4];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut id);
        let id = hex::encode(id);
        tracing::error!(incident = %id, error = format!("{e:#}"), "request failed");
        Some(id)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        match e {
            StoreError::NotFound(_) => Failure::NotFound,
            other => Failure::Internal(other.into()),
        }
    }
}

impl From<ApprovalError> for Failure {
    fn from(e: ApprovalError) -> Failure {
        match e {
            ApprovalError::Forbidden(m) => Failure::Forbidden {
                code: "forbidden",
                message: m,
            },
            ApprovalError::ConflictOfInterest => Failure::Forbidden {
                code: "conflict_of_interest",
                message: "Du kan inte fatta beslut i ett ärende där du själv ingår i hushållet (jäv).".into(),
            },
            ApprovalError::SameApprover => Failure::Forbidden {
                code: "same_approver",
                message: "Beslutet kräver en andra handläggare: du har redan godkänt det.".into(),
            },
            ApprovalError::NotAwaitingApproval => Failure::Conflict {
                code: "not_awaiting_approval",
                message: "Ärendet väntar inte på beslut (någon annan kan just ha beslutat).".into(),
            },
            ApprovalError::Invalid(m) => Failure::Invalid(m),
            e @ ApprovalError::KommuniceringNeeded => Failure::Invalid(e.to_string()),
            ApprovalError::Letter(m) => Failure::Internal(anyhow::anyhow!("the decision letter: {m}")),
            ApprovalError::Store(e) => e.into(),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::Internal(e)
    }
}

/// An error of the JSON API: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug)]
pub struct ApiError(pub Failure);

impl<E: Into<Failure>> From<E> for ApiError {
    fn from(e: E) -> ApiError {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let f = self.0;
        let status = f.status();
        let mut body = serde_json::json!({"error": {"code": f.code(), "message": f.message()}});
        if let Some(id) = f.incident() {
            body["error"]["incident"] = serde_json::Value::String(id);
        }
        let mut res = (status, Json(body)).into_response();
        if let Failure::TooManyRequests { retry_after_secs } = f
            && let Ok(v) = retry_after_secs.max(1).to_string().parse()
        {
            res.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: &'static str,
    message: String,
    incident: Option<String>,
}

/// An error page of the web UI.
#[derive(Debug)]
pub struct WebError(pub Failure);

impl<E: Into<Failure>> From<E> for WebError {
    fn from(e: E) -> WebError {
        WebError(e.into())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let f = self.0;
        let status = f.status();
        let title = match (f.code(), status) {
            // Single sign-on has its own pages, whatever the status.
            ("sso_unavailable", _) => "Kommunens inloggning går inte att nå",
            (code, _) if code.starts_with("sso_") => "Inloggningen misslyckades",
            (_, StatusCode::SERVICE_UNAVAILABLE) => "Tjänsten går inte att nå",
            (_, status) => match status {
                StatusCode::FORBIDDEN => "Åtkomst nekad",
                StatusCode::NOT_FOUND => "Hittades inte",
                StatusCode::CONFLICT => "Ärendet har ändrats",
                StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => "Uppgifterna behöver rättas",
                StatusCode::TOO_MANY_REQUESTS => "För många försök",
                StatusCode::UNAUTHORIZED => "Inte inloggad",
                _ => "Något gick fel",
            },
        };
        let page = ErrorPage {
            title,
            message: f.message(),
            incident: f.incident(),
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, title).into_response(),
        }
    }
}

pub async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError(Failure::NotFound).into_response()
    } else {
        WebError(Failure::NotFound).into_response()
    }
}
