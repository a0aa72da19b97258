//! Delivering decision letters: SMTP (lettre; STARTTLS or TLS, optional
//! authentication) and a maildir folder for the embedded default.
//!
//! Both are idempotent on the delivery's key: the SMTP message's
//! `Message-ID` is derived from it, so a retry after an uncertain failure
//! is recognisable by the receiving side as the same message, and the
//! maildir file is named after it, so a retry finds it already there.

use crate::{ConnectorError, IdempotencyKey, Receipt};
use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// A decision letter, ready to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Letter {
    /// Our reference, e.g. `case:42` (never personal data).
    pub case_ref: String,
    /// The recipient, when the case says where to send it; else the
    /// delivery's configured default.
    pub to: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub pdf: Option<Vec<u8>>,
    pub pdf_name: String,
}

impl std::fmt::Debug for Letter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Letter")
            .field("case_ref", &self.case_ref)
            .finish_non_exhaustive()
    }
}

/// Sends decision letters.
#[async_trait]
pub trait Delivery: Send + Sync {
    fn name(&self) -> &str;
    async fn deliver(&self, key: &IdempotencyKey, letter: &Letter) -> Result<Receipt, ConnectorError>;
    async fn health(&self) -> Result<(), ConnectorError>;
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain SMTP upgraded with STARTTLS (required).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// No encryption: only for a relay on the same machine or in tests.
    None,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub security: SmtpSecurity,
    /// Trust this CA (PEM) besides the public roots.
    pub ca: Option<PathBuf>,
    /// Environment variables with the login, if the server wants one.
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    /// `Socialtjänsten <beslut@kommun.se>`
    pub from: String,
    /// Where letters go when the case has no address (e.g. a digital-mail gateway).
    pub default_to: Option<String>,
    #[serde(default = "smtp_timeout")]
    pub timeout_seconds: u64,
}

fn smtp_port() -> u16 {
    587
}
fn smtp_timeout() -> u64 {
    30
}

const SMTP: &str = "smtp";

pub struct SmtpDelivery {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    default_to: Option<Mailbox>,
    domain: String,
}

impl std::fmt::Debug for SmtpDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpDelivery")
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

fn mailbox(connector: &str, s: &str, what: &str) -> Result<Mailbox, ConnectorError> {
    s.parse()
        .map_err(|_| ConnectorError::permanent(connector, format!("{what} is not an e-mail address")))
}

/// The message for a letter: the same bytes for the same key and letter.
fn message(
    from: &Mailbox,
    to: &Mailbox,
    domain: &str,
    key: &IdempotencyKey,
    letter: &Letter,
) -> Result<Message, ConnectorError> {
    let body = MultiPart::alternative_plain_html(letter.text.clone(), letter.html.clone());
    let body = match &letter.pdf {
        Some(pdf) => {
            let ct =
                ContentType::parse("application/pdf").map_err(|_| ConnectorError::permanent(SMTP, "content type"))?;
            MultiPart::mixed()
                .multipart(body)
                .singlepart(Attachment::new(letter.pdf_name.clone()).body(pdf.clone(), ct))
        }
        None => MultiPart::mixed()
            .multipart(body)
            .singlepart(SinglePart::plain(String::new())),
    };
    Message::builder()
        .from(from.clone())
        .to(to.clone())
        .subject(letter.subject.clone())
        .message_id(Some(format!("<{}@{domain}>", key.as_str())))
        .multipart(body)
        .map_err(|_| ConnectorError::permanent(SMTP, "cannot build the message"))
}

