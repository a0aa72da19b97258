//! The browser: chromedriver (started as our child process, or reached at
//! a configured URL) driving a headless Chromium with a fresh profile, and
//! a guard that always ends the WebDriver session and the driver — on a
//! normal close, on an error, and on drop (so also while a panic unwinds).

use super::{Failure, LegacyConfig};
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use tempfile::TempDir;

/// The flags Chromium needs in a container or CI sandbox.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1024",
    "--lang=sv-SE",
];

/// A running browser session. Dropping it ends the session and the driver.
pub struct Browser {
    pub client: Client,
    driver_addr: SocketAddr,
    session_id: Option<String>,
    child: Option<tokio::process::Child>,
    _profile: TempDir,
    closed: bool,
    /// Logged in, with the content frame as the current browsing context.
    pub logged_in: bool,
}

fn start_failure(what: &str) -> Failure {
    Failure::Start(what.to_string())
}

impl Browser {
    /// Starts chromedriver (unless a URL is configured) and a new session.
    pub async fn start(config: &LegacyConfig) -> Result<Browser, Failure> {
        let deadline = config.startup_timeout();
        let profile = match &config.profile_dir {
            Some(dir) => tempfile::Builder::new().prefix("legacy-profile-").tempdir_in(dir),
            None => tempfile::Builder::new().prefix("legacy-profile-").tempdir(),
        }
        .map_err(|_| start_failure("cannot create a browser profile folder"))?;

        let (child, url, addr) = match &config.webdriver_url {
            Some(url) => {
                let addr =
                    host_port(url).ok_or_else(|| Failure::Config("webdriver_url must be http://HOST:PORT".into()))?;
                (None, url.trim_end_matches('/').to_string(), addr)
            }
            None => {
                let port = free_port().map_err(|_| start_failure("no free port for chromedriver"))?;
                let child = tokio::process::Command::new(&config.chromedriver_path)
                    .arg(format!("--port={port}"))
                    .arg("--log-level=OFF")
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| {
                        if e.kind() == std::io::ErrorKind::NotFound {
                            Failure::Config("chromedriver not found at the configured path".into())
                        } else {
                            start_failure("cannot start chromedriver")
                        }
                    })?;
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                (Some(child), format!("http://127.0.0.1:{port}"), addr)
            }
        };
        // From here on, a failure drops `child`, which kills the driver.
        let mut pending = PendingDriver {
            child,
            profile: profile.path().to_path_buf(),
        };
        let ready = tokio::time::timeout(deadline, async {
            loop {
                if tokio::net::TcpStream::connect(addr).await.is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        if ready.is_err() {
            return Err(start_failure("chromedriver did not start in time"));
        }

        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let step_ms = u64::try_from(config.step_timeout().as_millis()).unwrap_or(u64::MAX);
        let mut caps = Capabilities::new();
        caps.insert("browserName".into(), "chrome".into());
        caps.insert("pageLoadStrategy".into(), "normal".into());
        caps.insert("unhandledPromptBehavior".into(), "accept".into());
        caps.insert(
            "timeouts".into(),
            serde_json::json!({"pageLoad": step_ms, "script": step_ms, "implicit": 0}),
        );
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"binary": config.chromium_path, "args": args}),
        );
        let client = tokio::time::timeout(
            deadline,
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps)
                .connect(&url),
        )
        .await
        .map_err(|_| start_failure("the browser did not start in time"))?
        .map_err(|_| start_failure("chromedriver could not start a browser session"))?;
        let session_id = match tokio::time::timeout(deadline, client.session_id()).await {
            Ok(Ok(id)) => id,
            _ => None,
        };
        Ok(Browser {
            client,
            driver_addr: addr,
            session_id,
            child: pending.child.take(),
            _profile: profile,
            closed: false,
            logged_in: false,
        })
    }

    /// Ends the session (Chromium quits) and stops the driver.
    pub async fn close(mut self) {
        let client = self.client.clone();
        let ended = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        if matches!(ended, Ok(Ok(()))) {
            self.closed = true;
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
        // A driver killed before it ended the session leaves its Chromium
        // running (reparented, no longer anyone's child): give a quitting
        // browser a moment, then kill what still runs on this profile.
        let profile = self._profile.path().to_path_buf();
        for _ in 0..30 {
            if browser_processes(&profile).is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        kill_browser_processes(&profile);
        // Drop does the rest (and ends the session the blocking way if the
        // polite way failed).
    }
}

/// The processes started with `--user-data-dir=` this profile: Chromium's
/// own (its helpers end with it). Read from /proc; none elsewhere.
fn browser_processes(profile: &std::path::Path) -> Vec<rustix::process::Pid> {
    let flag = format!("--user-data-dir={}", profile.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid = rustix::process::Pid::from_raw(e.file_name().to_str()?.parse().ok()?)?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            cmdline
                .split(|b| *b == 0)
                .any(|arg| arg == flag.as_bytes())
                .then_some(pid)
        })
        .collect()
}

