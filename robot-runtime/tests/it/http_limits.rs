//! Slow and silent connections: the service closes them after its timeouts
//! and keeps answering `/healthz` while they are open, even past its
//! connection limit (security review MEDIUM-5, probes J3 and J4).

use crate::support::Engine;
use crate::web_support::WebApp;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(header_secs: u64, keep_alive_secs: u64, request_secs: u64, max_connections: usize) -> WebApp {
    let mut env = crate::web_support::web_env(Engine::Sqlite).await;
    env.settings.http.header_read_timeout_secs = header_secs;
    env.settings.http.keep_alive_idle_secs = keep_alive_secs;
    env.settings.http.request_timeout_secs = request_secs;
    env.settings.http.max_connections = max_connections;
    let clock = crate::support::clock_at("2021-03-10T09:00:00Z");
    WebApp::start_with(env, clock).await
}

fn addr(app: &WebApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection; how long that took from
/// `since`, or None if it stayed open until `give_up`.
async fn closed_after(s: &mut TcpStream, since: Instant, give_up: Duration) -> Option<(Duration, Vec<u8>)> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let left = give_up.checked_sub(since.elapsed())?;
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some((since.elapsed(), got)),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// A slowloris connection: a request head one byte every `every`, never
/// finished. Returns when the server closes it, or None after `give_up`.
async fn trickle(addr: String, every: Duration, give_up: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut s = TcpStream::connect(&addr).await.ok()?;
    let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Langsam: ";
    let mut i = 0usize;
    loop {
        let byte = head.get(i).copied().unwrap_or(b'a');
        i += 1;
        if s.write_all(&[byte]).await.is_err() {
            return Some(started.elapsed());
        }
        let since = Instant::now();
        let wait = every.min(give_up.checked_sub(started.elapsed())?);
        if let Some(_closed) = closed_after(&mut s, since, wait).await {
            return Some(started.elapsed());
        }
        if started.elapsed() >= give_up {
            return None;
        }
    }
}

/// A connection that sends nothing at all.
async fn silent(addr: String, give_up: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut s = TcpStream::connect(&addr).await.ok()?;
    closed_after(&mut s, started, give_up).await.map(|(d, _)| d)
}

async fn healthz_time(app: &WebApp) -> Duration {
    // A fresh client each time: a new connection, like a load balancer's probe.
    let t = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        crate::web_support::client().get(app.url("/healthz")).send(),
    )
    .await
    .expect("/healthz answered within 5 s")
    .unwrap();
    assert_eq!(r.status(), 200);
    t.elapsed()
}

#[tokio::test]
async fn slow_and_silent_connections_are_closed_and_healthz_still_answers() {
    // Head timeout 2 s; 160 attackers against a limit of 40 connections.
    let app = start(2, 5, 30, 40).await;
    let give_up = Duration::from_secs(10);
    let mut attackers = tokio::task::JoinSet::new();
    for i in 0..160 {
        let a = addr(&app);
        if i % 2 == 0 {
            attackers.spawn(trickle(a, Duration::from_millis(700), give_up));
        } else {
            attackers.spawn(silent(a, give_up));
        }
    }
    // While they are open (and the limit is reached), /healthz answers
    // quickly, over and over.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        let t = healthz_time(&app).await;
        assert!(t < Duration::from_secs(1), "/healthz took {t:?} under attack");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Every attacker was disconnected: by the head timeout (2 s, give or
    // take the trickle's step), or earlier to make room.
    let mut closed = Vec::new();
    while let Some(r) = attackers.join_next().await {
        closed.push(r.unwrap());
    }
    assert!(
        closed.iter().all(|c| c.is_some_and(|d| d < Duration::from_secs(4))),
        "connections left open: {} of {}; times: {closed:?}",
        closed.iter().filter(|c| c.is_none()).count(),
        closed.len()
    );
    assert!(healthz_time(&app).await < Duration::from_secs(1));
    app.stop().await;
}

/// A request whose head is complete and whose body comes a byte at a time.
async fn slow_body(addr: String, every: Duration, give_up: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut s = TcpStream::connect(&addr).await.ok()?;
    s.write_all(b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
        .await
        .ok()?;
    loop {
        if s.write_all(b" ").await.is_err() {
            return Some(started.elapsed());
        }
        let wait = every.min(give_up.checked_sub(started.elapsed())?);
        if closed_after(&mut s, Instant::now(), wait).await.is_some() {
            return Some(started.elapsed());
        }
    }
}

#[tokio::test]
async fn slow_bodies_give_way_to_new_connections_at_the_limit() {
    // A request timeout far beyond the test: only eviction frees the slots.
    let app = start(2, 5, 120, 20).await;
    let mut attackers = tokio::task::JoinSet::new();
    for _ in 0..20 {
        attackers.spawn(slow_body(
            addr(&app),
            Duration::from_millis(300),
            Duration::from_secs(8),
        ));
    }
    // Let them all get their heads in and start on the bodies.
    tokio::time::sleep(Duration::from_millis(800)).await;
    for _ in 0..3 {
        let t = healthz_time(&app).await;
        assert!(
            t < Duration::from_secs(1),
            "/healthz took {t:?} with every slot in a slow body"
        );
    }
    attackers.abort_all();
    app.stop().await;
}

#[tokio::test]
async fn idle_keep_alive_and_slow_bodies_are_cut_off() {
    // A long head timeout, so what closes the connections below is the
    // keep-alive limit (1 s) and the request limit (2 s).
    let app = start(30, 1, 2, 100).await;
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let since = Instant::now();
    let (t, got) = closed_after(&mut s, since, Duration::from_secs(10))
        .await
        .expect("an idle kept-alive connection is closed");
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"));
    assert!(t < Duration::from_secs(3), "closed after {t:?}");

    // A form whose body never comes: 408 after the request timeout.
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(
        b"POST /logga-in HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nanv",
    )
    .await
    .unwrap();
    let since = Instant::now();
    let (t, got) = closed_after(&mut s, since, Duration::from_secs(10))
        .await
        .expect("a stalled request is cut off");
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(
        t >= Duration::from_millis(1500) && t < Duration::from_secs(4),
        "after {t:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_busy_server_still_stops_when_asked() {
    let app = start(2, 5, 30, 10).await;
    let mut idle = Vec::new();
    for _ in 0..10 {
        idle.push(TcpStream::connect(addr(&app)).await.unwrap());
    }
    let t = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("graceful shutdown with idle connections open");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}
