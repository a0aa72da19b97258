//! Audit events and their canonical leaf encoding.
//!
//! The runtime builds an [`Event`]: what happened (kind), to which case,
//! by whom, when, under which ruleset, with a public payload and with
//! personal data given per data subject. On append the personal data is
//! sealed per subject ([`crate::crypto`]) and the event becomes a
//! [`LeafEvent`], whose bytes are the Merkle leaf.
//!
//! # Leaf format, version 1
//!
//! All integers big-endian; `str8` is a one-byte length and UTF-8 bytes;
//! `bytes32` is a four-byte length and the bytes.
//!
//! ```text
//! u8      format            = 0x01
//! u64     seq               sequence number = leaf index
//! [16]    event id          random
//! str8    kind              "fetched" | "evaluated" | … | "erased"
//! str8    case reference    empty = none
//! str8    actor             an identifier (never a name)
//! i64     time              microseconds since 1970-01-01T00:00:00Z
//! u8      ruleset flag      0 = none, 1 = a 32-byte SHA-256 follows
//! [32]    ruleset hash      (only if the flag is 1)
//! bytes32 payload           canonical JSON: sorted keys, no whitespace, no floats
//! u16     sealed parts      then for each, in the order given:
//!   [32]    subject id      HMAC of the personnummer (keyed, see crypto)
//!   [16]    subject key id
//!   [24]    nonce           XChaCha20-Poly1305
//!   bytes32 ciphertext      canonical JSON of the personal data, sealed
//! ```
//!
//! Decoding is strict: a leaf is accepted only if encoding what was decoded
//! gives back exactly the same bytes, so each event has one encoding.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use domain::Personnummer;
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

pub const LEAF_FORMAT_V1: u8 = 1;
/// The most bytes a public payload or one subject's personal data may take
/// in canonical JSON.
pub const MAX_JSON_BYTES: usize = 256 * 1024;
/// The most data subjects one event may carry personal data for.
pub const MAX_SUBJECTS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("unknown event kind")]
    UnknownKind,
    #[error("invalid case reference: 1–128 characters of A–Z a–z 0–9 . _ : / -")]
    CaseRef,
    #[error("invalid actor: 1–128 characters of A–Z a–z 0–9 . _ : / @ -")]
    Actor,
    #[error("invalid ruleset hash: expected sha256: and 64 hex digits")]
    RulesetHash,
    #[error("floating-point numbers are not allowed in audit events (money is integer öre)")]
    Float,
    #[error("{0} looks like it contains a personnummer; personal data goes in the sealed part")]
    PersonalDataInClear(&'static str),
    #[error("JSON too large for an audit event")]
    TooLarge,
    #[error("too many data subjects in one event")]
    TooManySubjects,
    #[error("the same data subject appears twice in one event")]
    DuplicateSubject,
    #[error("the time is outside the range an audit event can carry")]
    Time,
    #[error("malformed leaf: {0}")]
    Malformed(&'static str),
    #[error("leaf is not in canonical form")]
    NonCanonical,
}

macro_rules! kinds {
    ($($variant:ident => $text:literal, $doc:literal;)+) => {
        /// What happened. The database stores the same names.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventKind { $(#[doc = $doc] $variant,)+ }

        impl EventKind {
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant),+];
            pub const fn as_str(self) -> &'static str {
                match self { $(EventKind::$variant => $text),+ }
            }
        }

        impl FromStr for EventKind {
            type Err = EventError;
            fn from_str(s: &str) -> Result<EventKind, EventError> {
                match s { $($text => Ok(EventKind::$variant),)+ _ => Err(EventError::UnknownKind) }
            }
        }
    };
}

