//! What a browser needs besides the API: a page to try reportq at `/`, the dependency-free
//! client module it uses at `/reportq.js` (any frontend may import it from there), and the
//! templates with their JSON Schemas at `/v1/templates`. The page and module are compiled in
//! (`assets/web/`), so the API Lambda serves them too.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::template;
use crate::wire::{TemplateView, Templates};

const INDEX: &str = include_str!("../../assets/web/index.html");
const CLIENT: &str = include_str!("../../assets/web/reportq.js");

fn text(content_type: &'static str, body: &'static str) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Short: a deploy changes them; the module's path stays the same.
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    resp
}

pub async fn index() -> Response {
    text("text/html; charset=utf-8", INDEX)
}

pub async fn client() -> Response {
    let mut resp = text("text/javascript; charset=utf-8", CLIENT);
    // Other origins import the module: it must be readable cross-origin.
    resp.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    resp
}

/// Every template's name, description, parameter schema and example request.
pub fn templates() -> Templates {
    Templates {
        templates: template::all()
            .into_iter()
            .map(|t| TemplateView {
                name: t.name.into(),
                description: t.description.into(),
                schema: template::schema(t.name).expect("every template has a schema"),
                example: template::example(t.name).expect("every template has an example"),
            })
            .collect(),
    }
}

pub async fn list_templates() -> Response {
    axum::Json(templates()).into_response()
}
