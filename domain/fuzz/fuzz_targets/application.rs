//! Fuzz the application parser: any bytes give a valid application or an
//! error, never a panic; errors point at fields with well-formed pointers;
//! parsing is deterministic.

#![no_main]

use domain::{Application, ApplicationError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Application::parse(data) {
        Ok(app) => {
            let again = Application::parse(data).expect("parsing is deterministic");
            assert_eq!(app, again);
            assert!(app.household().adults.iter().any(|a| a.personnummer == *app.applicant()));
        }
        Err(e @ ApplicationError::Invalid(_)) => {
            assert!(!e.pointers().is_empty());
            for p in e.pointers() {
                assert!(p.is_empty() || p.starts_with('/'), "pointer {p:?}");
            }
        }
        Err(_) => {}
    }
});
