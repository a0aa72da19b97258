//! The authorisation matrix: every route of the web UI and the API ×
//! anonymous and every role, asserted from one table written here — not
//! derived from the application's own route table, which is only checked
//! to list exactly the same routes.

use crate::support::Engine;
use crate::web_support::{Browser, WebApp, client};
use robot_runtime::web::ROUTES;

/// What a caller gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum E {
    /// Through the guard: the handler ran (whatever it answered).
    Ok,
    /// Refused for the role: 403 with the role message / code `forbidden`.
    No,
    /// Not signed in: 303 to the login page (UI) or 401 (API).
    Login,
}
use E::{Login, No, Ok};

/// (method, path, [anonymous, handläggare, regelförfattare, administratör, revisor])
const MATRIX: &[(&str, &str, [E; 5])] = &[
    ("get", "/", [Login, Ok, Ok, Ok, Ok]),
    ("get", "/static/stil.css", [Ok, Ok, Ok, Ok, Ok]),
    ("get", "/logga-in", [Ok, Ok, Ok, Ok, Ok]),
    ("post", "/logga-in", [Ok, Ok, Ok, Ok, Ok]),
    ("post", "/logga-ut", [Login, Ok, Ok, Ok, Ok]),
    ("get", "/logga-in/sso", [Ok, Ok, Ok, Ok, Ok]),
    ("get", "/logga-in/sso/klar", [Ok, Ok, Ok, Ok, Ok]),
    ("get", "/arenden", [Login, Ok, Ok, No, Ok]),
    ("get", "/arenden/{id}", [Login, Ok, Ok, No, Ok]),
    ("get", "/arenden/{id}/beslutsbrev", [Login, Ok, Ok, No, Ok]),
    ("get", "/arenden/{id}/beslutsbrev.pdf", [Login, Ok, Ok, No, Ok]),
    ("post", "/arenden/{id}/godkann", [Login, Ok, No, No, No]),
    ("post", "/arenden/{id}/andra", [Login, Ok, No, No, No]),
    ("post", "/arenden/{id}/kommunicera", [Login, Ok, No, No, No]),
    ("post", "/arenden/{id}/svar", [Login, Ok, No, No, No]),
    ("get", "/arenden/{id}/kommuniceringsbrev", [Login, Ok, Ok, No, Ok]),
    ("post", "/arenden/{id}/manuell", [Login, Ok, No, No, No]),
    ("post", "/arenden/{id}/tilldela", [Login, Ok, No, No, No]),
    ("post", "/arenden/{id}/kommentar", [Login, Ok, No, No, No]),
    ("post", "/arenden/{id}/kor-om", [Login, Ok, Ok, No, Ok]),
    ("get", "/regler", [Login, No, Ok, Ok, Ok]),
    ("get", "/regler/versioner", [Login, No, Ok, Ok, Ok]),
    ("get", "/regler/versioner/{hash}", [Login, No, Ok, Ok, Ok]),
    ("get", "/regler/versioner/{hash}/fil", [Login, No, Ok, Ok, Ok]),
    ("post", "/regler/versioner/{hash}/skuggkorning", [Login, No, Ok, No, No]),
    ("post", "/regler/versioner/{hash}/aktivering", [Login, No, Ok, No, No]),
    ("get", "/regler/skuggkorningar/{id}", [Login, No, Ok, Ok, Ok]),
    ("get", "/regler/aktiveringar", [Login, No, Ok, Ok, Ok]),
    ("post", "/regler/aktiveringar/{id}", [Login, No, Ok, Ok, No]),
    ("get", "/regler/prova", [Login, No, Ok, No, No]),
    ("post", "/regler/prova", [Login, No, Ok, No, No]),
    ("get", "/admin/anvandare", [Login, No, No, Ok, No]),
    ("post", "/admin/anvandare", [Login, No, No, Ok, No]),
    ("post", "/admin/anvandare/{id}/status", [Login, No, No, Ok, No]),
    ("post", "/admin/anvandare/{id}/personnummer", [Login, No, No, Ok, No]),
    ("post", "/admin/anvandare/{id}/roll", [Login, No, No, Ok, No]),
    ("get", "/admin/anvandare/{id}/sso", [Login, No, No, Ok, No]),
    ("post", "/admin/anvandare/{id}/sso", [Login, No, No, Ok, No]),
    ("post", "/admin/rollbegaran/{id}", [Login, No, No, Ok, No]),
    ("get", "/admin/robotar", [Login, No, No, Ok, No]),
    ("post", "/admin/robotar/{name}/status", [Login, No, No, Ok, No]),
    ("get", "/admin/konfiguration", [Login, No, No, Ok, No]),
    ("get", "/admin/utkorg", [Login, No, No, Ok, No]),
    ("get", "/granskning", [Login, No, No, No, Ok]),
    ("post", "/granskning/verifiera", [Login, No, No, No, Ok]),
    ("get", "/granskning/lasningar", [Login, No, No, No, Ok]),
    ("get", "/granskning/handelser", [Login, No, No, No, Ok]),
    ("get", "/granskning/handelser/{seq}", [Login, No, No, No, Ok]),
    ("get", "/granskning/handelser/{seq}/bevis", [Login, No, No, No, Ok]),
    ("post", "/api/v1/session", [Ok, Ok, Ok, Ok, Ok]),
    ("delete", "/api/v1/session", [Login, Ok, Ok, Ok, Ok]),
    ("get", "/api/v1/cases", [Login, Ok, Ok, No, Ok]),
    ("get", "/api/v1/cases/{id}", [Login, Ok, Ok, No, Ok]),
    ("post", "/api/v1/cases/{id}/approve", [Login, Ok, No, No, No]),
    ("post", "/api/v1/cases/{id}/amend", [Login, Ok, No, No, No]),
    ("post", "/api/v1/cases/{id}/kommunicering", [Login, Ok, No, No, No]),
    (
        "post",
        "/api/v1/cases/{id}/kommunicering/reply",
        [Login, Ok, No, No, No],
    ),
    ("post", "/api/v1/cases/{id}/return", [Login, Ok, No, No, No]),
    ("post", "/api/v1/cases/{id}/assign", [Login, Ok, No, No, No]),
    ("get", "/api/v1/openapi.json", [Ok, Ok, Ok, Ok, Ok]),
];

