//! The legacy case system connector, through a real headless Chromium and
//! chromedriver, against the simulated case system on port 0.
//!
//! The browser tests run one at a time (they share two cores and count
//! browser processes). Without Chromium they try to install it, and skip
//! with a loud message only if that fails.

use crate::support::*;
use connectors::legacy::{LegacyConfig, LegacyConnector, Password};
use connectors::{Ack, ApplicationSource, CaseWriteBack, IdempotencyKey, ItemRef, WriteBack};
use domain::{Application, Money, Outcome, Period};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tests::{Fault, Service, Simulator};

pub(crate) static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Chromium and chromedriver, installed from Debian if missing.
pub(crate) fn browser_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let have = || Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
        if !have() {
            let _ = std::process::Command::new("apt-get").args(["update", "-qq"]).status();
            let _ = std::process::Command::new("apt-get")
                .args([
                    "install",
                    "-y",
                    "-qq",
                    "--no-install-recommends",
                    "chromium",
                    "chromium-driver",
                ])
                .status();
        }
        if !have() {
            eprintln!(
                "\n\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !!! SKIPPED: the legacy WebDriver tests need {CHROMIUM} and {CHROMEDRIVER}\n\
                 !!! (Debian packages chromium and chromium-driver), and installing them failed.\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
        }
        have()
    })
}

pub(crate) struct Env {
    pub(crate) sim: Simulator,
    dir: tempfile::TempDir,
}

impl Env {
    pub(crate) async fn start() -> Env {
        let sim = Simulator::start(&seeded_applications()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("profiles")).unwrap();
        Env { sim, dir }
    }

    fn profiles(&self) -> PathBuf {
        self.dir.path().join("profiles")
    }

    fn artefacts(&self) -> PathBuf {
        self.dir.path().join("artefacts")
    }

    fn config(&self, step_ms: u64) -> LegacyConfig {
        let mut cfg = LegacyConfig::new(
            format!("http://{}", self.sim.legacy),
            "robot",
            Password::new("sim-legacy-password"),
            self.artefacts(),
        );
        cfg.step_timeout_ms = step_ms;
        cfg.profile_dir = Some(self.profiles());
        cfg
    }

    pub(crate) fn connector(&self, step_ms: u64) -> LegacyConnector {
        LegacyConnector::new("legacy-test", self.config(step_ms)).unwrap()
    }

    async fn sim_json(&self, path: &str) -> Value {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(self.sim.legacy).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8(out).unwrap();
        let body = text.split_once("\r\n\r\n").unwrap().1;
        serde_json::from_str(body).unwrap()
    }

    pub(crate) async fn decisions(&self) -> Vec<Value> {
        self.sim_json("/_sim/decisions").await.as_array().unwrap().clone()
    }

    /// Browser processes started with one of this test's profiles.
    fn browsers_left(&self) -> Vec<String> {
        let needle = self.profiles().to_string_lossy().into_owned();
        processes().into_iter().filter(|c| c.contains(&needle)).collect()
    }

    /// Waits (a little) for every browser of this test to be gone.
    pub(crate) async fn assert_no_browser_left(&self) {
        for _ in 0..50 {
            if self.browsers_left().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("browser processes left: {:?}", self.browsers_left());
    }

    /// Failure folders saved so far.
    fn artefact_folders(&self) -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(self.artefacts()) else {
            return Vec::new();
        };
        let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        v.sort();
        v
    }
}

fn processes() -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if !e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(c) = std::fs::read(e.path().join("cmdline"))
            && !c.is_empty()
        {
            out.push(String::from_utf8_lossy(&c).replace('\0', " "));
        }
    }
    out
}

fn chromedrivers() -> usize {
    processes()
        .iter()
        .filter(|c| c.starts_with(CHROMEDRIVER) && c.contains("--port="))
        .count()
}

fn seeded(sim: &Simulator, id: &str) -> Value {
    sim.data
        .iter()
        .find(|s| s.application["external_id"] == id)
        .unwrap()
        .application
        .clone()
}

