//! Row types of the tables the web app reads through PostgREST and Realtime
//! (see `docs/interfaces.md`).
//!
//! Every type is lenient on input: unknown enum values map to an `Other`
//! variant and missing columns take their defaults, so a partial `select=`
//! or a newer schema never makes a client fail to decode a row. Times stay
//! as the RFC 3339 text PostgREST sends; clients parse them where needed.

use serde::{Deserialize, Serialize};

/// Where a lead is in the sales funnel (`leads.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    #[default]
    New,
    Contacted,
    Qualified,
    Converted,
    Lost,
    Unassigned,
    /// A value this build does not know yet.
    #[serde(other)]
    Other,
}

impl LeadStatus {
    /// Every known status, in funnel order.
    pub const ALL: [LeadStatus; 6] = [
        LeadStatus::New,
        LeadStatus::Contacted,
        LeadStatus::Qualified,
        LeadStatus::Converted,
        LeadStatus::Lost,
        LeadStatus::Unassigned,
    ];

    /// Statuses a caller can set from their workspace.
    pub const CALLER_ACTIONS: [LeadStatus; 4] = [
        LeadStatus::Contacted,
        LeadStatus::Qualified,
        LeadStatus::Converted,
        LeadStatus::Lost,
    ];

    /// The database value (`new`, `contacted`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::Contacted => "contacted",
            LeadStatus::Qualified => "qualified",
            LeadStatus::Converted => "converted",
            LeadStatus::Lost => "lost",
            LeadStatus::Unassigned => "unassigned",
            LeadStatus::Other => "other",
        }
    }

    /// A human label for the UI.
    pub fn label(self) -> &'static str {
        match self {
            LeadStatus::New => "New",
            LeadStatus::Contacted => "Contacted",
            LeadStatus::Qualified => "Qualified",
            LeadStatus::Converted => "Converted",
            LeadStatus::Lost => "Lost",
            LeadStatus::Unassigned => "Unassigned",
            LeadStatus::Other => "Other",
        }
    }

    /// Parses a database value; `None` for anything unknown.
    pub fn parse(value: &str) -> Option<LeadStatus> {
        LeadStatus::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Whether the lead is still being worked (not converted, lost or unassigned).
    pub fn is_open(self) -> bool {
        matches!(self, LeadStatus::New | LeadStatus::Contacted | LeadStatus::Qualified)
    }
}

/// Why a lead went to a caller (`assignment_logs.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentReason {
    StateMatch,
    Global,
    Overflow,
    Backlog,
    Manual,
    SlaReassign,
    /// A value this build does not know yet.
    #[default]
    #[serde(other)]
    Other,
}

impl AssignmentReason {
    /// A human label for the UI.
    pub fn label(self) -> &'static str {
        match self {
            AssignmentReason::StateMatch => "State match",
            AssignmentReason::Global => "Global pool",
            AssignmentReason::Overflow => "Overflow",
            AssignmentReason::Backlog => "Backlog",
            AssignmentReason::Manual => "Manual reassignment",
            AssignmentReason::SlaReassign => "SLA reassignment",
            AssignmentReason::Other => "Other",
        }
    }
}

/// A team member's role (`team_members.role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Caller,
    /// A value this build does not know; treated as no access.
    #[default]
    #[serde(other)]
    Other,
}

/// An incoming prospect (`public.leads`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Lead {
    pub id: i64,
    /// E.164, e.g. `+919876543210`.
    pub phone: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// ISO 3166-2:IN code without `IN-` (`MH`), or the raw text when unknown.
    pub state: Option<String>,
    pub city: Option<String>,
    /// ISO 639-1 code (`hi`).
    pub language: Option<String>,
    pub source: Option<String>,
    pub metadata: serde_json::Value,
    pub status: LeadStatus,
    pub caller_id: Option<i64>,
    pub assigned_at: Option<String>,
    pub contacted_at: Option<String>,
    pub qualified_at: Option<String>,
    pub converted_at: Option<String>,
    pub lost_at: Option<String>,
    pub status_changed_at: Option<String>,
    pub notes: Option<String>,
    pub duplicate_count: i32,
    pub last_duplicate_at: Option<String>,
    pub reassign_count: i32,
    pub created_at: String,
    pub updated_at: String,
}

/// A sales caller (`public.callers`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Caller {
    pub id: i64,
    pub name: String,
    /// Login email, shown in the UI.
    pub email: Option<String>,
    pub user_id: Option<String>,
    pub active: bool,
    pub paused_until: Option<String>,
    pub assigned_states: Vec<String>,
    pub languages: Vec<String>,
    pub daily_lead_limit: i32,
    pub weight: i32,
    pub last_assigned_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Default for Caller {
    fn default() -> Self {
        Caller {
            id: 0,
            name: String::new(),
            email: None,
            user_id: None,
            active: true,
            paused_until: None,
            assigned_states: Vec::new(),
            languages: Vec::new(),
            daily_lead_limit: 50,
            weight: 1,
            last_assigned_at: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }
}

/// Leads assigned to a caller on one local day (`public.caller_daily_loads`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CallerDailyLoad {
    pub caller_id: i64,
    /// `YYYY-MM-DD` in `settings.time_zone`.
    pub day: String,
    pub assigned: i32,
}

