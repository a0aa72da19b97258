//! The JSON API: bearer tokens, one error shape, and an OpenAPI document
//! that matches the routes.

use crate::support::{Engine, ruleset};
use crate::web_support::{WebApp, client};
use robot_runtime::web::ROUTES;
use serde_json::{Value, json};

#[tokio::test]
async fn the_openapi_document_matches_the_routes() {
    let app = WebApp::start(Engine::Sqlite).await;
    app.seed(&[]).await;
    let case = app.awaiting().await[0];
    let r = client().get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = Vec::new();
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            assert!(
                op["operationId"].is_string() && op["responses"].is_object(),
                "{method} {path}"
            );
            documented.push((method.clone(), path.clone()));
        }
    }
    let mut routed: Vec<(String, String)> = ROUTES
        .iter()
        .filter(|r| r.is_api())
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    documented.sort();
    routed.sort();
    assert_eq!(
        documented, routed,
        "every API route documented, every documented operation routed"
    );

    // Every documented operation answers (not 404/405) for an official.
    let token = app.token("anna").await;
    for (method, path) in &documented {
        let url = app.url(&path.replace("{id}", &case.to_string()));
        let c = client();
        let req = match method.as_str() {
            "get" => c.get(&url),
            "post" => c.post(&url).json(&json!({})),
            "delete" => c.delete(&url),
            m => panic!("{m}"),
        };
        let status = req.bearer_auth(&token).send().await.unwrap().status().as_u16();
        assert!(status != 404 && status != 405, "{method} {path}: {status}");
    }
    // Every $ref resolves.
    let text = doc.to_string();
    for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &part[..part.find('"').unwrap()];
        assert!(doc["components"]["schemas"][name].is_object(), "missing schema {name}");
    }
    app.stop().await;
}

