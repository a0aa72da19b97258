//! `hrobot audit …` as a real process, against logs made through the audit
//! library API (the runtime's append path), on SQLite and PostgreSQL.

use audit::crypto::MasterKeys;
use audit::{Actor, AuditLog, AuditSettings, CaseRef, CheckpointPolicy, Db, Event, EventKind, SystemClock};
use domain::Personnummer;
use serde_json::json;
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

const ORIGIN: &str = "kommun.example/hrobot-audit-test";
const PEOPLE: [&str; 2] = ["19121212-1212", "19800101-0019"];

fn hrobot(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hrobot"));
    c.current_dir(dir);
    // Only what each test passes counts.
    for var in [
        "HROBOT_DATABASE_URL",
        "HROBOT_AUDIT_ORIGIN",
        "HROBOT_AUDIT_SIGNING_KEY",
        "HROBOT_AUDIT_VERIFIER_KEY",
        "HROBOT_MASTER_KEY",
        "HROBOT_MASTER_KEY_FILE",
        "HROBOT_AUDIT_WITNESS_DIR",
        "HROBOT_CONFIG",
    ] {
        c.env_remove(var);
    }
    c
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn shared_vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/rfc6962")
}

fn vector_files(dir: &Path, acc: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            vector_files(&p, acc);
        } else if p.extension().is_some_and(|x| x == "json") {
            acc.push(p);
        }
    }
}

