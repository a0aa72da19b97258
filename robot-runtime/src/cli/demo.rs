//! `hrobot demo`: the embedded default. SQLite in a data directory, a robot
//! over a copy of the demo inbox with the demo register, serving on
//! 127.0.0.1. The first run starts at once, so drafts appear within seconds.

use crate::clock::SystemClock;
use crate::config::{LookupSettings, Missed, RobotOptions, RobotSettings, Settings, SourceSettings};
use crate::pipeline::run_robot;
use crate::service::{Service, shutdown_signal};
use crate::store::Trigger;
use crate::telemetry::LogFormat;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port to serve on.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to serve on: 127.0.0.1 unless the demo runs in a container
    /// whose port is published (`--bind 0.0.0.0`).
    #[arg(long, default_value_t = std::net::IpAddr::from([127, 0, 0, 1]))]
    bind: std::net::IpAddr,
    /// The demo applications and register answers (`inbox/`, `register/`).
    #[arg(long)]
    demo: Option<PathBuf>,
    /// The ruleset.
    #[arg(long)]
    ruleset: Option<PathBuf>,
}

/// A folder of the repository: relative to the working directory, else to
/// where the binary was built from.
fn repo_path(rel: &str) -> PathBuf {
    let here = PathBuf::from(rel);
    if here.exists() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn copy_inbox(from: &Path, to: &Path) -> std::io::Result<usize> {
    crate::private::secure_data_dir(to)?;
    let mut n = 0;
    for e in std::fs::read_dir(from)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "json")
            && let Some(name) = p.file_name()
        {
            // copy keeps the source's mode: the copy holds personal data.
            std::fs::copy(&p, to.join(name))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(to.join(name), std::fs::Permissions::from_mode(0o600))?;
            }
            n += 1;
        }
    }
    Ok(n)
}

/// The demo's rule change, as a rule author would make it: a copy of the
/// shipped ruleset with a new set of the municipality's values from this month
/// (rent guide values 1 000 kr higher), published as `regel`, shadowed over
/// the drafted cases against the version in force, and an activation from
/// today asked for by `regel`, waiting for a second person. The report is
/// also written to `DATA/rapporter/`. Returns (report, cases, changed,
/// request).
async fn rule_change(
    rt: &crate::runtime::Runtime,
    data_dir: &Path,
    shipped: &Path,
    dir: &Path,
) -> anyhow::Result<(i64, u64, u64, i64)> {
    use crate::rulebook::{self, shadow};
    use chrono::Datelike;
    let today = rulebook::swedish_day(rt.clock.now());
    // Parameters are chosen by the application's period: from the first
    // day of this month, so this month's applications are affected.
    let month_start = today.with_day(1).unwrap_or(today);
    higher_rent_candidate(shipped, dir, month_start)?;
    let regel = rt
        .store
        .user_by_name("regel")
        .await?
        .ok_or_else(|| anyhow::anyhow!("the demo user regel is missing"))?;
    let by = crate::accounts::By::Official(crate::officials::official(&regel, None)?);
    let published = rulebook::publish(&rt.store, &by, dir)
        .await
        .map_err(anyhow::Error::msg)?;
    let robots = rt.settings.ruleset_folders();
    let candidate = rulebook::load_version(&rt.store, &rt.settings.data_dir, &published.row.hash)
        .await
        .map_err(anyhow::Error::msg)?;
    let in_force = rulebook::in_force(&rt.store, &rt.settings.data_dir, &robots, candidate.type_name())
        .await
        .map_err(anyhow::Error::msg)?;
    let report = shadow::run(&rt.store, candidate, in_force, Default::default(), "all")
        .await
        .map_err(anyhow::Error::msg)?;
    let id = shadow::save(&rt.store, &by.actor(), &report)
        .await
        .map_err(anyhow::Error::msg)?;
    let out = data_dir.join("rapporter");
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join(format!("shadow-{id}.html")),
        shadow::html(&report, &format!("http://{}", rt.settings.http.listen)).map_err(anyhow::Error::msg)?,
    )?;
    std::fs::write(
        out.join(format!("shadow-{id}.json")),
        serde_json::to_string_pretty(&report)?,
    )?;
    let request = rulebook::request_activation(
        &rt.store,
        &by,
        &published.row.hash,
        today,
        "Nämnden har beslutat höjda riktvärden för hyra (demo: påhittade värden, inte ett verkligt beslut).",
    )
    .await
    .map_err(anyhow::Error::msg)?;
    Ok((id, report.cases, report.changed, request))
}

