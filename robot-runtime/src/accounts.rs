//! Officials' accounts as administrators change them, from the web UI, the
//! command line or the identity provider: adding users, giving and taking
//! roles, their personnummer, their status. Every change is an audit event
//! naming who made it.
//!
//! Separation of duties, so that no single person gets a decision out alone:
//! - handläggare (deciding) and administratör, given to a local account,
//!   wait for a second administratör: a different account *and* a different
//!   person from the one who asked ([`decide_request`]);
//! - an administratör never decides: the two roles are never given to the
//!   same person, and the approval core refuses a decision from anyone who
//!   holds both (`approval::may_decide`);
//! - a deciding role needs the official's personnummer, which is the
//!   person's identity for four eyes (two approvals by two persons, not two
//!   accounts) and the key of the conflict-of-interest (jäv) rule;
//! - a display name is used by one person only, so letters and the case
//!   page cannot name a colleague who did not decide.
//!
//! The command line counts as a person only to ask: `hrobot user add` with a
//! deciding role leaves the request for an administratör in the web UI. The
//! one exception is the first administratör of an empty installation.

use crate::officials::{self as identity, Official};
use crate::roles::Role;
use crate::store::Store;
use crate::store::users::{NewUser, UserError, UserRecord};
use audit::EventKind;
use audit::event::{Actor, Event};
use domain::Personnummer;
use serde_json::json;

/// Roles a second administratör must approve for a local account.
pub const NEEDS_SECOND_ADMIN: [Role; 2] = [Role::Handlaggare, Role::Administrator];

/// Who makes a change.
#[derive(Debug, Clone)]
pub enum By {
    /// A signed-in administratör.
    Official(Official),
    /// The command line, as this operating-system user.
    Cli(String),
    /// The identity provider's groups, at single sign-on.
    Idp,
    /// Setting up the demo or a test fixture: roles are given at once.
    Setup,
}

impl By {
    /// The command line's user, from `SUDO_USER` or `USER`.
    pub fn cli() -> By {
        let name = std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_default()
            .to_lowercase();
        let safe: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
            .take(32)
            .collect();
        By::Cli(if safe.is_empty() || audit::event::contains_personnummer(&safe) {
            "okand".into()
        } else {
            safe
        })
    }

    /// The audit log's actor.
    pub fn actor(&self) -> String {
        match self {
            By::Official(o) => format!("user:{}", o.username),
            By::Cli(n) => format!("cli:{n}"),
            By::Idp => "idp".into(),
            By::Setup => "setup".into(),
        }
    }

    fn user_id(&self) -> Option<i64> {
        match self {
            By::Official(o) => Some(o.user_id),
            _ => None,
        }
    }
}

/// A new local or single sign-on account.
pub struct NewAccount<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub password: Option<&'a str>,
    pub personnummer: Option<&'a str>,
    pub roles: Vec<Role>,
    pub oidc_subject: Option<String>,
}

/// What [`add`] did.
#[derive(Debug, Clone)]
pub struct Added {
    pub id: i64,
    /// Roles the account has now.
    pub granted: Vec<Role>,
    /// Roles waiting for a second administratör.
    pub pending: Vec<Role>,
}

fn event(kind: EventKind, by: &By, store: &Store, payload: serde_json::Value) -> Result<Event, String> {
    let actor = Actor::parse(&by.actor()).map_err(|_| "Ogiltig aktör.".to_string())?;
    Event::new(kind, actor, store.clock().now())
        .with_payload(payload)
        .map_err(|e| format!("Händelsen kunde inte loggas: {e}"))
}

/// Appends one event of `kind` with `payload`, made by `by`.
async fn log_one(store: &Store, by: &By, kind: EventKind, payload: serde_json::Value) -> Result<(), String> {
    log(store, vec![event(kind, by, store, payload)?]).await
}

/// A stored user by id, or the message an administratör reads.
async fn user(store: &Store, id: i64) -> Result<UserRecord, String> {
    store
        .user_by_id(id)
        .await
        .map_err(internal)?
        .ok_or_else(|| "Användaren finns inte.".to_string())
}

