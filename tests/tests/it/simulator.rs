//! The simulator itself: its protocols and fault switches behave.

use crate::support::*;
use tests::{Fault, Service, Simulator};

async fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let addr = url.trim_start_matches("http://");
    let (host, path) = addr.split_once('/').unwrap();
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    s.write_all(format!("GET /{path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let code = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

#[tokio::test]
async fn the_eservice_lists_pages_of_errands_behind_a_token() {
    let sim = Simulator::start(&seeded_applications()).await.unwrap();
    let base = format!("http://{}/api/v1/errands", sim.eservice);
    let (code, _) = get(&base, None).await;
    assert_eq!(code, 401);
    let (code, body) = get(&format!("{base}?per_page=5&page=2"), Some("sim-eservice-token")).await;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["errands"].as_array().unwrap().len(), 5);
    assert_eq!(v["total"].as_u64().unwrap() as usize, sim.data.len());
    let id = v["errands"][0]["id"].as_str().unwrap().to_string();
    let (code, body) = get(&format!("{base}/{id}"), Some("sim-eservice-token")).await;
    assert_eq!(code, 200);
    let e: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(e["id"], id.as_str());
    assert!(e["values"]["vuxna"].is_array());

    sim.faults.set(Service::Eservice, Fault::Http500);
    assert_eq!(get(&base, Some("sim-eservice-token")).await.0, 500);
    sim.faults.set(Service::Eservice, Fault::Malformed);
    let (_, body) = get(&base, Some("sim-eservice-token")).await;
    assert!(serde_json::from_str::<serde_json::Value>(&body).is_err());
    sim.faults.clear(Service::Eservice);
    assert_eq!(get(&base, Some("sim-eservice-token")).await.0, 200);
}
