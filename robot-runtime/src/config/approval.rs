//! `[approval]`: letters' sender block, bounds and four eyes, as plain data
//! (the approval core reads them).

use crate::law;
use serde::Deserialize;
use std::path::PathBuf;

/// Where the letters' sender block, payment information and deadlines come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalSettings {
    /// Decisions of at least this amount need a second approver.
    pub four_eyes_from_kr: i64,
    /// Amended decisions always need a second approver.
    pub four_eyes_on_amend: bool,
    /// The largest amount a decision may have, per month: a plausibility
    /// bound against typing errors and abuse (the ruleset's realistic
    /// maximum is far below it).
    pub max_amount_kr: i64,
    /// The most rows a decision's calculation may have.
    pub max_rows: usize,
    pub municipality: String,
    /// The board that decides and takes appeals, e.g. "Socialnämnden".
    pub board: String,
    /// The board's postal address, one line per entry.
    pub postal_address: Vec<String>,
    pub phone: String,
    pub email: String,
    /// When the office answers the phone, e.g. "måndag–fredag 9–11".
    pub phone_hours: String,
    /// How granted bistånd is paid (a sentence for the letter).
    pub payment_info: String,
    /// Days the applicant has to reply to a kommuniceringsbrev.
    pub kommunicering_reply_days: i64,
    /// The diarium series cases are numbered in.
    pub diarium: crate::store::Diarium,
    /// The decision-letter template (XHTML, minijinja); the built-in one if unset.
    pub letter_template: Option<PathBuf>,
    /// The kommuniceringsbrev template; the built-in one if unset.
    pub kommunicering_template: Option<PathBuf>,
    /// Where the legal references of letters come from: the robots' rulesets
    /// (set by the runtime, not configured).
    #[serde(skip)]
    pub law: law::LawBook,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        ApprovalSettings {
            four_eyes_from_kr: 15_000,
            four_eyes_on_amend: true,
            max_amount_kr: 1_000_000,
            max_rows: 60,
            municipality: "Exempelkommun".into(),
            board: "Socialnämnden".into(),
            postal_address: vec!["Box 100".into(), "123 45 Exempelstad".into()],
            phone: "012-345 67 00".into(),
            email: "socialnamnden@exempelkommun.invalid".into(),
            phone_hours: "måndag–fredag kl. 9–11".into(),
            payment_info:
                "Pengarna betalas ut till det bankkonto som har anmälts till oss, senast tre bankdagar efter beslutet."
                    .into(),
            kommunicering_reply_days: 7,
            diarium: crate::store::Diarium::default(),
            letter_template: None,
            kommunicering_template: None,
            law: law::LawBook::default(),
        }
    }
}

impl ApprovalSettings {
    /// Checks what `hrobot config check` can check without a database.
    pub fn check(&self) -> Result<(), String> {
        self.diarium.check()?;
        if !(1..=60).contains(&self.kommunicering_reply_days) {
            return Err(format!(
                "approval.kommunicering_reply_days = {}: use 1–60 days",
                self.kommunicering_reply_days
            ));
        }
        if !(1..=100_000_000).contains(&self.max_amount_kr) {
            return Err(format!(
                "approval.max_amount_kr = {}: use 1–100 000 000 kronor",
                self.max_amount_kr
            ));
        }
        if !(1..=1000).contains(&self.max_rows) {
            return Err(format!("approval.max_rows = {}: use 1–1000", self.max_rows));
        }
        if self.board.trim().is_empty() || self.municipality.trim().is_empty() {
            return Err("approval.board and approval.municipality must be set".into());
        }
        Ok(())
    }
}