kinds! {
    Fetched => "fetched", "An application was fetched from a source.";
    Evaluated => "evaluated", "Rules were evaluated for a case.";
    Drafted => "drafted", "A draft decision was stored for approval.";
    Approved => "approved", "An official approved a decision.";
    Amended => "amended", "An official amended a draft, with a reason.";
    Returned => "returned", "A case was sent to manual handling.";
    Sent => "sent", "A decision was delivered.";
    Invalid => "invalid", "A fetched document was not a valid application.";
    Failed => "failed", "Processing a case failed for good (surfaced to IT).";
    Requeued => "requeued", "An operator sent a failed case through the pipeline again.";
    Closed => "closed", "A case was closed.";
    Assigned => "assigned", "A case was assigned to an official, or unassigned.";
    Commented => "commented", "An official commented on a case.";
    KommuniceringSent => "kommunicering_sent", "An official sent the applicant the facts to comment on (FL 25 §), with a reply deadline.";
    KommuniceringAnswered => "kommunicering_answered", "The applicant's reply to a kommunicering was recorded.";
    KommuniceringExpired => "kommunicering_expired", "A kommunicering's reply deadline passed without a reply.";
    LetterSent => "letter_sent", "A letter that is not a decision (a kommuniceringsbrev) was delivered.";
    CaseRead => "case_read", "An official read a case (page, API, letter or export): the access log.";
    Login => "login", "An official signed in (password or single sign-on).";
    LoginFailed => "login_failed", "A sign-in failed (wrong password, unknown or disabled user).";
    LoginThrottled => "login_throttled", "Sign-ins were refused for a while after repeated failures (per account and address, or per address).";
    UserAdded => "user_added", "An administrator (or the CLI) added a user.";
    UserChanged => "user_changed", "A user's status, name, title, delegation or identity was changed.";
    RoleRequested => "role_requested", "An administrator asked for a role to be given; a deciding or administering role waits for a second administrator.";
    RoleGranted => "role_granted", "A role was given to a user (by a second administrator, or from the identity provider's groups).";
    RoleRefused => "role_refused", "A requested role was refused or withdrawn.";
    RoleRemoved => "role_removed", "A role was taken from a user.";
    RobotChanged => "robot_changed", "An administrator paused or resumed a robot.";
    Resubmitted => "resubmitted", "An application came again under a known external id with different content: a new version for a person.";
    RulesetPublished => "ruleset_published", "A ruleset version (its files and content hash) was stored, by a rule author or from a robot's configured folder.";
    ActivationRequested => "activation_requested", "A rule author asked for a ruleset version to become active for a casework type from a date.";
    ActivationApproved => "activation_approved", "A second person (regelförfattare or administratör) approved an activation: the version is used from its date.";
    ActivationRefused => "activation_refused", "An activation request was refused by a second person or withdrawn by the one who asked.";
    ShadowRun => "shadow_run", "A candidate ruleset was evaluated over stored cases and compared with their drafts (nothing changed).";
    CaseReplayed => "case_replayed", "A case was evaluated again with its own ruleset version and stored inputs, and compared with its stored draft.";
    Erased => "erased", "A data subject's key was deleted (gallring); only `erase` makes this one.";
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn valid_id(s: &str, extra: &[u8]) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b) || extra.contains(&b))
}

/// A case reference (an id, never a personnummer).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CaseRef(String);