impl SmtpDelivery {
    pub fn new(cfg: &SmtpConfig) -> Result<SmtpDelivery, ConnectorError> {
        crate::http::install_crypto_provider();
        let from = mailbox(SMTP, &cfg.from, "from")?;
        let default_to = cfg
            .default_to
            .as_deref()
            .map(|t| mailbox(SMTP, t, "default_to"))
            .transpose()?;
        let domain = from.email.domain().to_string();
        let mut tls = TlsParameters::builder(cfg.host.clone());
        if let Some(ca) = &cfg.ca {
            let pem = std::fs::read(ca)
                .map_err(|e| ConnectorError::permanent(SMTP, format!("cannot read the CA file: {}", e.kind())))?;
            let cert =
                Certificate::from_pem(&pem).map_err(|_| ConnectorError::permanent(SMTP, "the CA file is not PEM"))?;
            tls = tls.add_root_certificate(cert);
        }
        let tls = tls
            .build_rustls()
            .map_err(|_| ConnectorError::permanent(SMTP, "cannot set up TLS"))?;
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            .port(cfg.port)
            .timeout(Some(Duration::from_secs(cfg.timeout_seconds.max(1))))
            .tls(match cfg.security {
                SmtpSecurity::Starttls => Tls::Required(tls),
                SmtpSecurity::Tls => Tls::Wrapper(tls),
                SmtpSecurity::None => Tls::None,
            });
        if let (Some(u), Some(p)) = (&cfg.username_env, &cfg.password_env) {
            let user = std::env::var(u).map_err(|_| ConnectorError::permanent(SMTP, format!("{u} is not set")))?;
            let pass = std::env::var(p).map_err(|_| ConnectorError::permanent(SMTP, format!("{p} is not set")))?;
            b = b.credentials(Credentials::new(user, pass));
        }
        Ok(SmtpDelivery {
            transport: b.build(),
            from,
            default_to,
            domain,
        })
    }
}

#[async_trait]
impl Delivery for SmtpDelivery {
    fn name(&self) -> &str {
        SMTP
    }

    async fn deliver(&self, key: &IdempotencyKey, letter: &Letter) -> Result<Receipt, ConnectorError> {
        let to = match &letter.to {
            Some(t) => mailbox(SMTP, t, "the recipient")?,
            None => self.default_to.clone().ok_or_else(|| {
                ConnectorError::permanent(SMTP, "no recipient: the case has none and default_to is not set")
            })?,
        };
        let msg = message(&self.from, &to, &self.domain, key, letter)?;
        match self.transport.send(msg).await {
            Ok(_) => Ok(Receipt {
                reference: format!("<{}@{}>", key.as_str(), self.domain),
                already_done: false,
            }),
            Err(e) if e.is_permanent() => Err(ConnectorError::permanent(
                SMTP,
                format!(
                    "the server refused the message permanently ({})",
                    e.status().map_or_else(|| "no code".to_string(), |c| c.to_string())
                ),
            )),
            Err(e) if e.is_timeout() => Err(ConnectorError::retriable(SMTP, "timed out")),
            // The cause IT needs: the server's code, or the innermost
            // error of the connection ("Connection refused (os error
            // 111)"); never the server's text, which may quote an address.
            Err(e) => {
                let cause = match (e.status(), innermost(&e)) {
                    (Some(code), _) => format!(" ({code})"),
                    (None, Some(io)) => format!(": {io}"),
                    (None, None) => String::new(),
                };
                Err(ConnectorError::retriable(
                    SMTP,
                    format!("the server is unreachable or refused the message for now{cause}"),
                ))
            }
        }
    }

    async fn health(&self) -> Result<(), ConnectorError> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            _ => Err(ConnectorError::retriable(SMTP, "the server does not answer")),
        }
    }
}

/// The innermost source of an error, if it has one.
fn innermost(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = e.source()?;
    while let Some(next) = cur.source() {
        cur = next;
    }
    Some(cur.to_string())
}

/// Letters written as files into a maildir (`new/`): the embedded default,
/// and a way for a print shop or an archive to pick them up.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MaildirConfig {
    pub path: PathBuf,
    pub from: String,
    pub default_to: String,
}

#[derive(Debug)]
pub struct MaildirDelivery {
    dir: PathBuf,
    from: Mailbox,
    default_to: Mailbox,
    domain: String,
}

const MAILDIR: &str = "maildir";

