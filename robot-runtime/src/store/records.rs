//! Records the store keeps as JSON in a column, as types that the writer and
//! every reader name (house style 5): the register answer
//! (`applications.register`) and the note on an amended decision
//! (`decisions.amendment`). Field order is the keys' sorted order, which is
//! how these columns were written before they had a type, so new rows are
//! byte-for-byte what old ones are and old rows read back.

use super::StoreError;
use domain::{IncomeKind, Money, Register};
use serde::{Deserialize, Serialize};

/// What the register lookup answered for a household, as the case page and
/// the API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterAnswer {
    pub incomes: Vec<RegisterAnswerIncome>,
    /// Personnummer (12 digits) of those registered as job seekers.
    pub job_seekers: Vec<String>,
}

/// One income the register reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterAnswerIncome {
    pub amount: Money,
    pub kind: IncomeKind,
    /// The person's personnummer (12 digits).
    pub person: String,
    /// Where the register has it from, e.g. an employer or Försäkringskassan.
    pub source: String,
}

impl RegisterAnswer {
    pub fn of(r: &Register) -> RegisterAnswer {
        RegisterAnswer {
            incomes: r
                .incomes
                .iter()
                .map(|i| RegisterAnswerIncome {
                    amount: i.amount,
                    kind: i.kind,
                    person: i.person.as_str().to_string(),
                    source: i.source.clone(),
                })
                .collect(),
            job_seekers: r.job_seekers.iter().map(|p| p.as_str().to_string()).collect(),
        }
    }

    /// The stored text.
    pub fn to_json(&self) -> Result<String, StoreError> {
        serde_json::to_string(self).map_err(|e| StoreError::Corrupt(format!("register answer: {e}")))
    }

    pub fn from_json(text: &str) -> Result<RegisterAnswer, StoreError> {
        serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("register answer: {e}")))
    }
}

/// What an amended decision departs from the proposal on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmendedBasis {
    Proposal,
    Amended,
    Avslag,
    AfterManualHandling,
}

impl AmendedBasis {
    pub fn of(b: &domain::Basis) -> AmendedBasis {
        match b {
            domain::Basis::Proposal => AmendedBasis::Proposal,
            domain::Basis::Amended => AmendedBasis::Amended,
            domain::Basis::Avslag => AmendedBasis::Avslag,
            domain::Basis::AfterManualHandling => AmendedBasis::AfterManualHandling,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AmendedBasis::Proposal => "proposal",
            AmendedBasis::Amended => "amended",
            AmendedBasis::Avslag => "avslag",
            AmendedBasis::AfterManualHandling => "after_manual_handling",
        }
    }
}

/// The note on a decision that departs from the proposal (`decisions.amendment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmendmentNote {
    pub basis: AmendedBasis,
    /// Rows an official added, changed or removed.
    pub rows_changed: usize,
}

impl AmendmentNote {
    pub fn to_json(&self) -> Result<String, StoreError> {
        serde_json::to_string(self).map_err(|e| StoreError::Corrupt(format!("amendment: {e}")))
    }

    pub fn from_json(text: &str) -> Result<AmendmentNote, StoreError> {
        serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("amendment: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `pipeline.rs` wrote with `serde_json::json!` before the type existed.
    fn written_by_hand(r: &Register) -> String {
        serde_json::json!({
            "job_seekers": r.job_seekers.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            "incomes": r.incomes.iter().map(|i| serde_json::json!({
                "person": i.person.as_str(), "source": i.source, "kind": i.kind.as_str(), "amount": i.amount.to_json_value(),
            })).collect::<Vec<_>>(),
        })
        .to_string()
    }

    #[test]
    fn the_register_answer_is_stored_as_before_and_old_rows_read_back() {
        let p = domain::Personnummer::parse("198504039820", chrono::NaiveDate::MIN).unwrap();
        let register = Register {
            job_seekers: vec![p],
            incomes: vec![
                domain::RegisterIncome {
                    person: p,
                    source: "Arbetsgivare AB".into(),
                    kind: IncomeKind::Lon,
                    amount: Money::from_ore(1_234_550),
                },
                domain::RegisterIncome {
                    person: p,
                    source: "Försäkringskassan".into(),
                    kind: IncomeKind::Sjukpenning,
                    amount: Money::from_ore(300_000),
                },
            ],
        };
        let old = written_by_hand(&register);
        let new = RegisterAnswer::of(&register).to_json().unwrap();
        assert_eq!(new, old);
        assert_eq!(RegisterAnswer::from_json(&old).unwrap(), RegisterAnswer::of(&register));
        let empty = written_by_hand(&Register::default());
        assert_eq!(RegisterAnswer::from_json(&empty).unwrap().incomes, vec![]);
    }

    #[test]
    fn the_amendment_note_is_stored_as_before() {
        let old = serde_json::json!({"basis": "after_manual_handling", "rows_changed": 3}).to_string();
        let note = AmendmentNote {
            basis: AmendedBasis::AfterManualHandling,
            rows_changed: 3,
        };
        assert_eq!(note.to_json().unwrap(), old);
        assert_eq!(AmendmentNote::from_json(&old).unwrap(), note);
        for b in [AmendedBasis::Proposal, AmendedBasis::Amended, AmendedBasis::Avslag] {
            assert_eq!(serde_json::to_value(b).unwrap(), b.as_str());
        }
    }
}
