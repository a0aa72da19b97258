//! Markup in what citizens and officials write (names in the application,
//! comments, justifications, user names) is shown as text, never run: in
//! the queue, the case page, the letter and the administration pages.

use crate::support::{Engine, ruleset};
use crate::web_support::{WebApp, client};

const MARKUP: &[&str] = &[
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(2)>",
    "<svg/onload=alert(3)>",
    "' onmouseover='alert(4)",
    "<a href=\"javascript:alert(5)\">x</a>",
];

/// No live markup from the payloads in a page.
fn assert_inert(html: &str, what: &str) {
    for bad in [
        "<script>alert",
        "<img src=x",
        "<svg/onload",
        "href=\"javascript:",
        "onmouseover='alert",
    ] {
        assert!(!html.contains(bad), "{what}: live markup {bad:?}");
    }
}

#[tokio::test]
async fn markup_in_applications_comments_and_names_renders_inert() {
    let app = WebApp::start(Engine::Sqlite).await;
    // An application whose people carry markup as names.
    let dir = tempfile::tempdir().unwrap();
    let src = ruleset().join("tests/03-sambor-tva-barn.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&src).unwrap()).unwrap();
    v["external_id"] = serde_json::json!("XSS-1");
    v["household"]["adults"][0]["name"] = serde_json::json!(MARKUP[0]);
    v["household"]["adults"][1]["name"] = serde_json::json!(MARKUP[1]);
    v["household"]["children"][0]["name"] = serde_json::json!(MARKUP[2]);
    let f = dir.path().join("xss.json");
    std::fs::write(&f, v.to_string()).unwrap();
    let ids = app.seed(&[f]).await;
    let case = ids[0];
    let anna = app.login("anna").await;

    let page = anna.get(&format!("/arenden/{case}")).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert_inert(&html, "case page");
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "the name is shown, escaped"
    );

    // Comments and justifications.
    for m in MARKUP {
        let r = anna.post(&format!("/arenden/{case}/kommentar"), &[("text", m)]).await;
        assert_eq!(r.status(), 303);
    }
    let html = anna.get(&format!("/arenden/{case}")).await.text().await.unwrap();
    assert_inert(&html, "case page with comments");

    for path in ["/arenden?status=alla", &format!("/arenden/{case}/beslutsbrev")] {
        let r = anna.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_inert(&r.text().await.unwrap(), path);
    }
    let r = client()
        .get(app.url(&format!("/api/v1/cases/{case}")))
        .bearer_auth(app.token("anna").await)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("content-type").unwrap(), "application/json");

    // Names of officials, as an administrator enters them.
    let adam = app.login("adam").await;
    let r = adam
        .post(
            "/admin/anvandare",
            &[
                ("anvandarnamn", "xss"),
                ("namn", MARKUP[1]),
                ("losenord", "ett-langt-losenord"),
                ("personnummer", "199703242397"),
                ("handlaggare", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let html = adam.get("/admin/anvandare").await.text().await.unwrap();
    assert_inert(&html, "users page");
    assert!(
        html.contains("&#34;&#62;&#60;img src=x onerror=alert(2)&#62;"),
        "the name is shown, escaped"
    );
    // That official's name in the header of every page.
    let xss = app.try_login("xss", "ett-langt-losenord").await.unwrap();
    assert_inert(&xss.get("/arenden").await.text().await.unwrap(), "header with the name");

    // Every page forbids inline script as a second line of defence.
    let r = anna.get("/arenden").await;
    let csp = r.headers().get("content-security-policy").unwrap().to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    app.stop().await;
}
