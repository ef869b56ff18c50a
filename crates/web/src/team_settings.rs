//! The settings page's data: the team settings, the zone list and the audit
//! entries, read by hand from the server's JSON, and the form's checks, one
//! message per field, with the bounds `update_settings()` enforces.

use serde_json::{json, Value};

/// Largest duplicate window, in minutes (a year).
pub const MAX_DUPLICATE_WINDOW_MINUTES: i64 = 525_600;
/// Largest SLA, in minutes (a week).
pub const MAX_SLA_MINUTES: i64 = 10_080;
/// Largest number of SLA reassignments.
pub const MAX_REASSIGNMENTS: i64 = 100;

/// The settings form's fields; `key` is the RPC's name for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsField {
    TimeZone,
    DuplicateWindow,
    Sla,
    MaxReassignments,
}

impl SettingsField {
    pub const ALL: [SettingsField; 4] =
        [SettingsField::TimeZone, SettingsField::DuplicateWindow, SettingsField::Sla, SettingsField::MaxReassignments];

    /// The field's name in `update_settings()`, `team_settings()` and the audit.
    pub fn key(self) -> &'static str {
        match self {
            SettingsField::TimeZone => "time_zone",
            SettingsField::DuplicateWindow => "duplicate_window_minutes",
            SettingsField::Sla => "sla_minutes",
            SettingsField::MaxReassignments => "max_reassignments",
        }
    }

    /// The label a person reads.
    pub fn label(self) -> &'static str {
        match self {
            SettingsField::TimeZone => "Time zone",
            SettingsField::DuplicateWindow => "Duplicate window (minutes)",
            SettingsField::Sla => "SLA (minutes)",
            SettingsField::MaxReassignments => "Maximum reassignments",
        }
    }

    /// The field an audit entry or a server message names.
    pub fn from_key(key: &str) -> Option<SettingsField> {
        SettingsField::ALL.into_iter().find(|f| f.key() == key)
    }
}

/// The form's raw values, as the inputs hold them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsForm {
    pub time_zone: String,
    pub duplicate_window_minutes: String,
    pub sla_minutes: String,
    pub max_reassignments: String,
}

/// One message per invalid field.
pub type SettingsErrors = Vec<(SettingsField, String)>;

fn whole(text: &str) -> Option<i64> {
    let text = text.trim();
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl SettingsForm {
    /// The form filled from `team_settings()`; `None` when a field is missing.
    pub fn read(value: &Value) -> Option<SettingsForm> {
        let number = |key: &str| value.get(key).filter(|v| v.is_number()).map(Value::to_string);
        Some(SettingsForm {
            time_zone: value.get("time_zone")?.as_str()?.to_owned(),
            duplicate_window_minutes: number("duplicate_window_minutes")?,
            sla_minutes: number("sla_minutes")?,
            max_reassignments: number("max_reassignments")?,
        })
    }

    /// The value held for `field`.
    pub fn value(&self, field: SettingsField) -> &str {
        match field {
            SettingsField::TimeZone => &self.time_zone,
            SettingsField::DuplicateWindow => &self.duplicate_window_minutes,
            SettingsField::Sla => &self.sla_minutes,
            SettingsField::MaxReassignments => &self.max_reassignments,
        }
    }

    /// Sets the value held for `field`.
    pub fn set(&mut self, field: SettingsField, value: String) {
        match field {
            SettingsField::TimeZone => self.time_zone = value,
            SettingsField::DuplicateWindow => self.duplicate_window_minutes = value,
            SettingsField::Sla => self.sla_minutes = value,
            SettingsField::MaxReassignments => self.max_reassignments = value,
        }
    }

    /// Checks every field; the result is `update_settings()`'s arguments.
    /// `zones` is the offered list (empty when it could not be loaded: the
    /// server then decides), and `current_zone` stays valid even when the
    /// list does not offer it (a legacy name set earlier).
    pub fn validate(&self, zones: &[Zone], current_zone: &str) -> Result<Value, SettingsErrors> {
        let mut errors = SettingsErrors::new();
        let zone = self.time_zone.trim();
        if zone.is_empty() {
            errors.push((SettingsField::TimeZone, "Choose a time zone.".to_owned()));
        } else if !zones.is_empty() && zone != current_zone && !zones.iter().any(|z| z.name == zone) {
            errors.push((SettingsField::TimeZone, format!("“{zone}” is not a time zone in the list.")));
        }
        let mut number = |field: SettingsField, min: i64, max: i64, what: &str| -> Option<i64> {
            let text = self.value(field);
            let message = if text.trim().is_empty() {
                format!("Enter {what}.")
            } else {
                match whole(text) {
                    None => "Enter a whole number.".to_owned(),
                    Some(n) if (min..=max).contains(&n) => return Some(n),
                    Some(_) => format!("{} must be between {min} and {max}.", capitalized(what)),
                }
            };
            errors.push((field, message));
            None
        };
        let window = number(SettingsField::DuplicateWindow, 0, MAX_DUPLICATE_WINDOW_MINUTES, "the duplicate window in minutes");
        let sla = number(SettingsField::Sla, 1, MAX_SLA_MINUTES, "the SLA in minutes");
        let reassignments = number(SettingsField::MaxReassignments, 0, MAX_REASSIGNMENTS, "the maximum reassignments");
        match (window, sla, reassignments) {
            (Some(window), Some(sla), Some(reassignments)) if errors.is_empty() => Ok(json!({
                "p_time_zone": zone,
                "p_duplicate_window_minutes": window,
                "p_sla_minutes": sla,
                "p_max_reassignments": reassignments,
            })),
            _ => Err(errors),
        }
    }
}

/// The server's messages are English, so an ASCII capital is enough (and
/// Unicode's case tables stay out of the bundle).
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => std::iter::once(first.to_ascii_uppercase()).chain(chars).collect(),
        None => String::new(),
    }
}

