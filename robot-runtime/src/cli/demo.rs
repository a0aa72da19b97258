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
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8080)]
    port: u16,
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
    let inbox = data_dir.join("inbox");
    let copied = copy_inbox(&demo.join("inbox"), &inbox)?;
    // The second casework type: fee decisions in elderly care, from its own inbox.
    let fee_inbox = data_dir.join("inbox-avgift");
    let fee_copied = copy_inbox(&demo.join("inbox-avgift"), &fee_inbox)?;

    let mut settings = Settings {
        data_dir: data_dir.clone(),
        ..Settings::default()
    };
    settings.http.listen = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
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
        println!("Avsluta med Ctrl-C.");
        tokio::spawn(async move {
            let now = runtime.clock.now();
            if let Err(e) = run_robot(&runtime, "demo", Trigger::Manual, now).await {
                tracing::error!(error = %e, "the first demo run failed");
            }
        });
        service.run(listener, shutdown_signal()).await
    })
}
