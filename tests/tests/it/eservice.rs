//! The e-service connector against the simulated platform.

use crate::support::*;
use connectors::eservice::{EserviceConfig, EserviceSource};
use connectors::{Ack, ApplicationSource, ItemRef};
use tests::{Fault, Service, Simulator};

pub(crate) fn config(sim: &Simulator) -> EserviceConfig {
    EserviceConfig {
        base_url: format!("http://{}", sim.eservice),
        token_env: None,
        token_file: Some(token_file()),
        tls: Default::default(),
        field_map: repo().join("ops/field-maps/eservice.toml"),
        page_size: 7,
        timeout_seconds: 2,
    }
}

fn token_file() -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("hrobot-eservice-token-{}", std::process::id()));
    std::fs::write(&p, "sim-eservice-token\n").unwrap();
    p
}

#[tokio::test]
async fn every_errand_maps_back_to_the_same_application() {
    let sim = Simulator::start(&seeded_applications()).await.unwrap();
    let src = EserviceSource::new("eservice", &config(&sim)).unwrap();
    src.health().await.unwrap();
    let items = src.list_new(10_000).await.unwrap();
    assert_eq!(items.len(), sim.data.len(), "paging reaches every errand");
    for item in &items {
        let seeded = sim
            .data
            .iter()
            .find(|s| s.application["external_id"] == item.id.as_str())
            .unwrap();
        let mapped = src.fetch(item).await.unwrap();
        // The platform has no register data: that comes from the register lookup.
        let mut original = seeded.application.clone();
        // Nor a schema tag: the field map supplies it.
        if let Some(o) = original.as_object_mut() {
            o.remove("register");
            o.insert("schema".into(), "ekonomiskt-bistand/ansokan/v1".into());
        }
        let original = serde_json::to_vec(&original).unwrap();
        match (
            domain::Application::parse(&mapped),
            domain::Application::parse(&original),
        ) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", seeded.file),
            (Err(a), Err(b)) => assert_eq!(a.pointers().is_empty(), b.pointers().is_empty(), "{}", seeded.file),
            (a, b) => panic!("{}: mapped {:?} vs original {:?}", seeded.file, a.is_ok(), b.is_ok()),
        }
    }
}

#[tokio::test]
async fn acknowledged_errands_are_not_listed_again_and_acknowledging_twice_is_harmless() {
    let sim = Simulator::start(&seeded_applications()).await.unwrap();
    let src = EserviceSource::new("eservice", &config(&sim)).unwrap();
    let first = src.list_new(3).await.unwrap();
    assert_eq!(first.len(), 3);
    for i in &first {
        src.acknowledge(i, &Ack::Accepted).await.unwrap();
        src.acknowledge(i, &Ack::Accepted).await.unwrap();
    }
    let next = src.list_new(3).await.unwrap();
    assert!(next.iter().all(|n| !first.contains(n)));
    assert_eq!(src.list_new(10_000).await.unwrap().len(), sim.data.len() - 3);
}

#[tokio::test]
async fn faults_are_retriable_or_permanent_as_the_contract_says() {
    let sim = Simulator::start(&seeded_applications()).await.unwrap();
    let src = EserviceSource::new("eservice", &config(&sim)).unwrap();
    let item = src.list_new(1).await.unwrap().pop().unwrap();
    sim.faults.set(Service::Eservice, Fault::Http500);
    assert!(src.list_new(5).await.unwrap_err().is_retriable());
    sim.faults
        .set(Service::Eservice, Fault::Slow(std::time::Duration::from_secs(5)));
    let e = src.fetch(&item).await.unwrap_err();
    assert!(e.is_retriable() && e.message.contains("timed out"), "{e}");
    sim.faults.set(Service::Eservice, Fault::Malformed);
    assert!(!src.fetch(&item).await.unwrap_err().is_retriable());
    sim.faults.clear(Service::Eservice);
    assert!(
        src.fetch(&ItemRef {
            id: "finns-inte".into()
        })
        .await
        .is_err()
    );
    // A wrong token is permanent and says nothing about the token.
    let bad = std::env::temp_dir().join(format!("hrobot-bad-token-{}", std::process::id()));
    std::fs::write(&bad, "fel").unwrap();
    let mut cfg = config(&sim);
    cfg.token_file = Some(bad);
    let e = EserviceSource::new("eservice", &cfg)
        .unwrap()
        .list_new(1)
        .await
        .unwrap_err();
    assert!(!e.is_retriable() && e.message.contains("401"), "{e}");
    // Nothing personal in any error.
    for p in sim.data.iter().filter_map(|s| s.application["applicant"].as_str()) {
        assert!(!e.to_string().contains(p));
    }
    // Down: nobody listening.
    let mut cfg = config(&sim);
    cfg.base_url = "http://127.0.0.1:9".into();
    assert!(
        EserviceSource::new("eservice", &cfg)
            .unwrap()
            .health()
            .await
            .unwrap_err()
            .is_retriable()
    );
}
