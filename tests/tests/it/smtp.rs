//! SMTP delivery against a real SMTP server (aiosmtpd): Message-ID from the
//! idempotency key, retriable while the server is down, delivered when it
//! is back.

use connectors::IdempotencyKey;
use connectors::delivery::{Delivery, Letter, SmtpConfig, SmtpDelivery, SmtpSecurity};
use tests::smtp::SmtpServer;

fn letter() -> Letter {
    Letter {
        case_ref: "case:7".into(),
        to: Some("sokande@example.org".into()),
        subject: "Beslut om ekonomiskt bistånd".into(),
        text: "Du beviljas 9 750 kr för december.".into(),
        html: "<p>Du beviljas 9&nbsp;750&nbsp;kr för december.</p>".into(),
        pdf: Some(b"%PDF-1.4\n%test\n".to_vec()),
        pdf_name: "beslut.pdf".into(),
    }
}

fn config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::None,
        ca: None,
        username_env: None,
        password_env: None,
        from: "Socialtjänsten <beslut@exempelkommun.se>".into(),
        default_to: None,
        timeout_seconds: 5,
    }
}

#[tokio::test]
async fn a_letter_is_delivered_after_the_server_comes_back_and_arrives_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = SmtpServer::start(&dir.path().join("mail")).unwrap();
    let smtp = SmtpDelivery::new(&config(server.port)).unwrap();
    smtp.health().await.unwrap();
    let key = IdempotencyKey::new("case:7:delivery:1").unwrap();

    server.stop();
    let e = smtp.deliver(&key, &letter()).await.unwrap_err();
    assert!(e.is_retriable(), "{e}");
    assert!(smtp.health().await.is_err());

    server.resume().unwrap();
    let receipt = smtp.deliver(&key, &letter()).await.unwrap();
    assert_eq!(receipt.reference, "<case:7:delivery:1@exempelkommun.se>");
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert!(m.contains("Message-ID: <case:7:delivery:1@exempelkommun.se>"), "{m}");
    assert!(m.contains("application/pdf"));
    assert!(m.contains("To: sokande@example.org"));
}

#[tokio::test]
async fn no_recipient_is_a_permanent_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(&dir.path().join("mail")).unwrap();
    let smtp = SmtpDelivery::new(&config(server.port)).unwrap();
    let mut l = letter();
    l.to = None;
    let e = smtp.deliver(&IdempotencyKey::new("k1").unwrap(), &l).await.unwrap_err();
    assert!(!e.is_retriable());
    l.to = Some("inte en adress".into());
    assert!(
        !smtp
            .deliver(&IdempotencyKey::new("k2").unwrap(), &l)
            .await
            .unwrap_err()
            .is_retriable()
    );
    assert!(server.messages().is_empty());
}
