//! The shared compliance test (`tests::compliance`, the contract in
//! `connectors/SPEC.md`) run for every connector against the simulated
//! municipality.

use crate::support::*;
use connectors::delivery::{Letter, MaildirConfig, MaildirDelivery, SmtpConfig, SmtpDelivery, SmtpSecurity};
use connectors::eservice::EserviceSource;
use connectors::file_inbox::FileInbox;
use connectors::file_register::FileRegister;
use connectors::sql_source::{SqlSource, SqlSourceConfig};
use connectors::ssbtek::SsbtekLookup;
use connectors::{ApplicationSource, RegisterLookup};
use domain::{Outcome, Period, Personnummer};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use tests::compliance::{self, Expect, Op, Personal};
use tests::data::Dataset;
use tests::{Fault, Service, Simulator};

fn dataset() -> Dataset {
    Dataset::load(&seeded_applications()).unwrap()
}

fn external_ids(data: &Dataset) -> BTreeSet<String> {
    data.iter()
        .filter_map(|s| s.application["external_id"].as_str().map(str::to_string))
        .collect()
}

/// (applicant, period) of every seeded application that has both.
fn people(data: &Dataset) -> Vec<(Personnummer, Period)> {
    data.iter()
        .filter_map(|s| {
            let period: Period = s.application["period"].as_str()?.parse().ok()?;
            let p = Personnummer::parse(s.application["applicant"].as_str()?, period.first_day()).ok()?;
            Some((p, period))
        })
        .collect()
}

fn letter() -> Letter {
    Letter {
        case_ref: "case:7".into(),
        to: Some("sokande@example.org".into()),
        subject: "Beslut om ekonomiskt bistånd".into(),
        text: "Beslut.".into(),
        html: "<p>Beslut.</p>".into(),
        pdf: None,
        pdf_name: "beslut.pdf".into(),
    }
}

/// The Message-ID of each message in a maildir folder.
fn message_ids(messages: &[String]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("Message-ID: ").map(|v| v.trim().to_string()))
        })
        .collect()
}