#[tokio::test]
async fn api_errors_have_one_shape_with_stable_codes() {
    let app = WebApp::start(Engine::Sqlite).await;
    app.seed(&[]).await;
    let case = app.awaiting().await[0];
    let token = app.token("anna").await;
    let c = client();
    let check = |r: reqwest::Response, status: u16, code: &'static str| async move {
        assert_eq!(r.status().as_u16(), status, "{code}");
        assert_eq!(r.headers().get("content-type").unwrap(), "application/json", "{code}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], code);
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    };
    check(
        c.get(app.url("/api/v1/cases")).send().await.unwrap(),
        401,
        "unauthenticated",
    )
    .await;
    check(
        c.get(app.url("/api/v1/cases"))
            .bearer_auth("not-a-token")
            .send()
            .await
            .unwrap(),
        401,
        "unauthenticated",
    )
    .await;
    check(
        c.get(app.url("/api/v1/cases/999999"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    check(
        c.get(app.url("/api/v1/nothing"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    check(
        c.get(app.url("/api/v1/cases?state=nonsense"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        400,
        "bad_request",
    )
    .await;
    check(
        c.post(app.url(&format!("/api/v1/cases/{case}/amend")))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
        400,
        "bad_request",
    )
    .await;
    check(
        c.post(app.url(&format!("/api/v1/cases/{case}/return")))
            .bearer_auth(&token)
            .json(&json!({"reason": "   "}))
            .send()
            .await
            .unwrap(),
        422,
        "invalid",
    )
    .await;
    check(
        c.post(app.url("/api/v1/session"))
            .json(&json!({"username": "anna", "password": "fel lösenord här"}))
            .send()
            .await
            .unwrap(),
        403,
        "invalid_credentials",
    )
    .await;
    let rut = app.token("rut").await;
    check(
        c.post(app.url(&format!("/api/v1/cases/{case}/approve")))
            .bearer_auth(&rut)
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    // A browser's cookie is no credential for the API (so the API needs no CSRF token).
    let anna = app.login("anna").await;
    let r = c
        .get(app.url("/api/v1/cases"))
        .header("cookie", format!("hrobot={}", anna.cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // And a bearer token is no credential for the UI.
    let r = c.get(app.url("/arenden")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 303);
    app.stop().await;
}

#[tokio::test]
async fn cases_are_listed_filtered_and_read_through_the_api() {
    let app = WebApp::start(Engine::Sqlite).await;
    let all = app.seed(&[]).await;
    let token = app.token("vera").await;
    let get = |q: &str| {
        let url = app.url(&format!("/api/v1/cases{q}"));
        let token = token.clone();
        async move {
            let r = client().get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let v = get("?limit=500").await;
    assert_eq!(v["cases"].as_array().unwrap().len(), all.len());
    let v = get("?state=awaiting_approval&outcome=manuell&limit=500").await;
    assert!(
        v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["state"] == "awaiting_approval" && c["outcome"] == "manuell")
    );
    let v = get("?limit=2&sort=belopp_hogst").await;
    assert_eq!(v["cases"].as_array().unwrap().len(), 2);
    assert_eq!(v["has_more"], true);
    let id = v["cases"][0]["id"].as_i64().unwrap();
    let r = client()
        .get(app.url(&format!("/api/v1/cases/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["id"], id);
    assert!(c["application"]["household"].is_object());
    assert!(c["draft"]["calculation"].is_object());
    // Signing out ends the token.
    let r = client()
        .delete(app.url("/api/v1/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = client()
        .get(app.url("/api/v1/cases"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn an_amended_decision_through_the_api_sends_a_letter_with_only_the_officials_decision() {
    let app = WebApp::start(Engine::Sqlite).await;
    let f = ruleset().join("tests/01-ensamstaende-utan-inkomst.json");
    app.seed(&[f]).await;
    let case = app.awaiting().await[0];
    let (anna, bo) = (app.token("anna").await, app.token("bo").await);
    let c = client();
    let post = |path: String, token: String, body: Value| {
        let c = c.clone();
        let url = app.url(&path);
        async move { c.post(url).bearer_auth(token).json(&body).send().await.unwrap() }
    };
    // A lower amount on the official's own findings needs kommunicering or a ground.
    let amend = json!({
        "changes": [{"op": "change", "section": "costs", "index": 0, "amount_ore": 450_000, "reason": "Hyresavin visar 4 500 kr."}],
        "motivering": "Hyran är lägre än ansökan angav."
    });
    let r = post(format!("/api/v1/cases/{case}/amend"), anna.clone(), amend.clone()).await;
    assert_eq!(r.status(), 422);
    let mut with_ground = amend.clone();
    with_ground["skip_kommunicering"] =
        json!({"ground": "uppenbart_obehovlig", "explanation": "Avin kommer från den sökande."});
    let r = post(format!("/api/v1/cases/{case}/amend"), anna.clone(), with_ground).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["result"], "awaiting_second_approval");
    let r = post(format!("/api/v1/cases/{case}/approve"), bo.clone(), json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["result"], "approved");
    let html = robot_runtime::approval::letter_html(&app.runtime.store, &app.runtime.settings.approval, case)
        .await
        .unwrap();
    let text = robot_runtime::approval::letter::text(&robot_runtime::approval::letter::blocks(&html).unwrap())
        .replace('\u{a0}', " ");
    assert!(text.contains("Hyran är lägre än ansökan angav."));
    assert!(text.contains("4 500 kr i stället för"));
    assert!(!text.contains("robot"));
    let v = robot_runtime::approval::case_view(&app.runtime.store, case)
        .await
        .unwrap();
    let record = v.record.unwrap();
    assert!(text.contains(&format!("med {} kr", domain::kr(record.amount).replace('\u{a0}', " "))));
    for r in v.draft.unwrap().reasons() {
        assert!(!text.contains(&r.text), "a superseded reason: {}", r.text);
    }
    app.stop().await;
}

/// What the schema forbids is refused, with a status the document lists
/// for that operation and the one error shape; what it allows is accepted.
#[tokio::test]
async fn the_api_refuses_what_its_schema_forbids_with_documented_statuses() {
    let app = WebApp::start(Engine::Sqlite).await;
    app.seed(&[]).await;
    let case = app.awaiting().await[0];
    let token = app.token("anna").await;
    let doc: Value = client()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let c = client();
    let check = |r: reqwest::Response, method: &'static str, path: &'static str, status: u16, code: &'static str| {
        let documented = doc["paths"][path][method]["responses"][status.to_string()].is_object();
        async move {
            assert_eq!(r.status().as_u16(), status, "{method} {path} ({code})");
            assert!(
                documented,
                "{method} {path} answers {status}, which its document does not list"
            );
            assert_eq!(r.headers().get("content-type").unwrap(), "application/json", "{code}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["error"]["code"], code, "{method} {path}");
        }
    };
    let get = |q: &str| c.get(app.url(&format!("/api/v1/cases{q}"))).bearer_auth(&token).send();
    // Pages: the bounds of the schema, no clamping.
    for q in [
        "?offset=-1",
        "?limit=0",
        "?limit=501",
        "?offset=1000001",
        "?limit=x",
        "?state=",
        "?nonsense=1",
    ] {
        check(get(q).await.unwrap(), "get", "/api/v1/cases", 400, "bad_request").await;
    }
    for q in [
        "?limit=1&offset=0",
        "?limit=500&offset=1000000",
        "?state=alla",
        "?casework_type=okand-typ",
    ] {
        let r = get(q).await.unwrap();
        assert_eq!(r.status(), 200, "{q}");
        let v: Value = r.json().await.unwrap();
        assert!(v["cases"].is_array() && v["limit"].is_i64() && v["offset"].is_i64() && v["has_more"].is_boolean());
    }
    // A casework type this service does not run matches no case.
    let v: Value = get("?casework_type=okand-typ").await.unwrap().json().await.unwrap();
    assert_eq!(v["cases"].as_array().unwrap().len(), 0);
    // Bad ids are 400, in the one shape.
    for id in ["abc", "0", "-3", "99999999999999999999"] {
        let r = c
            .get(app.url(&format!("/api/v1/cases/{id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        check(r, "get", "/api/v1/cases/{id}", 400, "bad_request").await;
        let r = c
            .post(app.url(&format!("/api/v1/cases/{id}/return")))
            .bearer_auth(&token)
            .json(&json!({"reason": "Behöver en människa."}))
            .send()
            .await
            .unwrap();
        check(r, "post", "/api/v1/cases/{id}/return", 400, "bad_request").await;
    }
    // A body without a JSON content type is 415.
    let r = c
        .post(app.url(&format!("/api/v1/cases/{case}/return")))
        .bearer_auth(&token)
        .body(r#"{"reason": "Behöver en människa."}"#)
        .send()
        .await
        .unwrap();
    check(r, "post", "/api/v1/cases/{id}/return", 415, "unsupported_media_type").await;
    let r = c
        .post(app.url(&format!("/api/v1/cases/{case}/approve")))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    check(r, "post", "/api/v1/cases/{id}/approve", 415, "unsupported_media_type").await;
    // A body over the limit is 413.
    let r = c
        .post(app.url(&format!("/api/v1/cases/{case}/return")))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(format!(r#"{{"reason": "{}"}}"#, "x".repeat(3 * 1024 * 1024)))
        .send()
        .await
        .unwrap();
    check(r, "post", "/api/v1/cases/{id}/return", 413, "payload_too_large").await;
    // `user_id` is required, though it may be null.
    let r = c
        .post(app.url(&format!("/api/v1/cases/{case}/assign")))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    check(r, "post", "/api/v1/cases/{id}/assign", 400, "bad_request").await;
    // A ground of FL 25 § that is not one is refused, not read as "none".
    let r = c
        .post(app.url(&format!("/api/v1/cases/{case}/approve")))
        .bearer_auth(&token)
        .json(&json!({"skip_kommunicering": {"ground": "", "explanation": "x"}}))
        .send()
        .await
        .unwrap();
    check(r, "post", "/api/v1/cases/{id}/approve", 400, "bad_request").await;
    // A text longer than the schema allows is refused even when its
    // trimmed part would fit.
    let r = c
        .post(app.url(&format!("/api/v1/cases/{case}/return")))
        .bearer_auth(&token)
        .json(&json!({"reason": format!("{}x", " ".repeat(2000))}))
        .send()
        .await
        .unwrap();
    check(r, "post", "/api/v1/cases/{id}/return", 422, "invalid").await;
    // Nothing was decided by any of it.
    let v: Value = c
        .get(app.url(&format!("/api/v1/cases/{case}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["state"], "awaiting_approval");
    assert_eq!(v["pseudonymised"], false);
    app.stop().await;
}
