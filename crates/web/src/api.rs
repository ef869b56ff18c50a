//! Every HTTP call the app makes: Supabase Auth and PostgREST, typed with
//! `bloc_shared::records`. Components call these methods and never build
//! requests themselves. The [`Api`] handle is `Copy` and lives in context (`context::use_api`).

use bloc_shared::records::{AssignmentLog, Caller, Lead, LeadStatus, Settings, TeamMember};
use gloo_net::http::{Request, RequestBuilder, Response};
use leptos::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::clock::now_ms;
use crate::config::{AppConfig, ConfigError};
use crate::error::ApiError;
use crate::forms::CallerInput;
use crate::query::{self, encode_component, LeadQuery};
use crate::session::Session;
use crate::stats::DashboardToday;

mod import;
pub use import::EXPORT_MAX;
mod queue;
mod reports;
mod settings;

/// The result of every backend call.
pub type ApiResult<T> = Result<T, ApiError>;

const SESSION_KEY: &str = "bloc.session";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// Fetches and checks `config.json` beside `index.html`.
pub async fn load_config() -> ApiResult<AppConfig> {
    // Absolute, as Trunk's public_url is "/": a deep link (/leads/import) must not ask for /leads/config.json.
    let response = Request::get("/config.json")
        .header("Cache-Control", "no-cache")
        .send()
        .await
        .map_err(|_| ConfigError::Unreachable)?;
    if response.status() != 200 {
        return Err(ConfigError::Missing { status: response.status() }.into());
    }
    let text = response.text().await.map_err(|_| ConfigError::Unreadable)?;
    Ok(AppConfig::parse(&text)?)
}

/// The handle components use for every backend call.
#[derive(Clone, Copy)]
pub struct Api {
    config: StoredValue<AppConfig>,
    /// The signed-in session, or `None`.
    pub session: RwSignal<Option<Session>>,
}

impl Api {
    /// A handle with the session restored from localStorage, if one is kept.
    pub fn new(config: AppConfig) -> Api {
        let saved = storage()
            .and_then(|s| s.get_item(SESSION_KEY).ok().flatten())
            .and_then(|text| serde_json::from_str::<Session>(&text).ok());
        Api { config: StoredValue::new(config), session: RwSignal::new(saved) }
    }

    /// The run-time configuration.
    pub fn config(&self) -> AppConfig {
        self.config.get_value()
    }

    fn store(&self, session: Option<Session>) {
        if let Some(storage) = storage() {
            let _ = match &session {
                Some(s) => storage.set_item(SESSION_KEY, &serde_json::to_string(s).unwrap_or_default()),
                None => storage.remove_item(SESSION_KEY),
            };
        }
        self.session.set(session);
    }

    fn with_keys(&self, builder: RequestBuilder, token: Option<&str>) -> RequestBuilder {
        let config = self.config.get_value();
        let builder = builder.header("apikey", &config.supabase_anon_key);
        match token {
            Some(token) => builder.header("Authorization", &format!("Bearer {token}")),
            None if config.key_is_jwt() => builder.header("Authorization", &format!("Bearer {}", config.supabase_anon_key)),
            None => builder,
        }
    }

