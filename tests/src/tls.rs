//! Test certificates and TLS serving for the simulated services.
//!
//! [`TestPki`] makes a throw-away CA (rcgen), a server certificate for
//! `127.0.0.1` and `localhost` and a client certificate, writes them as PEM
//! files into its own temporary folder, and builds a rustls server
//! configuration (ring provider) that requires a client certificate from
//! that CA. [`TlsListener`] plugs such a configuration into `axum::serve`.
//! Nothing here reads the clock: certificates are valid from 1975 to 4096
//! (rcgen's defaults), so tests never depend on today's date.

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate authority that exists only for a test run.
pub struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
    der: CertificateDer<'static>,
}

/// A certificate and its private key, as issued by a [`TestCa`].
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Issued {
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// Writes `STEM.pem` (certificate) and `STEM.key` (key, mode 0600) into `dir`.
    pub fn write(&self, dir: &Path, stem: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
        let cert = dir.join(format!("{stem}.pem"));
        let key = dir.join(format!("{stem}.key"));
        std::fs::write(&cert, &self.cert_pem)?;
        write_private(&key, &self.key_pem)?;
        Ok((cert, key))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text)?;
    Ok(())
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Handläggarrobot test");
    dn.push(DnType::CommonName, common_name);
    dn
}

impl TestCa {
    pub fn new(common_name: &str) -> anyhow::Result<TestCa> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(TestCa {
            pem: cert.pem(),
            der: cert.der().clone(),
            params,
            key,
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.pem
    }

    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.der.clone()
    }

    fn issue(&self, mut params: CertificateParams, common_name: &str) -> anyhow::Result<Issued> {
        params.distinguished_name = name(common_name);
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        })
    }

    /// A server certificate for these DNS names or IP addresses.
    pub fn issue_server(&self, names: &[&str]) -> anyhow::Result<Issued> {
        let mut params = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params, names.first().copied().unwrap_or("server"))
    }

    /// A client certificate (for mutual TLS) with this common name.
    pub fn issue_client(&self, common_name: &str) -> anyhow::Result<Issued> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params, common_name)
    }
}

/// What a client needs on disk to talk to a service: the CA to trust, and
/// its own certificate and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A CA with one server and one client certificate, all written to a
/// temporary folder that lives as long as this value.
pub struct TestPki {
    pub ca: TestCa,
    pub server: Issued,
    pub client: Issued,
    pub files: ClientFiles,
    dir: tempfile::TempDir,
}

impl TestPki {
    /// `service` names the CA and the certificates (`<service> test CA`, …).
    pub fn new(service: &str) -> anyhow::Result<TestPki> {
        let ca = TestCa::new(&format!("{service} test CA"))?;
        let server = ca.issue_server(&["127.0.0.1", "localhost"])?;
        let client = ca.issue_client(&format!("{service} test client"))?;
        let dir = tempfile::Builder::new().prefix("sim-pki-").tempdir()?;
        let ca_path = dir.path().join("ca.pem");
        std::fs::write(&ca_path, ca.cert_pem())?;
        let (cert, key) = client.write(dir.path(), "client")?;
        Ok(TestPki {
            files: ClientFiles { ca: ca_path, cert, key },
            ca,
            server,
            client,
            dir,
        })
    }

    /// The folder holding the PEM files; tests may write more there.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A rustls server configuration with the server certificate that
    /// requires a client certificate issued by this CA.
    pub fn server_config(&self) -> anyhow::Result<rustls::ServerConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.cert_der())?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .context("client certificate verifier")?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.server.cert_der.clone()], self.server.key_der())?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    /// A rustls client configuration trusting this CA; with this PKI's
    /// client certificate when `with_certificate`.
    pub fn client_config(&self, with_certificate: bool) -> anyhow::Result<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.cert_der())?;
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        Ok(if with_certificate {
            builder.with_client_auth_cert(vec![self.client.cert_der.clone()], self.client.key_der())?
        } else {
            builder.with_no_client_auth()
        })
    }
}

/// Accepts TCP connections and runs each TLS handshake in its own task, so
/// a slow or failing client never holds up the others; `axum::serve` gets
/// only connections whose handshake succeeded (client certificate checked).
pub struct TlsListener {
    rx: mpsc::Receiver<(Cut<TlsStream<TcpStream>>, SocketAddr)>,
    addr: SocketAddr,
    acceptor: tokio::task::JoinHandle<()>,
}

/// How long a client may take over its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl TlsListener {
    /// Listens on 127.0.0.1, port 0. While `refuse()` is true every new
    /// connection is closed at once, before the handshake, and connections
    /// already open are reset at their next read (a service that is down:
    /// kept-alive connections die with it).
    pub async fn bind(
        config: rustls::ServerConfig,
        refuse: impl Fn() -> bool + Send + Sync + 'static,
    ) -> anyhow::Result<TlsListener> {
        let tcp = TcpListener::bind("127.0.0.1:0").await?;
        let addr = tcp.local_addr()?;
        let tls = TlsAcceptor::from(Arc::new(config));
        let (tx, rx) = mpsc::channel(64);
        let refuse: Arc<dyn Fn() -> bool + Send + Sync> = Arc::new(refuse);
        let acceptor = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = tcp.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                if refuse() {
                    drop(stream);
                    continue;
                }
                let tls = tls.clone();
                let tx = tx.clone();
                let cut = refuse.clone();
                tokio::spawn(async move {
                    if let Ok(Ok(s)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                        let _ = tx.send((Cut { inner: s, cut }, peer)).await;
                    }
                });
            }
        });
        Ok(TlsListener { rx, addr, acceptor })
    }
}

impl TlsListener {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

/// A connection that is reset at its next read once `cut()` is true.
pub struct Cut<S> {
    inner: S,
    cut: Arc<dyn Fn() -> bool + Send + Sync>,
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Cut<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if (self.cut)() {
            return std::task::Poll::Ready(Err(std::io::ErrorKind::ConnectionReset.into()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Cut<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = Cut<TlsStream<TcpStream>>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The acceptor is gone (only when the listener is being dropped): wait forever.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