fn maildir_messages(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("new"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn file_inbox_keeps_the_source_contract() {
    let data = dataset();
    let dir = tempfile::tempdir().unwrap();
    for s in data.iter() {
        std::fs::write(dir.path().join(&s.file), s.application.to_string()).unwrap();
    }
    let inbox = FileInbox::new("inbox", dir.path());
    let files: BTreeSet<String> = data.iter().map(|s| s.file.clone()).collect();
    compliance::source(&inbox, &files, &Personal::of(&data)).await.unwrap();
    // Filed away, not lost: one in processed/, one in failed/ with its reason.
    assert_eq!(std::fs::read_dir(dir.path().join("processed")).unwrap().count(), 1);
    assert_eq!(std::fs::read_dir(dir.path().join("failed")).unwrap().count(), 2);
    // A missing inbox folder is permanent: configuration, not weather.
    let gone = FileInbox::new("inbox", dir.path().join("finns-inte"));
    compliance::expect_err(
        "list_new",
        gone.list_new(1).await,
        Expect::Permanent,
        &Personal::default(),
    )
    .unwrap();
}

#[tokio::test]
async fn eservice_keeps_the_source_contract_under_every_fault() {
    let sim = Simulator::start(&seeded_applications()).await.unwrap();
    let personal = Personal::of(&sim.data).with("sim-eservice-token");
    let src = EserviceSource::new("eservice", &crate::eservice::config(&sim)).unwrap();
    compliance::source(&src, &external_ids(&sim.data), &personal)
        .await
        .unwrap();
    let slow = Fault::Slow(Duration::from_secs(5)); // the connector's timeout is 2 s
    compliance::source_under_faults(
        &src,
        &sim.faults,
        Service::Eservice,
        &[
            (Fault::Down, Op::Health, Expect::Retriable),
            (Fault::Down, Op::List, Expect::Retriable),
            (Fault::Http500, Op::List, Expect::Retriable),
            (Fault::Http500, Op::Fetch, Expect::Retriable),
            (slow, Op::Fetch, Expect::Retriable),
            (Fault::Malformed, Op::Fetch, Expect::Permanent),
        ],
        &personal,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn sql_source_keeps_the_source_contract() {
    use sqlx::Connection;
    let data = dataset();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("other.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    for s in [
        "CREATE TABLE ekb_ansokan (nr TEXT PRIMARY KEY, innehall TEXT NOT NULL, hamtad INTEGER NOT NULL DEFAULT 0)",
        "CREATE VIEW v_att_hamta AS SELECT nr AS id, innehall AS document FROM ekb_ansokan WHERE hamtad = 0",
    ] {
        sqlx::query(s).execute(&mut c).await.unwrap();
    }
    for s in data.iter() {
        sqlx::query("INSERT INTO ekb_ansokan (nr, innehall) VALUES ($1, $2)")
            .bind(s.application["external_id"].as_str().unwrap())
            .bind(s.application.to_string())
            .execute(&mut c)
            .await
            .unwrap();
    }
    let url_file = dir.path().join("url");
    std::fs::write(&url_file, &url).unwrap();
    let mut cfg = SqlSourceConfig {
        url_env: None,
        url_file: Some(url_file.clone()),
        query: "SELECT id, document FROM v_att_hamta".into(),
        acknowledge: Some("UPDATE ekb_ansokan SET hamtad = 1 WHERE nr = $1".into()),
        field_map: None,
        timeout_seconds: 5,
    };
    let personal = Personal::of(&data).with(url.clone());
    let src = SqlSource::new("sql", &cfg).await.unwrap();
    compliance::source(&src, &external_ids(&data), &personal).await.unwrap();
    // A database nobody answers for is retriable, and the URL (a secret) is not shown.
    let down = "postgres://hrobot:hemligt@127.0.0.1:9/ekb";
    std::fs::write(&url_file, down).unwrap();
    cfg.url_file = Some(url_file);
    let personal = personal.with("hemligt");
    match SqlSource::new("sql", &cfg).await {
        Ok(src) => compliance::expect_err("health", src.health().await, Expect::Retriable, &personal).unwrap(),
        Err(e) => compliance::expect_err::<()>("connect", Err(e), Expect::Retriable, &personal).unwrap(),
    }
}

#[tokio::test]
async fn file_register_keeps_the_lookup_contract() {
    let data = dataset();
    let dir = tempfile::tempdir().unwrap();
    let people = people(&data);
    // Answers for the first few people; the others are unknown to the registers.
    for (p, period) in people.iter().take(5) {
        let folder = dir.path().join(p.as_str());
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join(format!("{period}.json")),
            r#"{"job_seeker": true, "incomes": [{"source": "FK", "kind": "barnbidrag", "amount": 1250}]}"#,
        )
        .unwrap();
    }
    let register = FileRegister::new(dir.path());
    compliance::lookup(&register, &people, &Personal::of(&data))
        .await
        .unwrap();
    let answer = register.lookup(&people[0].0, people[0].1).await.unwrap();
    assert!(answer.job_seeker && answer.incomes.len() == 1);
    // A broken answer file is permanent and names no one.
    std::fs::write(
        dir.path()
            .join(people[0].0.as_str())
            .join(format!("{}.json", people[0].1)),
        "{",
    )
    .unwrap();
    compliance::expect_err(
        "lookup with a broken answer file",
        register.lookup(&people[0].0, people[0].1).await,
        Expect::Permanent,
        &Personal::of(&data),
    )
    .unwrap();
}

#[tokio::test]
async fn ssbtek_keeps_the_lookup_contract_under_every_fault() {
    let sim = Simulator::start(&seeded_applications()).await.unwrap();
    let personal = Personal::of(&sim.data);
    let mut cfg = crate::ssbtek::config(&sim.ssbtek);
    cfg.timeout_seconds = 2;
    let lookup = SsbtekLookup::new(cfg).unwrap();
    let people = people(&sim.data);
    compliance::lookup(&lookup, &people[..12], &personal).await.unwrap();
    compliance::lookup_under_faults(
        &lookup,
        &people[0],
        &sim.faults,
        Service::Ssbtek,
        &[
            (Fault::Down, Expect::Retriable),
            (Fault::Http500, Expect::Retriable),
            (Fault::Slow(Duration::from_secs(5)), Expect::Retriable),
            (Fault::Malformed, Expect::Permanent),
        ],
        &personal,
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_system_keeps_the_source_and_write_back_contracts() {
    use crate::legacy::{Env, SERIAL, browser_available, decision};
    let _serial = SERIAL.lock().await;
    if !browser_available() {
        return;
    }
    let env = Env::start().await;
    let legacy = env.connector(10_000);
    let personal = Personal::of(&env.sim.data).with("sim-legacy-password");
    compliance::source(&legacy, &external_ids(&env.sim.data), &personal)
        .await
        .unwrap();
    compliance::source_under_faults(
        &legacy,
        &env.sim.faults,
        Service::Legacy,
        &[
            (Fault::ExpiredSession, Op::Fetch, Expect::Works),
            (Fault::ChangedLayout, Op::Health, Expect::Permanent),
            (Fault::Down, Op::List, Expect::Retriable),
        ],
        &personal,
    )
    .await
    .unwrap();
    let ids: Vec<String> = external_ids(&env.sim.data).into_iter().take(2).collect();
    let decisions = [
        decision(&ids[0], Outcome::Bifall, Some(9750)),
        decision(&ids[1], Outcome::Avslag, Some(0)),
    ];
    compliance::write_back(
        &legacy,
        &decisions,
        &decision("FINNS-INTE-0000", Outcome::Bifall, Some(100)),
        async || Ok(env.decisions().await.len()),
        &personal,
    )
    .await
    .unwrap();
    legacy.shutdown().await;
    env.assert_no_browser_left().await;
}

#[tokio::test]
async fn maildir_delivery_keeps_the_delivery_contract() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = MaildirDelivery::new(&MaildirConfig {
        path: dir.path().join("mail"),
        from: "Socialtjänsten <beslut@exempelkommun.se>".into(),
        default_to: "registrator@exempelkommun.se".into(),
    })
    .unwrap();
    let mail = dir.path().join("mail");
    compliance::delivery(&maildir, &letter(), async || Ok(message_ids(&maildir_messages(&mail))))
        .await
        .unwrap();
}

#[tokio::test]
async fn smtp_delivery_keeps_the_delivery_contract() {
    let dir = tempfile::tempdir().unwrap();
    let server = tests::smtp::SmtpServer::start(&dir.path().join("mail")).unwrap();
    let smtp = SmtpDelivery::new(&SmtpConfig {
        host: "127.0.0.1".into(),
        port: server.port,
        security: SmtpSecurity::None,
        ca: None,
        username_env: None,
        password_env: None,
        from: "Socialtjänsten <beslut@exempelkommun.se>".into(),
        default_to: None,
        timeout_seconds: 5,
    })
    .unwrap();
    // The server files each message after it answers; give it a moment.
    compliance::delivery(&smtp, &letter(), async || {
        let mut ids = Vec::new();
        for _ in 0..50 {
            ids = message_ids(&server.messages());
            if ids.len() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(ids)
    })
    .await
    .unwrap();
}
