//! The life of a case, as an enum of states and typed transitions.
//!
//! ```text
//! received ─▶ evaluated ─▶ awaiting_approval ─▶ approved ─┐
//!    │            │            ▲    ├──────▶ amended ─────┼─▶ sent ─▶ closed
//!    │            │            │    ├──────▶ awaiting_second_approval ─▶ approved | amended
//!    │            │            │    ├──────▶ returned_to_manual ─▶ closed
//!    │            │            │    └──────▶ kommunicering (FL 25 §: the applicant may reply)
//!    │            │            └─────── answered | deadline passed ─┘
//!    ├─▶ invalid  └─▶ failed
//!    └─▶ failed ─▶ received   (an operator requeues it)
//! ```
//!
//! A [`Step`] is a legal transition; the only way to get one is to start
//! from the case's current state ([`CaseState::at`]) and call one of the
//! functions that state offers. There is no function for an illegal step,
//! so it cannot be written.

use crate::codes::string_enum;
use std::marker::PhantomData;

string_enum! {
    /// Where a case is. The database stores the same names.
    CaseState, "ärendestatus" {
        Received => "received",
        Evaluated => "evaluated",
        AwaitingApproval => "awaiting_approval",
        AwaitingSecondApproval => "awaiting_second_approval",
        Approved => "approved",
        Amended => "amended",
        ReturnedToManual => "returned_to_manual",
        Kommunicering => "kommunicering",
        Sent => "sent",
        Closed => "closed",
        Invalid => "invalid",
        Failed => "failed",
    }
}

impl CaseState {
    /// Swedish, for officials.
    pub const fn label(self) -> &'static str {
        match self {
            CaseState::Received => "Mottagen",
            CaseState::Evaluated => "Bedömd",
            CaseState::AwaitingApproval => "Väntar på beslut",
            CaseState::AwaitingSecondApproval => "Väntar på andra godkännande",
            CaseState::Approved => "Beslutad",
            CaseState::Amended => "Beslutad med ändring",
            CaseState::ReturnedToManual => "Manuell handläggning",
            CaseState::Kommunicering => "Kommunicering – väntar på svar",
            CaseState::Sent => "Skickad",
            CaseState::Closed => "Avslutad",
            CaseState::Invalid => "Ogiltig ansökan",
            CaseState::Failed => "Fel i behandlingen",
        }
    }

    /// No further transitions.
    pub const fn is_final(self) -> bool {
        matches!(self, CaseState::Closed | CaseState::Invalid)
    }

    /// A typed handle on this state, offering exactly its transitions.
    pub fn at(self) -> At {
        match self {
            CaseState::Received => At::Received(In(PhantomData)),
            CaseState::Evaluated => At::Evaluated(In(PhantomData)),
            CaseState::AwaitingApproval => At::AwaitingApproval(In(PhantomData)),
            CaseState::AwaitingSecondApproval => At::AwaitingSecondApproval(In(PhantomData)),
            CaseState::Approved => At::Approved(In(PhantomData)),
            CaseState::Amended => At::Amended(In(PhantomData)),
            CaseState::ReturnedToManual => At::ReturnedToManual(In(PhantomData)),
            CaseState::Kommunicering => At::Kommunicering(In(PhantomData)),
            CaseState::Sent => At::Sent(In(PhantomData)),
            CaseState::Closed => At::Closed,
            CaseState::Invalid => At::Invalid,
            CaseState::Failed => At::Failed(In(PhantomData)),
        }
    }
}

/// A legal transition between two states, with the audit event it records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    from: CaseState,
    to: CaseState,
    event: &'static str,
}

impl Step {
    pub fn from(self) -> CaseState {
        self.from
    }
    pub fn to(self) -> CaseState {
        self.to
    }
    /// The audit event type for this transition.
    pub fn event(self) -> &'static str {
        self.event
    }
}

/// Marker types, one per state.
pub mod states {
    macro_rules! marker {
        ($($m:ident => $s:ident),+) => {$(
            #[derive(Debug, Clone, Copy)]
            pub struct $m;
            impl super::Marker for $m { const STATE: super::CaseState = super::CaseState::$s; }
        )+};
    }
    marker!(Received => Received, Evaluated => Evaluated, AwaitingApproval => AwaitingApproval, AwaitingSecondApproval => AwaitingSecondApproval,
        Approved => Approved, Amended => Amended, ReturnedToManual => ReturnedToManual, Kommunicering => Kommunicering, Sent => Sent,
        Failed => Failed);
}

pub trait Marker {
    const STATE: CaseState;
}

/// "The case is in state `S`." Only [`CaseState::at`] makes one.
#[derive(Debug, Clone, Copy)]
pub struct In<S>(PhantomData<S>);

impl<S: Marker> In<S> {
    fn step(self, to: CaseState, event: &'static str) -> Step {
        Step {
            from: S::STATE,
            to,
            event,
        }
    }
}

