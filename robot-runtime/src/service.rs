//! `hrobot serve`: scheduler, workers, HTTP and the audit checkpointer in
//! one process, started from a listener and stopped by a signal that the
//! caller supplies (so tests run the real thing on port 0).

use crate::clock::Clock;
use crate::config::Settings;
use crate::http::{AppState, router};
use crate::pipeline::{robot_loop, worker};
use crate::runtime::Runtime;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{error, info, warn};

pub struct Service {
    pub runtime: Arc<Runtime>,
    ready: Arc<AtomicBool>,
}

impl Service {
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Service> {
        let runtime = Arc::new(Runtime::build(settings, clock).await?);
        Ok(Service {
            runtime,
            ready: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Runs until `shutdown` completes, then stops taking work, lets the
    /// workers finish the batch in hand, signs a last audit checkpoint and
    /// closes the store.
    pub async fn run(self, listener: TcpListener, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let rt = self.runtime;
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();

        let state = AppState {
            runtime: rt.clone(),
            ready: self.ready.clone(),
        };
        let mut http_stop = stop_rx.clone();
        let app = router(state);
        let addr = listener.local_addr()?;
        let limits = crate::server::Limits::from_settings(&rt.settings.http);
        tasks.spawn(async move {
            crate::server::serve(listener, app, limits, async move {
                crate::clock::stopped(&mut http_stop).await;
            })
            .await;
        });

        for _ in 0..rt.settings.workers.concurrency.max(1) {
            tasks.spawn(worker(rt.clone(), stop_rx.clone()));
        }
        tasks.spawn(rt.clone().heartbeat_loop(true, stop_rx.clone()));
        tasks.spawn(crate::outbox::outbox_loop(rt.outbox.clone(), stop_rx.clone()));
        tasks.spawn(crate::outbox::kommunicering_loop(rt.store.clone(), stop_rx.clone()));
        for (name, robot) in &rt.robots {
            if robot.settings.enabled {
                tasks.spawn(robot_loop(rt.clone(), name.clone(), stop_rx.clone()));
            } else {
                info!(robot = %name, "robot is disabled in the configuration");
            }
        }
        // The witness: its own task, so that a slow or unreachable witness
        // never holds up a checkpoint in the database. Each checkpointer
        // round wakes it; it copies whatever is committed and not yet there.
        let witness = witness(&rt);
        let kick = Arc::new(tokio::sync::Notify::new());
        if let Some(w) = witness.clone() {
            let w_rt = rt.clone();
            let w_kick = kick.clone();
            let mut w_stop = stop_rx.clone();
            tasks.spawn(async move {
                loop {
                    tokio::select! {
                        () = publish_witness(&w_rt, &w) => {}
                        () = crate::clock::stopped(&mut w_stop) => return,
                    }
                    tokio::select! {
                        () = w_kick.notified() => {}
                        () = crate::clock::stopped(&mut w_stop) => return,
                    }
                }
            });
        }
        let ckpt_rt = rt.clone();
        let mut ckpt_stop = stop_rx.clone();
        let ckpt_kick = kick.clone();
        tasks.spawn(async move {
            let every = ckpt_rt
                .store
                .audit()
                .policy()
                .every
                .max(std::time::Duration::from_secs(1));
            loop {
                tokio::select! {
                    () = tokio::time::sleep(every) => {
                        if let Err(e) = ckpt_rt.store.checkpoint(true).await {
                            warn!(error = %e, "audit checkpoint failed; will retry");
                        }
                        ckpt_kick.notify_one();
                    }
                    () = crate::clock::stopped(&mut ckpt_stop) => return,
                }
            }
        });

        self.ready.store(true, Ordering::SeqCst);
        info!(%addr, robots = rt.robots.len(), workers = rt.settings.workers.concurrency, engine = rt.store.engine(), "hrobot is serving");

        shutdown.await;
        info!("shutting down: no new work is taken; the work in hand is finished");
        self.ready.store(false, Ordering::SeqCst);
        let _ = stop_tx.send(true);
        while tasks.join_next().await.is_some() {}
        match rt.store.checkpoint(false).await {
            Ok(Some(_)) => info!("final audit checkpoint signed"),
            Ok(None) => {}
            Err(e) => error!(error = %e, "final audit checkpoint failed"),
        }
        if let Some(w) = &witness {
            publish_witness_bounded(&rt, w).await;
        }
        rt.store.close().await;
        info!("stopped");
        Ok(())
    }
}

/// The configured witness directory (created 0700 if missing).
pub fn witness(rt: &Runtime) -> Option<audit::witness::Witness> {
    let dir = audit::witness::WitnessDir::new(rt.settings.audit.witness_dir.clone()?);
    if let Err(e) = dir.ensure() {
        warn!(error = %e, "the audit witness directory cannot be created; will retry");
    }
    Some(audit::witness::Witness::new(dir))
}

/// Copies new checkpoints to the witness; a failure is logged (paths and
/// the I/O error only) and the next round tries again.
async fn publish_witness(rt: &Runtime, w: &audit::witness::Witness) {
    match rt.store.publish_to_witness(w).await {
        Ok(0) => {}
        Ok(n) => info!(checkpoints = n, "audit checkpoints written to the witness"),
        Err(e) => warn!(error = %e, "writing the audit witness failed; will retry"),
    }
}

/// [`publish_witness`], given at most 10 seconds (at shutdown, and after a
/// one-off run).
pub async fn publish_witness_bounded(rt: &Runtime, w: &audit::witness::Witness) {
    if tokio::time::timeout(std::time::Duration::from_secs(10), publish_witness(rt, w))
        .await
        .is_err()
    {
        warn!(
            "the audit witness did not answer within 10 s; the checkpoints are in the database and go to the witness next time"
        );
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