impl CaseRef {
    pub fn parse(s: &str) -> Result<CaseRef, EventError> {
        if !valid_id(s, b"") {
            return Err(EventError::CaseRef);
        }
        if contains_personnummer(s) {
            return Err(EventError::PersonalDataInClear("the case reference"));
        }
        Ok(CaseRef(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CaseRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who did it: a robot's or an official's identifier, e.g.
/// `robot:ekonomiskt-bistand` or `user:k123`. Never a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Actor(String);

impl Actor {
    pub fn parse(s: &str) -> Result<Actor, EventError> {
        if !valid_id(s, b"@") {
            return Err(EventError::Actor);
        }
        if contains_personnummer(s) {
            return Err(EventError::PersonalDataInClear("the actor"));
        }
        Ok(Actor(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The content hash of a ruleset, `sha256:<64 hex digits>` as the sandbox
/// reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RulesetHash(pub [u8; 32]);

impl RulesetHash {
    pub fn parse(s: &str) -> Result<RulesetHash, EventError> {
        let hex = s.strip_prefix("sha256:").ok_or(EventError::RulesetHash)?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(EventError::RulesetHash);
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex, &mut out).map_err(|_| EventError::RulesetHash)?;
        Ok(RulesetHash(out))
    }
}

impl fmt::Display for RulesetHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

/// An event's identifier: 16 bytes, unique.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub [u8; 16]);

impl EventId {
    pub fn random() -> EventId {
        let mut b = [0u8; 16];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut b);
        EventId(b)
    }

    /// The id the log gives the event at `seq`: the sequence number
    /// (big-endian) followed by 8 random bytes. Unique within the log by
    /// its sequence number and across logs by the random half; and ids grow
    /// with the sequence number, so the unique index on `event_id` is
    /// appended to at its right edge instead of being written all over
    /// (with fully random ids, batched appends on SQLite were up to 2.5–5×
    /// slower, and slower the larger the log: BENCHMARKS.md).
    pub fn for_seq(seq: u64) -> EventId {
        let mut b = EventId::random().0;
        b[..8].copy_from_slice(&seq.to_be_bytes());
        EventId(b)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

/// An event as the runtime builds it, before sequencing and sealing.
///
/// `Debug` leaves out the personal data.
#[derive(Clone, PartialEq)]
pub struct Event {
    pub(crate) kind: EventKind,
    pub(crate) case_ref: Option<CaseRef>,
    pub(crate) actor: Actor,
    pub(crate) time_us: i64,
    pub(crate) ruleset: Option<RulesetHash>,
    pub(crate) payload: Value,
    pub(crate) personal: Vec<(Personnummer, Value)>,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("kind", &self.kind)
            .field("case_ref", &self.case_ref)
            .field("actor", &self.actor)
            .field("time_us", &self.time_us)
            .field("subjects", &self.personal.len())
            .finish_non_exhaustive()
    }
}

impl Event {
    /// An event with an empty public payload (`{}`); the time is kept to the
    /// microsecond.
    pub fn new(kind: EventKind, actor: Actor, time: DateTime<Utc>) -> Event {
        Event {
            kind,
            case_ref: None,
            actor,
            time_us: time.timestamp_micros(),
            ruleset: None,
            payload: Value::Object(Default::default()),
            personal: Vec::new(),
        }
    }

    pub fn with_case(mut self, case_ref: CaseRef) -> Event {
        self.case_ref = Some(case_ref);
        self
    }

    pub fn with_ruleset(mut self, ruleset: RulesetHash) -> Event {
        self.ruleset = Some(ruleset);
        self
    }

    /// The public payload: state names, outcome codes, counts, ids. No
    /// names, personnummer or amounts tied to a person (those go through
    /// [`Event::with_personal`]); a string that parses as a personnummer is
    /// refused.
    pub fn with_payload(mut self, payload: Value) -> Result<Event, EventError> {
        check_public(&payload)?;
        canonical_json(&payload)?;
        self.payload = payload;
        Ok(self)
    }

    /// Personal data about one data subject, sealed with that subject's key
    /// on append.
    pub fn with_personal(mut self, subject: &Personnummer, data: Value) -> Result<Event, EventError> {
        canonical_json(&data)?;
        if self.personal.iter().any(|(p, _)| p == subject) {
            return Err(EventError::DuplicateSubject);
        }
        if self.personal.len() >= MAX_SUBJECTS {
            return Err(EventError::TooManySubjects);
        }
        self.personal.push((*subject, data));
        Ok(self)
    }

    pub fn kind(&self) -> EventKind {
        self.kind
    }

    pub fn case_ref(&self) -> Option<&CaseRef> {
        self.case_ref.as_ref()
    }

    pub fn time(&self) -> DateTime<Utc> {
        micros_to_time(self.time_us)
    }

    /// The public payload.
    pub fn payload(&self) -> &Value {
        &self.payload
    }
}

/// The subject id, key id and ciphertext of one subject's personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedPart {
    pub subject: crate::crypto::SubjectId,
    pub key_id: crate::crypto::KeyId,
    pub nonce: [u8; 24],
    pub ciphertext: Vec<u8>,
}

/// An event as it is in the log: the Merkle leaf, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafEvent {
    pub seq: u64,
    pub id: EventId,
    pub kind: EventKind,
    pub case_ref: Option<CaseRef>,
    pub actor: Actor,
    pub time_us: i64,
    pub ruleset: Option<RulesetHash>,
    pub payload: Value,
    pub sealed: Vec<SealedPart>,
}

impl LeafEvent {
    pub fn time(&self) -> DateTime<Utc> {
        micros_to_time(self.time_us)
    }

    /// The canonical leaf bytes.
    pub fn encode(&self) -> Result<Vec<u8>, EventError> {
        let payload = canonical_json(&self.payload)?;
        let mut out = Vec::with_capacity(128 + payload.len());
        out.push(LEAF_FORMAT_V1);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.id.0);
        put_str8(&mut out, self.kind.as_str());
        put_str8(&mut out, self.case_ref.as_ref().map_or("", CaseRef::as_str));
        put_str8(&mut out, self.actor.as_str());
        out.extend_from_slice(&self.time_us.to_be_bytes());
        match &self.ruleset {
            None => out.push(0),
            Some(h) => {
                out.push(1);
                out.extend_from_slice(&h.0);
            }
        }
        put_bytes32(&mut out, &payload)?;
        let n = u16::try_from(self.sealed.len()).map_err(|_| EventError::TooManySubjects)?;
        out.extend_from_slice(&n.to_be_bytes());
        for p in &self.sealed {
            out.extend_from_slice(&p.subject.0);
            out.extend_from_slice(&p.key_id.0);
            out.extend_from_slice(&p.nonce);
            put_bytes32(&mut out, &p.ciphertext)?;
        }
        Ok(out)
    }

    /// Decodes leaf bytes; refuses anything that is not the canonical
    /// encoding of an event.
    pub fn decode(bytes: &[u8]) -> Result<LeafEvent, EventError> {
        let mut r = Reader(bytes);
        if r.u8()? != LEAF_FORMAT_V1 {
            return Err(EventError::Malformed("unknown format version"));
        }
        let seq = u64::from_be_bytes(r.array()?);
        let id = EventId(r.array()?);
        let kind: EventKind = r.str8()?.parse()?;
        let case_ref = match r.str8()? {
            "" => None,
            s => Some(CaseRef::parse(s)?),
        };
        let actor = Actor::parse(r.str8()?)?;
        let time_us = i64::from_be_bytes(r.array()?);
        let ruleset = match r.u8()? {
            0 => None,
            1 => Some(RulesetHash(r.array()?)),
            _ => return Err(EventError::Malformed("ruleset flag")),
        };
        let payload: Value =
            serde_json::from_slice(r.bytes32()?).map_err(|_| EventError::Malformed("payload is not JSON"))?;
        let n = u16::from_be_bytes(r.array()?);
        let mut sealed = Vec::with_capacity(usize::from(n).min(MAX_SUBJECTS));
        for _ in 0..n {
            sealed.push(SealedPart {
                subject: crate::crypto::SubjectId(r.array()?),
                key_id: crate::crypto::KeyId(r.array()?),
                nonce: r.array()?,
                ciphertext: r.bytes32()?.to_vec(),
            });
        }
        if !r.0.is_empty() {
            return Err(EventError::Malformed("trailing bytes"));
        }
        let event = LeafEvent {
            seq,
            id,
            kind,
            case_ref,
            actor,
            time_us,
            ruleset,
            payload,
            sealed,
        };
        if event.encode()? != bytes {
            return Err(EventError::NonCanonical);
        }
        Ok(event)
    }
}

/// The fixed fields at the start of a leaf, read without decoding the
/// payload: what `verify` checks the table's columns against (the leaf's
/// bytes themselves are bound by its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafHeader<'a> {
    pub seq: u64,
    pub id: [u8; 16],
    pub kind: &'a str,
    /// Empty when the event has no case.
    pub case_ref: &'a str,
    pub actor: &'a str,
    pub time_us: i64,
}

impl<'a> LeafHeader<'a> {
    pub fn read(bytes: &'a [u8]) -> Result<LeafHeader<'a>, EventError> {
        let mut r = Reader(bytes);
        if r.u8()? != LEAF_FORMAT_V1 {
            return Err(EventError::Malformed("unknown format version"));
        }
        Ok(LeafHeader {
            seq: u64::from_be_bytes(r.array()?),
            id: r.array()?,
            kind: r.str8()?,
            case_ref: r.str8()?,
            actor: r.str8()?,
            time_us: i64::from_be_bytes(r.array()?),
        })
    }
}

pub(crate) fn micros_to_time(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn put_str8(out: &mut Vec<u8>, s: &str) {
    // Every str8 field is validated to at most 128 bytes before it gets here.
    let len = u8::try_from(s.len()).unwrap_or(u8::MAX);
    out.push(len);
    out.extend_from_slice(&s.as_bytes()[..usize::from(len)]);
}

fn put_bytes32(out: &mut Vec<u8>, b: &[u8]) -> Result<(), EventError> {
    let len = u32::try_from(b.len()).map_err(|_| EventError::TooLarge)?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b);
    Ok(())
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EventError> {
        if self.0.len() < n {
            return Err(EventError::Malformed("truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, EventError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], EventError> {
        self.take(N)?.try_into().map_err(|_| EventError::Malformed("truncated"))
    }

    fn str8(&mut self) -> Result<&'a str, EventError> {
        let n = usize::from(self.u8()?);
        std::str::from_utf8(self.take(n)?).map_err(|_| EventError::Malformed("text is not UTF-8"))
    }

    fn bytes32(&mut self) -> Result<&'a [u8], EventError> {
        let n = u32::from_be_bytes(self.array()?) as usize;
        if n > MAX_JSON_BYTES + 64 {
            return Err(EventError::TooLarge);
        }
        self.take(n)
    }
}

/// Canonical JSON: object keys sorted by their UTF-8 bytes, no whitespace,
/// strings escaped as serde_json escapes them, integers only.
pub fn canonical_json(v: &Value) -> Result<Vec<u8>, EventError> {
    let mut out = Vec::new();
    write_canonical(v, &mut out)?;
    if out.len() > MAX_JSON_BYTES {
        return Err(EventError::TooLarge);
    }
    Ok(out)
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) -> Result<(), EventError> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return Err(EventError::Float);
            }
        }
        Value::String(s) => write_string(s, out)?,
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out)?;
                out.push(b':');
                write_canonical(item, out)?;
            }
            out.push(b'}');
        }
    }
    if out.len() > MAX_JSON_BYTES {
        return Err(EventError::TooLarge);
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) -> Result<(), EventError> {
    serde_json::to_writer(&mut *out, s).map_err(|_| EventError::Malformed("string"))
}

