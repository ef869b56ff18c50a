//! Matching what a sender posted to the fields of a lead.
//!
//! Senders name columns freely (`Phone Number`, `phone_number`, `MOBILE`), and
//! Google Sheets rows arrive with numbers as numbers or numeric strings and
//! blank cells as `""`. Keys are compared ignoring case, spaces, underscores,
//! hyphens and dots. Anything that is not a lead field goes into `metadata`
//! untouched, so nothing the sender sent is dropped.

use serde_json::{Map, Value};

/// A column of a lead that a sender's key can map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadField {
    Name,
    FirstName,
    LastName,
    Phone,
    Email,
    State,
    City,
    Language,
    Source,
}

/// The lead field a sender's key stands for, if any.
pub fn match_field(key: &str) -> Option<LeadField> {
    let k: String = key
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect();
    Some(match k.as_str() {
        "name" | "fullname" | "leadname" | "customername" => LeadField::Name,
        "firstname" | "givenname" => LeadField::FirstName,
        "lastname" | "surname" | "familyname" => LeadField::LastName,
        "phone" | "phonenumber" | "phoneno" | "mobile" | "mobilenumber" | "mobileno" | "contact"
        | "contactnumber" | "contactno" | "whatsapp" | "whatsappnumber" | "whatsappno" => LeadField::Phone,
        "email" | "emailaddress" | "emailid" | "mail" => LeadField::Email,
        "state" | "region" | "province" => LeadField::State,
        "city" | "town" => LeadField::City,
        "language" | "lang" | "preferredlanguage" => LeadField::Language,
        "source" | "utmsource" | "leadsource" => LeadField::Source,
        _ => return None,
    })
}

/// A lead as sent, fields matched but not yet normalized.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawLead {
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub state: Option<String>,
    pub city: Option<String>,
    pub language: Option<String>,
    pub source: Option<String>,
    /// Every key that is not a lead field (and any second value for a field
    /// already filled), as sent.
    pub metadata: Map<String, Value>,
}

impl RawLead {
    /// Matches the keys of a JSON object.
    pub fn from_json_object(object: &Map<String, Value>) -> Self {
        let mut lead = RawLead::default();
        for (key, value) in object {
            lead.put(key, value.clone());
        }
        lead
    }

    /// Matches `application/x-www-form-urlencoded` pairs.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let mut lead = RawLead::default();
        for (key, value) in pairs {
            lead.put(key.as_ref(), Value::String(value.into()));
        }
        lead
    }

    /// The full name: `name`, or first and last name joined.
    pub fn full_name(&self) -> Option<String> {
        if let Some(name) = &self.name {
            return Some(name.clone());
        }
        let joined = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        (!joined.is_empty()).then_some(joined)
    }

    fn put(&mut self, key: &str, value: Value) {
        let key = &storable_text(key);
        let value = storable(value);
        let Some(field) = match_field(key) else {
            self.metadata.insert(key.to_owned(), value);
            return;
        };
        let Some(text) = cell_text(&value) else {
            // Blank cells carry nothing; objects and arrays are not a field's value.
            if !is_blank(&value) {
                self.metadata.insert(key.to_owned(), value);
            }
            return;
        };
        let slot = match field {
            LeadField::Name => &mut self.name,
            LeadField::FirstName => &mut self.first_name,
            LeadField::LastName => &mut self.last_name,
            LeadField::Phone => &mut self.phone,
            LeadField::Email => &mut self.email,
            LeadField::State => &mut self.state,
            LeadField::City => &mut self.city,
            LeadField::Language => &mut self.language,
            LeadField::Source => &mut self.source,
        };
        if slot.is_none() {
            *slot = Some(text);
        } else {
            self.metadata.insert(key.to_owned(), value);
        }
    }
}

/// Deepest nesting kept as JSON inside a lead's metadata; deeper parts are
/// kept as their JSON text. The lead travels to the database nested a few
/// levels further, and PostgREST reads at most 128.
pub const MAX_METADATA_DEPTH: usize = 32;

/// `value` as PostgreSQL can store it: `\u0000` cannot be in `text` or
/// `jsonb`, so NUL characters are dropped from strings and keys, and
/// nesting deeper than [`MAX_METADATA_DEPTH`] is kept as JSON text.
pub fn storable(value: Value) -> Value {
    storable_at(value, 0)
}

/// `text` without NUL characters.
pub fn storable_text(text: &str) -> String {
    text.replace('\0', "")
}

fn storable_at(value: Value, depth: usize) -> Value {
    match value {
        Value::String(s) if s.contains('\0') => Value::String(storable_text(&s)),
        Value::Array(_) | Value::Object(_) if depth >= MAX_METADATA_DEPTH => Value::String(storable_text(&value.to_string())),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| storable_at(v, depth + 1)).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (storable_text(&k), storable_at(v, depth + 1))).collect())
        }
        other => other,
    }
}

