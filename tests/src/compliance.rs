//! The shared connector compliance test: what `connectors/SPEC.md` asks of
//! every connector and a machine can check, as functions that each
//! connector's test in `tests/tests/it/compliance.rs` calls with the
//! connector pointed at the simulated municipality.
//!
//! Every check returns an error that says which rule of the contract was
//! broken, so a failing connector reads like a review comment.

use crate::data::Dataset;
use crate::faults::{Fault, Faults, Service};
use anyhow::{Context, Result, bail, ensure};
use connectors::delivery::{Delivery, Letter};
use connectors::{
    Ack, ApplicationSource, CaseWriteBack, ConnectorError, ErrorKind, IdempotencyKey, ItemRef, RegisterLookup,
    WriteBack,
};
use domain::{Period, Personnummer};
use serde_json::Value;
use std::collections::BTreeSet;

/// The personal data of a data set (personnummer in their 12- and 10-digit
/// forms, names) and any secrets the test adds: no error message, and no
/// `Debug` of an error, may contain any of it.
#[derive(Debug, Clone, Default)]
pub struct Personal(BTreeSet<String>);

impl Personal {
    pub fn of(data: &Dataset) -> Personal {
        let mut out = BTreeSet::new();
        for s in data.iter() {
            collect(&s.application, &mut out);
        }
        Personal(out)
    }

    /// Also refuse this text (a token, a password) in errors.
    pub fn with(mut self, secret: impl Into<String>) -> Personal {
        self.0.insert(secret.into());
        self
    }

    /// The error says nothing personal or secret.
    pub fn check(&self, context: &str, e: &ConnectorError) -> Result<()> {
        let shown = format!("{e} {e:?}");
        for p in &self.0 {
            if shown.contains(p.as_str()) {
                bail!("{context}: the error shows personal data or a secret (SPEC: Privacy and secrets): {e}");
            }
        }
        Ok(())
    }
}

fn collect(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("personnummer" | "applicant", Value::String(s)) => {
                        let digits: String = s.chars().filter(char::is_ascii_digit).collect();
                        if digits.len() == 12 {
                            out.insert(digits[2..].to_string());
                        }
                        if digits.len() >= 10 {
                            out.insert(digits);
                        }
                    }
                    ("name", Value::String(s)) if s.len() >= 4 => {
                        out.insert(s.clone());
                    }
                    _ => collect(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect(v, out)),
        _ => {}
    }
}

/// What a call should give while a fault is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// It still works (the connector copes, e.g. by logging in again).
    Works,
    /// A retriable error: the runtime tries again later.
    Retriable,
    /// A permanent error: the runtime surfaces it.
    Permanent,
}

/// The error is of the kind the contract asks for, and shows nothing personal.
pub fn expect_err<T>(context: &str, r: Result<T, ConnectorError>, expect: Expect, personal: &Personal) -> Result<()> {
    match (r, expect) {
        (Ok(_), Expect::Works) => Ok(()),
        (Ok(_), _) => bail!("{context}: succeeded, but the contract expects a {expect:?} error"),
        (Err(e), Expect::Works) => bail!("{context}: expected to work, failed with {e}"),
        (Err(e), _) => {
            personal.check(context, &e)?;
            let want = if expect == Expect::Retriable {
                ErrorKind::Retriable
            } else {
                ErrorKind::Permanent
            };
            ensure!(
                e.kind == want,
                "{context}: a {:?} error where the contract says {want:?} (SPEC: Errors): {e}",
                e.kind
            );
            ensure!(
                !e.connector.is_empty(),
                "{context}: the error does not name its connector"
            );
            Ok(())
        }
    }
}

fn name_is_stable(name: &str, again: &str) -> Result<()> {
    ensure!(!name.is_empty(), "the connector has no name");
    ensure!(
        name == again,
        "the connector's name changed between calls: {name} vs {again}"
    );
    Ok(())
}