/// Refuses public payloads that carry a personnummer in a string or key.
/// A content digest as the runtime writes them, `sha256:` and 64 lowercase
/// hex digits. Its digit runs can look like a personnummer by chance (about
/// one digest in a hundred), but a digest is not personal data.
fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

fn check_public(v: &Value) -> Result<(), EventError> {
    let bad = |s: &str| !is_digest(s) && contains_personnummer(s);
    match v {
        Value::String(s) if bad(s) => Err(EventError::PersonalDataInClear("the public payload")),
        Value::Array(items) => items.iter().try_for_each(check_public),
        Value::Object(map) => map.iter().try_for_each(|(k, item)| {
            if bad(k) {
                Err(EventError::PersonalDataInClear("the public payload"))
            } else {
                check_public(item)
            }
        }),
        _ => Ok(()),
    }
}

/// Whether `s` contains something that parses as a personnummer or
/// samordningsnummer (10 or 12 digits, with or without `-`/`+` before the
/// last four, valid date and check digit).
pub fn contains_personnummer(s: &str) -> bool {
    let b = s.as_bytes();
    // Far enough ahead that no valid number is "in the future".
    let reference = NaiveDate::from_ymd_opt(2200, 1, 1).unwrap_or(NaiveDate::MAX);
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_digit()) {
            i += 1;
            continue;
        }
        let run = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let mut candidates = Vec::new();
        if run == 10 || run == 12 {
            candidates.push(&s[i..i + run]);
        }
        if run == 6 || run == 8 {
            let after = i + run;
            let tail = b.get(after + 1..).unwrap_or(&[]);
            let tail_run = tail.iter().take_while(|c| c.is_ascii_digit()).count();
            if matches!(b.get(after), Some(b'-' | b'+')) && tail_run == 4 {
                candidates.push(&s[i..after + 5]);
            }
        }
        if candidates.iter().any(|c| Personnummer::parse(c, reference).is_ok()) {
            return true;
        }
        i += run;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{KeyId, SubjectId};
    use serde_json::json;

    fn sample() -> LeafEvent {
        LeafEvent {
            seq: 42,
            id: EventId([7; 16]),
            kind: EventKind::Drafted,
            case_ref: Some(CaseRef::parse("EB-2026-000123").unwrap()),
            actor: Actor::parse("robot:ekonomiskt-bistand").unwrap(),
            time_us: 1_767_225_600_123_456,
            ruleset: Some(RulesetHash([9; 32])),
            payload: json!({"outcome": "bifall", "b": [1, 2, {"z": null, "a": true}]}),
            sealed: vec![SealedPart {
                subject: SubjectId([1; 32]),
                key_id: KeyId([2; 16]),
                nonce: [3; 24],
                ciphertext: vec![4; 40],
            }],
        }
    }

    #[test]
    fn encoding_round_trips() {
        let e = sample();
        let bytes = e.encode().unwrap();
        assert_eq!(bytes[0], LEAF_FORMAT_V1);
        assert_eq!(&bytes[1..9], &42u64.to_be_bytes());
        assert_eq!(LeafEvent::decode(&bytes).unwrap(), e);
    }

    #[test]
    fn the_header_reads_without_the_payload() {
        let e = sample();
        let bytes = e.encode().unwrap();
        let h = LeafHeader::read(&bytes).unwrap();
        assert_eq!(
            (h.seq, h.id, h.kind, h.case_ref, h.actor, h.time_us),
            (
                42,
                [7; 16],
                "drafted",
                "EB-2026-000123",
                "robot:ekonomiskt-bistand",
                e.time_us
            )
        );
        assert!(LeafHeader::read(&bytes[..30]).is_err());
    }

    #[test]
    fn payload_keys_are_sorted() {
        let v = json!({"b": 1, "a": {"d": [], "c": "x"}});
        assert_eq!(canonical_json(&v).unwrap(), br#"{"a":{"c":"x","d":[]},"b":1}"#);
    }

    #[test]
    fn floats_are_refused() {
        assert_eq!(canonical_json(&json!({"amount": 1.5})), Err(EventError::Float));
    }

    #[test]
    fn non_canonical_payload_bytes_are_refused() {
        let e = sample();
        let mut bytes = e.encode().unwrap();
        // Swap in a payload with the same length but unsorted keys.
        let canon = canonical_json(&e.payload).unwrap();
        let at = bytes.windows(canon.len()).position(|w| w == canon.as_slice()).unwrap();
        let unsorted = br#"{"outcome":"bifall","b":[1,2,{"a":true,"z":null}]}"#;
        assert_eq!(unsorted.len(), canon.len());
        bytes[at..at + canon.len()].copy_from_slice(unsorted);
        assert_eq!(LeafEvent::decode(&bytes), Err(EventError::NonCanonical));
    }

    #[test]
    fn truncated_and_extended_leaves_are_refused() {
        let bytes = sample().encode().unwrap();
        for n in 0..bytes.len() {
            assert!(LeafEvent::decode(&bytes[..n]).is_err(), "prefix {n}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(LeafEvent::decode(&longer).is_err());
    }

    #[test]
    fn personnummer_in_the_clear_is_refused() {
        for s in [
            "191212121212",
            "19121212-1212",
            "121212-1212",
            "pnr 1212121212 x",
            "121212+1212",
        ] {
            assert!(contains_personnummer(s), "{s}");
        }
        for s in ["EB-2026-000123", "1212121213", "12345", "2026-01-01", "1767225600"] {
            assert!(!contains_personnummer(s), "{s}");
        }
        assert!(CaseRef::parse("19121212-1212").is_err());
        assert!(Actor::parse("user:191212121212").is_err());
        let e = Event::new(EventKind::Fetched, Actor::parse("robot:x").unwrap(), micros_to_time(0));
        assert!(
            e.clone()
                .with_payload(json!({"note": "sökande 19121212-1212"}))
                .is_err()
        );
        assert!(e.with_payload(json!({"191212121212": 1})).is_err());
    }

    #[test]
    fn digests_are_not_taken_for_personnummer() {
        // Hex whose digit run reads as a valid personnummer.
        let h = format!("sha256:{}{}", "191212121212", "ab".repeat(26));
        assert!(contains_personnummer(&h));
        let e = Event::new(
            EventKind::Drafted,
            Actor::parse("robot:x").unwrap(),
            DateTime::<Utc>::UNIX_EPOCH,
        );
        assert!(e.clone().with_payload(json!({"draft_sha256": h})).is_ok());
        // Only the exact digest form: the same digits elsewhere are refused.
        assert!(
            e.clone()
                .with_payload(json!({"note": h.replace("sha256:", "x:")}))
                .is_err()
        );
        assert!(e.with_payload(json!({"note": format!("{h}0")})).is_err());
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>().unwrap(), *k);
        }
        assert!("deleted".parse::<EventKind>().is_err());
    }

    #[test]
    fn ruleset_hashes_parse_the_sandbox_form() {
        let s = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(RulesetHash::parse(&s).unwrap().to_string(), s);
        assert!(RulesetHash::parse(&"ab".repeat(32)).is_err());
        assert!(RulesetHash::parse(&format!("sha256:{}", "AB".repeat(32))).is_err());
    }

    #[test]
    fn log_event_ids_grow_with_the_sequence_number_and_are_unique() {
        let ids: Vec<EventId> = [0u64, 1, 255, 256, 1 << 40, u64::MAX]
            .into_iter()
            .map(EventId::for_seq)
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert_eq!(ids[3].0[..8], 256u64.to_be_bytes());
        assert_ne!(EventId::for_seq(7), EventId::for_seq(7));
    }
}
