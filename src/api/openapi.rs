//! The OpenAPI 3 document for `GET /openapi.json`, written by hand so that it says what each
//! route means; a test checks that its operations are exactly the router's.

use serde_json::{Value, json};

fn err(desc: &str) -> Value {
    json!({ "description": desc, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn json_body(schema: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn ok_json(desc: &str, schema: &str) -> Value {
    json!({ "description": desc, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn binary(desc: &str, mime: &str) -> Value {
    json!({ "description": desc, "content": { mime: { "schema": { "type": "string", "format": "binary" } } } })
}

fn id_param(name: &str) -> Value {
    json!([{ "name": "id", "in": "path", "required": true, "description": name, "schema": { "type": "string", "format": "uuid" } }])
}

fn idem_param() -> Value {
    json!({ "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "Makes a retried submit return the job (or batch) the first try created. 1-255 characters.",
            "schema": { "type": "string", "maxLength": 255 } })
}

fn submit_errors(mut responses: Value) -> Value {
    responses["400"] = err("Invalid request: `field` names the part of the body at fault");
    body_errors(responses)
}

/// What every route with a JSON body may answer before it reads the body.
fn body_errors(mut responses: Value) -> Value {
    responses["413"] = err("Body over the size limit");
    responses["415"] = err("Body not sent as application/json");
    responses
}

/// One request shape per template, its `params` the template's own schema.
fn report_requests() -> Value {
    let pdf = json!({ "type": "object", "additionalProperties": false, "properties": {
        "standard": { "type": "string", "enum": ["a-2a", "a-2b", "a-3a", "a-3b", "a-1b", "none"], "default": "a-2a", "description": "a-2a (the default): tagged, PDF/A-2a and PDF/UA-1 at once; a-3a: the same as PDF/A-3a, carrying the request and a provenance record (request.json, provenance.json) as associated files; a-3b: untagged, carrying them too; a-2b, a-1b: untagged PDF/A; none: plain PDF" } } });
    crate::template::names()
        .into_iter()
        .map(|name| {
            json!({ "type": "object", "required": ["template", "params"], "additionalProperties": false, "properties": {
                "template": { "type": "string", "enum": [name] },
                "params": openapi_schema(crate::template::schema(name).expect("every template has a schema")),
                "pdf": pdf,
                "callback": { "$ref": "#/components/schemas/Callback" } } })
        })
        .collect()
}

/// The model object of the `diagram` template's schema.
fn diagram_model() -> Value {
    let schema = openapi_schema(crate::template::schema("diagram").expect("diagram has a schema"));
    schema["properties"]["models"]["items"].clone()
}

/// A JSON Schema (draft 07) as OpenAPI 3.0 has it: no `$schema`, and `"type": [T, "null"]`
/// becomes `"type": T, "nullable": true`.
fn openapi_schema(mut v: Value) -> Value {
    if let Value::Object(map) = &mut v {
        map.remove("$schema");
        if let Some(Value::Array(types)) = map.get("type").cloned() {
            let real: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
            if real.len() == 1 {
                map.insert("type".into(), real[0].clone());
                if real.len() < types.len() {
                    map.insert("nullable".into(), Value::Bool(true));
                }
            }
        }
        for (_, child) in map.iter_mut() {
            *child = openapi_schema(child.take());
        }
    } else if let Value::Array(items) = &mut v {
        for child in items.iter_mut() {
            *child = openapi_schema(child.take());
        }
    }
    v
}

/// What a callback URL receives (the OpenAPI `callbacks` object of the submit routes).
fn callbacks(name: &str, what: &str) -> Value {
    let header = |n: &str, d: &str| json!({ "name": n, "in": "header", "required": true, "description": d, "schema": { "type": "string" } });
    json!({ name: { "{$request.body#/callback/url}": { "post": {
        "summary": what,
        "description": "Signed as the Standard Webhooks specification describes: HMAC-SHA256 with the deployment's secret over `{webhook-id}.{webhook-timestamp}.{body}`. Sent at least once; every attempt of one event has the same webhook-id. Any 2xx ends the retries; anything else (or no answer within 10 s) is retried with back-off for about a day.",
        "parameters": [
            header("webhook-id", "The event's id: the same on every retry, so repeats can be dropped"),
            header("webhook-timestamp", "Unix seconds when this attempt was signed; reject it if far from your clock (5 minutes)"),
            header("webhook-signature", "Space-separated `v1,<base64>` signatures, one per active secret")
        ],
        "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/WebhookEvent" } } } },
        "responses": { "2XX": { "description": "Received: no more attempts" }, "default": { "description": "Not received: retried later" } }
    } } } })
}

/// The document with each route's security from the routes table: the `/v1` routes take an
/// API key or a JWT (when authentication is on) and may answer 401, 403 and 429; the rest
/// are open.
pub fn document() -> Value {
    let mut doc = paths_and_schemas();
    for r in super::routes() {
        let op = &mut doc["paths"][r.path][r.method.as_str().to_ascii_lowercase()];
        match r.scope {
            None => op["security"] = json!([]),
            Some(scope) => {
                op["security"] = json!([{ "apiKey": [] }, { "jwt": [] }]);
                let d = op["description"].as_str().map(|d| format!("{d}\n\n")).unwrap_or_default();
                op["description"] = json!(format!("{d}Needs the `{}` scope when authentication is on.", scope.as_str()));
                op["responses"]["401"] = err("No key, an unknown key or a revoked one (code unauthorized, invalid_key, key_revoked)");
                op["responses"]["403"] = err("The key lacks this route's scope (code forbidden)");
                if r.path.starts_with("/v1/reports") && r.method == axum::http::Method::POST {
                    op["responses"]["429"] = err("The key's daily quota is used up (code quota_exceeded); Retry-After says when it resets");
                    op["responses"]["413"] = err("Body over the size limit, or more reports than the key's whole daily quota (code over_quota)");
                }
            }
        }
    }
    doc["components"]["securitySchemes"] = json!({
        "apiKey": { "type": "http", "scheme": "bearer", "description": "An API key, `rq_...`, made with `reportq keys create` (REPORTQ_AUTH=keys)" },
        "jwt": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "A token of the OIDC issuer the deployment's JWT authorizer trusts (REPORTQ_AUTH=jwt)" }
    });
    doc
}

fn paths_and_schemas() -> Value {
    let score_unavailable = err("No DiAGRAM network configured (REPORTQ_DIAGRAM_MODEL; scripts/fetch-diagram-model.sh)");
    let store_unavailable = err("S3 or SQS unavailable, or too many reports waiting (code overloaded); retry after Retry-After");
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "reportq",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Report requests in, PDF reports out, asynchronously: submit a request, poll its job, download the PDF through a presigned URL. Also DiAGRAM's older synchronous routes under /api/."
        },
        "paths": {
            "/v1/reports": { "post": {
                "summary": "Submit a report request",
                "operationId": "submitReport",
                "parameters": [idem_param()],
                "requestBody": json_body("ReportRequest"),
                "callbacks": callbacks("reportFinished", "report.succeeded or report.failed, when the job ends"),
                "responses": submit_errors(json!({
                    "202": { "description": "Queued; Location names the job", "headers": { "Location": { "schema": { "type": "string" } } },
                             "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Submitted" } } } },
                    "422": err("Idempotency-Key reused for a different request"),
                    "503": store_unavailable.clone(),
                }))
            }},
            "/v1/reports/batch": { "post": {
                "summary": "Submit up to 1,000 report requests at once",
                "description": "All requests are validated first; if any is invalid nothing is stored or queued and the 400 lists each bad item's index and field.",
                "operationId": "submitBatch",
                "parameters": [idem_param()],
                "requestBody": json_body("BatchRequest"),
                "callbacks": callbacks("batchCompleted", "batch.completed, when the batch's last job ends (each request's own callback gets its report.* event)"),
                "responses": submit_errors(json!({
                    "202": ok_json("Queued; Location names the batch", "BatchSubmitted"),
                    "422": err("Idempotency-Key reused for a different request"),
                    "503": store_unavailable.clone(),
                }))
            }},
            "/v1/reports/chart": { "post": {
                "summary": "The request's chart, at once (PNG)",
                "operationId": "reportChart",
                "requestBody": json_body("ReportRequest"),
                "responses": submit_errors(json!({ "200": binary("The chart", "image/png") }))
            }},
            "/v1/reports/csv": { "post": {
                "summary": "The request's data, at once (CSV)",
                "operationId": "reportCsv",
                "requestBody": json_body("ReportRequest"),
                "responses": submit_errors(json!({ "200": { "description": "RFC 4180 CSV", "content": { "text/csv": { "schema": { "type": "string" } } } } }))
            }},
            "/v1/reports/verify": { "post": {
                "summary": "Check an a-3a/a-3b report: its embedded request and provenance, and TeX's bytes against the recorded SHA-256 (200 whether or not they hold: see ok)",
                "operationId": "verifyReport",
                "requestBody": { "required": true, "content": { "application/pdf": { "schema": { "type": "string", "format": "binary", "maxLength": 4194304 } } } },
                "responses": {
                    "200": ok_json("Each check, and the provenance record when there is one", "Verification"),
                    "400": err("The body is not a PDF sent as application/pdf (field: body)"),
                    "413": err("The PDF is larger than 4 MiB")
                }
            }},
            "/v1/reports/{id}": { "get": {
                "summary": "A job's status; when succeeded, a presigned download URL and its expiry",
                "operationId": "getReport",
                "parameters": id_param("Job id"),
                "responses": { "200": ok_json("The job", "Job"), "404": err("No such job"), "503": store_unavailable.clone() }
            }},
            "/v1/reports/{id}/pdf": { "get": {
                "summary": "Redirect to a fresh presigned URL of the PDF",
                "operationId": "getReportPdf",
                "parameters": id_param("Job id"),
                "responses": {
                    "303": { "description": "See the presigned URL in Location" },
                    "404": err("No such job"),
                    "409": err("Not ready (queued or running), or the job failed"),
                    "503": store_unavailable.clone()
                }
            }},
            "/v1/batches": { "post": {
                "summary": "A bulk run from a JSONL manifest (1 to 100,000 requests, one a line, at most 256 MiB): answers with a presigned PUT for the file",
                "description": "Charged for the declared lines now. PUT the file to upload.url, then POST links.start. The worker side validates it line by line and queues the valid lines as jobs a chunk at a time; each invalid line is in errors.jsonl (GET the batch once its manifest.state is done).",
                "operationId": "createManifestBatch",
                "parameters": [idem_param()],
                "requestBody": json_body("ManifestRequest"),
                "callbacks": callbacks("manifestCompleted", "batch.completed, once every line is read and every job has ended"),
                "responses": submit_errors(json!({
                    "201": ok_json("Made; upload the manifest, then start it", "ManifestCreated"),
                    "422": err("Idempotency-Key reused for a different request"),
                    "503": store_unavailable.clone(),
                }))
            }},
            "/v1/batches/{id}/start": { "post": {
                "summary": "Start a manifest batch's fan-out once its file is uploaded (starting twice is harmless)",
                "operationId": "startManifestBatch",
                "parameters": id_param("Batch id"),
                "responses": {
                    "202": { "description": "The fan-out is queued; Location names the batch", "content": { "application/json": { "schema": { "type": "object", "properties": {
                        "batch_id": { "type": "string", "format": "uuid" }, "links": { "type": "object" } } } } } },
                    "404": err("No such manifest batch"),
                    "409": err("The manifest is not uploaded yet (code manifest_not_uploaded)"),
                    "413": err("The manifest is larger than 256 MiB"),
                    "503": store_unavailable.clone()
                }
            }},
            "/v1/batches/{id}/archive": {
                "post": {
                    "summary": "Build one ZIP of the batch's PDFs and a manifest.csv (line, job_id, file, sha256, status, error)",
                    "description": "Built by the workers, streamed into S3. Asked while the batch still runs, the archive is partial: it holds the reports finished then. A complete archive of a finished batch is answered at once (200).",
                    "operationId": "requestBatchArchive",
                    "parameters": id_param("Batch id"),
                    "responses": {
                        "200": ok_json("The archive of the finished batch, with a fresh download URL", "Archive"),
                        "202": ok_json("Building; poll links.self", "Archive"),
                        "404": err("No such batch"),
                        "503": store_unavailable.clone()
                    }
                },
                "get": {
                    "summary": "Where the batch's archive stands; a fresh presigned download once ready",
                    "operationId": "getBatchArchive",
                    "parameters": id_param("Batch id"),
                    "responses": {
                        "200": ok_json("The archive (state building, ready or failed)", "Archive"),
                        "404": err("No such batch, or no archive asked for"),
                        "503": store_unavailable.clone()
                    }
                }
            },
            "/v1/batches/{id}": { "get": {
                "summary": "A batch's counts per status and its jobs, a page at a time",
                "operationId": "getBatch",
                "parameters": [
                    { "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } },
                    { "name": "cursor", "in": "query", "required": false, "schema": { "type": "string" }, "description": "next_cursor of the previous page" },
                    { "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 } }
                ],
                "responses": { "200": ok_json("The batch", "BatchStatus"), "400": err("A bad limit or cursor"), "404": err("No such batch"), "503": store_unavailable.clone() }
            }},
            "/v1/score": { "post": {
                "summary": "Score DiAGRAM models, answered in order",
                "operationId": "score",
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "array", "items": { "$ref": "#/components/schemas/DiagramModel" } } } } },
                "responses": body_errors(json!({
                    "200": { "description": "One score per model", "content": { "application/json": { "schema": { "type": "array", "items": { "$ref": "#/components/schemas/Score" } } } } },
                    "400": err("A model cannot be scored: index, model, scenario and field say where"),
                    "503": score_unavailable.clone()
                }))
            }},
            "/v1/score/improvements": { "post": {
                "summary": "For one model, each question's best single change, largest gain first",
                "operationId": "improvements",
                "requestBody": json_body("DiagramModel"),
                "responses": body_errors(json!({
                    "200": ok_json("Ranked improvements", "Improvements"),
                    "400": err("The model cannot be scored"),
                    "503": score_unavailable.clone()
                }))
            }},
            "/api/model/score": { "post": {
                "summary": "DiAGRAM: score one model (or an array of exactly one); numbers rounded to 4 decimals",
                "operationId": "diagramScore",
                "requestBody": json_body("DiagramModel"),
                "responses": body_errors(json!({ "200": ok_json("The scores", "Score"), "400": err("The model cannot be scored"), "503": score_unavailable }))
            }},
            "/api/validation/validate_json": { "post": {
                "summary": "DiAGRAM: validate an array of models",
                "operationId": "diagramValidate",
                // Any JSON: this route's answer to a body that is not a models file is a 200
                // with `status: false` (what DiAGRAM's frontend reads), not a 400.
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "description": "Usually an array of DiAGRAM model objects (#/components/schemas/DiagramModels); anything else is answered status false" } } } },
                "responses": body_errors(json!({
                    "200": { "description": "`status` true when valid; false (with `error` saying why) when the body is not a valid models file, as DiAGRAM's frontend expects", "content": { "application/json": { "schema": { "type": "object", "required": ["status"], "properties": { "status": { "type": "boolean" }, "error": { "type": "object" } } } } } }
                }))
            }},
            "/api/report/pdf": { "post": {
                "summary": "DiAGRAM: the PDF report of an array of models",
                "description": "Queued like every report, on the interactive lane. Waits up to REPORTQ_PDF_WAIT_SECS (default 25 s) and answers the PDF; never a 2xx without it. If the job is not done by then: 503 with Retry-After and the job id; the same body sent again (the route derives an Idempotency-Key from the body and the day) joins that job.",
                "operationId": "diagramPdf",
                "requestBody": json_body("DiagramModels"),
                "responses": submit_errors(json!({
                    "200": binary("The PDF", "application/pdf"),
                    "303": { "description": "A PDF too large to answer inline (REPORTQ_INLINE_PDF_MAX_BYTES): see the presigned URL in Location" },
                    "500": err("The job failed"),
                    "503": err("Not done within the wait (code report_pending: send the same body again after Retry-After), too many reports waiting (overloaded), or S3/SQS unavailable")
                }))
            }},
            "/api/report/csv": { "post": {
                "summary": "DiAGRAM: the CSV of an array of models",
                "operationId": "diagramCsv",
                "requestBody": json_body("DiagramModels"),
                "responses": submit_errors(json!({ "200": { "description": "CSV", "content": { "text/csv": { "schema": { "type": "string" } } } } }))
            }},
            "/api/chart/plot": { "post": {
                "summary": "DiAGRAM: bar chart of score rows (PNG)",
                "operationId": "diagramChart",
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "array", "minItems": 1, "maxItems": crate::domain::diagram::MAX_MODELS, "items": { "$ref": "#/components/schemas/ScoreRow" } } } } },
                "responses": submit_errors(json!({ "200": binary("The chart", "image/png") }))
            }},
            "/api/test/is_alive": {
                "get": { "summary": "DiAGRAM: liveness", "operationId": "diagramAliveGet", "responses": { "200": ok_json("Alive", "Alive") } },
                "post": { "summary": "DiAGRAM: liveness (as the old frontend calls it)", "operationId": "diagramAlive", "responses": { "200": ok_json("Alive", "Alive") } }
            },
            "/v1/templates": { "get": {
                "summary": "The templates: each one's description, parameter JSON Schema and an example request",
                "operationId": "listTemplates",
                "responses": { "200": ok_json("The templates", "Templates") }
            }},
            "/": { "get": {
                "summary": "A page to try reportq in a browser (submit, progress, download)",
                "operationId": "page",
                "responses": { "200": { "description": "HTML", "content": { "text/html": { "schema": { "type": "string" } } } } }
            }},
            "/reportq.js": { "get": {
                "summary": "The browser client module (submitAndPoll, submitBatchAndPoll): dependency-free, any frontend may import it",
                "operationId": "clientModule",
                "responses": { "200": { "description": "An ES module", "content": { "text/javascript": { "schema": { "type": "string" } } } } }
            }},
            "/healthz": { "get": {
                "summary": "Health: whether S3 and the queues answer (looked at every 5 s at most), version and commit", "operationId": "health",
                "responses": {
                    "200": ok_json("Up", "Health"),
                    "503": ok_json("S3 or a queue does not answer", "Health")
                }
            }},
            "/openapi.json": { "get": {
                "summary": "This document", "operationId": "openapi",
                "responses": { "200": { "description": "OpenAPI 3", "content": { "application/json": { "schema": { "type": "object" } } } } }
            }}
        },
        "components": { "schemas": {
            "Error": { "type": "object", "required": ["error"], "properties": { "error": {
                "type": "object", "required": ["code", "message"],
                "properties": {
                    "code": { "type": "string" }, "message": { "type": "string" }, "field": { "type": "string" },
                    "items": { "type": "array", "items": { "type": "object", "properties": {
                        "index": { "type": "integer" }, "field": { "type": "string" }, "message": { "type": "string" } } } },
                    "model": { "type": "string" }, "scenario": { "type": "string" }, "index": { "type": "integer" }
                } } } },
            "ReportRequest": { "oneOf": report_requests() },
            "Templates": { "type": "object", "required": ["templates"], "properties": { "templates": { "type": "array", "items": {
                "type": "object", "required": ["name", "description", "schema", "example"], "properties": {
                    "name": { "type": "string" }, "description": { "type": "string" },
                    "schema": { "type": "object", "description": "JSON Schema (draft 07) of the request's params" },
                    "example": { "type": "object" } } } } } },
            "BatchRequest": { "type": "object", "required": ["requests"], "additionalProperties": false, "properties": {
                "requests": { "type": "array", "minItems": 1, "maxItems": crate::config::MAX_BATCH, "items": { "$ref": "#/components/schemas/ReportRequest" } },
                "callback": { "$ref": "#/components/schemas/Callback" } } },
            "Callback": { "type": "object", "required": ["url"], "additionalProperties": false, "description": "Where to POST the final event (webhooks must be enabled on the deployment)", "properties": {
                "url": { "type": "string", "format": "uri", "maxLength": crate::domain::webhook::MAX_URL,
                         "description": "https; its host must resolve to public addresses only (checked at submit and at every delivery)" } } },
            "WebhookEvent": { "type": "object", "required": ["type", "timestamp", "data"], "properties": {
                "type": { "type": "string", "enum": ["report.succeeded", "report.failed", "batch.completed"] },
                "timestamp": { "type": "string", "format": "date-time" },
                "owner": { "type": "string", "description": "whose job or batch: key:{id}, or jwt:{issuer}|{sub}; absent with authentication off" },
                "data": { "type": "object", "description": "report.*: job_id, status, template, created_at, batch_id?, error? {code, message}, and when succeeded url (a fresh presigned URL), expires_at, filename, sha256, size. batch.completed: batch_id, total, succeeded, failed, links." } } },
            "Webhook": { "type": "object", "properties": {
                "id": { "type": "string", "description": "The webhook-id header of every attempt" },
                "event": { "type": "string", "enum": ["report.succeeded", "report.failed", "batch.completed"] },
                "url": { "type": "string" },
                "state": { "type": "string", "enum": ["pending", "delivered", "failed"] },
                "attempts": { "type": "array", "items": { "type": "object", "required": ["attempt", "at", "latency_ms"], "properties": {
                    "attempt": { "type": "integer" }, "at": { "type": "string", "format": "date-time" }, "status": { "type": "integer" },
                    "latency_ms": { "type": "integer" }, "error": { "type": "string" } } } } } },
            "Links": { "type": "object", "properties": { "self": { "type": "string" }, "pdf": { "type": "string" } } },
            "Status": { "type": "string", "enum": ["queued", "running", "succeeded", "failed"] },
            "Submitted": { "type": "object", "required": ["job_id", "status", "links"], "properties": {
                "job_id": { "type": "string", "format": "uuid" }, "status": { "$ref": "#/components/schemas/Status" },
                "created_at": { "type": "string", "format": "date-time" }, "links": { "$ref": "#/components/schemas/Links" } } },
            "BatchSubmitted": { "type": "object", "required": ["batch_id", "job_ids"], "properties": {
                "batch_id": { "type": "string", "format": "uuid" }, "count": { "type": "integer" },
                "job_ids": { "type": "array", "items": { "type": "string", "format": "uuid" } },
                "created_at": { "type": "string", "format": "date-time" }, "links": { "type": "object" } } },
            "Job": { "type": "object", "required": ["job_id", "status", "links"], "properties": {
                "job_id": { "type": "string", "format": "uuid" }, "status": { "$ref": "#/components/schemas/Status" },
                "template": { "type": "string" }, "batch_id": { "type": "string", "format": "uuid" },
                "created_at": { "type": "string", "format": "date-time" }, "updated_at": { "type": "string", "format": "date-time" },
                "started_at": { "type": "string", "format": "date-time" }, "finished_at": { "type": "string", "format": "date-time" },
                "attempts": { "type": "integer" },
                "error": { "type": "object", "properties": { "code": { "type": "string" }, "message": { "type": "string" } } },
                "result": { "type": "object", "properties": {
                    "url": { "type": "string", "description": "Presigned GET; valid until expires_at, or until the signing credentials expire, whichever is first" },
                    "expires_at": { "type": "string", "format": "date-time" }, "filename": { "type": "string" },
                    "size": { "type": "integer" }, "sha256": { "type": "string" }, "content_type": { "type": "string" } } },
                "links": { "$ref": "#/components/schemas/Links" },
                "trace_id": { "type": "string", "description": "The job's trace (W3C hex): the API's and the worker's log lines and X-Ray segments carry it" },
                "timeline": { "type": "array", "items": { "type": "object", "required": ["at", "event"], "properties": {
                    "at": { "type": "string", "format": "date-time" },
                    "event": { "type": "string", "enum": ["queued", "claimed", "rendered", "uploaded", "recovered", "attempt_failed", "succeeded", "failed"] },
                    "attempt": { "type": "integer" }, "ms": { "type": "integer" }, "code": { "type": "string" },
                    "sandbox": { "type": "string" } } } },
                "webhook": { "$ref": "#/components/schemas/Webhook" } } },
            "BatchStatus": { "type": "object", "properties": {
                "batch_id": { "type": "string", "format": "uuid" }, "created_at": { "type": "string", "format": "date-time" },
                "total": { "type": "integer" }, "done": { "type": "boolean" },
                "counts": { "type": "object", "properties": { "queued": { "type": "integer" }, "running": { "type": "integer" },
                                                              "succeeded": { "type": "integer" }, "failed": { "type": "integer" } } },
                "jobs": { "type": "array", "items": { "type": "object", "properties": {
                    "job_id": { "type": "string", "format": "uuid" }, "status": { "$ref": "#/components/schemas/Status" }, "links": { "$ref": "#/components/schemas/Links" } } } },
                "next_cursor": { "type": "string", "nullable": true },
                "webhook": { "$ref": "#/components/schemas/Webhook" },
                "manifest": { "type": "object", "description": "A manifest batch's fan-out: its jobs are its valid lines, paged by line number", "properties": {
                    "lines": { "type": "integer" }, "state": { "type": "string", "enum": ["awaiting_upload", "fanning_out", "done"] },
                    "lines_read": { "type": "integer" }, "validated": { "type": "integer" }, "invalid": { "type": "integer" },
                    "errors_url": { "type": "string", "description": "Presigned GET of errors.jsonl ({line, field, message} a line), once done, when a line was invalid" } } } } },
            "Archive": { "type": "object", "required": ["batch_id", "state", "partial", "reports", "rows", "size", "requested_at", "links"], "properties": {
                "batch_id": { "type": "string", "format": "uuid" },
                "state": { "type": "string", "enum": ["building", "ready", "failed"] },
                "partial": { "type": "boolean", "description": "Built while jobs were still queued or running" },
                "reports": { "type": "integer" }, "rows": { "type": "integer" }, "size": { "type": "integer" },
                "sha256": { "type": "string", "description": "The ZIP's SHA-256, when it was built in one invocation" }, "requested_at": { "type": "string", "format": "date-time" },
                "built_at": { "type": "string", "format": "date-time" },
                "url": { "type": "string", "description": "Presigned GET of the ZIP, when ready" },
                "expires_at": { "type": "string", "format": "date-time" }, "error": { "type": "string" },
                "links": { "type": "object", "properties": { "self": { "type": "string" }, "batch": { "type": "string" } } } } },
            "ManifestRequest": { "type": "object", "required": ["manifest"], "additionalProperties": false, "properties": {
                "manifest": { "type": "object", "required": ["lines"], "additionalProperties": false, "properties": {
                    "lines": { "type": "integer", "minimum": 1, "maximum": 100000 } } },
                "callback": { "type": "object", "required": ["url"], "properties": { "url": { "type": "string", "format": "uri" } } } } },
            "ManifestCreated": { "type": "object", "required": ["batch_id", "lines", "upload", "links"], "properties": {
                "batch_id": { "type": "string", "format": "uuid" }, "lines": { "type": "integer" },
                "created_at": { "type": "string", "format": "date-time" },
                "upload": { "type": "object", "required": ["method", "url"], "properties": {
                    "method": { "type": "string", "enum": ["PUT"] }, "url": { "type": "string" },
                    "expires_at": { "type": "string", "format": "date-time" }, "max_bytes": { "type": "integer" } } },
                "links": { "type": "object", "properties": { "self": { "type": "string" }, "start": { "type": "string" } } } } },
            "DiagramModel": diagram_model(),
            "DiagramModels": { "type": "array", "items": { "$ref": "#/components/schemas/DiagramModel" } },
            "ScoreRow": { "type": "object", "required": ["model_name", "scenario", "intellectual_control", "renderability"], "properties": {
                "model_name": { "type": "string" }, "scenario": { "type": "string" },
                "intellectual_control": { "type": "number", "minimum": 0, "maximum": 100 }, "renderability": { "type": "number", "minimum": 0, "maximum": 100 } } },
            "Score": { "type": "object", "required": ["intellectual_control", "renderability", "nodes"], "properties": {
                "intellectual_control": { "type": "number" }, "renderability": { "type": "number" }, "nodes": { "type": "object" } } },
            "Verification": { "type": "object", "required": ["ok", "checks"], "properties": {
                "ok": { "type": "boolean", "description": "Every check held" },
                "checks": { "type": "array", "items": { "type": "object", "required": ["check", "ok", "detail"], "properties": {
                    "check": { "type": "string", "description": "embedded, request, fixity" }, "ok": { "type": "boolean" }, "detail": { "type": "string" } } } },
                "provenance": { "type": "object", "description": "provenance.json as embedded (schema reportq-provenance/1)" } } },
            "Improvements": { "type": "object", "properties": { "improvements": { "type": "array", "items": { "type": "object", "properties": {
                "rank": { "type": "integer" }, "question": { "type": "string" }, "answer": {},
                "intellectual_control": { "type": "number" }, "renderability": { "type": "number" },
                "gain_intellectual_control": { "type": "number" }, "gain_renderability": { "type": "number" }, "total_gain": { "type": "number" } } } } } },
            "Health": { "type": "object", "required": ["status", "version", "commit", "scoring", "s3", "queue"], "properties": {
                "status": { "type": "string", "enum": ["ok", "degraded"] }, "version": { "type": "string" }, "commit": { "type": "string" },
                "scoring": { "type": "boolean" }, "s3": { "type": "boolean" }, "queue": { "type": "boolean" } } },
            "Alive": { "type": "object", "properties": { "alive": { "type": "boolean" } } }
        } }
    })
}
