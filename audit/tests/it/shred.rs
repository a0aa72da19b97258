//! Crypto-shredding: erasure deletes a key, the log still verifies, the
//! erased subject's data is unreadable and everyone else's still opens;
//! master-key rotation; no personnummer (nor an unkeyed hash of one) in the
//! database.

use crate::support::{Keys, PEOPLE, TestDb, event, every, pnr};
use audit::crypto::MasterKeys;
use audit::store::{ExportedEvent, ExportedPart};
use audit::{Actor, AuditLog, Db, MasterKey};
use serde_json::json;
use sha2::{Digest, Sha256};

async fn export(db: &Db, keys: Option<&MasterKeys>) -> Vec<ExportedEvent> {
    let mut out = Vec::new();
    db.export(keys, 0, None, |e| {
        out.push(e);
        Ok(())
    })
    .await
    .unwrap();
    out
}

/// (subject, status) per personal part, and the decrypted data by subject.
fn parts(events: &[ExportedEvent]) -> Vec<(u64, String, &'static str, Option<serde_json::Value>)> {
    events
        .iter()
        .flat_map(|e| {
            e.personal.iter().map(move |p| match p {
                ExportedPart::Decrypted { subject, data } => (e.seq, subject.clone(), "decrypted", Some(data.clone())),
                ExportedPart::Erased { subject } => (e.seq, subject.clone(), "erased", None),
                ExportedPart::Locked { subject } => (e.seq, subject.clone(), "locked", None),
                ExportedPart::Unreadable { subject } => (e.seq, subject.clone(), "unreadable", None),
            })
        })
        .collect()
}

/// The subject id of event `seq`'s first personal part.
fn subject_of(events: &[ExportedEvent], seq: u64) -> String {
    parts(events).into_iter().find(|p| p.0 == seq).unwrap().1
}

both!(erasure_shreds_one_subject_and_keeps_the_log_verifiable);
async fn erasure_shreds_one_subject_and_keeps_the_log_verifiable(t: TestDb) {
    let keys = Keys::new();
    let log = keys.log(every(8));
    t.db.append(&log, &(0..30).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    t.db.checkpoint(&log).await.unwrap();
    let ring = log.keys().unwrap().clone();

    let before = export(&t.db, Some(&ring)).await;
    let before_parts = parts(&before);
    assert_eq!(before_parts.len(), 10, "every third event has personal data");
    assert!(before_parts.iter().all(|p| p.2 == "decrypted"));
    // Event 0 is about PEOPLE[0], 3 about PEOPLE[1], 6 about PEOPLE[2].
    assert_eq!(
        before_parts[0].3.as_ref().unwrap()["namn"],
        json!(format!("Person {}", PEOPLE[0]))
    );
    let erased_subject = subject_of(&before, 0);
    let other = subject_of(&before, 3);
    assert_ne!(erased_subject, other);

    // Without the master key nothing opens.
    assert!(parts(&export(&t.db, None).await).iter().all(|p| p.2 == "locked"));

    let actor = Actor::parse("operator:gallring").unwrap();
    let erasure =
        t.db.erase(&log, &pnr(PEOPLE[0]), "gallring enligt dokumenthanteringsplan", &actor)
            .await
            .unwrap();
    assert_eq!(erasure.keys_deleted, 1);
    assert_eq!(erasure.seq, 30);
    assert_eq!(erasure.subject.to_string(), erased_subject);

    t.db.checkpoint(&log).await.unwrap();
    let report = t.db.verify(&[log.verifier()]).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.events, 31);

    let after = export(&t.db, Some(&ring)).await;
    for (seq, subject, status, data) in parts(&after) {
        if subject == erased_subject {
            assert_eq!(status, "erased", "event {seq}");
        } else {
            assert_eq!(status, "decrypted", "event {seq}");
            let was = before_parts.iter().find(|p| p.0 == seq).unwrap();
            assert_eq!(data, was.3, "event {seq} decrypts as before");
        }
    }
    let tombstone = &after[30];
    assert_eq!(tombstone.kind, "erased");
    assert_eq!(tombstone.payload["subject"], json!(erased_subject));
    assert_eq!(tombstone.payload["keys_deleted"], json!(1));
    // Proofs of erased events still verify: the leaves did not change.
    let proof = t.db.prove(0, None).await.unwrap();
    assert!(
        audit::offline::verify_file(proof.to_text().as_bytes(), &[log.verifier()])
            .unwrap()
            .is_valid()
    );

    // Erasing again deletes nothing, but is recorded.
    let again =
        t.db.erase(&log, &pnr(PEOPLE[0]), "upprepad begäran", &actor)
            .await
            .unwrap();
    assert_eq!(again.keys_deleted, 0);

    // New personal data about the same person gets a new key and opens.
    t.db.append(&log, &[event(0)]).await.unwrap();
    let last = export(&t.db, Some(&ring)).await.pop().unwrap();
    assert!(matches!(&last.personal[0], ExportedPart::Decrypted { subject, .. } if *subject == erased_subject));
    assert_eq!(
        parts(&export(&t.db, Some(&ring)).await)
            .iter()
            .filter(|p| p.2 == "erased")
            .count(),
        4,
        "the old data stays erased"
    );

    // A reason that carries a personnummer is refused.
    assert!(
        t.db.erase(&log, &pnr(PEOPLE[1]), &format!("begäran från {}", PEOPLE[1]), &actor)
            .await
            .is_err()
    );
}

