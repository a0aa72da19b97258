//! An e-service platform's REST inbox: list submitted errands (paged), fetch
//! one, map the platform's form fields to our application schema with a
//! declarative [`FieldMap`], and acknowledge after the case is stored.
//!
//! Authentication: a bearer token (from an environment variable or a file,
//! never the configuration itself), or mutual TLS, or both.

use crate::field_map::FieldMap;
use crate::http::{TlsSettings, client, status_error, transport_error};
use crate::{Ack, ApplicationSource, ConnectorError, ItemRef};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

const NAME: &str = "eservice";

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EserviceConfig {
    /// The platform's base URL, e.g. `https://etjanster.kommun.se`.
    pub base_url: String,
    /// The environment variable holding the bearer token.
    pub token_env: Option<String>,
    /// Or a file holding it (mode 0600).
    pub token_file: Option<PathBuf>,
    #[serde(default)]
    pub tls: TlsSettings,
    /// The field map (TOML) from the platform's errands to our schema.
    pub field_map: PathBuf,
    #[serde(default = "page_size")]
    pub page_size: usize,
    #[serde(default = "timeout")]
    pub timeout_seconds: u64,
}

fn page_size() -> usize {
    50
}
fn timeout() -> u64 {
    20
}

/// The bearer token: kept out of `Debug`.
#[derive(Clone)]
struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[derive(Debug)]
pub struct EserviceSource {
    name: String,
    base: String,
    token: Option<Token>,
    http: reqwest::Client,
    map: FieldMap,
    page_size: usize,
}

impl EserviceSource {
    /// `name` identifies the source in the store (the robot's name).
    pub fn new(name: impl Into<String>, cfg: &EserviceConfig) -> Result<EserviceSource, ConnectorError> {
        let token = match (&cfg.token_env, &cfg.token_file) {
            (Some(var), _) => Some(Token(std::env::var(var).map_err(|_| {
                ConnectorError::permanent(
                    NAME,
                    format!("the environment variable {var} (the bearer token) is not set"),
                )
            })?)),
            (None, Some(file)) => Some(Token(
                std::fs::read_to_string(file)
                    .map_err(|e| ConnectorError::permanent(NAME, format!("cannot read the token file: {}", e.kind())))?
                    .trim()
                    .to_string(),
            )),
            (None, None) => None,
        };
        if token.is_none() && cfg.tls.client_cert.is_none() {
            return Err(ConnectorError::permanent(
                NAME,
                "configure a bearer token (token_env or token_file) or mutual TLS",
            ));
        }
        let map_text = std::fs::read_to_string(&cfg.field_map).map_err(|e| {
            ConnectorError::permanent(
                NAME,
                format!("cannot read the field map {}: {}", cfg.field_map.display(), e.kind()),
            )
        })?;
        let map: FieldMap = toml::from_str(&map_text)
            .map_err(|e| ConnectorError::permanent(NAME, format!("the field map {}: {e}", cfg.field_map.display())))?;
        let t = Duration::from_secs(cfg.timeout_seconds.max(1));
        Ok(EserviceSource {
            name: name.into(),
            base: cfg.base_url.trim_end_matches('/').to_string(),
            token,
            http: client(NAME, &cfg.tls, t.min(Duration::from_secs(10)), t)?,
            map,
            page_size: cfg.page_size.clamp(1, 100),
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(&t.0),
            None => r,
        }
    }

    async fn json(&self, operation: &str, r: reqwest::RequestBuilder) -> Result<Value, ConnectorError> {
        let resp = r.send().await.map_err(|e| transport_error(NAME, operation, &e))?;
        if !resp.status().is_success() {
            return Err(status_error(NAME, operation, resp.status()));
        }
        let bytes = resp.bytes().await.map_err(|e| transport_error(NAME, operation, &e))?;
        serde_json::from_slice(&bytes)
            .map_err(|_| ConnectorError::permanent(NAME, format!("{operation}: the answer is not JSON")))
    }

    fn item_id(id: &str) -> Result<&str, ConnectorError> {
        let ok =
            !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b));
        if ok {
            Ok(id)
        } else {
            Err(ConnectorError::permanent(
                NAME,
                "an errand id has characters a URL path cannot carry",
            ))
        }
    }
}

#[async_trait]
impl ApplicationSource for EserviceSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn list_new(&self, limit: usize) -> Result<Vec<ItemRef>, ConnectorError> {
        let mut out = Vec::new();
        let mut page = 1;
        while out.len() < limit {
            let per_page = self.page_size.min(limit - out.len()).max(1);
            let v = self
                .json(
                    "list errands",
                    self.request(reqwest::Method::GET, "/api/v1/errands").query(&[
                        ("status", "submitted"),
                        ("page", &page.to_string()),
                        ("per_page", &per_page.to_string()),
                    ]),
                )
                .await?;
            let Some(items) = v["errands"].as_array() else {
                return Err(ConnectorError::permanent(
                    NAME,
                    "list errands: no `errands` list in the answer",
                ));
            };
            for e in items {
                match e["id"].as_str() {
                    Some(id) => out.push(ItemRef {
                        id: Self::item_id(id)?.to_string(),
                    }),
                    None => return Err(ConnectorError::permanent(NAME, "list errands: an errand without an id")),
                }
            }
            let total = v["total"].as_u64().unwrap_or(0) as usize;
            if items.is_empty() || page * per_page >= total {
                break;
            }
            page += 1;
        }
        out.truncate(limit);
        Ok(out)
    }

    /// The errand mapped to our schema. A field the map cannot fill is left
    /// out, so the application is refused with that field's pointer and
    /// becomes an invalid case officials can see — nothing is dropped.
    async fn fetch(&self, item: &ItemRef) -> Result<Vec<u8>, ConnectorError> {
        let id = Self::item_id(&item.id)?;
        let errand = self
            .json(
                "fetch errand",
                self.request(reqwest::Method::GET, &format!("/api/v1/errands/{id}")),
            )
            .await?;
        let (doc, problems) = self.map.apply_lenient(&errand);
        if !problems.is_empty() {
            tracing::warn!(connector = NAME, item = %id, unmapped = problems.len(), "fields the map could not fill; the application will be invalid");
        }
        serde_json::to_vec(&doc).map_err(|_| ConnectorError::permanent(NAME, "cannot encode the mapped application"))
    }

    async fn acknowledge(&self, item: &ItemRef, ack: &Ack) -> Result<(), ConnectorError> {
        let id = Self::item_id(&item.id)?;
        let body = match ack {
            Ack::Accepted => json!({"status": "received"}),
            Ack::Rejected { reason } => json!({"status": "rejected", "message": reason}),
        };
        let resp = self
            .request(reqwest::Method::POST, &format!("/api/v1/errands/{id}/acknowledge"))
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(NAME, "acknowledge", &e))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(status_error(NAME, "acknowledge", resp.status()))
        }
    }

    async fn health(&self) -> Result<(), ConnectorError> {
        self.json(
            "health",
            self.request(reqwest::Method::GET, "/api/v1/errands")
                .query(&[("status", "submitted"), ("per_page", "1")]),
        )
        .await
        .map(|_| ())
    }
}
