//! The OpenAPI 3.1 document of `/api/v1`, written by hand beside the
//! routes. `tests/it/web_api.rs` checks that every API route in
//! [`super::ROUTES`] is documented, with the same methods, and that every
//! documented operation answers.

use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn id_param() -> Value {
    json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64"}})
}

fn decision_op(summary: &str, op: &str, body: Option<&str>) -> Value {
    let mut o = json!({
        "operationId": op,
        "summary": summary,
        "tags": ["cases"],
        "security": [{"bearer": []}],
        "parameters": [id_param()],
        "responses": {
            "200": {"description": "Done", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ActionResult"}}}},
            "401": error_response("Not signed in"),
            "403": error_response("Role, four-eyes (same_approver) or conflict of interest (conflict_of_interest)"),
            "404": error_response("No such case"),
            "409": error_response("The case is not awaiting approval (not_awaiting_approval)"),
            "422": error_response("Invalid input"),
        }
    });
    if let Some(schema) = body {
        o["requestBody"] = json!({"required": op != "approveCase", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    }
    o
}

pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Handläggarrobot API",
            "version": "1",
            "description": "Cases, draft decisions and the officials' decisions. Authorisation as in the web UI: handläggare decide; regelförfattare and revisor read. Amounts are integer öre."
        },
        "servers": [{"url": "/"}],
        "paths": {
            "/api/v1/session": {
                "post": {
                    "operationId": "createSession",
                    "summary": "Sign in: username and password give a bearer token",
                    "tags": ["session"],
                    "security": [],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SessionRequest"}}}},
                    "responses": {
                        "201": {"description": "Signed in", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Session"}}}},
                        "400": error_response("Malformed request"),
                        "403": error_response("Wrong username or password (invalid_credentials)"),
                        "429": error_response("Too many failed logins (too_many_requests)"),
                    }
                },
                "delete": {
                    "operationId": "deleteSession",
                    "summary": "Sign out: the token stops working",
                    "tags": ["session"],
                    "security": [{"bearer": []}],
                    "responses": {"204": {"description": "Signed out"}, "401": error_response("Not signed in")}
                }
            },
            "/api/v1/cases": {
                "get": {
                    "operationId": "listCases",
                    "summary": "The work queue, filtered, sorted and paged",
                    "tags": ["cases"],
                    "security": [{"bearer": []}],
                    "parameters": [
                        {"name": "state", "in": "query", "schema": {"type": "string", "description": "A case state (e.g. awaiting_approval) or alla; default: all"}},
                        {"name": "robot", "in": "query", "schema": {"type": "string"}},
                        {"name": "outcome", "in": "query", "schema": {"type": "string", "enum": ["bifall", "delvis_bifall", "avslag", "faststalld", "manuell"]}},
                        {"name": "age", "in": "query", "schema": {"type": "string", "enum": ["0-7", "8-30", "31-"]}},
                        {"name": "assigned_to_me", "in": "query", "schema": {"type": "boolean"}},
                        {"name": "casework_type", "in": "query", "schema": {"type": "string"}, "description": "Ärendetyp, t.ex. avgift-aldreomsorg"},
                        {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["aldst", "nyast", "belopp_hogst", "belopp_lagst", "arende", "arende_fallande", "period", "period_fallande", "forslag", "forslag_fallande"]}, "description": "aldst/nyast: by the application's own received date"},
                        {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 200}, "description": "Search: every word (2 characters or more) must match part of a name, personnummer (12 or 10 digits, with or without dash, or the last four), diarienummer or external id; case and accents ignored. Refused (403) for a role that sees cases pseudonymised"},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
                        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}}
                    ],
                    "responses": {
                        "200": {"description": "A page of cases", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CaseList"}}}},
                        "400": error_response("Unknown filter value"),
                        "401": error_response("Not signed in"),
                        "403": error_response("The role may not read cases"),
                    }
                }
            },
            "/api/v1/cases/{id}": {
                "get": {
                    "operationId": "getCase",
                    "summary": "One case: application, register answer, draft, decisions, comments, deliveries",
                    "tags": ["cases"],
                    "security": [{"bearer": []}],
                    "parameters": [id_param()],
                    "responses": {
                        "200": {"description": "The case", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Case"}}}},
                        "401": error_response("Not signed in"),
                        "403": error_response("The role may not read cases"),
                        "404": error_response("No such case"),
                    }
                }
            },
            "/api/v1/cases/{id}/approve": {"post": decision_op("Approve the proposal, confirming its assessments (four-eyes may ask for a second approver). The body is optional.", "approveCase", Some("ApproveRequest"))},
            "/api/v1/cases/{id}/amend": {"post": decision_op("Decide differently from the proposal: change, add or remove rows (each with a reason) or reject on the official's grounds, with a motivering; the amount follows from the rows", "amendCase", Some("AmendRequest"))},
            "/api/v1/cases/{id}/kommunicering": {"post": decision_op("Send the applicant a kommuniceringsbrev (förvaltningslagen 25 §); the case waits for the reply or the deadline", "sendKommunicering", Some("KommuniceringRequest"))},
            "/api/v1/cases/{id}/kommunicering/reply": {"post": decision_op("Record the applicant's reply to a kommunicering; the case returns to the queue", "recordKommuniceringReply", Some("ReplyRequest"))},
            "/api/v1/cases/{id}/return": {"post": decision_op("Return the case to manual handling, with a reason", "returnCase", Some("ReturnRequest"))},
            "/api/v1/cases/{id}/assign": {"post": decision_op("Assign the case to an official, or unassign it", "assignCase", Some("AssignRequest"))},
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "tags": ["meta"],
                    "security": [],
                    "responses": {"200": {"description": "The OpenAPI document", "content": {"application/json": {}}}}
                }
            }
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                        "code": {"type": "string", "description": "Stable: bad_request, unauthenticated, forbidden, invalid_credentials, csrf, same_approver, conflict_of_interest, not_found, not_awaiting_approval, invalid, too_many_requests, internal"},
                        "message": {"type": "string", "description": "Swedish, safe to show"},
                        "incident": {"type": "string", "description": "For 5xx: quote it to IT"}
                    }}}
                },
                "SessionRequest": {"type": "object", "required": ["username", "password"], "additionalProperties": false, "properties": {"username": {"type": "string"}, "password": {"type": "string"}}},
                "Session": {"type": "object", "required": ["token", "token_type"], "properties": {
                    "token": {"type": "string"}, "token_type": {"const": "Bearer"}, "idle_timeout_minutes": {"type": "integer"}, "max_hours": {"type": "integer"},
                    "user": {"type": "object", "properties": {"id": {"type": "integer"}, "username": {"type": "string"}, "roles": {"type": "array", "items": {"type": "string"}}}}
                }},
                "CaseSummary": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "external_id": {"type": "string"}, "diarienummer": {"type": ["string", "null"]}, "robot": {"type": "string"}, "state": {"type": "string"},
                    "period": {"type": ["string", "null"]}, "outcome": {"type": ["string", "null"]}, "amount_ore": {"type": ["integer", "null"]},
                    "received": {"type": "string", "format": "date-time"}, "application_received": {"type": "string", "format": "date-time"}, "updated": {"type": "string", "format": "date-time"}, "assigned_to": {"type": ["integer", "null"]}
                }},
                "CaseList": {"type": "object", "properties": {"cases": {"type": "array", "items": {"$ref": "#/components/schemas/CaseSummary"}}, "limit": {"type": "integer"}, "offset": {"type": "integer"}, "has_more": {"type": "boolean"}}},
                "Case": {"allOf": [{"$ref": "#/components/schemas/CaseSummary"}, {"type": "object", "properties": {
                    "application": {"type": ["object", "null"], "description": "ekonomiskt-bistand/ansokan/v1 as received"},
                    "register": {"type": ["object", "null"]},
                    "draft": {"type": ["object", "null"], "description": "ekonomiskt-bistand/beslutsutkast/v2"},
                    "decisions": {"type": "array", "items": {"type": "string"}},
                    "deliveries": {"type": "array", "items": {"type": "string"}},
                    "comments": {"type": "array", "items": {"type": "object", "properties": {"by": {"type": "string"}, "at": {"type": "string"}, "text": {"type": "string"}}}}
                }}]},
                "ActionResult": {"type": "object", "required": ["result"], "properties": {"result": {"type": "string", "enum": ["approved", "awaiting_second_approval", "returned_to_manual", "assigned", "kommunicering_sent", "reply_recorded"]}}},
                "SkipKommunicering": {"type": "object", "required": ["ground", "explanation"], "additionalProperties": false, "properties": {
                    "ground": {"type": "string", "enum": ["uppenbart_obehovlig", "svarare_att_genomfora", "kan_inte_skjutas_upp"], "description": "Förvaltningslagen 25 § andra stycket 1–3"},
                    "explanation": {"type": "string", "minLength": 1}
                }},
                "ApproveRequest": {"type": "object", "additionalProperties": false, "properties": {
                    "confirmed_assessments": {"type": "array", "items": {"type": "string"}, "description": "Codes of the draft's assessments the official confirms; all must be confirmed"},
                    "skip_kommunicering": {"$ref": "#/components/schemas/SkipKommunicering"}
                }},
                "RowChange": {"oneOf": [
                    {"type": "object", "required": ["op", "section", "label", "amount_ore", "reason"], "additionalProperties": false, "properties": {"op": {"const": "add"}, "section": {"$ref": "#/components/schemas/Section"}, "label": {"type": "string", "minLength": 1, "maxLength": 200}, "amount_ore": {"type": "integer"}, "reason": {"type": "string", "minLength": 1}}},
                    {"type": "object", "required": ["op", "section", "index", "amount_ore", "reason"], "additionalProperties": false, "properties": {"op": {"const": "change"}, "section": {"$ref": "#/components/schemas/Section"}, "index": {"type": "integer", "minimum": 0}, "amount_ore": {"type": "integer"}, "reason": {"type": "string", "minLength": 1}}},
                    {"type": "object", "required": ["op", "section", "index", "reason"], "additionalProperties": false, "properties": {"op": {"const": "remove"}, "section": {"$ref": "#/components/schemas/Section"}, "index": {"type": "integer", "minimum": 0}, "reason": {"type": "string", "minLength": 1}}}
                ]},
                "Section": {"type": "string", "enum": ["norm", "costs", "incomes", "assets"]},
                "AmendRequest": {"type": "object", "required": ["motivering"], "additionalProperties": false, "properties": {
                    "changes": {"type": "array", "maxItems": 100, "items": {"$ref": "#/components/schemas/RowChange"}, "description": "Against the draft's calculation rows; index is 0-based within the section"},
                    "avslag": {"type": "boolean", "description": "Reject on the official's own grounds (no changes)"},
                    "motivering": {"type": "string", "minLength": 1, "description": "The motivering the letter gives (Swedish)"},
                    "skip_kommunicering": {"$ref": "#/components/schemas/SkipKommunicering"}
                }},
                "KommuniceringRequest": {"type": "object", "additionalProperties": false, "properties": {"own_findings": {"type": "string", "maxLength": 2000}}},
                "ReplyRequest": {"type": "object", "required": ["reply"], "additionalProperties": false, "properties": {"reply": {"type": "string", "minLength": 1}}},
                "ReturnRequest": {"type": "object", "required": ["reason"], "additionalProperties": false, "properties": {"reason": {"type": "string", "minLength": 1}}},
                "AssignRequest": {"type": "object", "required": ["user_id"], "additionalProperties": false, "properties": {"user_id": {"type": ["integer", "null"]}}}
            }
        }
    })
}
