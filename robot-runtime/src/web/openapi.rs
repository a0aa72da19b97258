//! The OpenAPI 3.1 document of `/api/v1`, made by `utoipa` from the
//! handlers in `api.rs`: their `#[utoipa::path]` (method, path, success
//! and case-specific errors) and the types they take and give.
//!
//! What every operation of a kind can answer because of the doors it goes
//! through is added here, once ([`SharedDoors`]), and only here: the
//! guard (401, 403), the case id in the path (400, 404), the query (400),
//! the JSON body (400, 413, 415) and the error handler (500). Every error
//! has the one shape `Error` (`error.rs`).
//!
//! `tests/it/web_api.rs` pins the document's operations to
//! [`super::ROUTES`] and to the committed snapshot
//! `robot-runtime/tests/openapi-v1.json` (v1 may grow, never shrink; see
//! `docs/api-versioning.md`), and CI runs schemathesis against it.

use super::api;
use std::sync::OnceLock;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Header, OpenApi as Document, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi};

/// The document's `info.version`: `1.MINOR.PATCH`, MINOR raised for every
/// additive change to v1, PATCH for a corrected description or schema
/// that does not change what is accepted (`docs/api-versioning.md`).
pub const VERSION: &str = "1.1.0";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Handläggarrobot API",
        description = "Cases, draft decisions and the officials' decisions. Authorisation as in the web UI: handläggare decide; regelförfattare and revisor read. Amounts are integer öre. Every error is `{\"error\": {\"code\", \"message\"}}` with a stable code and a Swedish message. The versioning policy is docs/api-versioning.md."
    ),
    servers((url = "/")),
    paths(
        api::create_session,
        api::delete_session,
        api::list_cases,
        api::get_case,
        api::approve,
        api::amend,
        api::kommunicering,
        api::kommunicering_reply,
        api::return_to_manual,
        api::assign,
        api::openapi,
    ),
    components(schemas(super::error::ErrorBody)),
    modifiers(&SharedDoors),
    tags(
        (name = "session", description = "Bearer tokens"),
        (name = "cases", description = "The work queue, cases and decisions"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static Document {
    static DOC: OnceLock<Document> = OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}

fn error(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build(),
        )
        .build()
}

fn string_header(description: &str) -> Header {
    let mut h = Header::new(ObjectBuilder::new().schema_type(Type::String));
    h.description = Some(description.to_string());
    h
}

/// Adds what every operation of a kind answers because of the doors it
/// goes through; a status an operation documents itself keeps its own
/// description.
struct SharedDoors;

impl Modify for SharedDoors {
    fn modify(&self, doc: &mut Document) {
        doc.info.version = VERSION.to_string();
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // utoipa leaves `deny_unknown_fields` off the variants of an
        // internally tagged enum; serde refuses unknown fields there too.
        if let Some(RefOr::T(Schema::OneOf(one_of))) = components.schemas.get_mut("ChangeJson") {
            for item in &mut one_of.items {
                if let RefOr::T(Schema::Object(o)) = item {
                    o.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
                }
            }
        }
        // Operations that take a case id, for the links from a page of cases.
        let mut by_id: Vec<String> = Vec::new();
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.delete,
                &mut item.put,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                if shared_errors(op)
                    && let Some(id) = &op.operation_id
                {
                    by_id.push(id.clone());
                }
            }
        }
        // listCases → each operation on one of its cases (schemathesis's
        // stateful phase follows these).
        if let Some(RefOr::T(ok)) = doc
            .paths
            .paths
            .get_mut("/api/v1/cases")
            .and_then(|item| item.get.as_mut())
            .and_then(|op| op.responses.responses.get_mut("200"))
        {
            for id in by_id {
                ok.links.insert(
                    id.clone(),
                    RefOr::T(
                        LinkBuilder::new()
                            .operation_id(id)
                            .parameter("id", "$response.body#/cases/0/id")
                            .build(),
                    ),
                );
            }
        }
    }
}

/// Adds an operation's shared errors; whether it takes a case id.
fn shared_errors(op: &mut Operation) -> bool {
    let params = op.parameters.iter().flatten().filter_map(|p| match p {
        RefOr::T(p) => Some(p),
        RefOr::Ref(_) => None,
    });
    let (mut path_id, mut query) = (false, false);
    for p in params {
        match p.parameter_in {
            ParameterIn::Path => path_id = true,
            ParameterIn::Query => query = true,
            _ => {}
        }
    }
    let body = op.request_body.is_some();
    let signed_in = serde_json::to_value(&op.security)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .is_some_and(|reqs| reqs.iter().any(|r| r.as_object().is_some_and(|o| !o.is_empty())));
    let mut bad: Vec<&str> = Vec::new();
    if path_id {
        bad.push("a case id that is not an integer from 1");
    }
    if query {
        bad.push("a query the schema does not allow");
    }
    if body {
        bad.push("a body that is not JSON or does not match its schema");
    }
    let responses = &mut op.responses.responses;
    let mut add = |status: &str, r: Response| {
        responses.entry(status.to_string()).or_insert(RefOr::T(r));
    };
    if !bad.is_empty() {
        let mut text = bad.join(", or ");
        text.insert_str(0, "Malformed request (bad_request): ");
        add("400", error(&text));
    }
    if signed_in {
        let mut r = error("Not signed in, or the token has ended (unauthenticated)");
        r.headers
            .insert("WWW-Authenticate".into(), RefOr::T(string_header("`Bearer`")));
        add("401", r);
        add("403", error("The role may not use this operation (forbidden)"));
    }
    if path_id {
        add("404", error("No such case (not_found)"));
    }
    if body {
        add("413", error("The body is too large (payload_too_large)"));
        add(
            "415",
            error("The body is not `application/json` (unsupported_media_type)"),
        );
    }
    add(
        "500",
        error(
            "Something went wrong on our side (internal); the message says only that, `incident` is the number to quote to IT",
        ),
    );
    path_id
}
