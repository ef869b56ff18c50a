//! CORS for the routes the web app calls from the browser (the CSV import):
//! only the origins in `CORS_ALLOWED_ORIGINS` get the headers, so a page on
//! any other origin cannot read an answer or send a preflighted request.
//! Webhook senders are servers and never need CORS.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

use crate::state::AppState;

/// Headers the web app sends to the import routes.
pub const ALLOWED_HEADERS: &str = "authorization, content-type, x-request-id";

/// How long a browser may cache a preflight answer, in seconds.
pub const MAX_AGE_SECS: u32 = 600;

/// Answers preflights and adds `Access-Control-Allow-Origin` for an allowed
/// `Origin`. A preflight from another origin gets 403 without the headers.
pub async fn allowed_origins(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let allowed = match (&origin, req.app_data::<web::Data<AppState>>()) {
        (Some(origin), Some(state)) => is_allowed(&state.settings.cors_allowed_origins, origin),
        _ => false,
    };
    if req.method() == Method::OPTIONS {
        let mut response = HttpResponse::build(if allowed { StatusCode::NO_CONTENT } else { StatusCode::FORBIDDEN });
        if let (true, Some(origin)) = (allowed, origin) {
            response
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "POST, OPTIONS"))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, MAX_AGE_SECS.to_string()))
                .insert_header((header::VARY, "Origin"));
        }
        return Ok(req.into_response(response.finish()));
    }
    let mut response = next.call(req).await?.map_into_boxed_body();
    if let (true, Some(origin)) = (allowed, origin) {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("retry-after, x-request-id"));
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(response)
}

/// Whether `origin` is one of `allowed`, compared exactly (scheme, host and
/// port, as the browser sends it); `*` in the list allows any origin.
pub fn is_allowed(allowed: &[String], origin: &HeaderValue) -> bool {
    let Ok(origin) = origin.to_str() else { return false };
    allowed.iter().any(|a| a == "*" || a == origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_allowed_only_when_listed_exactly() {
        let list = vec!["http://127.0.0.1:8000".to_owned(), "https://crm.example.com".to_owned()];
        assert!(is_allowed(&list, &HeaderValue::from_static("https://crm.example.com")));
        assert!(!is_allowed(&list, &HeaderValue::from_static("https://crm.example.com.evil.test")));
        assert!(!is_allowed(&list, &HeaderValue::from_static("http://127.0.0.1:8001")));
        assert!(!is_allowed(&[], &HeaderValue::from_static("https://crm.example.com")));
        assert!(is_allowed(&["*".to_owned()], &HeaderValue::from_static("https://any.test")));
    }
}
