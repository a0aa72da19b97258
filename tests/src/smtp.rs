//! A real SMTP server for tests: Debian's `python3-aiosmtpd`, run as a
//! child process, storing what it receives in a maildir folder. It can be
//! stopped and started again on the same port (to test retries).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's interpreter: `python3-aiosmtpd` installs for it, not for other
/// Pythons that may be first on PATH.
pub const PYTHON: &str = "/usr/bin/python3";

pub struct SmtpServer {
    pub port: u16,
    pub maildir: PathBuf,
    tls: Option<(PathBuf, PathBuf)>,
    child: Option<Child>,
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl SmtpServer {
    /// Starts a plain SMTP server (no TLS) storing into `maildir`.
    pub fn start(maildir: &Path) -> anyhow::Result<SmtpServer> {
        SmtpServer::start_with(maildir, None)
    }

    /// With `tls` = (certificate, key) PEM files, the server offers STARTTLS.
    pub fn start_with(maildir: &Path, tls: Option<(PathBuf, PathBuf)>) -> anyhow::Result<SmtpServer> {
        let mut s = SmtpServer {
            port: free_port()?,
            maildir: maildir.to_path_buf(),
            tls,
            child: None,
        };
        s.resume()?;
        Ok(s)
    }

    /// (Re)starts the server on its port.
    pub fn resume(&mut self) -> anyhow::Result<()> {
        // The Mailbox handler makes the maildir (with tmp/, new/, cur/)
        // itself, but only when the folder does not exist yet.
        if let Some(parent) = self.maildir.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut cmd = Command::new(PYTHON);
        cmd.args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{}", self.port),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(&self.maildir);
        if let Some((cert, key)) = &self.tls {
            cmd.arg("--tlscert").arg(cert).arg("--tlskey").arg(key);
        }
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        self.child = Some(child);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        anyhow::bail!("aiosmtpd did not start (is python3-aiosmtpd installed?)")
    }

    /// Stops the server (the port is then refused).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The messages received so far (raw RFC 5322 text).
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(rd) = std::fs::read_dir(self.maildir.join(sub)) {
                for e in rd.flatten() {
                    if let Ok(t) = std::fs::read_to_string(e.path()) {
                        out.push(t);
                    }
                }
            }
        }
        out
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}