#[test]
fn verify_proof_gives_every_shared_vector_its_verdict() {
    let mut files = Vec::new();
    vector_files(&shared_vectors(), &mut files);
    files.sort();
    assert_eq!(files.len(), 196);
    let tmp = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for f in &files {
        let want_err = serde_json::from_slice::<serde_json::Value>(&std::fs::read(f).unwrap()).unwrap()["wantErr"]
            .as_bool()
            .unwrap();
        let o = hrobot(tmp.path())
            .args(["audit", "verify-proof"])
            .arg(f)
            .output()
            .unwrap();
        let want = if want_err { 1 } else { 0 };
        if o.status.code() != Some(want) {
            wrong.push(format!(
                "{}: exit {:?}, want {want}: {}{}",
                f.display(),
                o.status.code(),
                out(&o),
                err(&o)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn unreadable_proof_files_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let garbage = tmp.path().join("garbage.json");
    std::fs::write(&garbage, b"{not json").unwrap();
    let tlog = tmp.path().join("x.tlog-proof");
    std::fs::write(&tlog, "c2sp.org/tlog-proof@v1\nindex 0\n\nexample.com/x\n1\nAAAA\n").unwrap();
    for (file, key) in [
        (garbage.clone(), None),
        (tmp.path().join("missing.json"), None),
        (tlog.clone(), None),
        (garbage, Some("not a key")),
    ] {
        let mut c = hrobot(tmp.path());
        c.args(["audit", "verify-proof"]).arg(&file);
        if let Some(k) = key {
            c.args(["--key", k]);
        }
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{}: {}{}", file.display(), out(&o), err(&o));
    }
}

/// Key files made with the CLI itself.
struct Setup {
    dir: tempfile::TempDir,
    skey: PathBuf,
    mkey: PathBuf,
    vkey: String,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let skey = dir.path().join("signing.key");
    let mkey = dir.path().join("master.key");
    let o = hrobot(dir.path())
        .args(["audit", "keygen", "--origin", ORIGIN, "--out"])
        .arg(&skey)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let vkey = out(&o).trim().to_string();
    assert!(vkey.starts_with(&format!("{ORIGIN}+")), "{vkey}");
    let secret = std::fs::read_to_string(&skey).unwrap();
    assert!(secret.starts_with("PRIVATE+KEY+"));
    assert!(!out(&o).contains(secret.trim()) && !err(&o).contains(secret.trim()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&skey).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // Never overwritten by accident.
    let again = hrobot(dir.path())
        .args(["audit", "keygen", "--origin", ORIGIN, "--out"])
        .arg(&skey)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&skey).unwrap(), secret);

    let o = hrobot(dir.path())
        .args(["audit", "master-keygen", "--out"])
        .arg(&mkey)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let master = std::fs::read_to_string(&mkey).unwrap();
    assert!(!out(&o).contains(master.trim()));
    Setup { dir, skey, mkey, vkey }
}

impl Setup {
    fn settings(&self, url: &str) -> AuditSettings {
        AuditSettings {
            database_url: url.to_string(),
            signing_key_file: Some(self.skey.clone()),
            master_key_file: Some(self.mkey.clone()),
            ..AuditSettings::default()
        }
    }

    fn log(&self, url: &str) -> AuditLog {
        let s = self.settings(url);
        AuditLog::new(
            &s.origin().unwrap(),
            s.signer().unwrap(),
            s.require_master_keys().unwrap(),
            CheckpointPolicy {
                every_events: 10,
                every: std::time::Duration::from_secs(3600),
            },
            Arc::new(SystemClock),
        )
        .unwrap()
    }

    /// `hrobot audit` with the database and key flags.
    fn audit(&self, url: &str, args: &[&str]) -> Output {
        hrobot(self.dir.path())
            .arg("audit")
            .args(args)
            .args(["--db", url, "--signing-key"])
            .arg(&self.skey)
            .arg("--master-key-file")
            .arg(&self.mkey)
            .output()
            .unwrap()
    }
}

fn pnr(s: &str) -> Personnummer {
    Personnummer::parse(s, chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()).unwrap()
}

/// 25 events as the runtime would append them, personal data on every
/// fifth, in transactions of the caller.
async fn fill(db: &Db, log: &AuditLog) {
    let t = chrono::DateTime::parse_from_rfc3339("2026-03-01T08:00:00Z")
        .unwrap()
        .to_utc();
    let events: Vec<Event> = (0..25u64)
        .map(|i| {
            let e = Event::new(
                [EventKind::Fetched, EventKind::Evaluated, EventKind::Drafted][i as usize % 3],
                Actor::parse("robot:ekonomiskt-bistand").unwrap(),
                t + chrono::Duration::seconds(i as i64),
            )
            .with_case(CaseRef::parse(&format!("EB-{}", i / 3)).unwrap())
            .with_payload(json!({"i": i}))
            .unwrap();
            if i % 5 == 0 {
                let who = PEOPLE[(i / 5 % 2) as usize];
                e.with_personal(&pnr(who), json!({"namn": format!("Namn {i}"), "belopp_ore": 100 * i}))
                    .unwrap()
            } else {
                e
            }
        })
        .collect();
    match db {
        Db::Sqlite(p) => {
            for chunk in events.chunks(4) {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await.unwrap();
                log.append_batch(&mut *tx, chunk).await.unwrap();
                tx.commit().await.unwrap();
            }
        }
        Db::Postgres(p) => {
            for chunk in events.chunks(4) {
                let mut tx = p.begin().await.unwrap();
                log.append_batch(&mut *tx, chunk).await.unwrap();
                tx.commit().await.unwrap();
            }
        }
    }
}

async fn exec(db: &Db, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match db {
        Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()).unwrap(),
        Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()).unwrap(),
    }
}

fn lines(s: &str) -> Vec<serde_json::Value> {
    s.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

async fn scenario(s: &Setup, url: &str, db: &Db) {
    let log = s.log(url);
    fill(db, &log).await;

    // An intact log verifies; a checkpoint covers everything after --new.
    let o = s.audit(url, &["checkpoint", "--new"]);
    assert!(o.status.success(), "{}", err(&o));
    let note = out(&o);
    assert!(note.starts_with(&format!("{ORIGIN}\n25\n")), "{note}");
    let verifier = audit::NoteVerifier::from_vkey(&s.vkey).unwrap();
    audit::SignedCheckpoint::open(note.as_bytes(), std::slice::from_ref(&verifier)).unwrap();

    let o = s.audit(url, &["verify"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    assert!(out(&o).starts_with("ok: 25 events"), "{}", out(&o));

    // Proofs verify offline with the verifier key, and only with it.
    let proof = s.dir.path().join("event-7.tlog-proof");
    let o = s.audit(url, &["prove", "--seq", "7", "--out", proof.to_str().unwrap()]);
    assert!(o.status.success(), "{}", err(&o));
    let verify = |key: &str, file: &Path| {
        hrobot(s.dir.path())
            .args(["audit", "verify-proof"])
            .arg(file)
            .args(["--key", key])
            .output()
            .unwrap()
    };
    let o = verify(&s.vkey, &proof);
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    assert!(
        out(&o).contains("event 7 (evaluated at 2026-03-01T08:00:07Z)"),
        "{}",
        out(&o)
    );
    let stranger = audit::NoteSigner::generate(ORIGIN).unwrap().verifier().to_vkey();
    assert_eq!(verify(&stranger, &proof).status.code(), Some(1));
    let text = std::fs::read_to_string(&proof).unwrap();
    let first_hash = text.lines().nth(3).unwrap();
    let mut changed = first_hash.to_string();
    changed.replace_range(0..1, if first_hash.starts_with('A') { "B" } else { "A" });
    let bad = s.dir.path().join("bad.tlog-proof");
    std::fs::write(&bad, text.replacen(first_hash, &changed, 1)).unwrap();
    assert_eq!(verify(&s.vkey, &bad).status.code(), Some(1));
    // The environment variable works as well as --key.
    let o = hrobot(s.dir.path())
        .args(["audit", "verify-proof"])
        .arg(&proof)
        .env("HROBOT_AUDIT_VERIFIER_KEY", &s.vkey)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));

    // Export decrypts with the master key; without it personal data is locked.
    let o = s.audit(url, &["export", "--from", "3", "--to", "12"]);
    assert!(o.status.success(), "{}", err(&o));
    let events = lines(&out(&o));
    assert_eq!(
        events.iter().map(|e| e["seq"].as_u64().unwrap()).collect::<Vec<_>>(),
        (3..=12).collect::<Vec<_>>()
    );
    assert_eq!(events[2]["personal"][0]["status"], "decrypted");
    assert_eq!(events[2]["personal"][0]["data"]["namn"], "Namn 5");
    let o = hrobot(s.dir.path())
        .args(["audit", "export", "--db", url])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        lines(&out(&o))
            .iter()
            .flat_map(|e| e["personal"].as_array().unwrap().clone())
            .all(|p| p["status"] == "locked")
    );

    // Erasure: the command names no personnummer; the log still verifies;
    // that person's data is erased, the other's still decrypts.
    let o = s.audit(
        url,
        &["erase", "--subject", PEOPLE[0], "--reason", "gallring efter fem år"],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains("1 key(s) deleted, tombstone at sequence number 25"),
        "{}",
        out(&o)
    );
    for p in PEOPLE {
        let digits = p.replace('-', "");
        assert!(!out(&o).contains(&digits) && !out(&o).contains(p) && !err(&o).contains(p));
    }
    let o = s.audit(url, &["verify"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    let all = lines(&out(&s.audit(url, &["export"])));
    assert_eq!(all.len(), 26);
    assert_eq!(all[25]["kind"], "erased");
    let status = |seq: usize| all[seq]["personal"][0]["status"].as_str().unwrap().to_string();
    assert_eq!(status(0), "erased");
    assert_eq!(status(10), "erased");
    assert_eq!(status(5), "decrypted");
    assert_eq!(status(15), "decrypted");
    // An invalid personnummer is refused without being echoed.
    let o = s.audit(url, &["erase", "--subject", "19121212-1213", "--reason", "x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!err(&o).contains("1213"), "{}", err(&o));

    // Tampering: one bit of event 11's leaf, past the triggers.
    match db {
        Db::Sqlite(_) => {
            exec(db, "DROP TRIGGER audit_events_no_update").await;
            let leaf: Vec<u8> = match db {
                Db::Sqlite(p) => sqlx::query_scalar("SELECT leaf FROM audit_events WHERE seq = 11")
                    .fetch_one(p)
                    .await
                    .unwrap(),
                Db::Postgres(_) => unreachable!(),
            };
            let mut leaf = leaf;
            leaf[30] ^= 0x04;
            if let Db::Sqlite(p) = db {
                sqlx::query("UPDATE audit_events SET leaf = ?1 WHERE seq = 11")
                    .bind(leaf)
                    .execute(p)
                    .await
                    .unwrap();
            }
        }
        Db::Postgres(_) => {
            exec(db, "ALTER TABLE audit_events DISABLE TRIGGER ALL").await;
            exec(
                db,
                "UPDATE audit_events SET leaf = set_byte(leaf, 30, get_byte(leaf, 30) # 4) WHERE seq = 11",
            )
            .await;
        }
    }
    let o = s.audit(url, &["verify"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", out(&o), err(&o));
    assert!(
        out(&o).starts_with("TAMPERED: first bad sequence number 11\n"),
        "{}",
        out(&o)
    );
    assert!(
        out(&o).contains("event 11: stored leaf hash does not match the leaf bytes"),
        "{}",
        out(&o)
    );
}

#[tokio::test]
async fn end_to_end_on_sqlite() {
    let s = setup();
    let url = format!("sqlite://{}", s.dir.path().join("case.sqlite").display());
    let db = Db::connect_or_create(&url).await.unwrap();
    db.migrate().await.unwrap();
    scenario(&s, &url, &db).await;
}

/// Drops the test database when the test ends, passed or failed.
struct DropDb {
    base: String,
    name: String,
}

impl Drop for DropDb {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Async work in Drop: on a thread with its own runtime. FORCE ends
        // the test's own connections.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&format!("{base}/test")).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await;
                }
            });
        })
        .join();
    }
}

#[tokio::test]
async fn end_to_end_on_postgres() {
    let base =
        std::env::var("HROBOT_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("audit_cli_test_{}", unique_suffix());
    let mut admin = sqlx::PgConnection::connect(&format!("{base}/test")).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let _guard = DropDb {
        base: base.clone(),
        name: name.clone(),
    };
    let url = format!("{base}/{name}");
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    let s = setup();
    scenario(&s, &url, &db).await;
}

/// Random enough for a database name: the id of a fresh random key.
fn unique_suffix() -> String {
    hex::encode(audit::MasterKey::generate().id().0)
}

#[test]
fn errors_and_help_print_no_secrets() {
    let s = setup();
    let master = std::fs::read_to_string(&s.mkey).unwrap();
    let master = master.trim();
    let skey = std::fs::read_to_string(&s.skey).unwrap();
    let skey = skey.trim();
    let keyring = MasterKeys::parse(master).unwrap();
    assert_eq!(keyring.ids().len(), 1);
    for args in [
        vec!["audit", "verify", "--db", "sqlite:///nonexistent/x.sqlite"],
        vec!["audit", "export", "--db", "postgres://user:hunter2@127.0.0.1:1/none"],
        vec![
            "audit",
            "erase",
            "--subject",
            "191212121212",
            "--reason",
            "x",
            "--db",
            "sqlite:///nonexistent/x.sqlite",
        ],
        vec!["audit", "--help"],
        vec!["audit", "verify", "--help"],
    ] {
        let o = hrobot(s.dir.path())
            .args(&args)
            .env("HROBOT_MASTER_KEY", master)
            .env("HROBOT_AUDIT_SIGNING_KEY", &s.skey)
            .env("HROBOT_DATABASE_URL", "postgres://user:hunter2@127.0.0.1:1/none")
            .output()
            .unwrap();
        let all = format!("{}{}", out(&o), err(&o));
        assert!(!all.contains(master) && !all.contains(&master[21..]), "{args:?}: {all}");
        assert!(
            !all.contains(skey) && !all.contains(&skey[skey.len() - 40..]),
            "{args:?}: {all}"
        );
        assert!(!all.contains("hunter2"), "{args:?}: {all}");
        assert!(!all.contains("191212121212"), "{args:?}: {all}");
    }
}

/// Rolls an SQLite log back to `keep` events consistently, as probe F9 of
/// the security review did: triggers dropped, the newer events, the nodes
/// over them and the checkpoints beyond deleted, the head rewritten with
/// the right border rebuilt from the stored hashes.
async fn roll_back(db: &Db, keep: u64) {
    for t in ["audit_events", "audit_nodes", "audit_checkpoints"] {
        for what in ["update", "delete"] {
            exec(db, &format!("DROP TRIGGER IF EXISTS {t}_no_{what}")).await;
        }
    }
    exec(db, &format!("DELETE FROM audit_events WHERE seq >= {keep}")).await;
    exec(
        db,
        &format!("DELETE FROM audit_nodes WHERE ((idx + 1) << level) > {keep}"),
    )
    .await;
    exec(db, &format!("DELETE FROM audit_checkpoints WHERE size > {keep}")).await;
    let Db::Sqlite(p) = db else { unreachable!() };
    let mut frontier = Vec::new();
    for id in audit::tree::perfect_nodes(0, keep) {
        let hash: Vec<u8> = if id.level == 0 {
            sqlx::query_scalar("SELECT leaf_hash FROM audit_events WHERE seq = ?1")
                .bind(id.index as i64)
                .fetch_one(p)
                .await
                .unwrap()
        } else {
            sqlx::query_scalar("SELECT hash FROM audit_nodes WHERE level = ?1 AND idx = ?2")
                .bind(i64::from(id.level))
                .bind(id.index as i64)
                .fetch_one(p)
                .await
                .unwrap()
        };
        frontier.extend(hash);
    }
    sqlx::query(
        "UPDATE audit_head SET size = ?1, frontier = ?2, \
         checkpoint_size = (SELECT COALESCE(MAX(size), 0) FROM audit_checkpoints)",
    )
    .bind(keep as i64)
    .bind(frontier)
    .execute(p)
    .await
    .unwrap();
}

/// Finding MEDIUM-3 end to end: a consistent rollback passes `verify` of
/// the database alone (the documented limit) and fails against the
/// checkpoint the witness directory kept, given with `--against` or
/// configured.
#[tokio::test]
async fn a_rollback_is_caught_against_the_witness() {
    let s = setup();
    let url = format!("sqlite://{}", s.dir.path().join("case.sqlite").display());
    let db = Db::connect_or_create(&url).await.unwrap();
    db.migrate().await.unwrap();
    let witness = s.dir.path().join("witness");
    let w = witness.to_str().unwrap();
    fill(&db, &s.log(&url)).await;

    // `checkpoint --new` signs 25 and copies it to the witness.
    let o = s.audit(&url, &["checkpoint", "--new", "--witness-dir", w]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(err(&o).contains("1 checkpoint(s) written to"), "{}", err(&o));
    let kept = witness.join(format!("{:020}.checkpoint", 25));
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), out(&o));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&witness), mode(&kept)), (0o700, 0o600));
    }
    let o = s.audit(&url, &["verify", "--witness-dir", w]);
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    assert!(
        out(&o).contains("the log extends the checkpoint kept outside it: tree size 25"),
        "{}",
        out(&o)
    );

    roll_back(&db, 17).await;

    // The database alone: consistent, and verify says what it cannot see.
    let o = s.audit(&url, &["verify"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    assert!(out(&o).starts_with("ok: 17 events"), "{}", out(&o));
    assert!(out(&o).contains("note: the database was checked alone"), "{}", out(&o));

    let rollback = "TAMPERED: rollback: the log has 17 events, the checkpoint kept outside it covers 25\n";
    // Against the file, the directory, and the configured witness.
    for args in [
        vec!["verify", "--against", kept.to_str().unwrap()],
        vec!["verify", "--against", w],
        vec!["verify", "--witness-dir", w],
    ] {
        let o = s.audit(&url, &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}{}", out(&o), err(&o));
        assert!(out(&o).starts_with(rollback), "{args:?}: {}", out(&o));
        assert!(out(&o).contains(&kept.display().to_string()), "{}", out(&o));
    }
    let o = hrobot(s.dir.path())
        .args(["audit", "verify", "--db", &url, "--signing-key"])
        .arg(&s.skey)
        .env("HROBOT_AUDIT_WITNESS_DIR", w)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}{}", out(&o), err(&o));
    assert!(out(&o).starts_with(rollback), "{}", out(&o));
    // --no-witness: the database alone again.
    let o = s.audit(&url, &["verify", "--witness-dir", w, "--no-witness"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));

    // A checkpoint not signed by the log's key proves nothing: exit 2.
    let forged = s.dir.path().join("forged.checkpoint");
    let stranger = audit::NoteSigner::generate(ORIGIN).unwrap();
    let note = audit::Checkpoint::new(ORIGIN, 40, audit::hash::leaf_hash(b"x"))
        .sign(&stranger)
        .unwrap()
        .note;
    std::fs::write(&forged, note).unwrap();
    let o = s.audit(&url, &["verify", "--against", forged.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}{}", out(&o), err(&o));
    assert!(
        err(&o).contains("not a checkpoint signed by a trusted key"),
        "{}",
        err(&o)
    );
    // A configured witness that is not there (an unmounted share) is not
    // taken for an empty one.
    let gone = s.dir.path().join("not-mounted");
    let o = s.audit(&url, &["verify", "--witness-dir", gone.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}{}", out(&o), err(&o));
    assert!(err(&o).contains("cannot be read"), "{}", err(&o));
}
