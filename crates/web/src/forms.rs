//! The caller form: what the inputs hold, and the checks that turn it into
//! the row sent to PostgREST, with one message per field.

use bloc_shared::records::Caller;
use bloc_shared::{languages, states};
use serde::Serialize;

use crate::time;

/// Largest daily lead limit the form accepts.
pub const MAX_DAILY_LIMIT: i32 = 10_000;
/// Largest weight the form accepts.
pub const MAX_WEIGHT: i32 = 100;

/// The caller form's raw values, as the inputs hold them.
#[derive(Debug, Clone, PartialEq)]
pub struct CallerForm {
    pub name: String,
    pub email: String,
    pub assigned_states: Vec<String>,
    pub languages: Vec<String>,
    pub daily_lead_limit: String,
    pub weight: String,
    pub active: bool,
    /// A `datetime-local` value, or empty.
    pub paused_until: String,
}

impl Default for CallerForm {
    fn default() -> Self {
        CallerForm {
            name: String::new(),
            email: String::new(),
            assigned_states: Vec::new(),
            languages: Vec::new(),
            daily_lead_limit: "50".to_owned(),
            weight: "1".to_owned(),
            active: true,
            paused_until: String::new(),
        }
    }
}

/// The validated row for `POST`/`PATCH /rest/v1/callers`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallerInput {
    pub name: String,
    pub email: Option<String>,
    pub assigned_states: Vec<String>,
    pub languages: Vec<String>,
    pub daily_lead_limit: i32,
    pub weight: i32,
    pub active: bool,
    /// UTC RFC 3339, or null.
    pub paused_until: Option<String>,
}

/// The form's fields, for attaching messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Email,
    States,
    Languages,
    DailyLeadLimit,
    Weight,
    PausedUntil,
}

/// One message per invalid field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldErrors(pub Vec<(Field, String)>);

impl FieldErrors {
    /// The message for a field, if it is invalid.
    pub fn get(&self, field: Field) -> Option<String> {
        self.0.iter().find(|(f, _)| *f == field).map(|(_, m)| m.clone())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(char::is_whitespace)
        && !domain.contains('@')
}

fn parse_bounded(text: &str, min: i32, max: i32, what: &str) -> Result<i32, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("Enter the {what}."));
    }
    match text.parse::<i32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(_) => Err(format!("The {what} must be between {min} and {max}.")),
        Err(_) => Err(format!("The {what} must be a whole number.")),
    }
}

impl CallerForm {
    /// The form filled from an existing caller.
    pub fn from_caller(caller: &Caller, offset_minutes: i32) -> CallerForm {
        CallerForm {
            name: caller.name.clone(),
            email: caller.email.clone().unwrap_or_default(),
            assigned_states: caller.assigned_states.clone(),
            languages: caller.languages.clone(),
            daily_lead_limit: caller.daily_lead_limit.to_string(),
            weight: caller.weight.to_string(),
            active: caller.active,
            paused_until: caller
                .paused_until
                .as_deref()
                .and_then(time::parse_timestamp)
                .map(|ms| time::datetime_local_value(ms, offset_minutes))
                .unwrap_or_default(),
        }
    }

    /// Checks every field; `offset_minutes` is the team's zone for `paused_until`.
    pub fn validate(&self, offset_minutes: i32) -> Result<CallerInput, FieldErrors> {
        let mut errors = Vec::new();
        let name = self.name.trim().to_owned();
        if name.is_empty() {
            errors.push((Field::Name, "Enter the caller's name.".to_owned()));
        } else if name.chars().count() > 100 {
            errors.push((Field::Name, "Keep the name under 100 characters.".to_owned()));
        }
        let email = self.email.trim().to_lowercase();
        if !email.is_empty() && !looks_like_email(&email) {
            errors.push((Field::Email, "Enter an email address like name@example.com.".to_owned()));
        }
        let mut assigned_states = Vec::new();
        for code in &self.assigned_states {
            match states::by_code(code) {
                Some(state) if !assigned_states.contains(&state.code.to_owned()) => assigned_states.push(state.code.to_owned()),
                Some(_) => {}
                None => errors.push((Field::States, format!("Unknown state code {code}."))),
            }
        }
        let mut langs = Vec::new();
        for code in &self.languages {
            match languages::by_code(code) {
                Some(language) if !langs.contains(&language.code.to_owned()) => langs.push(language.code.to_owned()),
                Some(_) => {}
                None => errors.push((Field::Languages, format!("Unknown language code {code}."))),
            }
        }
        let daily_lead_limit = parse_bounded(&self.daily_lead_limit, 0, MAX_DAILY_LIMIT, "daily lead limit")
            .map_err(|m| errors.push((Field::DailyLeadLimit, m)))
            .unwrap_or_default();
        let weight = parse_bounded(&self.weight, 1, MAX_WEIGHT, "weight")
            .map_err(|m| errors.push((Field::Weight, m)))
            .unwrap_or_default();
        let paused_until = if self.paused_until.trim().is_empty() {
            None
        } else {
            match time::parse_datetime_local(&self.paused_until, offset_minutes) {
                Some(ms) => Some(time::to_iso_utc(ms)),
                None => {
                    errors.push((Field::PausedUntil, "Enter a date and time, or leave it empty.".to_owned()));
                    None
                }
            }
        };
        if !errors.is_empty() {
            return Err(FieldErrors(errors));
        }
        Ok(CallerInput {
            name,
            email: (!email.is_empty()).then_some(email),
            assigned_states,
            languages: langs,
            daily_lead_limit,
            weight,
            active: self.active,
            paused_until,
        })
    }
}

