//! What Supabase's API gateway does in front of every service: require an
//! `apikey`, refuse keys that are not the project's, turn the newer
//! `sb_publishable_…` / `sb_secret_…` keys into the role JWT the services
//! understand, and answer CORS for browser apps.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer, ExposeHeaders};

use crate::keys::{ApiKeyKind, Keys};

/// The address a request came from, for per-address rate limits. The
/// server records it for every connection (`X-Forwarded-For` is not trusted:
/// localbase has no proxy in front of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, postrust_server::lenient_uri::LenientListener>>
    for ClientAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, postrust_server::lenient_uri::LenientListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

/// Paths served without an `apikey`, as on Supabase: the public key set.
const OPEN_PATHS: &[&str] = &["/auth/v1/.well-known/jwks.json"];

fn refuse(message: &str, hint: Option<&str>) -> Response {
    let body = match hint {
        Some(hint) => json!({ "message": message, "hint": hint }),
        None => json!({ "message": message }),
    };
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

/// The `apikey` header, or the `apikey` query parameter.
fn apikey(request: &Request) -> Option<String> {
    if let Some(v) = request.headers().get("apikey").and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_string());
    }
    let query = request.uri().query()?;
    form_pairs(query).find(|(k, _)| k == "apikey").map(|(_, v)| v)
}

fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k), percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `uri` without its `apikey` query parameter, which PostgREST would read as
/// a filter on a column named `apikey`.
fn without_apikey(uri: &Uri) -> Option<Uri> {
    let query = uri.query()?;
    let kept: Vec<&str> =
        query.split('&').filter(|p| !(p.is_empty() || *p == "apikey" || p.starts_with("apikey="))).collect();
    let path_and_query = if kept.is_empty() {
        uri.path().to_string()
    } else {
        format!("{}?{}", uri.path(), kept.join("&"))
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    Uri::from_parts(parts).ok()
}

/// A browser announces itself with `Origin` or a `Mozilla/…` user agent;
/// Supabase refuses a secret key from one.
fn from_browser(request: &Request) -> bool {
    let ua = request.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    ua.starts_with("Mozilla/")
}

/// The gateway middleware.
pub async fn require_apikey(State(keys): State<Arc<Keys>>, mut request: Request, next: Next) -> Response {
    if request.method() == Method::OPTIONS || OPEN_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let Some(key) = apikey(&request) else {
        return refuse(
            "No API key found in request",
            Some("No `apikey` request header or url param was found."),
        );
    };
    let Some(kind) = keys.api_key_kind(&key) else {
        return refuse("Invalid API key", Some("Double check your Supabase `anon` or `service_role` API key."));
    };
    if kind == ApiKeyKind::Secret && from_browser(&request) {
        return refuse("Forbidden use of secret API key in browser", None);
    }
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' ').map(|(_, t)| t.trim().to_string()));
    let replace = match &bearer {
        None => true,
        Some(token) => token.is_empty() || (token == &key && matches!(kind, ApiKeyKind::Publishable | ApiKeyKind::Secret)),
    };
    if replace {
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {}", keys.role_jwt(kind))) {
            request.headers_mut().insert(header::AUTHORIZATION, v);
        }
    }
    if request.uri().path().starts_with("/rest/") {
        if let Some(uri) = without_apikey(request.uri()) {
            *request.uri_mut() = uri;
        }
    }
    request.extensions_mut().insert(kind);
    next.run(request).await
}

/// CORS for browser apps: any origin, the headers supabase-js sends, and the
/// headers it reads back.
pub fn cors() -> CorsLayer {
    let exposed = [
        "content-range",
        "content-location",
        "location",
        "preference-applied",
        "range-unit",
        "x-total-count",
        "x-supabase-api-version",
    ];
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
            Method::HEAD,
        ])
        // Mirrors what the preflight asks for: apikey, authorization,
        // content-type, x-client-info, prefer, range, accept-profile,
        // content-profile, x-supabase-api-version and whatever else a
        // client version adds. A `*` would not cover `authorization`.
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(ExposeHeaders::list(exposed.map(HeaderName::from_static)))
        .max_age(Duration::from_secs(86400))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_apikey_parameter_is_dropped_and_the_filters_kept() {
        let uri: Uri = "/rest/v1/leads?apikey=abc&id=eq.1&select=*".parse().unwrap();
        assert_eq!(without_apikey(&uri).unwrap().to_string(), "/rest/v1/leads?id=eq.1&select=*");
        let uri: Uri = "/rest/v1/leads?apikey=abc".parse().unwrap();
        assert_eq!(without_apikey(&uri).unwrap().to_string(), "/rest/v1/leads");
    }

    #[test]
    fn percent_escapes_are_decoded_and_a_lone_percent_survives() {
        assert_eq!(percent_decode("a%2Eb%"), "a.b%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%é"), "%é");
    }
}