/// An application source (SPEC: Shape, Idempotency): healthy; lists
/// exactly the expected items, oldest first, honouring the limit, and the
/// same ones again while none is acknowledged; fetches the same bytes
/// twice; acknowledging (accepted or rejected) is idempotent and files the
/// item away while the others are still listed; an unknown item is a
/// permanent error that shows nothing personal.
///
/// Acknowledges the first two items listed.
pub async fn source(src: &dyn ApplicationSource, expected: &BTreeSet<String>, personal: &Personal) -> Result<()> {
    name_is_stable(src.name(), src.name())?;
    src.health().await.context("health() on a working source")?;
    let all = src.list_new(10_000).await.context("list_new")?;
    let ids: Vec<&str> = all.iter().map(|i| i.id.as_str()).collect();
    let distinct: BTreeSet<String> = ids.iter().map(|s| s.to_string()).collect();
    ensure!(distinct.len() == all.len(), "list_new listed an item twice");
    ensure!(
        &distinct == expected,
        "list_new gave {} items, expected {}; missing {:?}, unexpected {:?}",
        distinct.len(),
        expected.len(),
        expected.difference(&distinct).take(5).collect::<Vec<_>>(),
        distinct.difference(expected).take(5).collect::<Vec<_>>()
    );
    ensure!(all.len() >= 3, "the compliance test needs at least three items");
    let two = src.list_new(2).await.context("list_new(2)")?;
    ensure!(
        two[..] == all[..2],
        "list_new(2) is not the first two of list_new: {two:?}"
    );
    let again = src.list_new(10_000).await.context("list_new again")?;
    ensure!(
        again == all,
        "items not acknowledged must be listed again, in the same order"
    );

    let first = src.fetch(&all[0]).await.context("fetch")?;
    ensure!(!first.is_empty(), "fetch gave an empty document");
    let second = src.fetch(&all[0]).await.context("fetch again")?;
    ensure!(first == second, "fetching the same item twice gave different documents");

    for _ in 0..2 {
        src.acknowledge(&all[0], &Ack::Accepted)
            .await
            .context("acknowledge(Accepted), twice: acknowledge must be idempotent")?;
    }
    let rejected = Ack::Rejected {
        reason: "/household: saknas".into(),
    };
    for _ in 0..2 {
        src.acknowledge(&all[1], &rejected)
            .await
            .context("acknowledge(Rejected), twice: acknowledge must be idempotent")?;
    }
    let rest = src.list_new(10_000).await.context("list_new after acknowledging")?;
    ensure!(
        rest[..] == all[2..],
        "after acknowledging two items, list_new must list exactly the others (got {} of {})",
        rest.len(),
        all.len() - 2
    );

    let unknown = ItemRef {
        id: "finns-inte-0000.json".into(),
    };
    expect_err(
        "fetch of an unknown item",
        src.fetch(&unknown).await,
        Expect::Permanent,
        personal,
    )?;
    Ok(())
}

/// One operation on a connector, to run under a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Health,
    List,
    Fetch,
}

/// A source under the simulator's fault modes: each `(fault, operation,
/// expectation)` is switched on, tried and switched off; afterwards the
/// source works again without being rebuilt (SPEC: Errors).
pub async fn source_under_faults(
    src: &dyn ApplicationSource,
    faults: &Faults,
    service: Service,
    cases: &[(Fault, Op, Expect)],
    personal: &Personal,
) -> Result<()> {
    let item = src
        .list_new(1)
        .await
        .context("list_new before the faults")?
        .pop()
        .context("no item to fetch")?;
    for &(fault, op, expect) in cases {
        faults.set(service, fault);
        let context = format!("{op:?} while the {service:?} service is {fault:?}");
        let r = match op {
            Op::Health => src.health().await,
            Op::List => src.list_new(5).await.map(|_| ()),
            Op::Fetch => src.fetch(&item).await.map(|_| ()),
        };
        faults.clear(service);
        expect_err(&context, r, expect, personal)?;
    }
    src.health().await.context("health() once the faults are off")?;
    src.fetch(&item).await.context("fetch once the faults are off")?;
    Ok(())
}

/// A register lookup (SPEC: Shape, Errors): healthy; the same question
/// gives the same answer, with or without naming a case; answers carry a
/// source and no negative amount; a person the registers do not know is
/// an empty answer or a permanent error, never a retriable one.
pub async fn lookup(l: &dyn RegisterLookup, people: &[(Personnummer, Period)], personal: &Personal) -> Result<()> {
    name_is_stable(l.name(), l.name())?;
    ensure!(!people.is_empty(), "the compliance test needs people to look up");
    l.health().await.context("health() on a working register")?;
    for (n, (person, period)) in people.iter().enumerate() {
        let a = l
            .lookup(person, *period)
            .await
            .with_context(|| format!("lookup #{n}"))?;
        let b = l
            .lookup(person, *period)
            .await
            .with_context(|| format!("lookup #{n} again"))?;
        ensure!(a == b, "lookup #{n}: the same question gave two answers");
        let c = l
            .lookup_for_case("COMPLIANCE-1", person, *period)
            .await
            .with_context(|| format!("lookup_for_case #{n}"))?;
        ensure!(a == c, "lookup #{n}: naming the case changed the answer");
        for i in &a.incomes {
            ensure!(!i.source.is_empty(), "lookup #{n}: an income without a source");
            ensure!(i.amount.ore() >= 0, "lookup #{n}: a negative income");
        }
    }
    // A generated test personnummer that no seeded application holds.
    let stranger = Personnummer::parse("195001012383", people[0].1.first_day())
        .map_err(|e| anyhow::anyhow!("the stranger's personnummer: {e:?}"))?;
    if let Err(e) = l.lookup(&stranger, people[0].1).await {
        expect_err(
            "lookup of a person the registers do not know",
            Err::<(), _>(e),
            Expect::Permanent,
            personal,
        )?;
    }
    Ok(())
}