/// Writes the candidate: the shipped ruleset with a second set of the
/// municipality's values from `from`, rent guide values 1 000 kr higher.
fn higher_rent_candidate(shipped: &Path, dir: &Path, from: chrono::NaiveDate) -> anyhow::Result<()> {
    copy_tree(shipped, dir)?;
    let file = dir.join("parameters/kommun.toml");
    let text = std::fs::read_to_string(&file)?;
    let start = text
        .rfind("[[set]]")
        .ok_or_else(|| anyhow::anyhow!("kommun.toml has no [[set]]"))?;
    let mut set = text[start..].to_string();
    let mut changed = 0;
    let mut lines: Vec<String> = Vec::new();
    for line in set.lines() {
        let l = line.trim_start();
        if l.starts_with("valid_from") {
            lines.push(format!("valid_from = {from}"));
        } else if l.starts_with("source") {
            lines.push(
                "source = \"Demo: höjda riktvärden för hyra (påhittade värden för Exempelkommun, inte ett verkligt beslut).\""
                    .to_string(),
            );
        } else if let Some((k, v)) = l.split_once('=')
            && k.trim().starts_with("hyra_riktvarde_")
            && let Ok(kr) = v.trim().parse::<i64>()
        {
            lines.push(format!("{} = {}", k.trim(), kr + 1000));
            changed += 1;
        } else {
            lines.push(line.to_string());
        }
    }
    if changed == 0 {
        anyhow::bail!("kommun.toml has no rent guide values");
    }
    set = lines.join("\n");
    std::fs::write(&file, format!("{text}\n# Demo: höjda riktvärden för hyra.\n{set}\n"))?;
    let manifest = dir.join("ruleset.toml");
    let m = std::fs::read_to_string(&manifest)?;
    let m = match m.lines().find(|l| l.starts_with("version = ")) {
        Some(line) => m.replacen(line, &format!("{}-hyra\"", line.trim_end_matches('"')), 1),
        None => m,
    };
    std::fs::write(&manifest, m)?;
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &target)?;
        } else {
            // Written, not copied: the repository's modes stay behind, and
            // the data directory's files are the service's alone.
            std::fs::write(target, std::fs::read(e.path())?)?;
        }
    }
    Ok(())
}