both!(master_key_rotation_rewraps_every_key);
async fn master_key_rotation_rewraps_every_key(t: TestDb) {
    let keys = Keys::new();
    let log = keys.log(every(100));
    t.db.append(&log, &(0..12).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    let old_ring = log.keys().unwrap().clone();
    let before = parts(&export(&t.db, Some(&old_ring)).await);

    let new = MasterKey::generate();
    let rewrapped = t.db.rotate_master_key(&log, &new).await.unwrap();
    assert_eq!(rewrapped, 3 + 1, "three subject keys and the subject-id key");

    let new_ring = MasterKeys::new(new.clone(), vec![]);
    assert_eq!(parts(&export(&t.db, Some(&new_ring)).await), before);
    assert!(
        parts(&export(&t.db, Some(&old_ring)).await)
            .iter()
            .all(|p| p.2 == "unreadable"),
        "the old master key opens nothing any more"
    );
    // A log on the new key alone keeps appending for the same subjects and
    // finds the same subject ids.
    let rotated = AuditLog::new(
        crate::support::ORIGIN,
        keys.signer.clone(),
        new_ring.clone(),
        every(100),
        keys.clock.clone(),
    )
    .unwrap();
    t.db.append(&rotated, &[event(3)]).await.unwrap();
    let all = export(&t.db, Some(&new_ring)).await;
    assert_eq!(subject_of(&all, 12), subject_of(&all, 3));
    t.db.checkpoint(&rotated).await.unwrap();
    assert!(t.db.verify(&[rotated.verifier()]).await.unwrap().is_ok());
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Scans the SQLite file (and its WAL) byte by byte.
#[tokio::test]
async fn no_personnummer_or_unkeyed_hash_of_one_in_the_database() {
    let t = TestDb::sqlite().await;
    let keys = Keys::new();
    let log = keys.log(every(5));
    t.db.append(&log, &(0..30).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    t.db.erase(&log, &pnr(PEOPLE[2]), "gallring", &Actor::parse("operator:x").unwrap())
        .await
        .unwrap();
    t.db.checkpoint(&log).await.unwrap();
    let path = t.url.trim_start_matches("sqlite://").to_string();
    let mut bytes = std::fs::read(&path).unwrap();
    if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
        bytes.extend(wal);
    }
    assert!(bytes.len() > 10_000);
    for who in PEOPLE {
        let p = pnr(who);
        let forms = [
            p.as_str().to_string(),
            p.formatted(),
            p.as_str()[2..].to_string(),
            format!("{}-{}", &p.as_str()[2..8], &p.as_str()[8..]),
        ];
        for form in &forms {
            assert!(!contains(&bytes, form.as_bytes()), "personnummer in the clear");
            let digest = Sha256::digest(form.as_bytes());
            assert!(!contains(&bytes, &digest), "unkeyed SHA-256 of a personnummer");
            assert!(
                !contains(&bytes, hex::encode(digest).as_bytes()),
                "unkeyed SHA-256 (hex)"
            );
        }
        assert!(
            !contains(&bytes, format!("Person {who}").as_bytes()),
            "a name in the clear"
        );
    }
    // The sanity check that the scan can find things: the case refs are there.
    assert!(contains(&bytes, b"EB-2026-000001"));
}

#[tokio::test]
async fn a_log_without_master_keys_signs_checkpoints_but_seals_nothing() {
    let t = TestDb::sqlite().await;
    let keys = Keys::new();
    let log = AuditLog::without_master_keys(
        crate::support::ORIGIN,
        keys.signer.clone(),
        every(100),
        keys.clock.clone(),
    )
    .unwrap();
    // Event 1 has no personal data, event 0 has.
    t.db.append(&log, &[event(1)]).await.unwrap();
    assert!(t.db.append(&log, &[event(0)]).await.is_err());
    let actor = Actor::parse("operator:x").unwrap();
    assert!(t.db.erase(&log, &pnr(PEOPLE[0]), "gallring", &actor).await.is_err());
    assert_eq!(t.db.checkpoint(&log).await.unwrap().unwrap().checkpoint.size, 1);
    assert!(t.db.verify(&[log.verifier()]).await.unwrap().is_ok());
}
