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
        let mut pending = PendingDriver { child };
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
        // Drop does the rest (and ends the session the blocking way if the
        // polite way failed).
    }
}

/// Kills a driver started for a session that never came up.
struct PendingDriver {
    child: Option<tokio::process::Child>,
}

impl Drop for PendingDriver {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.start_kill();
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
}