async fn log(store: &Store, events: Vec<Event>) -> Result<(), String> {
    store.log(events).await.map_err(|e| {
        tracing::error!(error = %e, "an account change could not be written to the audit log");
        "Ändringen kunde inte skrivas till granskningsloggen.".to_string()
    })
}

fn internal(e: impl std::fmt::Display) -> String {
    tracing::error!(error = %e, "an account change failed");
    "Ändringen kunde inte sparas.".to_string()
}

/// Checks a username once, when the account is made: the characters the
/// audit log's actor allows, and no personnummer inside it.
pub fn check_username(raw: &str) -> Result<String, String> {
    let username = raw.trim().to_lowercase();
    if !identity::valid_username(&username) {
        return Err(
            "Användarnamnet får bestå av a–z, 0–9, punkt, bindestreck, understreck och @ (högst 64 tecken).".into(),
        );
    }
    if audit::event::contains_personnummer(&username) {
        return Err("Användarnamnet får inte innehålla ett personnummer.".into());
    }
    Ok(username)
}

/// A display name: 1–100 characters, no control characters.
pub fn check_display_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err("Namnet måste fyllas i (högst 100 tecken, inga styrtecken).".into());
    }
    Ok(name.to_string())
}

fn same_name(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    norm(a) == norm(b)
}

/// The personnummer sealed on a stored user (none when there is none, or
/// it does not open).
pub fn personnummer_of(store: &crate::store::Store, u: &UserRecord) -> Option<Personnummer> {
    let sealed = u.personnummer_sealed.as_ref()?;
    match identity::open_personnummer(store.audit().keys(), &u.username, sealed) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!(user_id = u.id, error = %e, "a user's sealed personnummer does not open");
            None
        }
    }
}

/// Whether two accounts belong to the same person: the same account, or
/// the same personnummer.
pub fn same_person(store: &Store, a: &UserRecord, b: &UserRecord) -> bool {
    a.id == b.id
        || matches!(
            (personnummer_of(store, a), personnummer_of(store, b)),
            (Some(x), Some(y)) if x == y
        )
}

/// The active accounts of the person with this personnummer.
async fn accounts_of(store: &Store, pnr: &Personnummer) -> Result<Vec<UserRecord>, String> {
    Ok(store
        .list_users()
        .await
        .map_err(internal)?
        .into_iter()
        .filter(|u| !u.disabled && personnummer_of(store, u).as_ref() == Some(pnr))
        .collect())
}

/// A display name may be shared only by accounts of one person.
async fn check_name_free(
    store: &Store,
    name: &str,
    pnr: Option<&Personnummer>,
    except: Option<i64>,
) -> Result<(), String> {
    for u in store.list_users().await.map_err(internal)? {
        if Some(u.id) == except || !same_name(&u.display_name, name) {
            continue;
        }
        let theirs = personnummer_of(store, &u);
        if pnr.is_none() || theirs.as_ref() != pnr {
            return Err(format!(
                "Namnet {name:?} används redan av en annan användare ({}). Ett namn får bara användas av en person; lägg till något som skiljer, till exempel en mellanbokstav.",
                u.username
            ));
        }
    }
    Ok(())
}

/// Refuses a role set that would let one person both administer and decide.
async fn check_roles_for_person(
    store: &Store,
    roles: &[Role],
    pnr: Option<&Personnummer>,
    except: Option<i64>,
) -> Result<(), String> {
    if roles.contains(&Role::Handlaggare) && roles.contains(&Role::Administrator) {
        return Err(
            "En administratör kan inte också vara handläggare: ingen ska kunna både ge behörigheter och besluta."
                .into(),
        );
    }
    if roles.contains(&Role::Handlaggare) && pnr.is_none() {
        return Err("En handläggare måste ha sitt personnummer inlagt (för jävskontrollen och för att två godkännanden ska vara två personers).".into());
    }
    if let Some(p) = pnr {
        for u in accounts_of(store, p).await? {
            if Some(u.id) == except {
                continue;
            }
            let both = |a: Role, b: Role| roles.contains(&a) && u.roles.contains(&b);
            if both(Role::Handlaggare, Role::Administrator) || both(Role::Administrator, Role::Handlaggare) {
                return Err(format!(
                    "Personen har redan kontot {} med en roll som inte går ihop med den här: en administratör kan inte också vara handläggare.",
                    u.username
                ));
            }
        }
    }
    Ok(())
}