impl MaildirDelivery {
    pub fn new(cfg: &MaildirConfig) -> Result<MaildirDelivery, ConnectorError> {
        let from = mailbox(MAILDIR, &cfg.from, "from")?;
        let domain = from.email.domain().to_string();
        Ok(MaildirDelivery {
            dir: cfg.path.clone(),
            from,
            default_to: mailbox(MAILDIR, &cfg.default_to, "default_to")?,
            domain,
        })
    }

    fn file(&self, key: &IdempotencyKey) -> PathBuf {
        self.dir
            .join("new")
            .join(format!("{}.eml", key.as_str().replace(':', "_")))
    }
}

#[async_trait]
impl Delivery for MaildirDelivery {
    fn name(&self) -> &str {
        MAILDIR
    }

    async fn deliver(&self, key: &IdempotencyKey, letter: &Letter) -> Result<Receipt, ConnectorError> {
        let reference = format!("<{}@{}>", key.as_str(), self.domain);
        let path = self.file(key);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(Receipt {
                reference,
                already_done: true,
            });
        }
        let to = match &letter.to {
            Some(t) => mailbox(MAILDIR, t, "the recipient")?,
            None => self.default_to.clone(),
        };
        let bytes = message(&self.from, &to, &self.domain, key, letter)?.formatted();
        for sub in ["tmp", "new", "cur"] {
            crate::private::create_dir_all(&self.dir.join(sub))
                .await
                .map_err(|e| ConnectorError::from_io(MAILDIR, "create the maildir", &e))?;
        }
        // Write to tmp/, then rename into new/: readers never see half a letter.
        let tmp = self.dir.join("tmp").join(path.file_name().unwrap_or_default());
        // 0600: a letter carries the applicant's name and personnummer.
        crate::private::write(&tmp, &bytes)
            .await
            .map_err(|e| ConnectorError::from_io(MAILDIR, "write the letter", &e))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| ConnectorError::from_io(MAILDIR, "file the letter", &e))?;
        Ok(Receipt {
            reference,
            already_done: false,
        })
    }

    async fn health(&self) -> Result<(), ConnectorError> {
        crate::private::create_dir_all(&self.dir.join("new"))
            .await
            .map_err(|e| ConnectorError::from_io(MAILDIR, "the maildir", &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter() -> Letter {
        Letter {
            case_ref: "case:1".into(),
            to: None,
            subject: "Beslut om ekonomiskt bistånd".into(),
            text: "Du beviljas 9 750 kr.".into(),
            html: "<p>Du beviljas 9&nbsp;750 kr.</p>".into(),
            pdf: Some(b"%PDF-1.4 test".to_vec()),
            pdf_name: "beslut.pdf".into(),
        }
    }

    #[tokio::test]
    async fn a_maildir_delivery_happens_once_per_key() {
        let dir = tempfile::tempdir().unwrap();
        let d = MaildirDelivery::new(&MaildirConfig {
            path: dir.path().to_path_buf(),
            from: "Socialtjänsten <beslut@exempelkommun.se>".into(),
            default_to: "arkiv@exempelkommun.se".into(),
        })
        .unwrap();
        d.health().await.unwrap();
        let key = IdempotencyKey::new("case:1:delivery:1").unwrap();
        let r1 = d.deliver(&key, &letter()).await.unwrap();
        let r2 = d.deliver(&key, &letter()).await.unwrap();
        assert!(!r1.already_done && r2.already_done);
        assert_eq!(r1.reference, "<case:1:delivery:1@exempelkommun.se>");
        let files: Vec<_> = std::fs::read_dir(dir.path().join("new")).unwrap().collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
        assert!(
            text.contains("Message-ID: <case:1:delivery:1@exempelkommun.se>"),
            "{text}"
        );
        assert!(text.contains("application/pdf"));
        assert!(std::fs::read_dir(dir.path().join("tmp")).unwrap().next().is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(
                mode(&files[0].as_ref().unwrap().path()),
                0o600,
                "a letter is the service's alone"
            );
            for sub in ["tmp", "new", "cur"] {
                assert_eq!(mode(&dir.path().join(sub)), 0o700);
            }
        }
    }
}