/// Same application after parsing, or the same refusal (same pointers).
fn assert_same_application(seed: &Value, read: &[u8]) {
    let id = seed["external_id"].as_str().unwrap_or("?");
    let expected = Application::parse(&serde_json::to_vec(seed).unwrap());
    let got = Application::parse(read);
    match (expected, got) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{id}"),
        (Err(a), Err(b)) => assert_eq!(a.pointers(), b.pointers(), "{id}: {a} / {b}"),
        (a, b) => panic!(
            "{id}: seed {:?} read {:?}\nread: {}",
            a.map(|_| "ok"),
            b.map(|_| "ok"),
            String::from_utf8_lossy(read)
        ),
    }
}

fn no_personal_data(sim: &Simulator, message: &str) {
    for s in sim.data.iter() {
        for adult in s.application["household"]["adults"].as_array().into_iter().flatten() {
            if let Some(p) = adult["personnummer"].as_str() {
                assert!(!message.contains(p), "personnummer in an error: {message}");
            }
        }
    }
}

pub(crate) fn decision(id: &str, outcome: Outcome, kronor: Option<i64>) -> WriteBack {
    WriteBack {
        external_id: id.into(),
        period: "2021-03".parse::<Period>().unwrap(),
        outcome,
        amount: kronor.map(|k| Money::from_kronor(k).unwrap()),
        decision_text: format!("Beslut om ekonomiskt bistånd: {}.", outcome.label()),
        decided_by: "handl-042".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_every_seeded_application_and_files_them_away() {
    let _serial = SERIAL.lock().await;
    if !browser_available() {
        return;
    }
    let env = Env::start().await;
    let legacy = env.connector(10_000);
    legacy.health().await.unwrap();

    let items = legacy.list_new(1000).await.unwrap();
    assert_eq!(items.len(), env.sim.data.len(), "every seeded case is open");
    let first_page = legacy.list_new(3).await.unwrap();
    assert_eq!(first_page, items[..3].to_vec(), "oldest first, stable");

    for item in &items {
        let bytes = legacy.fetch(item).await.unwrap();
        assert_same_application(&seeded(&env.sim, &item.id), &bytes);
    }

    // Acknowledged cases leave the list; acknowledging twice is harmless.
    legacy.acknowledge(&items[0], &Ack::Accepted).await.unwrap();
    legacy.acknowledge(&items[0], &Ack::Accepted).await.unwrap();
    let rejected = Ack::Rejected {
        reason: "/costs/rent: beloppet får inte vara negativt".into(),
    };
    legacy.acknowledge(&items[1], &rejected).await.unwrap();
    let left = legacy.list_new(1000).await.unwrap();
    assert_eq!(left.len(), items.len() - 2);
    assert!(!left.contains(&items[0]) && !left.contains(&items[1]));
    let cases = env.sim_json("/_sim/cases").await;
    let status = |id: &str| {
        cases
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["arende"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(status(&items[0].id)["status"], "Hämtad av robot");
    assert_eq!(status(&items[1].id)["status"], "Åter till handläggare");
    assert!(
        status(&items[1].id)["anteckning"]
            .as_str()
            .unwrap()
            .contains("/costs/rent")
    );

    // A case the system does not have is a permanent error.
    let e = legacy
        .fetch(&ItemRef {
            id: "FINNS-INTE-1".into(),
        })
        .await
        .unwrap_err();
    assert!(!e.is_retriable(), "{e}");

    legacy.shutdown().await;
    env.assert_no_browser_left().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_back_decisions_once_per_key() {
    let _serial = SERIAL.lock().await;
    if !browser_available() {
        return;
    }
    let env = Env::start().await;
    let legacy = env.connector(10_000);
    let ids: Vec<String> = env
        .sim
        .data
        .iter()
        .take(3)
        .map(|s| s.application["external_id"].as_str().unwrap().to_string())
        .collect();
    let cases = [
        (Outcome::Bifall, Some(9750)),
        (Outcome::Avslag, Some(0)),
        (Outcome::Manuell, None),
    ];
    let mut receipts = Vec::new();
    for (id, (outcome, kr)) in ids.iter().zip(cases) {
        let key = IdempotencyKey::new(format!("beslut:{id}:1")).unwrap();
        let r = legacy.write_back(&key, &decision(id, outcome, kr)).await.unwrap();
        assert!(!r.already_done);
        receipts.push(r);
    }
    let written = env.decisions().await;
    assert_eq!(written.len(), 3);
    assert_eq!(written[0]["arende"], ids[0].as_str());
    assert_eq!(written[0]["utfall"], "bifall");
    assert_eq!(written[0]["belopp_ore"], 975_000);
    assert_eq!(written[0]["period"], "2021-03");
    assert_eq!(written[0]["referens"], format!("beslut:{}:1", ids[0]));
    assert_eq!(written[0]["beslutsfattare"], "handl-042");
    assert_eq!(written[0]["text"], "Beslut om ekonomiskt bistånd: Bifall.");
    assert_eq!(written[0]["beslutsnummer"], receipts[0].reference.as_str());
    assert_eq!(written[1]["utfall"], "avslag");
    assert_eq!(written[1]["belopp_ore"], 0);
    assert_eq!(written[2]["utfall"], "manuell");
    assert_eq!(written[2]["belopp_ore"], Value::Null);

    // A retry with the same key writes nothing new — from this connector,
    // and from a fresh one that knows nothing of the first.
    let key = IdempotencyKey::new(format!("beslut:{}:1", ids[0])).unwrap();
    let again = legacy
        .write_back(&key, &decision(&ids[0], Outcome::Bifall, Some(9750)))
        .await
        .unwrap();
    assert!(again.already_done);
    assert_eq!(again.reference, receipts[0].reference);
    legacy.shutdown().await;
    let fresh = env.connector(10_000);
    let again = fresh
        .write_back(&key, &decision(&ids[0], Outcome::Bifall, Some(9750)))
        .await
        .unwrap();
    assert!(again.already_done);
    assert_eq!(env.decisions().await.len(), 3);

    // A new key for the same case is a new decision (e.g. an amended one).
    let key2 = IdempotencyKey::new(format!("beslut:{}:2", ids[0])).unwrap();
    let r = fresh
        .write_back(&key2, &decision(&ids[0], Outcome::DelvisBifall, Some(8000)))
        .await
        .unwrap();
    assert!(!r.already_done);
    assert_eq!(env.decisions().await.len(), 4);

    // Dropped without shutdown: the guard still ends the browser.
    drop(fresh);
    env.assert_no_browser_left().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_sessions_log_in_again_and_continue() {
    let _serial = SERIAL.lock().await;
    if !browser_available() {
        return;
    }
    let env = Env::start().await;
    let legacy = env.connector(10_000);
    let seed = env.sim.data.iter().nth(2).unwrap().application.clone();
    let id = seed["external_id"].as_str().unwrap().to_string();
    // Log in first, then let every session die after each screen or two.
    legacy.health().await.unwrap();
    env.sim.faults.set(Service::Legacy, Fault::ExpiredSession);

    let items = legacy.list_new(1000).await.unwrap();
    assert_eq!(items.len(), env.sim.data.len());
    let bytes = legacy.fetch(&ItemRef { id: id.clone() }).await.unwrap();
    assert_same_application(&seed, &bytes);
    let key = IdempotencyKey::new(format!("beslut:{id}:1")).unwrap();
    let r = legacy
        .write_back(&key, &decision(&id, Outcome::Bifall, Some(1234)))
        .await
        .unwrap();
    let again = legacy
        .write_back(&key, &decision(&id, Outcome::Bifall, Some(1234)))
        .await
        .unwrap();
    assert!(again.already_done);
    assert_eq!(again.reference, r.reference);
    assert_eq!(env.decisions().await.len(), 1);
    legacy
        .acknowledge(&ItemRef { id: id.clone() }, &Ack::Accepted)
        .await
        .unwrap();
    assert!(env.artefact_folders().is_empty(), "no failure on the way");

    legacy.shutdown().await;
    env.assert_no_browser_left().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_gives_the_right_error_saves_artefacts_and_closes_the_browser() {
    let _serial = SERIAL.lock().await;
    if !browser_available() {
        return;
    }
    let env = Env::start().await;
    let drivers_before = chromedrivers();
    let legacy = env.connector(4_000); // a cold browser start on a busy 2-core machine takes 2 s and more
    let item = ItemRef {
        id: env.sim.data.iter().next().unwrap().application["external_id"]
            .as_str()
            .unwrap()
            .to_string(),
    };
    let cases = [
        (Fault::Down, true, "did not answer"),
        (Fault::Slow(Duration::from_millis(8_000)), true, "timed out"),
        (Fault::Http500, true, "HTTP 500"),
        (Fault::Malformed, false, "malformed page"),
        (Fault::ChangedLayout, false, "screens have changed"),
    ];
    for (fault, retriable, words) in cases {
        // Warm: logged in, the browser open, when the fault strikes. The
        // warm-up is not what is tested: on a loaded 2-core machine a cold
        // browser can miss the 4 s limit, so a retriable miss is tried again.
        let mut warm = legacy.fetch(&item).await;
        for _ in 0..3 {
            match &warm {
                Err(e) if e.is_retriable() => warm = legacy.fetch(&item).await,
                _ => break,
            }
        }
        warm.unwrap();
        let before = env.artefact_folders();
        env.sim.faults.set(Service::Legacy, fault);
        let e = legacy.fetch(&item).await.unwrap_err();
        env.sim.faults.clear(Service::Legacy);
        assert_eq!(e.is_retriable(), retriable, "{fault:?}: {e}");
        assert!(e.message.contains(words), "{fault:?}: {e}");
        no_personal_data(&env.sim, &e.message);

        // The failure's screenshot and page source, private to the service user.
        let new: Vec<PathBuf> = env
            .artefact_folders()
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        assert_eq!(new.len(), 1, "{fault:?}: one artefact folder");
        let folder = &new[0];
        assert!(e.message.contains(&folder.display().to_string()), "{e}");
        let png = std::fs::read(folder.join("screenshot.png")).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{fault:?}");
        assert!(folder.join("page.html").exists(), "{fault:?}");
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(folder), 0o700);
        assert_eq!(mode(&folder.join("page.html")), 0o600);

        // The failed call closed its browser.
        env.assert_no_browser_left().await;
    }
    // Fresh start after the last failure: everything works again.
    legacy.fetch(&item).await.unwrap();

    // Down before the first call, too: the login fails retriably.
    legacy.shutdown().await;
    env.sim.faults.set(Service::Legacy, Fault::Down);
    let e = legacy.health().await.unwrap_err();
    assert!(e.is_retriable(), "{e}");
    env.sim.faults.clear(Service::Legacy);

    // Wrong password: permanent.
    let mut cfg = env.config(2_000);
    cfg.password = Password::new("fel-lösenord");
    let wrong = LegacyConnector::new("legacy-test", cfg).unwrap();
    let e = wrong.health().await.unwrap_err();
    assert!(!e.is_retriable(), "{e}");
    assert!(e.message.contains("login refused"), "{e}");
    assert!(!e.message.contains("fel-lösenord"));

    legacy.shutdown().await;
    env.assert_no_browser_left().await;
    for _ in 0..50 {
        if chromedrivers() <= drivers_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(chromedrivers() <= drivers_before, "chromedriver left running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_check_notices_a_changed_layout() {
    let _serial = SERIAL.lock().await;
    if !browser_available() {
        return;
    }
    let env = Env::start().await;
    let legacy = env.connector(10_000);
    legacy.health().await.unwrap();
    env.sim.faults.set(Service::Legacy, Fault::ChangedLayout);
    let e = ApplicationSource::health(&legacy).await.unwrap_err();
    assert!(!e.is_retriable());
    assert!(e.message.contains("screens have changed"), "{e}");
    assert!(e.message.contains("pause the robot"), "{e}");
    assert!(e.message.contains("field 'Ärendenummer'"), "{e}");
    assert!(
        e.message.contains("column 'Ärendenummer' in table 'Öppna ansökningar'"),
        "{e}"
    );
    let e = CaseWriteBack::health(&legacy).await.unwrap_err();
    assert!(!e.is_retriable());
    env.sim.faults.clear(Service::Legacy);
    legacy.health().await.unwrap();
    legacy.shutdown().await;
    env.assert_no_browser_left().await;
}
