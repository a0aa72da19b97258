//! Register answers from a folder: the embedded default lookup.
//!
//! `DIR/<personnummer>/<YYYY-MM>.json` holds one person's answer for one
//! period: `{"job_seeker": true, "incomes": [{"source": "FK", "kind":
//! "barnbidrag", "amount": 1250}]}`. No file means the registers know
//! nothing about the person for that period: not a job seeker, no incomes.

use crate::{ConnectorError, PersonAnswer, RegisterIncome, RegisterLookup};
use async_trait::async_trait;
use domain::{IncomeKind, Money, Period, Personnummer};
use serde::Deserialize;
use std::path::PathBuf;

const NAME: &str = "file_register";

#[derive(Debug, Clone)]
pub struct FileRegister {
    dir: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerFile {
    #[serde(default)]
    job_seeker: bool,
    #[serde(default)]
    incomes: Vec<IncomeFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncomeFile {
    source: String,
    kind: IncomeKind,
    amount: Money,
}

impl FileRegister {
    pub fn new(dir: impl Into<PathBuf>) -> FileRegister {
        FileRegister { dir: dir.into() }
    }
}

#[async_trait]
impl RegisterLookup for FileRegister {
    fn name(&self) -> &str {
        NAME
    }

    async fn lookup(&self, person: &Personnummer, period: Period) -> Result<PersonAnswer, ConnectorError> {
        let path = self.dir.join(person.as_str()).join(format!("{period}.json"));
        let bytes = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(PersonAnswer::default()),
            Err(e) => return Err(ConnectorError::from_io(NAME, "read answer", &e)),
        };
        let file: AnswerFile = serde_json::from_slice(&bytes)
            .map_err(|e| ConnectorError::permanent(NAME, format!("malformed answer for {period}: {e}")))?;
        if file.incomes.iter().any(|i| i.amount.ore() < 0) {
            return Err(ConnectorError::permanent(
                NAME,
                format!("negative amount in the answer for {period}"),
            ));
        }
        Ok(PersonAnswer {
            job_seeker: file.job_seeker,
            incomes: file
                .incomes
                .into_iter()
                .map(|i| RegisterIncome {
                    source: i.source,
                    kind: i.kind,
                    amount: i.amount,
                })
                .collect(),
        })
    }

    async fn health(&self) -> Result<(), ConnectorError> {
        match tokio::fs::metadata(&self.dir).await {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(ConnectorError::permanent(NAME, "the register folder is not a folder")),
            Err(e) => Err(ConnectorError::from_io(NAME, "register folder", &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pnr() -> Personnummer {
        Personnummer::parse("198112189876", "2021-03-01".parse().unwrap()).unwrap()
    }

    #[tokio::test]
    async fn reads_an_answer_and_treats_a_missing_one_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("198112189876");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(
            p.join("2021-03.json"),
            r#"{"job_seeker": true, "incomes": [{"source": "AKASSA", "kind": "a_kassa", "amount": 6500.5}]}"#,
        )
        .unwrap();
        let reg = FileRegister::new(dir.path());
        reg.health().await.unwrap();
        let a = reg.lookup(&pnr(), "2021-03".parse().unwrap()).await.unwrap();
        assert!(a.job_seeker);
        assert_eq!(a.incomes[0].amount, Money::from_ore(650_050));
        let none = reg.lookup(&pnr(), "2021-04".parse().unwrap()).await.unwrap();
        assert_eq!(none, PersonAnswer::default());
    }

    #[tokio::test]
    async fn a_malformed_answer_is_permanent_and_names_no_person() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("198112189876");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("2021-03.json"), r#"{"job_seeker": "ja"}"#).unwrap();
        let e = FileRegister::new(dir.path())
            .lookup(&pnr(), "2021-03".parse().unwrap())
            .await
            .unwrap_err();
        assert!(!e.is_retriable());
        assert!(!e.to_string().contains("198112189876"));
    }
}
