//! Languages a lead may prefer, as lowercase ISO 639-1 codes.
//!
//! `leads.language` and `callers.languages` hold these codes. Senders write
//! `Hindi`, `hin`, `HI` or `हिंदी`; [`lookup`] maps all of them to `hi`.

use serde::Serialize;

/// One language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Language {
    /// Lowercase ISO 639-1 code, e.g. `hi`.
    pub code: &'static str,
    /// English display name, e.g. `Hindi`.
    pub name: &'static str,
    /// Name in the language itself.
    pub native_name: &'static str,
    /// Other spellings and ISO 639-2/3 codes.
    #[serde(skip)]
    pub aliases: &'static [&'static str],
}

const fn lang(
    code: &'static str,
    name: &'static str,
    native_name: &'static str,
    aliases: &'static [&'static str],
) -> Language {
    Language { code, name, native_name, aliases }
}

/// Languages of India's Eighth Schedule that have an ISO 639-1 code, plus
/// English; ordered by display name.
pub const LANGUAGES: &[Language] = &[
    lang("as", "Assamese", "অসমীয়া", &["asm", "asamiya"]),
    lang("bn", "Bengali", "বাংলা", &["ben", "bangla"]),
    lang("en", "English", "English", &["eng", "angrezi"]),
    lang("gu", "Gujarati", "ગુજરાતી", &["guj", "gujrati"]),
    lang("hi", "Hindi", "हिन्दी", &["hin", "हिंदी"]),
    lang("kn", "Kannada", "ಕನ್ನಡ", &["kan", "kanada", "kannad"]),
    lang("ks", "Kashmiri", "कॉशुर", &["kas"]),
    lang("ml", "Malayalam", "മലയാളം", &["mal"]),
    lang("mr", "Marathi", "मराठी", &["mar"]),
    lang("ne", "Nepali", "नेपाली", &["nep"]),
    lang("or", "Odia", "ଓଡ଼ିଆ", &["ori", "ory", "oriya", "odiya"]),
    lang("pa", "Punjabi", "ਪੰਜਾਬੀ", &["pan", "panjabi"]),
    lang("sa", "Sanskrit", "संस्कृतम्", &["san"]),
    lang("sd", "Sindhi", "سنڌي", &["snd"]),
    lang("ta", "Tamil", "தமிழ்", &["tam"]),
    lang("te", "Telugu", "తెలుగు", &["tel"]),
    lang("ur", "Urdu", "اردو", &["urd"]),
];

/// Looks up a language by code, English name, native name or alias,
/// ignoring case, spaces and punctuation.
pub fn lookup(input: &str) -> Option<&'static Language> {
    let key = match_key(input);
    if key.is_empty() {
        return None;
    }
    // Compared as they are keyed, without building each candidate's key:
    // this runs for every ingested lead.
    let is_key = |candidate: &str| key_chars(candidate).eq(key.chars());
    LANGUAGES.iter().find(|l| {
        l.code == key || is_key(l.name) || is_key(l.native_name) || l.aliases.iter().any(|a| is_key(a))
    })
}

/// The language with exactly this code.
pub fn by_code(code: &str) -> Option<&'static Language> {
    LANGUAGES.iter().find(|l| l.code.eq_ignore_ascii_case(code.trim()))
}

/// The English display name for a code, or the code itself when unknown.
pub fn display_name(code: &str) -> &str {
    by_code(code).map(|l| l.name).unwrap_or(code)
}

/// Lowercase, without whitespace and ASCII punctuation (combining marks of
/// Indic scripts are kept, so native names still match).
fn match_key(input: &str) -> String {
    key_chars(input).collect()
}

/// The characters of [`match_key`], without allocating.
fn key_chars(input: &str) -> impl Iterator<Item = char> + '_ {
    input.chars().filter(|c| !c.is_whitespace() && !c.is_ascii_punctuation()).flat_map(char::to_lowercase)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The allocation-free comparison finds exactly what comparing built
    /// keys finds, for every code, name, native name and alias spelled
    /// several ways.
    #[test]
    fn lookup_compares_keys_as_match_key_builds_them() {
        let reference = |input: &str| {
            let key = match_key(input);
            if key.is_empty() {
                return None;
            }
            LANGUAGES.iter().find(|l| {
                l.code == key
                    || match_key(l.name) == key
                    || match_key(l.native_name) == key
                    || l.aliases.iter().any(|a| match_key(a) == key)
            })
        };
        let mut inputs = vec!["", " ", "-", "Klingon", "HI", " english ", "हिंदी", "İ"];
        let spelled: Vec<String> = LANGUAGES
            .iter()
            .flat_map(|l| [l.code, l.name, l.native_name].into_iter().chain(l.aliases.iter().copied()))
            .flat_map(|k| [k.to_string(), k.to_uppercase(), format!(" {k}."), format!("{k}-x"), k.replace(' ', "")])
            .collect();
        inputs.extend(spelled.iter().map(String::as_str));
        for input in inputs {
            assert_eq!(lookup(input).map(|l| l.code), reference(input).map(|l| l.code), "{input:?}");
        }
    }

    #[test]
    fn names_codes_and_aliases_map_to_iso_639_1_codes() {
        for (input, code) in [
            ("Hindi", "hi"),
            ("HI", "hi"),
            ("hin", "hi"),
            ("हिंदी", "hi"),
            (" english ", "en"),
            ("Oriya", "or"),
            ("Odia", "or"),
            ("Bangla", "bn"),
            ("tamil", "ta"),
            ("Kannada", "kn"),
            ("marathi", "mr"),
        ] {
            assert_eq!(lookup(input).map(|l| l.code), Some(code), "{input}");
        }
    }

    #[test]
    fn unknown_and_blank_languages_are_not_found() {
        assert!(lookup("Klingon").is_none());
        assert!(lookup("  ").is_none());
    }

    #[test]
    fn every_code_is_two_lowercase_letters_and_unique() {
        let mut codes: Vec<_> = LANGUAGES.iter().map(|l| l.code).collect();
        assert!(codes.iter().all(|c| c.len() == 2 && c.chars().all(|ch| ch.is_ascii_lowercase())));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), LANGUAGES.len());
    }

    #[test]
    fn display_names_fall_back_to_the_code() {
        assert_eq!(display_name("ta"), "Tamil");
        assert_eq!(display_name("xx"), "xx");
    }
}
