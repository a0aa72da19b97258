//! Named points where tests make the pipeline and the outbox fail on purpose
//! (house style 15). Empty in production.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Named points where tests make the pipeline fail on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultPoint {
    /// Right after a worker leased its batch.
    AfterClaim,
    /// After the ruleset produced a draft, before anything is stored.
    AfterEvaluate,
    /// With the batch's results ready, before the transaction.
    BeforeCommit,
    /// The outbox: the other side has the decision, the receipt is not yet recorded.
    AfterDelivery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A technical error at this point (the item is retried).
    Error,
    /// The worker dies here: nothing of the batch is stored, the leases
    /// stay until they expire.
    Crash,
}

/// Planned failures. Empty in production.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<HashMap<FaultPoint, (Fault, usize)>>>);

impl Faults {
    /// Fail `times` times at `point`.
    pub fn plan(&self, point: FaultPoint, fault: Fault, times: usize) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(point, (fault, times));
        }
    }

    pub(crate) fn hit(&self, point: FaultPoint) -> Option<Fault> {
        let mut m = self.0.lock().ok()?;
        let (fault, left) = m.get_mut(&point)?;
        if *left == 0 {
            return None;
        }
        *left -= 1;
        Some(*fault)
    }
}
