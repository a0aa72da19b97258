//! What an official may do: the four roles, stored by name (the database's
//! CHECK lists the same names). A leaf: the store, accounts, approval and
//! the web all name it.

/// What an official may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Approves, amends, returns, assigns and comments on cases.
    Handlaggare,
    /// Writes rulesets; reads cases.
    Regelforfattare,
    /// Users, robots and configuration; never decisions.
    Administrator,
    /// Reads everything, including the audit log; changes nothing.
    Revisor,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Handlaggare,
        Role::Regelforfattare,
        Role::Administrator,
        Role::Revisor,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Handlaggare => "handlaggare",
            Role::Regelforfattare => "regelforfattare",
            Role::Administrator => "administrator",
            Role::Revisor => "revisor",
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            Role::Handlaggare => "Handläggare",
            Role::Regelforfattare => "Regelförfattare",
            Role::Administrator => "Administratör",
            Role::Revisor => "Revisor",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}"))
    }
}