/// The text of a spreadsheet-style cell: trimmed strings, numbers written
/// without a spurious fraction (`9876543210.0` is `9876543210`), booleans.
/// Blank strings and `null` are `None`; so are arrays and objects.
pub fn cell_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => {
            let t = s.trim();
            (!t.is_empty()).then(|| t.to_owned())
        }
        Value::Number(n) => Some(match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e18 => format!("{}", f as i64),
            _ => n.to_string(),
        }),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn keys_match_ignoring_case_spaces_and_underscores() {
        for key in ["phone", "Phone Number", "phone_number", "MOBILE", " Mobile  Number ", "contact", "WhatsApp"] {
            assert_eq!(match_field(key), Some(LeadField::Phone), "{key}");
        }
        assert_eq!(match_field("Full Name"), Some(LeadField::Name));
        assert_eq!(match_field("first_name"), Some(LeadField::FirstName));
        assert_eq!(match_field("Region"), Some(LeadField::State));
        assert_eq!(match_field("Preferred Language"), Some(LeadField::Language));
        assert_eq!(match_field("utm_source"), Some(LeadField::Source));
        assert_eq!(match_field("budget"), None);
    }

    #[test]
    fn unknown_keys_go_to_metadata_unchanged() {
        let lead = RawLead::from_json_object(&object(json!({
            "phone": "9876543210", "Budget": 50000, "tags": ["a", "b"], "notes": ""
        })));
        assert_eq!(lead.phone.as_deref(), Some("9876543210"));
        assert_eq!(lead.metadata.get("Budget"), Some(&json!(50000)));
        assert_eq!(lead.metadata.get("tags"), Some(&json!(["a", "b"])));
        assert_eq!(lead.metadata.get("notes"), Some(&json!("")));
    }

    #[test]
    fn a_google_sheets_row_with_numbers_and_blank_cells_is_read() {
        let lead = RawLead::from_json_object(&object(json!({
            "Full Name": "Asha Rao", "Mobile Number": 919876543210u64, "State": "  ",
            "City": "Pune", "Email": "", "__ROW_NUMBER__": 7
        })));
        assert_eq!(lead.full_name().as_deref(), Some("Asha Rao"));
        assert_eq!(lead.phone.as_deref(), Some("919876543210"));
        assert_eq!(lead.state, None);
        assert_eq!(lead.email, None);
        assert_eq!(lead.city.as_deref(), Some("Pune"));
        assert_eq!(lead.metadata.get("__ROW_NUMBER__"), Some(&json!(7)));
        assert!(!lead.metadata.contains_key("State"), "blank cells are not kept");
    }

    #[test]
    fn a_float_cell_loses_its_spurious_fraction() {
        assert_eq!(cell_text(&json!(9876543210.0)).as_deref(), Some("9876543210"));
        assert_eq!(cell_text(&json!(1.5)).as_deref(), Some("1.5"));
        assert_eq!(cell_text(&json!(null)), None);
        assert_eq!(cell_text(&json!(" x ")).as_deref(), Some("x"));
    }

    #[test]
    fn first_and_last_name_are_joined_when_there_is_no_full_name() {
        let lead = RawLead::from_pairs([("First Name", "Asha"), ("last_name", "Rao"), ("phone", "1")]);
        assert_eq!(lead.full_name().as_deref(), Some("Asha Rao"));
    }

    #[test]
    fn nul_characters_are_dropped_and_deep_metadata_is_kept_as_text() {
        let deep = (0..40).fold(json!(1), |inner, _| json!([inner]));
        let lead = RawLead::from_json_object(&object(json!({
            "phone": "98765\u{0}43210", "name": "A\u{0}sha", "no\u{0}tes": ["x\u{0}y"], "deep": deep
        })));
        assert_eq!(lead.phone.as_deref(), Some("9876543210"));
        assert_eq!(lead.name.as_deref(), Some("Asha"));
        assert_eq!(lead.metadata.get("notes"), Some(&json!(["xy"])));
        let mut kept = &lead.metadata["deep"];
        for _ in 0..MAX_METADATA_DEPTH {
            kept = &kept[0];
        }
        assert_eq!(kept, &json!("[[[[[[[[1]]]]]]]]"), "nesting past the limit is kept as text");
    }

    #[test]
    fn a_second_value_for_a_filled_field_is_kept_in_metadata() {
        let lead = RawLead::from_pairs([("phone", "9876543210"), ("whatsapp", "9123456789")]);
        assert_eq!(lead.phone.as_deref(), Some("9876543210"));
        assert_eq!(lead.metadata.get("whatsapp"), Some(&json!("9123456789")));
    }
}