fn parse_pnr(store: &Store, raw: Option<&str>) -> Result<Option<Personnummer>, String> {
    match raw.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Personnummer::parse(p, store.clock().now().date_naive())
            .map(Some)
            .map_err(|_| "Personnumret är inte giltigt.".to_string()),
        None => Ok(None),
    }
}

/// Adds an account. Roles that need a second administratör are asked for,
/// not given, unless `by` is [`By::Setup`] or [`By::Idp`] (or the command
/// line makes the very first administratör).
pub async fn add(store: &Store, by: &By, a: &NewAccount<'_>) -> Result<Added, String> {
    let username = check_username(a.username)?;
    let display_name = check_display_name(a.display_name)?;
    if a.roles.is_empty() {
        return Err("Välj minst en roll.".into());
    }
    let pnr = parse_pnr(store, a.personnummer)?;
    check_roles_for_person(store, &a.roles, pnr.as_ref(), None).await?;
    check_name_free(store, &display_name, pnr.as_ref(), None).await?;
    let password_hash = match a.password {
        Some(p) => {
            let p = p.to_string();
            Some(
                tokio::task::spawn_blocking(move || identity::hash_password(&p))
                    .await
                    .map_err(|_| "Lösenordet kunde inte sparas.".to_string())?
                    .map_err(|e| match e {
                        identity::IdentityError::TooShort => {
                            format!("Lösenordet måste ha minst {} tecken.", identity::MIN_PASSWORD_CHARS)
                        }
                        _ => "Lösenordet kunde inte sparas.".to_string(),
                    })?,
            )
        }
        None => None,
    };
    let personnummer_sealed = match &pnr {
        Some(p) => Some(
            identity::seal_personnummer(store.audit().keys(), &username, p)
                .map_err(|_| "Personnumret kunde inte krypteras (huvudnyckeln saknas).".to_string())?,
        ),
        None => None,
    };
    let first_admin = matches!(by, By::Cli(_))
        && !store
            .list_users()
            .await
            .map_err(internal)?
            .iter()
            .any(|u| !u.disabled && u.roles.contains(&Role::Administrator));
    let (mut granted, mut pending) = (Vec::new(), Vec::new());
    for r in &a.roles {
        let direct = matches!(by, By::Setup | By::Idp)
            || !NEEDS_SECOND_ADMIN.contains(r)
            || (first_admin && *r == Role::Administrator);
        if direct {
            granted.push(*r);
        } else {
            pending.push(*r);
        }
    }
    let id = store
        .add_user(&NewUser {
            username: username.clone(),
            display_name,
            roles: granted.clone(),
            password_hash,
            personnummer_sealed,
            oidc_subject: a.oidc_subject.clone(),
        })
        .await
        .map_err(|e| match e {
            UserError::Taken(_) => "Användarnamnet är upptaget.".to_string(),
            other => internal(other),
        })?;
    let user_ref = format!("user:{username}");
    let mut events = vec![event(
        EventKind::UserAdded,
        by,
        store,
        json!({
            "user": user_ref,
            "user_id": id,
            "login": match (a.password.is_some(), a.oidc_subject.is_some()) {
                (true, true) => "password+sso", (true, false) => "password", (false, true) => "sso", (false, false) => "none",
            },
            "has_personnummer": pnr.is_some(),
        }),
    )?];
    for r in &granted {
        let via = match by {
            By::Setup => "setup",
            By::Idp => "identity_provider",
            _ if NEEDS_SECOND_ADMIN.contains(r) => "first_administrator",
            _ => "administrator",
        };
        events.push(event(
            EventKind::RoleGranted,
            by,
            store,
            json!({"user": user_ref, "user_id": id, "role": r.as_str(), "via": via}),
        )?);
    }
    for r in &pending {
        let req = store
            .add_role_request(id, *r, &by.actor(), by.user_id())
            .await
            .map_err(internal)?;
        events.push(event(
            EventKind::RoleRequested,
            by,
            store,
            json!({"user": user_ref, "user_id": id, "role": r.as_str(), "request": req}),
        )?);
    }
    log(store, events).await?;
    tracing::info!(user_id = id, by = %by.actor(), granted = granted.len(), pending = pending.len(), "user added");
    Ok(Added { id, granted, pending })
}

