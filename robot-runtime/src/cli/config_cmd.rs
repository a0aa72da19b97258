//! `hrobot config check`.

use crate::config::Settings;

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Check the configuration: syntax, robots, schedules, rulesets, folders, keys.
    Check,
}

pub fn run(settings: Settings, cmd: ConfigCommand) -> u8 {
    match cmd {
        ConfigCommand::Check => {
            let mut problems = settings.check();
            if let Err(e) = settings.approval.check() {
                problems.push(e);
            }
            let audit = crate::keys::audit_settings(&settings);
            if let Err(e) = audit.signer() {
                problems.push(format!(
                    "audit signing key {}: {e}",
                    settings.signing_key_file().display()
                ));
            }
            if let Err(e) = audit.require_master_keys() {
                problems.push(format!("master key: {e}"));
            }
            let sso = settings.web.oidc.as_ref().map(|o| {
                let found = o.check();
                // The provider itself, once the section reads right:
                // discovery and its keys, or the error with its causes.
                let provider = if found.is_empty() {
                    match super::tokio_runtime() {
                        Ok(rt) => Some(rt.block_on(crate::web::oidc::check_provider(o))),
                        Err(e) => Some(Err(format!("{e}"))),
                    }
                } else {
                    None
                };
                (found, provider)
            });
            let mut sso_line = None;
            if let Some((found, provider)) = sso {
                problems.extend(found);
                match provider {
                    Some(Ok(summary)) => sso_line = Some(summary),
                    // The section is right but the provider does not answer
                    // now: a warning, not a failure. The unit runs this check
                    // before every start, and an outage at the provider must
                    // not keep robots, outbox and local sign-in down.
                    Some(Err(e)) => {
                        eprintln!("warning: web.oidc: the identity provider does not answer now: {e}");
                        sso_line = Some("the provider did not answer (see the warning)".to_string());
                    }
                    None => {}
                }
            }
            if problems.is_empty() {
                println!("ok: {} robot(s), database {}", settings.robots.len(), engine(&settings));
                let h = &settings.http;
                println!(
                    "  http: {}, request head within {} s, keep-alive {} s, request {} s, at most {} connections",
                    h.listen,
                    h.header_read_timeout_secs,
                    h.keep_alive_idle_secs,
                    h.request_timeout_secs,
                    h.max_connections
                );
                let w = &settings.web;
                println!(
                    "  web: X-Forwarded-For {}, API tokens at most {} h, browser sessions at most {} h",
                    match w.proxies() {
                        0 => "ignored".to_string(),
                        n => format!("read {n} from the right"),
                    },
                    w.api_token_max_hours,
                    w.session_max_hours
                );
                if let (Some(o), Some(summary)) = (&w.oidc, &sso_line) {
                    println!(
                        "  sso: {} (roles from {:?} at {:?}), {summary}",
                        o.issuer_url, o.roles_from, o.roles_claim
                    );
                }
                if w.trust_forwarded_for {
                    println!("  note: web.trust_forwarded_for is deprecated; write web.trusted_proxies = 1");
                }
                for r in &settings.robots {
                    println!(
                        "  {}: {} ({}), {}",
                        r.name,
                        r.schedule,
                        r.time_zone,
                        if r.enabled { "enabled" } else { "disabled" }
                    );
                }
                0
            } else {
                for p in &problems {
                    eprintln!("{p}");
                }
                1
            }
        }
    }
}

fn engine(s: &Settings) -> &'static str {
    crate::store::DatabaseKind::of_url(s.database_url().expose()).map_or("?", |k| k.display_name())
}
