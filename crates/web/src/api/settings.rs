//! The settings calls: the team's day (`team_today()`), the settings
//! themselves, the zone list and the audit.

use serde_json::{json, Value};

use super::{Api, ApiResult};
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::team_settings::{read_audit, read_zones, AuditEntry, SettingsForm, Zone};
use crate::time::TeamDay;

/// How many audit entries the settings page shows.
const AUDIT_ENTRIES: u32 = 20;

fn unreadable(what: &str) -> ApiError {
    ApiError::UnreadableResponse(format!("The {what} could not be read."))
}

impl Api {
    /// The team's day as the engine computes it (`team_today()`, team members).
    pub async fn team_today(&self) -> ApiResult<TeamDay> {
        let value = self.rpc("team_today", &json!({})).await?;
        TeamDay::read(&value, now_ms()).ok_or_else(|| unreadable("team's day"))
    }

    /// The settings as the form shows them (`team_settings()`).
    pub async fn team_settings(&self) -> ApiResult<SettingsForm> {
        let value = self.rpc("team_settings", &json!({})).await?;
        SettingsForm::read(&value).ok_or_else(|| unreadable("settings"))
    }

    /// Saves validated settings (`update_settings()`, admins); returns them as saved.
    pub async fn update_settings(&self, args: &Value) -> ApiResult<SettingsForm> {
        let value = self.rpc("update_settings", args).await?;
        SettingsForm::read(&value).ok_or_else(|| unreadable("saved settings"))
    }

    /// The zones to choose from (`time_zone_names()`).
    pub async fn time_zone_names(&self) -> ApiResult<Vec<Zone>> {
        Ok(read_zones(&self.rpc("time_zone_names", &json!({})).await?))
    }

    /// The newest settings changes (`settings_audit`, admins).
    pub async fn settings_audit(&self) -> ApiResult<Vec<AuditEntry>> {
        let rows: Value = self
            .rows(&format!(
                "settings_audit?select=changed_at,changed_by_email,field,old_value,new_value&order=changed_at.desc,id.desc&limit={AUDIT_ENTRIES}"
            ))
            .await
            .map(Value::Array)?;
        Ok(read_audit(&rows))
    }
}