/// Asks for a role for an existing account (given at once when it needs no
/// second administratör).
pub async fn request_role(store: &Store, by: &By, user_id: i64, role: Role) -> Result<bool, String> {
    let user = user(store, user_id).await?;
    if user.roles.contains(&role) {
        return Err("Användaren har redan rollen.".into());
    }
    let mut roles = user.roles.clone();
    roles.push(role);
    check_roles_for_person(store, &roles, personnummer_of(store, &user).as_ref(), Some(user.id)).await?;
    let user_ref = format!("user:{}", user.username);
    if NEEDS_SECOND_ADMIN.contains(&role) && !matches!(by, By::Setup | By::Idp) {
        let req = store
            .add_role_request(user.id, role, &by.actor(), by.user_id())
            .await
            .map_err(|_| "Rollen är redan begärd och väntar på en andra administratör.".to_string())?;
        log_one(
            store,
            by,
            EventKind::RoleRequested,
            json!({"user": user_ref, "user_id": user.id, "role": role.as_str(), "request": req}),
        )
        .await?;
        return Ok(false);
    }
    store.set_roles(user.id, &roles).await.map_err(internal)?;
    log_one(
        store,
        by,
        EventKind::RoleGranted,
        json!({"user": user_ref, "user_id": user.id, "role": role.as_str(), "via": "administrator"}),
    )
    .await?;
    Ok(true)
}

/// A second administratör grants or refuses a pending role request.
pub async fn decide_request(store: &Store, by: &Official, request: i64, grant: bool) -> Result<(), String> {
    if !by.has(Role::Administrator) {
        return Err("Bara en administratör kan besluta om roller.".into());
    }
    let req = store
        .role_requests(true)
        .await
        .map_err(internal)?
        .into_iter()
        .find(|r| r.id == request)
        .ok_or("Begäran finns inte eller är redan avgjord.")?;
    let target = user(store, req.user_id).await?;
    let me = store
        .user_by_id(by.user_id)
        .await
        .map_err(internal)?
        .ok_or("Ditt konto finns inte.")?;
    if grant {
        if target.id == me.id || same_person(store, &target, &me) {
            return Err("Du kan inte godkänna en roll åt dig själv.".into());
        }
        if req.requested_by == format!("user:{}", me.username) {
            return Err("En annan administratör än den som begärde rollen måste godkänna den.".into());
        }
        if let Some(asker) = req.requested_by_user
            && let Some(asker) = store.user_by_id(asker).await.map_err(internal)?
            && same_person(store, &asker, &me)
        {
            return Err("En annan person än den som begärde rollen måste godkänna den.".into());
        }
        let mut roles = target.roles.clone();
        roles.push(req.role);
        check_roles_for_person(store, &roles, personnummer_of(store, &target).as_ref(), Some(target.id)).await?;
    }
    if !store
        .decide_role_request(req.id, grant, me.id)
        .await
        .map_err(internal)?
    {
        return Err("Begäran är redan avgjord.".into());
    }
    let by = By::Official(by.clone());
    log_one(
        store,
        &by,
        if grant {
            EventKind::RoleGranted
        } else {
            EventKind::RoleRefused
        },
        json!({
            "user": format!("user:{}", target.username),
            "user_id": target.id,
            "role": req.role.as_str(),
            "request": req.id,
            "requested_by": req.requested_by,
            "via": "second_administrator",
        }),
    )
    .await?;
    tracing::info!(request = req.id, granted = grant, by = %by.actor(), "role request decided");
    Ok(())
}

