//! Connectors: the adapters between Handläggarrobot and the systems around
//! it, behind small traits.
//!
//! * [`ApplicationSource`] — where applications come from (a folder, an
//!   e-service, a legacy case system, a database view).
//! * [`RegisterLookup`] — incomes and job-seeker status per person and
//!   period (SSBTEK-like).
//! * [`CaseWriteBack`] — an approved decision written back into the case
//!   system it came from.
//!
//! The contract every connector keeps is in `connectors/SPEC.md`.
//!
//! Every error says whether it is worth retrying ([`ConnectorError::is_retriable`]).
//! Error messages never contain personal data: they name the connector, the
//! operation and the item id, not what was inside.

use async_trait::async_trait;
use domain::{IncomeKind, Money, Outcome, Period, Personnummer};

pub mod delivery;
pub mod eservice;
pub mod field_map;
pub mod file_inbox;
pub mod file_register;
pub mod http;
pub mod legacy;
pub mod private;
pub mod sql_source;
pub mod ssbtek;

/// Whether trying again later can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The other side is down, slow or overloaded: try again later.
    Retriable,
    /// Trying again gives the same answer: bad data, bad configuration.
    Permanent,
    /// The item is not a document the source can hand over (a symbolic
    /// link, a folder, a file too large to be an application): the runtime
    /// records it as an invalid case and acknowledges it as rejected with
    /// the message (Swedish, no personal data) as the reason.
    Refused,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{connector}: {message}")]
pub struct ConnectorError {
    pub kind: ErrorKind,
    pub connector: String,
    pub message: String,
}

impl ConnectorError {
    pub fn retriable(connector: impl Into<String>, message: impl Into<String>) -> ConnectorError {
        ConnectorError {
            kind: ErrorKind::Retriable,
            connector: connector.into(),
            message: message.into(),
        }
    }

    pub fn permanent(connector: impl Into<String>, message: impl Into<String>) -> ConnectorError {
        ConnectorError {
            kind: ErrorKind::Permanent,
            connector: connector.into(),
            message: message.into(),
        }
    }

    /// An item that is not a document, to be filed away as rejected; see
    /// [`ErrorKind::Refused`]. `reason` is Swedish and names no person.
    pub fn refused(connector: impl Into<String>, reason: impl Into<String>) -> ConnectorError {
        ConnectorError {
            kind: ErrorKind::Refused,
            connector: connector.into(),
            message: reason.into(),
        }
    }

    pub fn is_retriable(&self) -> bool {
        self.kind == ErrorKind::Retriable
    }

    /// The item is to be filed away as rejected (see [`ErrorKind::Refused`]).
    pub fn is_refused(&self) -> bool {
        self.kind == ErrorKind::Refused
    }

    /// I/O errors: missing files and bad permissions are permanent, the
    /// rest (interrupted, timed out, out of space) worth retrying.
    pub fn from_io(connector: &str, what: &str, e: &std::io::Error) -> ConnectorError {
        use std::io::ErrorKind as K;
        let kind = match e.kind() {
            K::NotFound | K::PermissionDenied | K::InvalidData | K::InvalidInput => ErrorKind::Permanent,
            _ => ErrorKind::Retriable,
        };
        ConnectorError {
            kind,
            connector: connector.to_string(),
            message: format!("{what}: {}", e.kind()),
        }
    }
}

/// One item waiting in a source, by the source's own id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemRef {
    pub id: String,
}

/// What happened to an item, so the source can file it away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    /// Stored as a case (or recognised as one already stored).
    Accepted,
    /// Not an application we can read; the reason is kept beside it.
    Rejected { reason: String },
}

/// Where applications come from.
#[async_trait]
pub trait ApplicationSource: Send + Sync {
    /// A stable name for this source: the store keys cases on
    /// (source, external_id), so it must not change between runs.
    fn name(&self) -> &str;
    /// Items not yet acknowledged, oldest first, at most `limit`.
    async fn list_new(&self, limit: usize) -> Result<Vec<ItemRef>, ConnectorError>;
    /// The item's document, exactly as the source holds it. An item that
    /// is not a document at all gives a [`ErrorKind::Refused`] error; the
    /// runtime records it as an invalid case and acknowledges it as
    /// rejected, so nothing listed is skipped without a trace.
    async fn fetch(&self, item: &ItemRef) -> Result<Vec<u8>, ConnectorError>;
    /// Files the item away after it is safely stored. Must be idempotent.
    async fn acknowledge(&self, item: &ItemRef, ack: &Ack) -> Result<(), ConnectorError>;
    /// Cheap check that the source is reachable and looks as expected.
    async fn health(&self) -> Result<(), ConnectorError>;
}

/// One income a register reports for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterIncome {
    pub source: String,
    pub kind: IncomeKind,
    pub amount: Money,
}

/// A register's answer for one person and period.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersonAnswer {
    pub job_seeker: bool,
    pub incomes: Vec<RegisterIncome>,
}

/// Incomes and job-seeker status per person and period.
#[async_trait]
pub trait RegisterLookup: Send + Sync {
    fn name(&self) -> &str;
    async fn lookup(&self, person: &Personnummer, period: Period) -> Result<PersonAnswer, ConnectorError>;
    /// Like [`RegisterLookup::lookup`], naming the case the question is
    /// asked for (the application's `external_id`). Registers that record
    /// why they were asked (SSBTEK's `arendeidentitet`) send it.
    async fn lookup_for_case(
        &self,
        case_reference: &str,
        person: &Personnummer,
        period: Period,
    ) -> Result<PersonAnswer, ConnectorError> {
        let _ = case_reference;
        self.lookup(person, period).await
    }
    async fn health(&self) -> Result<(), ConnectorError>;
}

/// Identifies one delivery: the same key means the same delivery, so a
/// retry can be recognised (and not done twice) by the other side.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// 1–128 characters of `A–Z a–z 0–9 . _ : -`.
    pub fn new(key: impl Into<String>) -> Result<IdempotencyKey, ConnectorError> {
        let key = key.into();
        let ok = (1..=128).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if ok {
            Ok(IdempotencyKey(key))
        } else {
            Err(ConnectorError::permanent("idempotency", "malformed idempotency key"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the other side said it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The other side's reference (a Message-ID, a case system's note id).
    pub reference: String,
    /// Whether this call did it, or recognised an earlier delivery with the same key.
    pub already_done: bool,
}

/// An approved decision, as the case system records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteBack {
    /// The case's id in the case system (the application's `external_id`).
    pub external_id: String,
    pub period: Period,
    pub outcome: Outcome,
    /// Whole kronor; none for a case returned to manual handling.
    pub amount: Option<Money>,
    /// The decision text (Swedish) to store on the case.
    pub decision_text: String,
    /// Who decided (an official's user id, never a name).
    pub decided_by: String,
}

/// Writes approved decisions back into the case system.
#[async_trait]
pub trait CaseWriteBack: Send + Sync {
    fn name(&self) -> &str;
    /// Idempotent on `key`: a second call with the same key does not write
    /// a second decision.
    async fn write_back(&self, key: &IdempotencyKey, decision: &WriteBack) -> Result<Receipt, ConnectorError>;
    async fn health(&self) -> Result<(), ConnectorError>;
}
