//! The demo team `up` creates: one admin and six callers across several
//! states and languages, with different limits and weights. Idempotent: a
//! second `up` finds them and changes nothing.

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// What the seeding needs from localbase's status.
pub struct Backend {
    pub api_url: String,
    pub service_role_key: String,
}

pub struct DemoUser {
    pub email: &'static str,
    pub password: &'static str,
    pub name: &'static str,
    pub role: &'static str,
}

struct DemoCaller {
    user: DemoUser,
    states: &'static [&'static str],
    languages: &'static [&'static str],
    daily_lead_limit: i64,
    weight: i64,
}

pub const ADMIN: DemoUser =
    DemoUser { email: "admin@bloc.local", password: "bloc-admin-2026", name: "Meera Admin", role: "admin" };

const CALLERS: &[DemoCaller] = &[
    caller("priya@bloc.local", "Priya Sharma", &["MH", "GJ"], &["hi", "mr", "en"], 30, 2),
    caller("arjun@bloc.local", "Arjun Reddy", &["KA", "TS", "AP"], &["te", "kn", "en"], 25, 1),
    caller("kavya@bloc.local", "Kavya Iyer", &["TN", "KL", "PY"], &["ta", "ml", "en"], 20, 1),
    caller("rohit@bloc.local", "Rohit Verma", &["DL", "UP", "HR"], &["hi", "en"], 40, 2),
    caller("ananya@bloc.local", "Ananya Ghosh", &["WB", "OD", "AS"], &["bn", "or", "hi"], 15, 1),
    caller("imran@bloc.local", "Imran Khan", &[], &["hi", "ur", "en"], 25, 1),
];

const fn caller(
    email: &'static str,
    name: &'static str,
    states: &'static [&'static str],
    languages: &'static [&'static str],
    daily_lead_limit: i64,
    weight: i64,
) -> DemoCaller {
    DemoCaller {
        user: DemoUser { email, password: "caller-demo-2026", name, role: "caller" },
        states,
        languages,
        daily_lead_limit,
        weight,
    }
}

/// Everyone who can sign in, for printing.
pub fn sign_ins() -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
    std::iter::once(&ADMIN)
        .chain(CALLERS.iter().map(|c| &c.user))
        .map(|u| (u.role, u.name, u.email, u.password))
        .collect()
}

pub fn seed(backend: &Backend) -> anyhow::Result<()> {
    let admin_id = ensure_user(backend, &ADMIN)?;
    ensure_member(backend, &admin_id, "admin", None)?;
    for c in CALLERS {
        let user_id = ensure_user(backend, &c.user)?;
        let caller_id = ensure_caller(backend, c, &user_id)?;
        ensure_member(backend, &user_id, "caller", Some(caller_id))?;
    }
    Ok(())
}

fn ensure_user(backend: &Backend, user: &DemoUser) -> anyhow::Result<String> {
    let listed: Value = authed(backend, ureq::get(&format!("{}/auth/v1/admin/users?per_page=1000", backend.api_url)))
        .call()
        .context("listing users")?
        .into_json()?;
    let users = listed.get("users").unwrap_or(&listed);
    if let Some(found) = users
        .as_array()
        .and_then(|list| list.iter().find(|u| u["email"] == user.email))
    {
        return id_of(found);
    }
    let created: Value = authed(backend, ureq::post(&format!("{}/auth/v1/admin/users", backend.api_url)))
        .send_json(json!({
            "email": user.email,
            "password": user.password,
            "email_confirm": true,
            "user_metadata": { "name": user.name },
        }))
        .with_context(|| format!("creating user {}", user.email))?
        .into_json()?;
    id_of(&created)
}

fn ensure_caller(backend: &Backend, c: &DemoCaller, user_id: &str) -> anyhow::Result<i64> {
    let url = format!("{}/rest/v1/callers?select=id&email=eq.{}", backend.api_url, c.user.email);
    let existing: Value = authed(backend, ureq::get(&url)).call()?.into_json()?;
    if let Some(id) = existing.get(0).and_then(|row| row["id"].as_i64()) {
        return Ok(id);
    }
    let created: Value = authed(backend, ureq::post(&format!("{}/rest/v1/callers", backend.api_url)))
        .set("Prefer", "return=representation")
        .send_json(json!({
            "name": c.user.name,
            "email": c.user.email,
            "user_id": user_id,
            "assigned_states": c.states,
            "languages": c.languages,
            "daily_lead_limit": c.daily_lead_limit,
            "weight": c.weight,
        }))
        .with_context(|| format!("creating caller {}", c.user.name))?
        .into_json()?;
    match created.get(0).and_then(|row| row["id"].as_i64()) {
        Some(id) => Ok(id),
        None => bail!("creating caller {} returned {created}", c.user.name),
    }
}

fn ensure_member(backend: &Backend, user_id: &str, role: &str, caller_id: Option<i64>) -> anyhow::Result<()> {
    let url = format!("{}/rest/v1/team_members?select=user_id&user_id=eq.{user_id}", backend.api_url);
    let existing: Value = authed(backend, ureq::get(&url)).call()?.into_json()?;
    if existing.as_array().is_some_and(|rows| !rows.is_empty()) {
        return Ok(());
    }
    authed(backend, ureq::post(&format!("{}/rest/v1/team_members", backend.api_url)))
        .send_json(json!({ "user_id": user_id, "role": role, "caller_id": caller_id }))
        .with_context(|| format!("adding team member {user_id}"))?;
    Ok(())
}

fn authed(backend: &Backend, req: ureq::Request) -> ureq::Request {
    req.set("apikey", &backend.service_role_key)
        .set("Authorization", &format!("Bearer {}", backend.service_role_key))
}

fn id_of(user: &Value) -> anyhow::Result<String> {
    match user["id"].as_str() {
        Some(id) => Ok(id.to_string()),
        None => bail!("auth admin API returned a user without an id: {user}"),
    }
}