/// Takes a role from an account.
pub async fn remove_role(store: &Store, by: &By, user_id: i64, role: Role) -> Result<(), String> {
    let user = user(store, user_id).await?;
    if !user.roles.contains(&role) {
        return Err("Användaren har inte rollen.".into());
    }
    let roles: Vec<Role> = user.roles.iter().copied().filter(|r| *r != role).collect();
    store.set_roles(user.id, &roles).await.map_err(internal)?;
    log_one(
        store,
        by,
        EventKind::RoleRemoved,
        json!({"user": format!("user:{}", user.username), "user_id": user.id, "role": role.as_str()}),
    )
    .await
}

/// Disables (ending every session) or enables an account.
pub async fn set_status(store: &Store, by: &By, user_id: i64, disabled: bool) -> Result<(), String> {
    let user = user(store, user_id).await?;
    if !disabled {
        check_roles_for_person(
            store,
            &user.roles,
            personnummer_of(store, &user).as_ref(),
            Some(user.id),
        )
        .await?;
    }
    store.set_disabled(&user.username, disabled).await.map_err(internal)?;
    log_one(store, by, EventKind::UserChanged, json!({"user": format!("user:{}", user.username), "user_id": user.id, "change": if disabled { "disabled" } else { "enabled" }}))
    .await?;
    tracing::info!(user_id, disabled, by = %by.actor(), "user status changed");
    Ok(())
}

/// Sets (or replaces) an official's personnummer.
pub async fn set_personnummer(store: &Store, by: &By, user_id: i64, raw: &str) -> Result<(), String> {
    let user = user(store, user_id).await?;
    let pnr = parse_pnr(store, Some(raw))?.ok_or("Personnumret saknas.")?;
    check_roles_for_person(store, &user.roles, Some(&pnr), Some(user.id)).await?;
    check_name_free(store, &user.display_name, Some(&pnr), Some(user.id)).await?;
    let sealed = identity::seal_personnummer(store.audit().keys(), &user.username, &pnr)
        .map_err(|_| "Personnumret kunde inte krypteras (huvudnyckeln saknas).".to_string())?;
    store
        .set_personnummer(&user.username, Some(&sealed))
        .await
        .map_err(internal)?;
    log_one(store, by, EventKind::UserChanged, json!({"user": format!("user:{}", user.username), "user_id": user.id, "change": if user.personnummer_sealed.is_some() { "personnummer_replaced" } else { "personnummer_set" }}))
    .await?;
    tracing::info!(user_id, by = %by.actor(), "user's personnummer set");
    Ok(())
}

/// A single sign-on identity as stored in `users.oidc_subject`:
/// `issuer|subject`, exactly as the provider's ID token names them.
pub fn sso_identity(issuer: &str, subject: &str) -> Result<String, String> {
    let ok = |t: &str| !t.is_empty() && t.len() <= 255 && !t.chars().any(char::is_control);
    if !ok(issuer) || issuer.contains('|') {
        return Err("Ange utfärdaren (issuer) som inloggningstjänsten anger den, utan tecknet |.".into());
    }
    if !ok(subject) {
        return Err("Ange identiteten (subject) som inloggningstjänsten anger den (högst 255 tecken).".into());
    }
    Ok(format!("{issuer}|{subject}"))
}

