//! An error with its causes as one line for the log and for stored
//! errors: "storing fetched applications: database: error communicating
//! with database: Connection reset by peer (os error 104)".
//!
//! anyhow's `{:#}` joins every level's text, but many of our errors
//! already print their source (`StoreError`'s "database: {0}", sqlx's
//! "error returned from database: {0}"), so the same words came two or
//! three times. Here a cause whose text the line already holds is left
//! out.

/// `e` and its causes, each once.
pub fn chain(e: &anyhow::Error) -> String {
    join(e.chain().map(ToString::to_string))
}

/// The same for any error.
pub fn of(e: &(dyn std::error::Error + 'static)) -> String {
    join(std::iter::successors(Some(e), |e| e.source()).map(ToString::to_string))
}

fn join(levels: impl Iterator<Item = String>) -> String {
    let mut out = String::new();
    for text in levels {
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        /// Prints its source, as `StoreError::Db` does.
        #[error("database: {0}")]
        Db(#[source] std::io::Error),
        /// Does not, as a bare wrapper.
        #[error("reading the ruleset")]
        Quiet(#[source] std::io::Error),
    }

    fn reset() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset by peer")
    }

    #[test]
    fn every_cause_once() {
        let e = anyhow::Error::new(Outer::Db(reset())).context("storing fetched applications");
        assert_eq!(
            chain(&e),
            "storing fetched applications: database: connection reset by peer"
        );
        assert_eq!(
            format!("{e:#}"),
            "storing fetched applications: database: connection reset by peer: connection reset by peer",
            "what anyhow alone gives"
        );
        let q = Outer::Quiet(reset());
        assert_eq!(
            of(&q),
            "reading the ruleset: connection reset by peer",
            "a hidden cause is shown"
        );
        assert_eq!(q.to_string(), "reading the ruleset");
    }
}
