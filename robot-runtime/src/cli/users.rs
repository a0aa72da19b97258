//! `hrobot user add|passwd|disable|enable|list|link-sso|unlink-sso`: local users of the web UI
//! and API. Passwords are read from standard input (one line), never from
//! the command line, so they stay out of shell history and `ps`.

use crate::clock::SystemClock;
use crate::config::Settings;
use crate::officials as identity;
use crate::store::Store;
use std::io::BufRead;
use std::sync::Arc;

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from standard input. Handläggare
    /// and administratör wait for a second administratör's approval in the
    /// web UI (except the first administratör of an empty installation).
    Add {
        username: String,
        /// The name shown in the UI and on decision letters.
        #[arg(long)]
        name: String,
        /// handlaggare, regelforfattare, administrator or revisor (repeat for several).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The user's own personnummer (stored encrypted): required for
        /// handläggare (conflict of interest; four eyes by person).
        #[arg(long, env = "HROBOT_USER_PERSONNUMMER", hide_env_values = true)]
        personnummer: Option<String>,
        /// No password: the user signs in only through single sign-on.
        #[arg(long)]
        sso_only: bool,
        /// The title letters give, e.g. "Socialsekreterare".
        #[arg(long)]
        title: Option<String>,
        /// The delegation the official decides under, as letters cite it,
        /// e.g. "punkt 4.1 i socialnämndens delegationsordning".
        #[arg(long)]
        delegation: Option<String>,
    },
    /// Set the title and delegation decision letters give for an official.
    Signature {
        username: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        delegation: Option<String>,
    },
    /// Set a new password (read from standard input); ends the user's sessions.
    Passwd { username: String },
    /// Set an official's personnummer (from HROBOT_USER_PERSONNUMMER or standard input).
    Personnummer {
        username: String,
        #[arg(long, env = "HROBOT_USER_PERSONNUMMER", hide_env_values = true)]
        personnummer: Option<String>,
    },
    /// List the roles waiting for a second administratör.
    Requests,
    /// Disable a user; ends the user's sessions.
    Disable { username: String },
    /// Enable a disabled user.
    Enable { username: String },
    /// Link a user to a single sign-on identity (replacing an earlier
    /// link): the ID token's `iss` and `sub`, as the sign-in refusal names
    /// them. Audited.
    LinkSso {
        username: String,
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        subject: String,
    },
    /// Remove a user's single sign-on link. Audited.
    UnlinkSso { username: String },
    /// List users and their roles.
    List,
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.is_empty() {
        anyhow::bail!("no password on standard input (echo it, or pipe it from a password manager)");
    }
    Ok(pw)
}