/// Links an account to a single sign-on identity (replacing any earlier
/// link), so the next sign-in with it is this account: the way back after
/// the provider's issuer changed, or for a local account that should also
/// sign in through the provider. Audited; the subject is not written down
/// (it may be a personnummer at some providers), the issuer is.
pub async fn link_sso(store: &Store, by: &By, user_id: i64, issuer: &str, subject: &str) -> Result<(), String> {
    let identity = sso_identity(issuer, subject)?;
    let user = user(store, user_id).await?;
    store
        .set_oidc_subject(user.id, Some(&identity))
        .await
        .map_err(|e| match e {
            UserError::Taken(_) => {
                "Identiteten är redan kopplad till ett annat konto. Ta bort den kopplingen först.".to_string()
            }
            UserError::Unknown(_) => "Användaren finns inte.".to_string(),
            other => internal(other),
        })?;
    log_one(
        store,
        by,
        EventKind::UserChanged,
        json!({"user": format!("user:{}", user.username), "user_id": user.id, "change": if user.oidc_subject.is_some() { "sso_relinked" } else { "sso_linked" }, "issuer": issuer}),
    )
    .await
}

/// Removes an account's single sign-on link. Audited.
pub async fn unlink_sso(store: &Store, by: &By, user_id: i64) -> Result<(), String> {
    let user = user(store, user_id).await?;
    let Some(old) = user.oidc_subject.as_deref() else {
        return Err("Kontot är inte kopplat till kommunens inloggning.".into());
    };
    let issuer = old.split_once('|').map_or(old, |(i, _)| i).to_string();
    store.set_oidc_subject(user.id, None).await.map_err(internal)?;
    log_one(
        store,
        by,
        EventKind::UserChanged,
        json!({"user": format!("user:{}", user.username), "user_id": user.id, "change": "sso_unlinked", "issuer": issuer}),
    )
    .await
}

/// Records another change to an account (password, title, delegation).
pub async fn record_change(store: &Store, by: &By, user: &UserRecord, change: &str) -> Result<(), String> {
    log_one(
        store,
        by,
        EventKind::UserChanged,
        json!({"user": format!("user:{}", user.username), "user_id": user.id, "change": change}),
    )
    .await
}

/// The roles of a single sign-on account follow the identity provider's
/// groups at every sign-in; each change is an event.
pub async fn sync_idp_roles(store: &Store, user: &UserRecord, roles: &[Role]) -> Result<(), String> {
    if user.roles == roles {
        return Ok(());
    }
    store.set_roles(user.id, roles).await.map_err(internal)?;
    let user_ref = format!("user:{}", user.username);
    let mut events = Vec::new();
    for r in roles.iter().filter(|r| !user.roles.contains(r)) {
        events.push(event(
            EventKind::RoleGranted,
            &By::Idp,
            store,
            json!({"user": user_ref, "user_id": user.id, "role": r.as_str(), "via": "identity_provider"}),
        )?);
    }
    for r in user.roles.iter().filter(|r| !roles.contains(r)) {
        events.push(event(
            EventKind::RoleRemoved,
            &By::Idp,
            store,
            json!({"user": user_ref, "user_id": user.id, "role": r.as_str(), "via": "identity_provider"}),
        )?);
    }
    log(store, events).await?;
    tracing::info!(user_id = user.id, "roles updated from the identity provider");
    Ok(())
}

/// Records that a robot was paused or resumed.
pub async fn robot_changed(store: &Store, by: &By, robot: &str, paused: bool) -> Result<(), String> {
    log_one(
        store,
        by,
        EventKind::RobotChanged,
        json!({"robot": robot, "change": if paused { "paused" } else { "resumed" }}),
    )
    .await
}

/// Sets up a local user with its roles given at once, audited as `setup`:
/// for the demo and test fixtures, never reachable from the web or the
/// command line (they go through [`add`], where deciding
/// and administering roles wait for a second administratör).
pub async fn create_user(
    store: &Store,
    username: &str,
    display_name: &str,
    password: Option<&str>,
    personnummer: Option<&str>,
    roles: Vec<Role>,
) -> Result<i64, String> {
    add(
        store,
        &By::Setup,
        &NewAccount {
            username,
            display_name,
            password,
            personnummer,
            roles,
            oidc_subject: None,
        },
    )
    .await
    .map(|a| a.id)
}