/// Who may use the app and how (`public.team_members`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TeamMember {
    pub user_id: String,
    pub role: Role,
    pub caller_id: Option<i64>,
    pub created_at: String,
}

/// One caller the engine considered for a lead, as it stood at decision time.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Candidate {
    pub caller_id: i64,
    pub name: Option<String>,
    pub assigned_today: i32,
    pub daily_lead_limit: i32,
    pub weight: i32,
}

/// One routing decision for a lead (`public.assignment_logs`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AssignmentLog {
    pub id: i64,
    pub lead_id: i64,
    pub caller_id: Option<i64>,
    pub previous_caller_id: Option<i64>,
    pub reason: AssignmentReason,
    pub tier: Option<i32>,
    #[serde(deserialize_with = "lenient_candidates")]
    pub candidates: Vec<Candidate>,
    pub note: Option<String>,
    pub created_at: String,
}

/// The single settings row (`public.settings`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub time_zone: String,
    pub duplicate_window: Option<String>,
    pub sla_minutes: i32,
    pub max_reassignments: i32,
    pub updated_at: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            time_zone: "Asia/Kolkata".to_owned(),
            duplicate_window: None,
            sla_minutes: 120,
            max_reassignments: 3,
            updated_at: None,
        }
    }
}

/// `candidates` is free-form `jsonb`; anything that is not an array of
/// candidate objects decodes as an empty list instead of failing the row.
fn lenient_candidates<'de, D>(deserializer: D) -> Result<Vec<Candidate>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    let serde_json::Value::Array(items) = value else {
        return Ok(Vec::new());
    };
    Ok(items
        .into_iter()
        .filter_map(|item| serde_json::from_value(item).ok())
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_lead_row_from_postgrest_decodes_with_every_column() {
        let row = serde_json::json!({
            "id": 7, "phone": "+919876543210", "name": "Asha", "email": null,
            "state": "MH", "city": null, "language": "hi", "source": "sheet",
            "metadata": {"row": 4}, "status": "contacted", "caller_id": 3,
            "assigned_at": "2026-11-25T10:00:00+00:00", "duplicate_count": 1,
            "reassign_count": 0, "created_at": "2026-11-25T10:00:00+00:00",
            "updated_at": "2026-11-25T10:05:00+00:00", "notes": "call back"
        });
        let lead: Lead = serde_json::from_value(row).unwrap();
        assert_eq!(lead.status, LeadStatus::Contacted);
        assert_eq!(lead.caller_id, Some(3));
        assert_eq!(lead.metadata["row"], 4);
    }

    #[test]
    fn an_unknown_status_decodes_as_other_instead_of_failing() {
        let lead: Lead = serde_json::from_value(serde_json::json!({"id": 1, "status": "archived"})).unwrap();
        assert_eq!(lead.status, LeadStatus::Other);
    }

    #[test]
    fn a_partial_select_decodes_with_defaults() {
        let caller: Caller = serde_json::from_value(serde_json::json!({"id": 2, "name": "Ravi"})).unwrap();
        assert!(caller.active);
        assert_eq!(caller.daily_lead_limit, 50);
    }

    #[test]
    fn malformed_candidates_decode_as_an_empty_list() {
        let log: AssignmentLog = serde_json::from_value(serde_json::json!({
            "id": 1, "lead_id": 2, "reason": "state_match", "candidates": {"oops": true}
        }))
        .unwrap();
        assert!(log.candidates.is_empty());
        assert_eq!(log.reason, AssignmentReason::StateMatch);
    }

    #[test]
    fn candidates_keep_the_well_formed_entries() {
        let log: AssignmentLog = serde_json::from_value(serde_json::json!({
            "id": 1, "lead_id": 2, "reason": "sla_reassign",
            "candidates": [{"caller_id": 4, "name": "Meera", "assigned_today": 3, "daily_lead_limit": 10, "weight": 2}, "junk"]
        }))
        .unwrap();
        assert_eq!(log.candidates.len(), 1);
        assert_eq!(log.candidates[0].name.as_deref(), Some("Meera"));
        assert_eq!(log.reason, AssignmentReason::SlaReassign);
    }

    #[test]
    fn status_values_round_trip_through_parse() {
        for status in LeadStatus::ALL {
            assert_eq!(LeadStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(LeadStatus::parse("archived"), None);
    }
}