pub fn run(settings: Settings, cmd: UserCommand) -> u8 {
    let rt = match super::tokio_runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let result = rt.block_on(async move {
        // Only the store and its keys: adding a user builds no connector.
        let store = crate::runtime::open_store(&settings, Arc::new(SystemClock)).await?;
        let out = user(&store, cmd).await;
        store.close().await;
        out
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

async fn user(store: &Store, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            username,
            name,
            roles,
            personnummer,
            sso_only,
            title,
            delegation,
        } => {
            let roles = identity::parse_roles(&roles).map_err(anyhow::Error::msg)?;
            let password = if sso_only { None } else { Some(read_password()?) };
            let by = crate::accounts::By::cli();
            let added = crate::accounts::add(
                store,
                &by,
                &crate::accounts::NewAccount {
                    username: &username,
                    display_name: &name,
                    password: password.as_deref(),
                    personnummer: personnummer.as_deref(),
                    roles,
                    oidc_subject: None,
                },
            )
            .await
            .map_err(anyhow::Error::msg)?;
            let username = username.trim().to_lowercase();
            if title.is_some() || delegation.is_some() {
                set_signature(store, &username, title.as_deref(), delegation.as_deref()).await?;
            }
            println!("user {username} added (id {})", added.id);
            if !added.pending.is_empty() {
                println!(
                    "the role(s) {} wait for a second administratör: Användare in the web UI",
                    added.pending.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
                );
            }
        }
        UserCommand::Signature {
            username,
            title,
            delegation,
        } => {
            set_signature(store, &username, title.as_deref(), delegation.as_deref()).await?;
            println!("title and delegation set for {username}");
        }
        UserCommand::Passwd { username } => {
            let pw = read_password()?;
            let hash = tokio::task::spawn_blocking(move || identity::hash_password(&pw)).await??;
            store.set_password(&username, &hash).await?;
            if let Some(u) = store.user_by_name(&username).await? {
                crate::accounts::record_change(store, &crate::accounts::By::cli(), &u, "password")
                    .await
                    .map_err(anyhow::Error::msg)?;
            }
            println!("password changed for {username}; the user's sessions have ended");
        }
        UserCommand::Disable { username } => {
            let u = store
                .user_by_name(&username)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user named {username:?}"))?;
            crate::accounts::set_status(store, &crate::accounts::By::cli(), u.id, true)
                .await
                .map_err(anyhow::Error::msg)?;
            println!("{username} is disabled; the user's sessions have ended");
        }
        UserCommand::LinkSso {
            username,
            issuer,
            subject,
        } => {
            let u = store
                .user_by_name(&username)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user named {username:?}"))?;
            crate::accounts::link_sso(store, &crate::accounts::By::cli(), u.id, &issuer, &subject)
                .await
                .map_err(anyhow::Error::msg)?;
            println!("{username} is linked to single sign-on at {issuer}");
        }
        UserCommand::UnlinkSso { username } => {
            let u = store
                .user_by_name(&username)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user named {username:?}"))?;
            crate::accounts::unlink_sso(store, &crate::accounts::By::cli(), u.id)
                .await
                .map_err(anyhow::Error::msg)?;
            println!("{username} is no longer linked to single sign-on");
        }
        UserCommand::Enable { username } => {
            let u = store
                .user_by_name(&username)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user named {username:?}"))?;
            crate::accounts::set_status(store, &crate::accounts::By::cli(), u.id, false)
                .await
                .map_err(anyhow::Error::msg)?;
            println!("{username} is enabled");
        }
        UserCommand::Personnummer { username, personnummer } => {
            let pnr = match personnummer {
                Some(p) => p,
                None => read_password()?,
            };
            let u = store
                .user_by_name(&username)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user named {username:?}"))?;
            crate::accounts::set_personnummer(store, &crate::accounts::By::cli(), u.id, &pnr)
                .await
                .map_err(anyhow::Error::msg)?;
            println!("personnummer set for {username}");
        }
        UserCommand::Requests => {
            let users = store.list_users().await?;
            for q in store.role_requests(true).await? {
                let name = users
                    .iter()
                    .find(|u| u.id == q.user_id)
                    .map_or("?", |u| u.username.as_str());
                println!(
                    "{:>5}  {:<24}  {:<16}  asked by {}",
                    q.id,
                    name,
                    q.role.as_str(),
                    q.requested_by
                );
            }
        }
        UserCommand::List => {
            for u in store.list_users().await? {
                println!(
                    "{:>5}  {:<24}  {:<28}  {:<40}  {}{}",
                    u.id,
                    u.username,
                    u.display_name,
                    u.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
                    match (u.password_hash.is_some(), u.oidc_subject.is_some()) {
                        (true, true) => "password+sso",
                        (true, false) => "password",
                        (false, true) => "sso",
                        (false, false) => "no login",
                    },
                    if u.disabled { "  DISABLED" } else { "" }
                );
            }
        }
    }
    Ok(())
}

async fn set_signature(
    store: &Store,
    username: &str,
    title: Option<&str>,
    delegation: Option<&str>,
) -> anyhow::Result<()> {
    for (what, v) in [("title", title), ("delegation", delegation)] {
        if let Some(v) = v
            && (v.trim().is_empty() || v.chars().count() > 200 || v.chars().any(char::is_control))
        {
            anyhow::bail!("the {what} must be 1–200 characters on one line");
        }
    }
    store
        .set_signature(username, title.map(str::trim), delegation.map(str::trim))
        .await?;
    if let Some(u) = store.user_by_name(username).await? {
        crate::accounts::record_change(store, &crate::accounts::By::cli(), &u, "signature")
            .await
            .map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// The demo's officials (one of each role, two handläggare for four-eyes),
/// each with a fresh random password, printed once. Users already in the
/// data directory are kept as they are.
pub(crate) async fn demo_users(store: &Store) -> anyhow::Result<Vec<(String, String)>> {
    use crate::approval::Role;
    // The officials' personnummer are Skatteverket's test numbers
    // (ops/demo/testpersonnummer.txt), none of them in a demo application.
    let wanted: [(&str, &str, Role, Option<&str>); 6] = [
        (
            "handlaggare1",
            "Hanna Handläggare",
            Role::Handlaggare,
            Some("198107249289"),
        ),
        (
            "handlaggare2",
            "Hugo Handläggare",
            Role::Handlaggare,
            Some("198503209895"),
        ),
        ("regel", "Regina Regelförfattare", Role::Regelforfattare, None),
        ("admin", "Adam Administratör", Role::Administrator, Some("198611239883")),
        (
            "admin2",
            "Alva Administratör",
            Role::Administrator,
            Some("199104292389"),
        ),
        ("revisor", "Rut Revisor", Role::Revisor, None),
    ];
    let mut out = Vec::new();
    for (username, name, role, pnr) in wanted {
        if store.user_by_name(username).await?.is_some() {
            out.push((username.to_string(), "(finns redan)".to_string()));
            continue;
        }
        let mut raw = [0u8; 9];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut raw);
        let password = format!("demo-{}", hex::encode(raw));
        crate::accounts::create_user(store, username, name, Some(&password), pnr, vec![role])
            .await
            .map_err(anyhow::Error::msg)?;
        if role == Role::Handlaggare {
            set_signature(
                store,
                username,
                Some("Socialsekreterare"),
                Some("punkt 4.1 i socialnämndens delegationsordning (beslut om försörjningsstöd)"),
            )
            .await?;
        }
        out.push((username.to_string(), password));
    }
    Ok(out)
}