/// A register lookup under the simulator's fault modes.
pub async fn lookup_under_faults(
    l: &dyn RegisterLookup,
    person: &(Personnummer, Period),
    faults: &Faults,
    service: Service,
    cases: &[(Fault, Expect)],
    personal: &Personal,
) -> Result<()> {
    for &(fault, expect) in cases {
        faults.set(service, fault);
        let r = l.lookup(&person.0, person.1).await;
        faults.clear(service);
        expect_err(
            &format!("lookup while the {service:?} service is {fault:?}"),
            r,
            expect,
            personal,
        )?;
    }
    l.lookup(&person.0, person.1)
        .await
        .context("lookup once the faults are off")?;
    l.health().await.context("health() once the faults are off")?;
    Ok(())
}

/// A case-system write-back (SPEC: Idempotency): healthy; each decision
/// written once (`already_done` false); the same key again is recognised
/// (`already_done`, the same reference) and writes nothing; different keys
/// give different references; a decision for a case the system does not
/// have is a permanent error. `written` counts the decisions the other
/// side holds.
pub async fn write_back(
    w: &dyn CaseWriteBack,
    decisions: &[WriteBack],
    unknown_case: &WriteBack,
    written: impl AsyncFn() -> Result<usize>,
    personal: &Personal,
) -> Result<()> {
    name_is_stable(w.name(), w.name())?;
    w.health().await.context("health() on a working case system")?;
    let before = written().await?;
    let mut references = BTreeSet::new();
    for (n, d) in decisions.iter().enumerate() {
        let key = IdempotencyKey::new(format!("compliance:{n}:1"))?;
        let first = w
            .write_back(&key, d)
            .await
            .with_context(|| format!("write_back #{n}"))?;
        ensure!(
            !first.already_done,
            "write_back #{n}: a new key reported as already done"
        );
        let again = w
            .write_back(&key, d)
            .await
            .with_context(|| format!("write_back #{n} again"))?;
        ensure!(
            again.already_done,
            "write_back #{n}: the same key again was not recognised as done"
        );
        ensure!(
            again.reference == first.reference,
            "write_back #{n}: the same key gave another reference"
        );
        ensure!(
            references.insert(first.reference.clone()),
            "write_back #{n}: two keys gave the same reference"
        );
    }
    let after = written().await?;
    ensure!(
        after - before == decisions.len(),
        "{} decisions written for {} keys: a retry wrote again",
        after - before,
        decisions.len()
    );
    let key = IdempotencyKey::new("compliance:unknown:1")?;
    expect_err(
        "write_back for a case the system does not have",
        w.write_back(&key, unknown_case).await,
        Expect::Permanent,
        personal,
    )?;
    ensure!(written().await? == after, "a failed write-back wrote something");
    Ok(())
}

/// A letter delivery (SPEC: Idempotency): healthy; the same key twice
/// gives the same reference, and either the second call found it done
/// (nothing sent again) or the receiver got the same message id twice, so
/// it can recognise the retry; another key is another reference.
/// `delivered` lists the message ids the receiver holds.
pub async fn delivery(
    d: &dyn Delivery,
    letter: &Letter,
    delivered: impl AsyncFn() -> Result<Vec<String>>,
) -> Result<()> {
    name_is_stable(d.name(), d.name())?;
    d.health().await.context("health() on a working delivery")?;
    let key = IdempotencyKey::new("compliance:letter:1")?;
    let first = d.deliver(&key, letter).await.context("deliver")?;
    ensure!(!first.already_done, "a new key reported as already delivered");
    let again = d.deliver(&key, letter).await.context("deliver again")?;
    ensure!(
        again.reference == first.reference,
        "the same key gave another reference"
    );
    let ids = delivered().await?;
    let expected = if again.already_done { 1 } else { 2 };
    ensure!(
        ids.len() == expected,
        "{} messages after two deliveries with one key (already_done: {})",
        ids.len(),
        again.already_done
    );
    ensure!(
        ids.iter().all(|id| *id == first.reference),
        "the receiver got message ids {ids:?}, expected {} (derived from the key)",
        first.reference
    );
    let other = d
        .deliver(&IdempotencyKey::new("compliance:letter:2")?, letter)
        .await
        .context("deliver with another key")?;
    ensure!(other.reference != first.reference, "two keys gave the same reference");
    Ok(())
}