/// The field a refusal of `update_settings()` names (its message starts
/// with the field's key) and the rest of the message, for showing under
/// that field.
pub fn field_of_server_message(message: &str) -> Option<(SettingsField, String)> {
    let (key, rest) = message.split_once(' ')?;
    Some((SettingsField::from_key(key)?, capitalized(rest)))
}

/// A zone the settings page offers, with its UTC offset now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    pub offset_minutes: i32,
}

/// Reads `time_zone_names()`; entries that do not read are skipped.
pub fn read_zones(value: &Value) -> Vec<Zone> {
    value
        .as_array()
        .map(|zones| {
            zones
                .iter()
                .filter_map(|z| {
                    Some(Zone {
                        name: z.get("name")?.as_str()?.to_owned(),
                        offset_minutes: i32::try_from(z.get("utc_offset_minutes")?.as_i64()?).ok()?,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `UTC+05:30`, `UTC−05:00`, `UTC`.
pub fn offset_label(minutes: i32) -> String {
    if minutes == 0 {
        return "UTC".to_owned();
    }
    let sign = if minutes < 0 { '−' } else { '+' };
    let abs = minutes.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", abs / 60, abs % 60)
}

/// One row of `settings_audit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub changed_at: String,
    /// The email of whoever changed it, or `None` for a change made outside the app.
    pub who: Option<String>,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

impl AuditEntry {
    /// The field's label, or its key when the app does not know it.
    pub fn field_label(&self) -> &str {
        match SettingsField::from_key(&self.field) {
            Some(field) => field.label(),
            None => &self.field,
        }
    }
}

/// Reads `settings_audit` rows; rows that do not read are skipped.
pub fn read_audit(value: &Value) -> Vec<AuditEntry> {
    let text = |row: &Value, key: &str| row.get(key).and_then(Value::as_str).map(str::to_owned);
    value
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|row| {
                    Some(AuditEntry {
                        changed_at: text(row, "changed_at")?,
                        who: text(row, "changed_by_email"),
                        field: text(row, "field")?,
                        old_value: text(row, "old_value"),
                        new_value: text(row, "new_value"),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn zones() -> Vec<Zone> {
        read_zones(&json!([
            {"name": "America/New_York", "utc_offset_minutes": -300},
            {"name": "Asia/Kolkata", "utc_offset_minutes": 330},
            {"name": 7}
        ]))
    }

    fn form() -> SettingsForm {
        SettingsForm::read(&json!({"time_zone": "Asia/Kolkata", "duplicate_window_minutes": 1440,
                                    "sla_minutes": 120, "max_reassignments": 3, "updated_at": null}))
        .unwrap()
    }

    #[test]
    fn the_settings_read_into_the_form_and_validate_into_the_rpcs_arguments() {
        assert_eq!(zones().len(), 2, "an unreadable zone is skipped");
        let mut form = form();
        form.set(SettingsField::TimeZone, "America/New_York".to_owned());
        assert_eq!(
            form.validate(&zones(), "Asia/Kolkata").unwrap(),
            json!({"p_time_zone": "America/New_York", "p_duplicate_window_minutes": 1440, "p_sla_minutes": 120, "p_max_reassignments": 3})
        );
    }

    #[test]
    fn each_bad_field_gets_its_own_message() {
        let mut form = form();
        form.set(SettingsField::TimeZone, "Mars/Base".to_owned());
        form.set(SettingsField::DuplicateWindow, "-1".to_owned());
        form.set(SettingsField::Sla, "".to_owned());
        form.set(SettingsField::MaxReassignments, "2.5".to_owned());
        let errors = form.validate(&zones(), "Asia/Kolkata").unwrap_err();
        assert_eq!(
            errors,
            vec![
                (SettingsField::TimeZone, "“Mars/Base” is not a time zone in the list.".to_owned()),
                (SettingsField::DuplicateWindow, "The duplicate window in minutes must be between 0 and 525600.".to_owned()),
                (SettingsField::Sla, "Enter the SLA in minutes.".to_owned()),
                (SettingsField::MaxReassignments, "Enter a whole number.".to_owned()),
            ]
        );
    }

    #[test]
    fn the_bounds_match_update_settings_and_are_inclusive() {
        let cases = [(SettingsField::Sla, "0", false), (SettingsField::Sla, "1", true), (SettingsField::Sla, "10080", true),
                     (SettingsField::Sla, "10081", false), (SettingsField::MaxReassignments, "100", true),
                     (SettingsField::MaxReassignments, "101", false), (SettingsField::DuplicateWindow, "0", true),
                     (SettingsField::DuplicateWindow, "525601", false), (SettingsField::Sla, "99999999999", false)];
        for (field, value, ok) in cases {
            let mut form = form();
            form.set(field, value.to_owned());
            assert_eq!(form.validate(&zones(), "Asia/Kolkata").is_ok(), ok, "{field:?} = {value}");
        }
    }

    #[test]
    fn the_current_zone_stays_valid_and_without_a_list_the_server_decides() {
        let mut form = form();
        form.set(SettingsField::TimeZone, "Asia/Calcutta".to_owned());
        assert!(form.validate(&zones(), "Asia/Calcutta").is_ok(), "a legacy name already set");
        assert!(form.validate(&[], "Asia/Kolkata").is_ok(), "no list loaded");
        form.set(SettingsField::TimeZone, " ".to_owned());
        assert_eq!(form.validate(&[], "Asia/Kolkata").unwrap_err(), vec![(SettingsField::TimeZone, "Choose a time zone.".to_owned())]);
    }

    #[test]
    fn a_server_refusal_is_shown_under_the_field_it_names() {
        assert_eq!(
            field_of_server_message("sla_minutes must be from 1 to 10080 (a week), got 0"),
            Some((SettingsField::Sla, "Must be from 1 to 10080 (a week), got 0".to_owned()))
        );
        assert_eq!(field_of_server_message("only admins can change the settings"), None);
    }

    #[test]
    fn offsets_read_as_utc_plus_or_minus_hours_and_minutes() {
        assert_eq!([330, -300, 0, 345, -570].map(offset_label), ["UTC+05:30", "UTC−05:00", "UTC", "UTC+05:45", "UTC−09:30"]);
    }

    #[test]
    fn audit_rows_read_with_a_missing_email_and_unknown_fields_kept() {
        let entries = read_audit(&json!([
            {"changed_at": "2026-11-30T10:00:00+00:00", "changed_by_email": "a@x.test", "field": "sla_minutes", "old_value": "120", "new_value": "30"},
            {"changed_at": "2026-11-30T09:00:00+00:00", "changed_by_email": null, "field": "colour", "old_value": null, "new_value": "red"},
            {"field": "no time"}
        ]));
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].field_label(), entries[0].who.as_deref()), ("SLA (minutes)", Some("a@x.test")));
        assert_eq!((entries[1].field_label(), entries[1].who.as_deref()), ("colour", None));
    }
}