/// The current state as a typed handle.
#[derive(Debug, Clone, Copy)]
pub enum At {
    Received(In<states::Received>),
    Evaluated(In<states::Evaluated>),
    AwaitingApproval(In<states::AwaitingApproval>),
    AwaitingSecondApproval(In<states::AwaitingSecondApproval>),
    Approved(In<states::Approved>),
    Amended(In<states::Amended>),
    ReturnedToManual(In<states::ReturnedToManual>),
    Kommunicering(In<states::Kommunicering>),
    Sent(In<states::Sent>),
    Closed,
    Invalid,
    Failed(In<states::Failed>),
}

impl In<states::Received> {
    /// The ruleset produced a draft.
    pub fn evaluated(self) -> Step {
        self.step(CaseState::Evaluated, "case.evaluated")
    }
    /// The document is not a valid application (never retried).
    pub fn invalid(self) -> Step {
        self.step(CaseState::Invalid, "case.invalid")
    }
    /// Processing failed for good (retries used up, or the ruleset failed).
    pub fn failed(self) -> Step {
        self.step(CaseState::Failed, "case.failed")
    }
}

impl In<states::Evaluated> {
    /// The draft is stored and waits for an official.
    pub fn awaiting_approval(self) -> Step {
        self.step(CaseState::AwaitingApproval, "case.drafted")
    }
    pub fn failed(self) -> Step {
        self.step(CaseState::Failed, "case.failed")
    }
}

impl In<states::AwaitingApproval> {
    /// Approved as drafted, by one official (no second approver needed).
    pub fn approved(self) -> Step {
        self.step(CaseState::Approved, "case.approved")
    }
    /// Amended and decided by one official (no second approver needed).
    pub fn amended(self) -> Step {
        self.step(CaseState::Amended, "case.amended")
    }
    /// Approved or amended by a first official; a second must approve.
    pub fn first_approval(self) -> Step {
        self.step(CaseState::AwaitingSecondApproval, "case.approved")
    }
    pub fn returned_to_manual(self) -> Step {
        self.step(CaseState::ReturnedToManual, "case.returned")
    }
    /// An official sent the applicant a kommuniceringsbrev (FL 25 §); the
    /// case waits for the reply or the deadline.
    pub fn kommunicering_sent(self) -> Step {
        self.step(CaseState::Kommunicering, "case.kommunicering_sent")
    }
}

impl In<states::Kommunicering> {
    /// The applicant's reply is recorded; the case goes back to the queue.
    pub fn answered(self) -> Step {
        self.step(CaseState::AwaitingApproval, "case.kommunicering_answered")
    }
    /// The reply deadline passed without a reply; the case goes back to the queue.
    pub fn deadline_passed(self) -> Step {
        self.step(CaseState::AwaitingApproval, "case.kommunicering_expired")
    }
    pub fn returned_to_manual(self) -> Step {
        self.step(CaseState::ReturnedToManual, "case.returned")
    }
}

impl In<states::AwaitingSecondApproval> {
    /// The second official approves the first's decision as drafted.
    pub fn approved(self) -> Step {
        self.step(CaseState::Approved, "case.approved")
    }
    /// The second official approves the first's amended decision.
    pub fn amended(self) -> Step {
        self.step(CaseState::Amended, "case.amended")
    }
    pub fn returned_to_manual(self) -> Step {
        self.step(CaseState::ReturnedToManual, "case.returned")
    }
}

impl In<states::Approved> {
    pub fn sent(self) -> Step {
        self.step(CaseState::Sent, "case.sent")
    }
}

impl In<states::Amended> {
    pub fn sent(self) -> Step {
        self.step(CaseState::Sent, "case.sent")
    }
}

impl In<states::ReturnedToManual> {
    pub fn closed(self) -> Step {
        self.step(CaseState::Closed, "case.closed")
    }
}

impl In<states::Sent> {
    pub fn closed(self) -> Step {
        self.step(CaseState::Closed, "case.closed")
    }
}

impl In<states::Failed> {
    /// An operator sends the case through the pipeline again.
    pub fn requeued(self) -> Step {
        self.step(CaseState::Received, "case.requeued")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_is_a_chain_of_typed_steps() {
        let At::Received(r) = CaseState::Received.at() else {
            panic!()
        };
        let s = r.evaluated();
        assert_eq!((s.from(), s.to()), (CaseState::Received, CaseState::Evaluated));
        let At::Evaluated(e) = s.to().at() else { panic!() };
        let At::AwaitingApproval(w) = e.awaiting_approval().to().at() else {
            panic!()
        };
        let At::Approved(a) = w.approved().to().at() else {
            panic!()
        };
        let At::Sent(sent) = a.sent().to().at() else { panic!() };
        assert_eq!(sent.closed().to(), CaseState::Closed);
        assert!(CaseState::Closed.is_final());
    }

    #[test]
    fn names_round_trip_and_every_state_has_a_label() {
        for s in CaseState::ALL {
            assert_eq!(s.as_str().parse::<CaseState>().unwrap(), *s);
            assert!(!s.label().is_empty());
        }
    }
}
