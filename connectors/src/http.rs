//! HTTP clients for connectors: rustls with the *ring* provider (no
//! OpenSSL, no C toolchain beyond ring's), an optional extra CA, optional
//! client certificates (mutual TLS), and timeouts on everything.

use crate::ConnectorError;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Installs ring as rustls' process-wide crypto provider (once; harmless
/// if another part of the process already installed one).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[derive(Debug, Clone, Default, serde::Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// Trust this CA (PEM) for the server, besides the system's roots.
    pub ca: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS.
    pub client_cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS. A secret: keep it 0600.
    pub client_key: Option<PathBuf>,
}

fn read(connector: &str, what: &str, p: &Path) -> Result<Vec<u8>, ConnectorError> {
    std::fs::read(p).map_err(|e| {
        ConnectorError::permanent(
            connector,
            format!("cannot read the {what} file {}: {}", p.display(), e.kind()),
        )
    })
}

/// A client with the connector's TLS settings and timeouts.
pub fn client(
    connector: &str,
    tls: &TlsSettings,
    connect: Duration,
    total: Duration,
) -> Result<reqwest::Client, ConnectorError> {
    install_crypto_provider();
    let mut b = reqwest::Client::builder()
        .connect_timeout(connect)
        .timeout(total)
        .user_agent(concat!("hrobot/", env!("CARGO_PKG_VERSION")))
        .tls_backend_rustls();
    if let Some(ca) = &tls.ca {
        let pem = read(connector, "CA", ca)?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|_| ConnectorError::permanent(connector, "the CA file is not PEM"))?
        {
            b = b.tls_certs_merge([cert]);
        }
    }
    match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let mut pem = read(connector, "client certificate", cert)?;
            pem.push(b'\n');
            pem.extend(read(connector, "client key", key)?);
            let id = reqwest::Identity::from_pem(&pem)
                .map_err(|_| ConnectorError::permanent(connector, "the client certificate or key is not valid PEM"))?;
            b = b.identity(id);
        }
        (None, None) => {}
        _ => {
            return Err(ConnectorError::permanent(
                connector,
                "mutual TLS needs both client_cert and client_key",
            ));
        }
    }
    b.build()
        .map_err(|e| ConnectorError::permanent(connector, format!("cannot build the HTTP client: {e}")))
}

/// Classifies a transport error.
pub fn transport_error(connector: &str, operation: &str, e: &reqwest::Error) -> ConnectorError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_decode() || e.is_body() {
        "the answer could not be read"
    } else {
        "the request failed"
    };
    if e.is_decode() {
        ConnectorError::permanent(connector, format!("{operation}: {what}"))
    } else {
        // The cause IT needs ("Connection refused (os error 111)", "invalid
        // peer certificate: UnknownIssuer"): the innermost error, which
        // names no URL (the outer one does). Never for a body that could
        // not be read, whose causes may quote what was sent.
        match root_cause(e).filter(|_| !e.is_body()) {
            Some(cause) => ConnectorError::retriable(connector, format!("{operation}: {what}: {cause}")),
            None => ConnectorError::retriable(connector, format!("{operation}: {what}")),
        }
    }
}

/// The innermost source of a transport error, if it has one.
fn root_cause(e: &reqwest::Error) -> Option<String> {
    let mut cur: &dyn std::error::Error = std::error::Error::source(e)?;
    while let Some(next) = cur.source() {
        cur = next;
    }
    Some(cur.to_string())
}

/// Classifies an HTTP status that is not success.
pub fn status_error(connector: &str, operation: &str, status: reqwest::StatusCode) -> ConnectorError {
    let msg = format!("{operation}: HTTP {}", status.as_u16());
    if status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
    {
        ConnectorError::retriable(connector, msg)
    } else {
        ConnectorError::permanent(connector, msg)
    }
}