const CALLERS: [Option<&str>; 5] = [None, Some("anna"), Some("rut"), Some("adam"), Some("vera")];

/// Every form field any UI route reads, so allowed calls get past input checks.
const FORM: &[(&str, &str)] = &[
    ("utfall", "bifall"),
    ("belopp", "100"),
    ("motivering", "Matrisprov"),
    ("skal", "Matrisprov"),
    ("till", "mig"),
    ("text", "Matrisprov"),
    ("atgard", "aktivera"),
    ("namn", "Ny Person"),
    ("losenord", "ett-langt-losenord"),
    ("_login", "x"),
    ("anvandarnamn", "ingen"),
];

fn api_body(path: &str) -> serde_json::Value {
    if path.ends_with("/amend") {
        serde_json::json!({"outcome": "bifall", "amount_ore": 10000, "justification": "Matrisprov"})
    } else if path.ends_with("/return") {
        serde_json::json!({"reason": "Matrisprov"})
    } else if path.ends_with("/assign") {
        serde_json::json!({"user_id": null})
    } else if path.ends_with("/session") {
        serde_json::json!({"username": "ingen", "password": "fel"})
    } else {
        serde_json::json!({})
    }
}

async fn call(app: &WebApp, who: Option<(&Browser, &str)>, method: &str, path: &str) -> E {
    let url = app.url(path);
    let api = path.starts_with("/api/");
    let c = client();
    let mut req = match method {
        "get" => c.get(&url),
        "post" => c.post(&url),
        "delete" => c.delete(&url),
        other => panic!("{other}"),
    };
    if let Some((b, token)) = who {
        req = if api {
            req.bearer_auth(token)
        } else {
            req.header("cookie", format!("hrobot={}", b.cookie))
        };
        if !api && method == "post" {
            let mut f = vec![("_csrf", b.csrf.as_str())];
            f.extend_from_slice(FORM);
            req = req.form(&f);
        }
    } else if !api && method == "post" {
        req = req.form(FORM);
    }
    if api && method == "post" {
        req = req.json(&api_body(path));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let loc = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = r.text().await.unwrap_or_default();
    match status {
        303 if who.is_none() && loc.starts_with("/logga-in") => Login,
        401 if api && body.contains("\"unauthenticated\"") => Login,
        403 if api && body.contains("\"forbidden\"") => No,
        403 if !api && body.contains("Din roll ger inte tillgång") => No,
        _ => Ok,
    }
}

#[tokio::test]
async fn every_route_for_every_role_and_anonymous() {
    // The table covers exactly the routes there are.
    let mut ours: Vec<(String, String)> = MATRIX.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
    let mut theirs: Vec<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs, "the matrix and the router list different routes");

    let app = WebApp::start(Engine::Sqlite).await;
    app.seed(&[]).await;
    let case = app.awaiting().await[0];
    let spare = app.add_user("spare", &["revisor"], None).await;
    let mut failures = Vec::new();
    let mut checked = 0;
    for (i, who) in CALLERS.iter().enumerate() {
        let mut session = match who {
            Some(u) => Some((app.login(u).await, app.token(u).await)),
            None => None,
        };
        for (method, path, expected) in MATRIX {
            let concrete = path
                .replace(
                    "{id}",
                    &if path.starts_with("/admin/anvandare") {
                        spare
                    } else {
                        case
                    }
                    .to_string(),
                )
                .replace("{name}", "r1")
                .replace("{hash}", &"0".repeat(64))
                .replace("{seq}", "0");
            let got = call(&app, session.as_ref().map(|(b, t)| (b, t.as_str())), method, &concrete).await;
            checked += 1;
            if got != expected[i] {
                failures.push(format!(
                    "{method} {path} as {}: expected {:?}, got {got:?}",
                    who.unwrap_or("anonymous"),
                    expected[i]
                ));
            }
            // Logging out ends the session: start a new one for the rest.
            if let Some(u) = who
                && (*path == "/logga-ut" || (*path == "/api/v1/session" && *method == "delete"))
            {
                session = Some((app.login(u).await, app.token(u).await));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(checked, MATRIX.len() * CALLERS.len());
    app.stop().await;
}
