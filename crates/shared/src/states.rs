//! Indian states and union territories.
//!
//! The canonical value stored in `leads.state` and `callers.assigned_states`
//! is the ISO 3166-2:IN subdivision code without its `IN-` prefix, as
//! published after the 2023 update (`CG`, `OD`, `TS`, `UK`, `DH`). The older
//! codes (`CT`, `OR`, `TG`, `UT`, `DN`, `DD`) and the usual vehicle
//! registration abbreviations are accepted as aliases, so `TG`, `Telangana`
//! and `telangana ` all map to `TS`.
//!
//! The web app uses [`STATES`] for its multi-select; the ingest service uses
//! [`lookup`] on whatever a sender typed.

use serde::Serialize;

/// Whether a subdivision is a state or a union territory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    State,
    UnionTerritory,
}

/// One state or union territory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct State {
    /// ISO 3166-2:IN code without `IN-`, e.g. `MH`.
    pub code: &'static str,
    /// Display name, e.g. `Maharashtra`.
    pub name: &'static str,
    pub kind: StateKind,
    /// Other spellings and abbreviations senders use (matched like names:
    /// case, spaces and punctuation are ignored).
    #[serde(skip)]
    pub aliases: &'static [&'static str],
}

const fn st(code: &'static str, name: &'static str, aliases: &'static [&'static str]) -> State {
    State { code, name, kind: StateKind::State, aliases }
}

const fn ut(code: &'static str, name: &'static str, aliases: &'static [&'static str]) -> State {
    State { code, name, kind: StateKind::UnionTerritory, aliases }
}

/// All 28 states and 8 union territories, ordered by display name.
pub const STATES: &[State] = &[
    ut("AN", "Andaman and Nicobar Islands", &["Andaman", "Andaman Nicobar", "Andaman and Nicobar", "A&N", "A and N Islands"]),
    st("AP", "Andhra Pradesh", &["Andhra"]),
    st("AR", "Arunachal Pradesh", &["Arunachal"]),
    st("AS", "Assam", &[]),
    st("BR", "Bihar", &[]),
    ut("CH", "Chandigarh", &[]),
    st("CG", "Chhattisgarh", &["CT", "Chattisgarh", "Chhatisgarh", "Chattisgarh State"]),
    ut(
        "DH",
        "Dadra and Nagar Haveli and Daman and Diu",
        &["DN", "DD", "DNHDD", "Dadra and Nagar Haveli", "Daman and Diu", "Dadra Nagar Haveli", "Daman", "Diu"],
    ),
    ut("DL", "Delhi", &["NCT of Delhi", "New Delhi", "National Capital Territory of Delhi", "Delhi NCT", "NCT"]),
    st("GA", "Goa", &[]),
    st("GJ", "Gujarat", &["Gujrat"]),
    st("HR", "Haryana", &[]),
    st("HP", "Himachal Pradesh", &["Himachal"]),
    ut("JK", "Jammu and Kashmir", &["J&K", "J and K", "Jammu Kashmir", "Kashmir", "Jammu"]),
    st("JH", "Jharkhand", &["JHK"]),
    st("KA", "Karnataka", &["Karnatak"]),
    st("KL", "Kerala", &["Keralam"]),
    ut("LA", "Ladakh", &["Ladak"]),
    ut("LD", "Lakshadweep", &["Lakshadeep"]),
    st("MP", "Madhya Pradesh", &[]),
    st("MH", "Maharashtra", &["Maharastra", "Maharashtr"]),
    st("MN", "Manipur", &[]),
    st("ML", "Meghalaya", &[]),
    st("MZ", "Mizoram", &[]),
    st("NL", "Nagaland", &[]),
    st("OD", "Odisha", &["OR", "Orissa", "Odissa"]),
    ut("PY", "Puducherry", &["Pondicherry", "Pondy"]),
    st("PB", "Punjab", &[]),
    st("RJ", "Rajasthan", &["Rajsthan"]),
    st("SK", "Sikkim", &[]),
    st("TN", "Tamil Nadu", &["Tamilnadu", "Tamizh Nadu"]),
    st("TS", "Telangana", &["TG", "Telengana", "Telangna"]),
    st("TR", "Tripura", &[]),
    st("UP", "Uttar Pradesh", &[]),
    st("UK", "Uttarakhand", &["UT", "UA", "Uttaranchal", "Uttrakhand", "Uttarkhand"]),
    st("WB", "West Bengal", &["Bengal", "Paschim Banga", "Paschimbanga"]),
];

/// Looks up a state or union territory by code, name or alias, ignoring
/// case, spaces and punctuation, and an `IN-` prefix (`in-mh`, `M.H.`,
/// `  tamil   nadu`).
pub fn lookup(input: &str) -> Option<&'static State> {
    let key = match_key(input);
    if key.is_empty() {
        return None;
    }
    let key = key.strip_prefix("in").filter(|rest| rest.len() == 2 && has_iso_prefix(input)).unwrap_or(&key);
    // Compared as they are keyed, without building each candidate's key:
    // this runs for every ingested lead.
    let is_key = |candidate: &str| key_chars(candidate).eq(key.chars());
    STATES.iter().find(|s| is_key(s.code) || is_key(s.name) || s.aliases.iter().any(|a| is_key(a)))
}

/// The subdivision with exactly this canonical code (`MH`).
pub fn by_code(code: &str) -> Option<&'static State> {
    STATES.iter().find(|s| s.code.eq_ignore_ascii_case(code.trim()))
}