/// `data_dir`: the global `--data-dir`; a new temporary folder if none.
pub fn run(args: Args, data_dir: Option<PathBuf>, log_format: Option<LogFormat>, verbose: u8) -> ExitCode {
    crate::telemetry::init(log_format.unwrap_or_default(), verbose, Some("info"));
    match demo(args, data_dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn demo(args: Args, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let (data_dir, _temp) = match &data_dir {
        Some(d) => (d.clone(), None),
        None => {
            let t = tempfile::Builder::new().prefix("hrobot-demo-").tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    crate::private::secure_data_dir(&data_dir)?;
    let demo = args.demo.unwrap_or_else(|| repo_path("ops/demo"));
    let ruleset = args.ruleset.unwrap_or_else(|| repo_path("rulesets/ekonomiskt-bistand"));
    let shipped_ruleset = ruleset.clone();
    let inbox = data_dir.join("inbox");
    let copied = copy_inbox(&demo.join("inbox"), &inbox)?;
    // The second casework type: fee decisions in elderly care, from its own inbox.
    let fee_inbox = data_dir.join("inbox-avgift");
    let fee_copied = copy_inbox(&demo.join("inbox-avgift"), &fee_inbox)?;

    let mut settings = Settings {
        data_dir: data_dir.clone(),
        ..Settings::default()
    };
    settings.http.listen = std::net::SocketAddr::new(args.bind, args.port);
    settings.workers.poll_millis = 200;
    // Plain HTTP on localhost: cookies without `Secure`.
    settings.web.secure_cookies = false;
    settings.audit.checkpoint_every_secs = 30;
    // Checkpoints are also kept outside the database. In the demo that is
    // a folder beside it; production puts it on another machine or mount.
    settings.audit.witness_dir = Some(data_dir.join("audit-witness"));
    settings.robots.push(RobotSettings {
        name: "demo".into(),
        enabled: true,
        schedule: "* * * * *".into(),
        time_zone: "Europe/Stockholm".into(),
        missed: Missed::Skip,
        missed_limit_hours: 24,
        ruleset,
        source: SourceSettings::FileInbox { path: inbox.clone() },
        lookups: vec![LookupSettings::FileRegister {
            path: demo.join("register"),
        }],
        options: RobotOptions::default(),
    });
    settings.robots.push(RobotSettings {
        name: "demo-avgift".into(),
        enabled: true,
        schedule: "* * * * *".into(),
        time_zone: "Europe/Stockholm".into(),
        missed: Missed::Skip,
        missed_limit_hours: 24,
        ruleset: repo_path("rulesets/avgift-aldreomsorg"),
        source: SourceSettings::FileInbox {
            path: fee_inbox.clone(),
        },
        lookups: Vec::new(),
        options: RobotOptions::default(),
    });
    crate::keys::ensure_keys(&settings, "hrobot.invalid/demo")?;
    let problems = settings.check();
    if !problems.is_empty() {
        anyhow::bail!("the demo configuration is not valid:\n{}", problems.join("\n"));
    }

    let rt = super::tokio_runtime()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(settings.http.listen).await?;
        let addr = listener.local_addr()?;
        let service = Service::build(settings, Arc::new(SystemClock)).await?;
        let runtime = service.runtime.clone();
        println!("Handläggarrobot demo");
        println!("  Webbgränssnitt:  http://{addr}/");
        println!("  Hälsa, mätvärden: http://{addr}/healthz  http://{addr}/metrics");
        println!("  Data:            {}", data_dir.display());
        println!(
            "  Inkorg:          {} ansökningar om ekonomiskt bistånd i {}",
            copied,
            inbox.display()
        );
        println!(
            "                   {} underlag för avgift inom äldreomsorgen i {}",
            fee_copied,
            fee_inbox.display()
        );
        println!("  Ärenden:         hrobot cases list --data-dir {}", data_dir.display());
        println!("  Inloggning (användare och lösenord):");
        for (user, password) in super::users::demo_users(&runtime.store).await? {
            println!("    {user:<14} {password}");
        }
        println!("  Prova ett beslut med kommunicering (25 § förvaltningslagen):");
        println!("    1. Logga in som handlaggare1 och öppna ett ärende med hyra över riktvärdet (delvis bifall).");
        println!(
            "    2. Skicka kommuniceringsbrev; brevet hamnar i {}.",
            data_dir.join("outbox/new").display()
        );
        println!("    3. Registrera den sökandes svar; ärendet kommer tillbaka till kön.");
        println!("    4. Bekräfta bedömningen och godkänn: beslutsbrevet säger att den sökande har fått yttra sig.");
        println!("  Prova en regeländring (regelförfattare och en andra person):");
        println!("    1. När ärendena är bedömda publicerar demon en kandidat med högre riktvärden för hyra,");
        println!("       skuggkör den över ärendena och begär aktivering som regel (länkarna skrivs nedan).");
        println!("    2. Logga in som regel och läs skuggrapporten under Regler → Versioner.");
        println!("    3. Logga in som admin och godkänn under Regler → Aktiveringar; nästa ansökan bedöms med den nya versionen.");
        println!("Avsluta med Ctrl-C.");
        let candidate_dir = data_dir.join("regler-kandidat");
        let data = data_dir.clone();
        tokio::spawn(async move {
            let now = runtime.clock.now();
            let report = match run_robot(&runtime, "demo", Trigger::Manual, now).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "the first demo run failed");
                    return;
                }
            };
            let Some(report) = report else { return };
            if let Err(e) = crate::pipeline::drain_run(&runtime, report.run_id, |_, _| {}).await {
                tracing::error!(error = %e, "the first demo run could not be finished");
                return;
            }
            match rule_change(&runtime, &data, &shipped_ruleset, &candidate_dir).await {
                Ok((report_id, cases, changed, request)) => {
                    println!("Regeländring (demo): kandidaten skuggkördes över {cases} ärenden; {changed} ändras.");
                    println!("  Skuggrapport:       http://{addr}/regler/skuggkorningar/{report_id}");
                    println!(
                        "                      (också som fil: {})",
                        data.join("rapporter").join(format!("shadow-{report_id}.html")).display()
                    );
                    println!("  Aktiveringsbegäran: #{request}, väntar på en andra person: http://{addr}/regler/aktiveringar");
                }
                Err(e) => tracing::error!(error = %e, "the demo's rule change could not be prepared"),
            }
        });
        service.run(listener, shutdown_signal()).await
    })
}