impl CallerInput {
    /// The caller as it will look once saved, for showing an edit at once.
    pub fn apply_to(&self, caller: &Caller) -> Caller {
        Caller {
            name: self.name.clone(),
            email: self.email.clone(),
            assigned_states: self.assigned_states.clone(),
            languages: self.languages.clone(),
            daily_lead_limit: self.daily_lead_limit,
            weight: self.weight,
            active: self.active,
            paused_until: self.paused_until.clone(),
            ..caller.clone()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn filled() -> CallerForm {
        CallerForm {
            name: " Meera Nair ".into(),
            email: "Meera@Example.com".into(),
            assigned_states: vec!["KL".into(), "KA".into(), "KL".into()],
            languages: vec!["ml".into()],
            daily_lead_limit: "30".into(),
            weight: "2".into(),
            active: true,
            paused_until: "2026-11-25T10:00".into(),
        }
    }

    #[test]
    fn a_complete_form_becomes_a_trimmed_row() {
        let input = filled().validate(330).unwrap();
        assert_eq!(input.name, "Meera Nair");
        assert_eq!(input.email.as_deref(), Some("meera@example.com"));
        assert_eq!(input.assigned_states, ["KL", "KA"]);
        assert_eq!(input.paused_until.as_deref(), Some("2026-11-25T04:30:00.000Z"));
    }

    #[test]
    fn every_invalid_field_gets_its_own_message() {
        let form = CallerForm {
            name: "  ".into(),
            email: "not-an-email".into(),
            assigned_states: vec!["ZZ".into()],
            languages: vec!["xx".into()],
            daily_lead_limit: "-1".into(),
            weight: "heavy".into(),
            active: true,
            paused_until: "tomorrow".into(),
        };
        let errors = form.validate(0).unwrap_err();
        for field in [Field::Name, Field::Email, Field::States, Field::Languages, Field::DailyLeadLimit, Field::Weight, Field::PausedUntil] {
            assert!(errors.get(field).is_some(), "{field:?} has no message");
        }
        assert_eq!(errors.get(Field::DailyLeadLimit).unwrap(), "The daily lead limit must be between 0 and 10000.");
        assert_eq!(errors.get(Field::Weight).unwrap(), "The weight must be a whole number.");
    }

    #[test]
    fn an_empty_email_and_pause_are_sent_as_null() {
        let form = CallerForm { email: " ".into(), paused_until: String::new(), ..filled() };
        let input = form.validate(0).unwrap();
        assert_eq!((input.email, input.paused_until), (None, None));
    }

    #[test]
    fn a_caller_fills_the_form_and_an_edit_applies_back() {
        let caller = Caller { id: 5, name: "Ravi".into(), daily_lead_limit: 12, paused_until: Some("2026-11-25T04:30:00+00:00".into()), ..Caller::default() };
        let form = CallerForm::from_caller(&caller, 330);
        assert_eq!((form.daily_lead_limit.as_str(), form.paused_until.as_str()), ("12", "2026-11-25T10:00"));
        let edited = CallerForm { daily_lead_limit: "3".into(), ..form }.validate(330).unwrap().apply_to(&caller);
        assert_eq!((edited.id, edited.daily_lead_limit), (5, 3));
    }
}