    async fn auth_request(&self, path: &str, body: &Value) -> ApiResult<Session> {
        let url = format!("{}/auth/v1/{path}", self.config.get_value().supabase_url);
        let request = self
            .with_keys(Request::post(&url), None)
            .header("Content-Type", "application/json")
            .header("X-Supabase-Api-Version", "2024-01-01")
            .body(body.to_string())
            .map_err(|e| ApiError::Unexpected(e.to_string()))?;
        let response = request.send().await.map_err(|_| ApiError::Network)?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(ApiError::from_auth_response(status, &text));
        }
        let value: Value = serde_json::from_str(&text)
            .map_err(|_| ApiError::UnreadableResponse("The sign-in service sent an unreadable answer.".to_owned()))?;
        Session::from_token_response(&value, now_ms() / 1000)
            .ok_or_else(|| ApiError::UnreadableResponse("The sign-in service sent an incomplete session.".to_owned()))
    }

    /// Signs in with email and password and keeps the session.
    pub async fn sign_in(&self, email: &str, password: &str) -> ApiResult<Session> {
        let session = self
            .auth_request("token?grant_type=password", &json!({"email": email.trim(), "password": password}))
            .await?;
        self.store(Some(session.clone()));
        Ok(session)
    }

    /// Trades the refresh token for a new session. A refused refresh signs
    /// out; an unreachable server keeps the session for the next try.
    pub async fn refresh(&self) -> ApiResult<()> {
        let Some(current) = self.session.get_untracked() else {
            return Err(ApiError::NotSignedIn);
        };
        match self
            .auth_request("token?grant_type=refresh_token", &json!({"refresh_token": current.refresh_token}))
            .await
        {
            Ok(session) => {
                self.store(Some(session));
                Ok(())
            }
            Err(ApiError::Network) => Err(ApiError::Network),
            Err(refused) => {
                self.store(None);
                Err(refused)
            }
        }
    }

    /// Refreshes the session if it is about to expire.
    pub async fn refresh_if_due(&self) {
        let due = self.session.get_untracked().is_some_and(|s| s.needs_refresh(now_ms() / 1000));
        if due {
            let _ = self.refresh().await;
        }
    }

    /// Signs out here and on the server (best effort).
    pub async fn sign_out(&self) {
        if let Some(session) = self.session.get_untracked() {
            let url = format!("{}/auth/v1/logout?scope=local", self.config.get_value().supabase_url);
            let _ = self.with_keys(Request::post(&url), Some(&session.access_token)).send().await;
        }
        self.store(None);
    }

    /// Sends a PostgREST request with the session's token, refreshing and
    /// retrying once when the token was refused.
    async fn rest(&self, method: &str, path: &str, body: Option<String>, prefer: Option<&str>) -> ApiResult<Response> {
        self.refresh_if_due().await;
        let mut retried = false;
        loop {
            let token = self.session.get_untracked().map(|s| s.access_token);
            let url = format!("{}/rest/v1/{path}", self.config.get_value().supabase_url);
            let builder = match method {
                "POST" => Request::post(&url),
                "PATCH" => Request::patch(&url),
                "DELETE" => Request::delete(&url),
                _ => Request::get(&url),
            };
            let mut builder = self.with_keys(builder, token.as_deref()).header("Accept", "application/json");
            if let Some(prefer) = prefer {
                builder = builder.header("Prefer", prefer);
            }
            let sent = match &body {
                Some(body) => builder
                    .header("Content-Type", "application/json")
                    .body(body.clone())
                    .map_err(|e| ApiError::Unexpected(e.to_string()))?
                    .send()
                    .await,
                None => builder.send().await,
            };
            let response = sent.map_err(|_| ApiError::Network)?;
            let status = response.status();
            if status == 401 && !retried && token.is_some() {
                retried = true;
                self.refresh().await?;
                continue;
            }
            if !(200..300).contains(&status) {
                let text = response.text().await.unwrap_or_default();
                return Err(ApiError::from_rest_response(status, &text));
            }
            return Ok(response);
        }
    }

    /// Reads a JSON body as `T`. The text is parsed to a [`Value`] first, so
    /// each row type has one decoder, the one Realtime's rows use as well,
    /// instead of a second one for text (about 5 KB gzipped; docs/benchmarks.md).
    async fn decode<T: DeserializeOwned>(response: Response) -> ApiResult<T> {
        let text = response.text().await.map_err(|_| ApiError::Network)?;
        serde_json::from_str::<Value>(&text)
            .and_then(serde_json::from_value)
            .map_err(|e| ApiError::UnreadableResponse(format!("The server sent data this app cannot read ({e}).")))
    }

    async fn rows<T: DeserializeOwned>(&self, path: &str) -> ApiResult<Vec<T>> {
        Self::decode(self.rest("GET", path, None, None).await?).await
    }

    async fn write_one<T: DeserializeOwned>(&self, method: &str, path: &str, body: &impl Serialize) -> ApiResult<T> {
        let body = serde_json::to_string(body).map_err(|e| ApiError::Unexpected(e.to_string()))?;
        let rows: Vec<T> = Self::decode(self.rest(method, path, Some(body), Some("return=representation")).await?).await?;
        rows.into_iter().next().ok_or(ApiError::NothingSaved)
    }

    async fn rpc(&self, function: &str, args: &Value) -> ApiResult<Value> {
        Self::decode(self.rest("POST", &format!("rpc/{function}"), Some(args.to_string()), None).await?).await
    }

    /// The signed-in user's team membership, or `None` when they have no role.
    pub async fn my_membership(&self, user_id: &str) -> ApiResult<Option<TeamMember>> {
        let rows: Vec<TeamMember> = self
            .rows(&format!("team_members?select=*&user_id=eq.{}", encode_component(user_id)))
            .await?;
        Ok(rows.into_iter().next())
    }

    /// The team's settings (time zone, SLA).
    pub async fn settings(&self) -> ApiResult<Settings> {
        let rows: Vec<Settings> = self.rows("settings?select=*&limit=1").await?;
        Ok(rows.into_iter().next().unwrap_or_default())
    }

    /// Today's figures, loads and hourly counts (`dashboard_today()`).
    pub async fn dashboard_today(&self) -> ApiResult<DashboardToday> {
        let value = self.rpc("dashboard_today", &json!({})).await?;
        serde_json::from_value(value)
            .map_err(|e| ApiError::UnreadableResponse(format!("The dashboard figures could not be read ({e}).")))
    }

    /// The newest leads, for the live feed.
    pub async fn recent_leads(&self, limit: u32) -> ApiResult<Vec<Lead>> {
        self.rows(&format!("leads?select=*&order=created_at.desc,id.desc&limit={limit}")).await
    }

    /// One page of leads and how many match the filters: the planner's
    /// estimate (`count=planned`, cheap at any size) unless the page shows
    /// the exact figure; for a search, whether a next page exists (its one
    /// extra row; see `query::Total`).
    pub async fn leads_page(&self, query: &LeadQuery, offset_minutes: i32) -> ApiResult<(Vec<Lead>, query::Total)> {
        let (path, body) = query.to_request(offset_minutes);
        let (page, size) = (query.page(), query.page_size.max(1));
        if body.is_some() {
            let mut rows: Vec<Lead> = Self::decode(self.rest("POST", &path, body, None).await?).await?;
            let total = query::Total::of_search_page(page, size, rows.len());
            rows.truncate(size as usize);
            return Ok((rows, total));
        }
        let response = self.rest("GET", &path, None, Some("count=planned")).await?;
        let planned = response.headers().get("content-range").and_then(|h| query::total_from_content_range(&h));
        let rows: Vec<Lead> = Self::decode(response).await?;
        let total = query::Total::of_page(planned, page, size, rows.len());
        Ok((rows, total))
    }

    /// The lead sources in use (`lead_sources()`), for the Source filter;
    /// none when they cannot be read (the filter still offers the native ones).
    pub async fn lead_sources(&self) -> Vec<String> {
        let value = self.rpc("lead_sources", &json!({})).await.unwrap_or_default();
        value.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
    }

    /// One lead.
    pub async fn lead(&self, id: i64) -> ApiResult<Lead> {
        let rows: Vec<Lead> = self.rows(&format!("leads?select=*&id=eq.{id}")).await?;
        rows.into_iter().next().ok_or(ApiError::LeadNotFound(id))
    }

    /// A lead's assignment timeline, oldest first, from the
    /// `assignment_timeline` view: the log rows the reader may see, with
    /// `candidates` for admins and null (an empty list) for callers. The
    /// `assignment_logs` table itself is readable by admins only.
    pub async fn assignment_timeline(&self, lead_id: i64) -> ApiResult<Vec<AssignmentLog>> {
        self.rows(&format!("assignment_timeline?select=*&lead_id=eq.{lead_id}&order=created_at.asc,id.asc")).await
    }

    /// Moves a lead to another caller (`reassign_lead`).
    pub async fn reassign_lead(&self, lead_id: i64, caller_id: i64, note: &str) -> ApiResult<()> {
        let note = note.trim();
        self.rpc(
            "reassign_lead",
            &json!({"p_lead_id": lead_id, "p_caller_id": caller_id, "p_note": if note.is_empty() { Value::Null } else { json!(note) }}),
        )
        .await
        .map(|_| ())
    }

    /// Every caller, by name.
    pub async fn callers(&self) -> ApiResult<Vec<Caller>> {
        self.rows("callers?select=*&order=name.asc,id.asc").await
    }

    /// Adds a caller.
    pub async fn create_caller(&self, input: &CallerInput) -> ApiResult<Caller> {
        self.write_one("POST", "callers", input).await
    }

    /// Saves an edit to a caller.
    pub async fn update_caller(&self, id: i64, input: &CallerInput) -> ApiResult<Caller> {
        self.write_one("PATCH", &format!("callers?id=eq.{id}"), input).await
    }

    /// Turns a caller off (or back on); they get no new leads while off.
    pub async fn set_caller_active(&self, id: i64, active: bool) -> ApiResult<Caller> {
        self.write_one("PATCH", &format!("callers?id=eq.{id}"), &json!({"active": active})).await
    }

    /// Sets a lead's status, appending the note to its notes.
    pub async fn set_lead_status(&self, lead: &Lead, status: LeadStatus, note: &str) -> ApiResult<Lead> {
        let note = note.trim();
        let mut body = json!({"status": status.as_str()});
        if !note.is_empty() {
            let notes = match lead.notes.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                Some(existing) => format!("{existing}\n{note}"),
                None => note.to_owned(),
            };
            body["notes"] = json!(notes);
        }
        self.write_one("PATCH", &format!("leads?id=eq.{}", lead.id), &body).await
    }
}
