//! The domain vocabulary of Handläggarrobot.
//!
//! Pure data and rules about data: no I/O, no clock, no async runtime, no
//! database, no script engine. Every other crate of ours depends on this one
//! and it depends on none of them.

mod application;
mod case;
mod codes;
mod decision;
mod draft;
mod json;
mod money;
mod period;
mod personnummer;

pub use application::{
    APPLICATION_SCHEMA_V1, Adult, Application, ApplicationError, ApplicationKind, Asset, AssetKind, Child, CostKind,
    Costs, History, Household, Income, IncomeKind, MAX_APPLICATION_BYTES, MAX_CHILD_AGE, Member, OtherNeed, Register,
    RegisterIncome, Relation, ValidationError,
};
pub use case::{At, CaseState, In, Marker, Step, states};
pub use codes::{Outcome, ReasonCode, UnknownName};
pub use decision::{
    Basis, ConfirmedAssessment, DECISION_SCHEMA_V1, DecidedRow, DecisionError, DecisionInput, DecisionRecord,
    KommuniceringOutcome, LetterKind, NotGranted, RemovedRow, RowChange, RowOrigin, Ruling, Signatory, SignatoryRole,
    SkipGround, amount_of, kr, need_of,
};
pub use draft::{
    Assessment, CalcSection, Calculation, DRAFT_SCHEMA, DRAFT_SCHEMA_V1, DRAFT_SCHEMA_V2, Draft, DraftError,
    DraftParts, Kommunicering, Reason, Row, RulesetRef, Section, SectionKind, TraceEntry, is_draft_schema,
};
pub use money::{MAX_INPUT_ORE, Money, MoneyError};
pub use period::{MONTHS_SV, Period, PeriodError};
pub use personnummer::{Personnummer, PersonnummerError, luhn_check_digit};

#[cfg(test)]
#[path = "application_tests.rs"]
mod application_tests;
