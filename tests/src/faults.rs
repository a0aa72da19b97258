//! Fault modes, switchable per service while the simulator runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    Eservice,
    Ssbtek,
    Legacy,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Connections are refused (the listener answers with a closed connection).
    Down,
    /// Every answer is delayed.
    Slow(#[serde(with = "millis")] Duration),
    /// HTTP 500 (or a SOAP fault) on every call.
    Http500,
    /// Syntactically broken answers.
    Malformed,
    /// Sessions expire after every request (the legacy system).
    ExpiredSession,
    /// The screens' layout has changed (the legacy system).
    ChangedLayout,
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// The current fault of each service (none by default).
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<HashMap<Service, Fault>>>);

impl Faults {
    pub fn set(&self, service: Service, fault: Fault) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(service, fault);
        }
    }

    pub fn clear(&self, service: Service) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(&service);
        }
    }

    pub fn get(&self, service: Service) -> Option<Fault> {
        self.0.lock().ok().and_then(|m| m.get(&service).copied())
    }
}