/// The display name for a canonical code, or the code itself when unknown
/// (so a lead with an unrecognized state still shows what was sent).
pub fn display_name(code: &str) -> &str {
    by_code(code).map(|s| s.name).unwrap_or(code)
}

fn has_iso_prefix(input: &str) -> bool {
    let t = input.trim();
    // `get`, not indexing: byte 3 may fall inside a multi-byte character (`in«mh`).
    t.len() > 3 && t.get(..3).is_some_and(|prefix| prefix.eq_ignore_ascii_case("in-"))
}

/// Lowercase letters and digits only; `&` reads as "and".
fn match_key(input: &str) -> String {
    key_chars(input).collect()
}

/// The characters of [`match_key`], without allocating.
fn key_chars(input: &str) -> impl Iterator<Item = char> + '_ {
    input.chars().flat_map(|c| {
        let and = if c == '&' { "and" } else { "" };
        let kept = if c.is_alphanumeric() { Some(c) } else { None };
        and.chars().chain(kept.into_iter().flat_map(char::to_lowercase))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The allocation-free comparison finds exactly what comparing built
    /// keys finds, for every code, name and alias spelled several ways.
    #[test]
    fn lookup_compares_keys_as_match_key_builds_them() {
        let reference = |input: &str| {
            let key = match_key(input);
            if key.is_empty() {
                return None;
            }
            let key = key.strip_prefix("in").filter(|rest| rest.len() == 2 && has_iso_prefix(input)).unwrap_or(&key);
            STATES.iter().find(|s| {
                match_key(s.code) == key || match_key(s.name) == key || s.aliases.iter().any(|a| match_key(a) == key)
            })
        };
        let mut inputs = vec!["", " ", "&", "and", "Atlantis", "in-mh", "IN-MH", "M.H.", "  tamil   nadu", "in«mh", "İstanbul"];
        let spelled: Vec<String> = STATES
            .iter()
            .flat_map(|s| std::iter::once(s.code).chain(std::iter::once(s.name)).chain(s.aliases.iter().copied()))
            .flat_map(|k| [k.to_string(), k.to_uppercase(), k.replace(' ', ""), k.replace(" and ", " & "), format!(" {k}."), format!("IN-{k}"), format!("{k}x")])
            .collect();
        inputs.extend(spelled.iter().map(String::as_str));
        for input in inputs {
            assert_eq!(lookup(input).map(|s| s.code), reference(input).map(|s| s.code), "{input:?}");
        }
    }

    #[test]
    fn there_are_twenty_eight_states_and_eight_union_territories() {
        assert_eq!(STATES.iter().filter(|s| s.kind == StateKind::State).count(), 28);
        assert_eq!(STATES.iter().filter(|s| s.kind == StateKind::UnionTerritory).count(), 8);
    }

    #[test]
    fn codes_names_and_aliases_are_unambiguous() {
        let mut seen = std::collections::HashMap::new();
        for s in STATES {
            for key in std::iter::once(s.code).chain(std::iter::once(s.name)).chain(s.aliases.iter().copied()) {
                if let Some(other) = seen.insert(match_key(key), s.code) {
                    assert_eq!(other, s.code, "{key:?} maps to both {other} and {}", s.code);
                }
            }
        }
    }

    #[test]
    fn full_names_map_to_their_codes_in_any_case_and_spacing() {
        assert_eq!(lookup("Maharashtra").map(|s| s.code), Some("MH"));
        assert_eq!(lookup("  tamil   NADU ").map(|s| s.code), Some("TN"));
        assert_eq!(lookup("Andaman & Nicobar Islands").map(|s| s.code), Some("AN"));
        assert_eq!(lookup("jammu and kashmir").map(|s| s.code), Some("JK"));
    }

    #[test]
    fn common_abbreviations_map_to_codes() {
        for (input, code) in [("MH", "MH"), ("ka", "KA"), ("Tn", "TN"), ("DL", "DL"), ("U.P.", "UP"), ("up", "UP")] {
            assert_eq!(lookup(input).map(|s| s.code), Some(code), "{input}");
        }
    }

    #[test]
    fn retired_iso_codes_and_old_names_map_to_current_codes() {
        for (input, code) in [
            ("TG", "TS"),
            ("OR", "OD"),
            ("Orissa", "OD"),
            ("CT", "CG"),
            ("UT", "UK"),
            ("Uttaranchal", "UK"),
            ("Pondicherry", "PY"),
            ("Daman and Diu", "DH"),
        ] {
            assert_eq!(lookup(input).map(|s| s.code), Some(code), "{input}");
        }
    }

    #[test]
    fn an_iso_prefix_is_accepted() {
        assert_eq!(lookup("IN-MH").map(|s| s.code), Some("MH"));
        assert_eq!(lookup("in-ka").map(|s| s.code), Some("KA"));
    }

    #[test]
    fn a_multibyte_character_after_in_is_not_mistaken_for_a_prefix() {
        assert_eq!(lookup("in«mh"), None);
        assert_eq!(lookup("IN\u{a0}-DL"), None);
    }

    #[test]
    fn unknown_and_blank_states_are_not_found() {
        assert!(lookup("Atlantis").is_none());
        assert!(lookup("   ").is_none());
        assert!(lookup("").is_none());
    }

    #[test]
    fn display_names_come_from_codes_and_fall_back_to_the_input() {
        assert_eq!(display_name("MH"), "Maharashtra");
        assert_eq!(display_name("ts"), "Telangana");
        assert_eq!(display_name("Atlantis"), "Atlantis");
    }
}
