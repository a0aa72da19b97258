//! The stored states of runs, work items and outbox items, and a run's
//! trigger: closed enums whose names are the database's CHECK lists (a unit
//! test below reads both engines' migrations and compares).

use super::StoreError;

/// A closed set of names stored in one TEXT column: `as_str`, `FromStr`,
/// `Display` (padding like a `&str`), and serde as the same name.
macro_rules! stored_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $variant),+
        }

        impl $name {
            /// Every value, in the order of the CHECK list.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<$name, StoreError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(StoreError::Corrupt(format!(concat!("unknown ", stringify!($name), " {:?}"), s))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

stored_enum! {
    /// What started a robot run (`robot_runs.trigger`).
    Trigger {
        Schedule = "schedule",
        CatchUp = "catch_up",
        Manual = "manual",
    }
}

stored_enum! {
    /// Where a robot run is (`robot_runs.status`).
    RunStatus {
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        /// Its process died mid-run (known dead through `nodes`): closed
        /// by another process with what the run had stored.
        Aborted = "aborted",
    }
}

stored_enum! {
    /// Where a work item is (`work_items.status`).
    WorkStatus {
        /// Waiting for a worker (or for its next attempt).
        Pending = "pending",
        /// A worker holds it under a lease.
        Leased = "leased",
        Done = "done",
        /// Given up on: the case went to IT.
        Dead = "dead",
    }
}

stored_enum! {
    /// Where an outbox item is (`outbox.status`).
    DeliveryStatus {
        Pending = "pending",
        Leased = "leased",
        Delivered = "delivered",
        /// Failed often (or permanently); still retried, shown to administrators.
        Failing = "failing",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The names in the last `CHECK (column IN (...))` for `table.column`
    /// across an engine's migrations, in order.
    fn check_list(engine: &str, table: &str, column: &str) -> Vec<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(engine);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        let mut found = None;
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let text: String = text
                .lines()
                .map(|l| l.split("--").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            for statement in text.split(';') {
                let s = statement.split_whitespace().collect::<Vec<_>>().join(" ");
                // SQLite widens a list by editing the stored definition:
                // `UPDATE sqlite_schema SET sql = replace(sql, 'old', 'new')
                // … name = 'table'`; the new list is the statement's last.
                let edited = s.starts_with("UPDATE sqlite_schema") && s.contains(&format!("name = '{table}'"));
                let about_table = s.contains(&format!("CREATE TABLE {table} ("))
                    || s.starts_with(&format!("ALTER TABLE {table} "))
                    || edited;
                let check = format!("CHECK ({column} IN (");
                let at = if edited { s.rfind(&check) } else { s.find(&check) };
                if let (true, Some(i)) = (about_table, at) {
                    let list = &s[i + check.len()..];
                    let list = &list[..list.find(')').unwrap()];
                    found = Some(
                        list.split(',')
                            .map(|v| v.trim().trim_matches('\'').to_string())
                            .collect::<Vec<_>>(),
                    );
                }
            }
        }
        found.unwrap_or_else(|| panic!("no CHECK list for {table}.{column} in {engine}'s migrations"))
    }

    fn names<T: Copy>(all: &[T], f: fn(T) -> &'static str) -> Vec<String> {
        all.iter().map(|v| f(*v).to_string()).collect()
    }

    #[test]
    fn the_enums_are_the_databases_check_lists() {
        for engine in ["sqlite", "postgres"] {
            assert_eq!(
                check_list(engine, "robot_runs", "trigger"),
                names(Trigger::ALL, Trigger::as_str),
                "{engine}"
            );
            assert_eq!(
                check_list(engine, "robot_runs", "status"),
                names(RunStatus::ALL, RunStatus::as_str),
                "{engine}"
            );
            assert_eq!(
                check_list(engine, "work_items", "status"),
                names(WorkStatus::ALL, WorkStatus::as_str),
                "{engine}"
            );
            assert_eq!(
                check_list(engine, "outbox", "status"),
                names(DeliveryStatus::ALL, DeliveryStatus::as_str),
                "{engine}"
            );
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_corrupt() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>().unwrap(), *s);
        }
        for s in DeliveryStatus::ALL {
            assert_eq!(s.to_string().parse::<DeliveryStatus>().unwrap(), *s);
        }
        assert!(matches!("lost".parse::<WorkStatus>(), Err(StoreError::Corrupt(_))));
        assert_eq!(format!("{:<9}|", Trigger::Manual), "manual   |");
        assert_eq!(serde_json::to_string(&Trigger::CatchUp).unwrap(), "\"catch_up\"");
    }
}
