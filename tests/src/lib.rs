//! The simulated municipality: the systems Handläggarrobot talks to but we
//! cannot reach from a test machine, played by small servers that speak the
//! same protocols.
//!
//! * [`eservice`] — an e-service platform's REST API (JSON, bearer token or
//!   mutual TLS, paging, acknowledge).
//! * [`ssbtek`] — an SSBTEK-style register service: SOAP 1.1 over mutual
//!   TLS, one request per person and period ([`tls`] makes the certificates).
//! * [`legacy`] — a legacy case system's web UI (login, frameset, search,
//!   case screens, a decision form), driven through a browser.
//!
//! Each service listens on its own port (0 in tests) and has fault modes
//! that tests switch on and off ([`faults`]).

pub mod compliance;
pub mod data;
pub mod eservice;
pub mod faults;
pub mod legacy;
pub mod oidc;
pub mod smtp;
pub mod ssbtek;
pub mod tls;

use std::net::SocketAddr;
use std::path::Path;

pub use faults::{Fault, Faults, Service};

/// The running simulator: where each service listens, and the fault switch.
pub struct Simulator {
    pub eservice: SocketAddr,
    /// The SSBTEK-style register service: address, client certificate files, test handle.
    pub ssbtek: ssbtek::SsbtekSim,
    /// The legacy case system's web UI (`http://{legacy}/login`).
    pub legacy: SocketAddr,
    pub faults: Faults,
    pub data: data::Dataset,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Simulator {
    /// Starts every service on 127.0.0.1, port 0, with the applications in
    /// `applications` (a folder of `ekonomiskt-bistand/ansokan/v1` JSON
    /// files, e.g. the shared examples) as the seeded data set.
    pub async fn start(applications: &Path) -> anyhow::Result<Simulator> {
        let data = data::Dataset::load(applications)?;
        let faults = Faults::default();
        let mut tasks = Vec::new();
        let (eservice, task) = eservice::spawn(data.clone(), faults.clone(), eservice::Auth::default()).await?;
        tasks.push(task);
        let (ssbtek, task) = ssbtek::spawn(data.clone(), faults.clone()).await?;
        tasks.push(task);
        let (legacy, task) = legacy::spawn(data.clone(), faults.clone(), legacy::Options::default()).await?;
        tasks.push(task);
        Ok(Simulator {
            eservice,
            ssbtek,
            legacy,
            faults,
            data,
            tasks,
        })
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