/// Kills every process started with `--user-data-dir=` this profile:
/// what a browser whose driver died first leaves running. (Processes of
/// other users cannot be signalled and are left.)
pub fn kill_browser_processes(profile: &std::path::Path) {
    for pid in browser_processes(profile) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

/// Kills a driver started for a session that never came up, and the
/// browser it may already have launched.
struct PendingDriver {
    child: Option<tokio::process::Child>,
    profile: std::path::PathBuf,
}

impl Drop for PendingDriver {
    fn drop(&mut self) {
        // Still ours: the session never came up. (On success `start`
        // has taken the driver, and the browser is the session's.)
        if let Some(child) = &mut self.child {
            let _ = child.start_kill();
            kill_browser_processes(&self.profile);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Without an async runtime to lean on (we may be unwinding), end the
        // session with a plain blocking request: chromedriver then quits
        // Chromium and waits for it. Then stop the driver.
        if !self.closed
            && let Some(id) = &self.session_id
        {
            delete_session_blocking(self.driver_addr, id);
        }
        if let Some(child) = &mut self.child {
            let _ = child.start_kill();
        }
        if !self.closed {
            kill_browser_processes(self._profile.path());
        }
    }
}

fn delete_session_blocking(addr: SocketAddr, session: &str) {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("DELETE /session/{session} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_ok() {
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
}

fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// `http://127.0.0.1:9515` → its socket address (IP literals and localhost).
fn host_port(url: &str) -> Option<SocketAddr> {
    let rest = url.strip_prefix("http://")?;
    let hostport = rest.split('/').next()?;
    let (host, port) = hostport.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = if host == "localhost" { "127.0.0.1" } else { host };
    format!("{host}:{port}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webdriver_urls_give_an_address() {
        assert_eq!(host_port("http://localhost:9515"), Some(([127, 0, 0, 1], 9515).into()));
        assert_eq!(host_port("http://127.0.0.1:4444/"), Some(([127, 0, 0, 1], 4444).into()));
        assert_eq!(host_port("https://x:1"), None);
    }

    /// A driver that launches a "browser" for the session and then never
    /// answers: the start fails on its deadline, and neither the driver nor
    /// the browser it launched outlives the failure.
    #[tokio::test]
    async fn a_session_that_never_comes_up_leaves_no_browser() {
        let dir = tempfile::tempdir().unwrap();
        let driver = dir.path().join("fake-chromedriver");
        let launched = dir.path().join("launched");
        std::fs::write(
            &driver,
            format!(
                r#"#!/usr/bin/env python3
import re, socket, subprocess, sys
port = int(next(a for a in sys.argv if a.startswith("--port=")).split("=")[1])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(8)
held = []
while True:
    c, _ = s.accept()
    held.append(c)
    c.settimeout(2)
    data = b""
    try:
        while not re.search(rb"--user-data-dir=([^\"]+)\"", data):
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    m = re.search(rb"--user-data-dir=([^\"]+)\"", data)
    if m:
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)",
                          "--user-data-dir=" + m.group(1).decode()])
        open({launched:?}, "w").close()
"#,
                launched = launched.display().to_string()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&driver, std::fs::Permissions::from_mode(0o755)).unwrap();
        let profiles = dir.path().join("profiles");
        std::fs::create_dir(&profiles).unwrap();
        let mut config = LegacyConfig::new(
            "http://127.0.0.1:9",
            "robot",
            super::super::Password::new("x"),
            dir.path().join("artefacts"),
        );
        config.chromedriver_path = driver;
        config.startup_timeout_ms = 3_000;
        config.profile_dir = Some(profiles.clone());

        let started = Browser::start(&config).await;
        assert!(started.is_err(), "the fake driver never answers");
        assert!(launched.exists(), "the fake driver launched its browser");
        let flag = format!("--user-data-dir={}", profiles.display());
        let left = || {
            std::fs::read_dir("/proc")
                .unwrap()
                .flatten()
                .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
                .filter(|c| String::from_utf8_lossy(c).contains(&flag))
                .count()
        };
        for _ in 0..50 {
            if left() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(left(), 0, "a browser outlived its failed start");
    }
}
