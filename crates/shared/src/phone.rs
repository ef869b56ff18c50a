//! Phone numbers to E.164, with the `phonenumber` crate (libphonenumber's
//! metadata). Behind the `phone` feature: the metadata is large and the web
//! app does not need it.
//!
//! With the default region `IN`, `+91 98765-43210`, `098765 43210`,
//! `9876543210`, `91 9876543210` and `0091 98765 43210` are all `+919876543210`.

use std::fmt;
use std::str::FromStr;

mod validity;

use phonenumber::country::Id;
#[cfg(test)]
use phonenumber::Mode;

/// The region assumed for numbers written without a country code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneRegion(Id);

impl PhoneRegion {
    /// India, the default.
    pub const IN: PhoneRegion = PhoneRegion(Id::IN);

    /// The two-letter CLDR region code, e.g. `IN`.
    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

impl Default for PhoneRegion {
    fn default() -> Self {
        PhoneRegion::IN
    }
}

impl FromStr for PhoneRegion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let code = s.trim().to_ascii_uppercase();
        if code.len() != 2 {
            return Err(format!("{s:?} is not a two-letter region code such as IN"));
        }
        Id::from_str(&code)
            .map(PhoneRegion)
            .map_err(|_| format!("{s:?} is not a known region code"))
    }
}

impl fmt::Display for PhoneRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why a phone number was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneError {
    /// Not a phone number at all (letters, too short, too long).
    Unparseable,
    /// Parsed, but no such number exists in the numbering plan.
    Invalid,
}

impl fmt::Display for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhoneError::Unparseable => f.write_str("is not a phone number"),
            PhoneError::Invalid => f.write_str("is not a valid phone number"),
        }
    }
}

impl std::error::Error for PhoneError {}

/// Fewest and most digits of an E.164 number, country code included (the
/// `leads.phone` check: `^\+[1-9][0-9]{6,14}$`).
pub const E164_DIGITS: std::ops::RangeInclusive<usize> = 7..=15;

/// Normalizes `input` to E.164 (`+919876543210`).
///
/// A number without `+` is read in `region`. When that reading is invalid but
/// the digits start with the region's own country code (`91 9876543210`, as
/// spreadsheets drop the `+`), it is read as international; other country
/// codes need their `+` (or `00`), so `98…` is never taken for Iran.
///
/// libphonenumber accepts a few numbers longer than E.164 allows (German
/// ones of 16 digits, `+4916400000000000`); those are [`PhoneError::Invalid`]
/// here, so the database's check never sees them.
pub fn normalize(input: &str, region: PhoneRegion) -> Result<String, PhoneError> {
    let number = read(input, region)?;
    let e164 = e164(&number);
    let digits = e164.strip_prefix('+').unwrap_or_default();
    if !(E164_DIGITS.contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())) {
        return Err(PhoneError::Invalid);
    }
    // The phonenumber crate does not always read its own E.164 output back
    // as the same number: "0078330000000" read in GB is +7 8330000000, but
    // "+78330000000" loses Russia's national prefix 8 and is invalid. A
    // number is accepted only if its E.164 form reads back as itself, so
    // what is stored is a fixed point (and, read without a region since it
    // starts with `+`, the same in every region).
    if e164 != input.trim() && !reads_back_as(&e164, &number) {
        return Err(PhoneError::Invalid);
    }
    Ok(e164)
}

/// Whether `e164`, read as every `+` number is (without a region), is
/// `number` again: the same country code and the same national number,
/// leading zeros included. Those two are all `phonenumber::is_valid` looks
/// at, so the number read back is exactly as valid as `number` and is not
/// checked again (the crate's check was ~85% of a reading's cost;
/// docs/benchmarks.md, "Phone normalization").
fn reads_back_as(e164: &str, number: &phonenumber::PhoneNumber) -> bool {
    phonenumber::parse(None, e164)
        .is_ok_and(|again| again.country().code() == number.country().code() && again.national() == number.national())
}

/// Reads `input` (see [`normalize`]) as a valid number.
fn read(input: &str, region: PhoneRegion) -> Result<phonenumber::PhoneNumber, PhoneError> {
    let input = input.trim();
    if input.is_empty() || input.chars().any(|c| c.is_alphabetic()) {
        return Err(PhoneError::Unparseable);
    }
    // A number written with `+` names its own country, so it is read without
    // a region: given one, the phonenumber crate strips that region's
    // national prefix after the country code for some regions ("+39015000"
    // is Italy's 015000 read alone or with SG or US, but an invalid 15000
    // with IN or GB), so the same E.164 number was valid in one region and
    // refused in another.
    let first = phonenumber::parse(if input.starts_with('+') { None } else { Some(region.0) }, input);
    match first {
        Ok(number) if validity::is_valid(&number) => return Ok(number),
        _ => {}
    }
    if !input.starts_with('+') {
        let digits: String = input.chars().filter(char::is_ascii_digit).collect();
        let digits = digits.trim_start_matches('0');
        let country_code = phonenumber::metadata::DATABASE
            .by_id(region.code())
            .map(|m| m.country_code().to_string());
        if country_code.is_some_and(|cc| digits.starts_with(&cc)) {
            if let Ok(number) = phonenumber::parse(None, format!("+{digits}")) {
                if validity::is_valid(&number) {
                    return Ok(number);
                }
            }
        }
    }
    match first {
        Ok(_) => Err(PhoneError::Invalid),
        Err(_) => Err(PhoneError::Unparseable),
    }
}

/// A valid number in E.164: what `number.format().mode(Mode::E164)` writes,
/// `+`, the country code and the national number with its leading zeros,
/// without the formatter's search for a national layout (which E.164 never
/// uses, and which cost a third of a lead's normalization).
fn e164(number: &phonenumber::PhoneNumber) -> String {
    format!("+{}{}", number.country().code(), number.national())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_common_indian_spellings_are_one_e164_number() {
        for input in [
            "+91 98765-43210",
            "098765 43210",
            "9876543210",
            "91 9876543210",
            "919876543210",
            "+919876543210",
            "0091 98765 43210",
            " (+91) 98765 43210 ",
        ] {
            assert_eq!(normalize(input, PhoneRegion::IN).as_deref(), Ok("+919876543210"), "{input}");
        }
    }

    #[test]
    fn a_number_with_a_foreign_country_code_keeps_it() {
        assert_eq!(normalize("+1 650-253-0000", PhoneRegion::IN).as_deref(), Ok("+16502530000"));
        assert_eq!(normalize("+44 20 7946 0958", PhoneRegion::IN).as_deref(), Ok("+442079460958"));
    }

    #[test]
    fn a_number_written_with_a_plus_reads_the_same_in_every_region() {
        // Found by fuzz_normalize: Singapore's international prefix 000 read
        // "00039015000" as +39 015000, and that E.164 number was refused
        // when read again with IN or GB as the default region.
        let sg: PhoneRegion = "SG".parse().unwrap();
        assert_eq!(normalize("00039015000", sg).as_deref(), Ok("+39015000"));
        for region in ["IN", "GB", "SG", "US", "AE", "DE", "NP", "BD"] {
            let region: PhoneRegion = region.parse().unwrap();
            assert_eq!(normalize("+39015000", region).as_deref(), Ok("+39015000"), "{region:?}");
            assert_eq!(normalize("+39 06 6988 3000", region).as_deref(), Ok("+390669883000"), "{region:?}");
            assert_eq!(normalize("+91 98765 43210", region).as_deref(), Ok("+919876543210"), "{region:?}");
        }
    }

    #[test]
    fn a_number_whose_e164_form_does_not_read_back_as_itself_is_refused() {
        // Found by fuzz_normalize: read in GB this is +7 8330000000, but the
        // crate reads "+78330000000" as an invalid Russian number.
        let gb: PhoneRegion = "GB".parse().unwrap();
        assert_eq!(normalize("0078330000000", gb), Err(PhoneError::Invalid));
        assert_eq!(normalize("+78330000000", gb), Err(PhoneError::Invalid));
    }

    #[test]
    fn the_default_region_reads_national_numbers() {
        let us: PhoneRegion = "us".parse().unwrap();
        assert_eq!(normalize("(650) 253-0000", us).as_deref(), Ok("+16502530000"));
    }

    #[test]
    fn words_and_fragments_are_refused() {
        assert!(normalize("call me", PhoneRegion::IN).is_err());
        assert!(normalize("12", PhoneRegion::IN).is_err());
        assert!(normalize("", PhoneRegion::IN).is_err());
    }

    #[test]
    fn a_number_that_cannot_exist_is_invalid() {
        assert_eq!(normalize("98765", PhoneRegion::IN), Err(PhoneError::Invalid));
        assert_eq!(normalize("987654321012", PhoneRegion::IN), Err(PhoneError::Invalid));
        assert!(normalize("0000000000", PhoneRegion::IN).is_err());
    }

    #[test]
    fn a_number_longer_than_e164_allows_is_invalid() {
        assert_eq!(normalize("+4916400000000000", PhoneRegion::IN), Err(PhoneError::Invalid));
        assert_eq!(normalize("032000000000000", "DE".parse().unwrap()), Err(PhoneError::Invalid));
    }

    /// [`e164`] writes exactly what libphonenumber's E.164 formatter writes,
    /// for every valid number among many generated spellings in several
    /// regions (leading zeros, Italian-style zeros, short and long numbers).
    #[test]
    fn e164_is_what_the_formatter_writes_for_every_valid_number() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let regions = ["IN", "US", "GB", "DE", "IT", "AE", "SG", "BR"];
        let prefixes = ["", "0", "00", "+", "+91", "+39 0", "91", "+1 ", "+44 0", "+49 "];
        let mut valid = 0;
        for _ in 0..1_500 {
            let region: PhoneRegion = regions[(next() % regions.len() as u64) as usize].parse().unwrap();
            let digits: String = (0..(5 + next() % 11)).map(|_| char::from(b'0' + (next() % 10) as u8)).collect();
            let input = format!("{}{digits}", prefixes[(next() % prefixes.len() as u64) as usize]);
            for number in [phonenumber::parse(Some(region.0), &input), phonenumber::parse(None, format!("+{digits}"))] {
                let Ok(number) = number else { continue };
                if phonenumber::is_valid(&number) {
                    valid += 1;
                    assert_eq!(e164(&number), number.format().mode(Mode::E164).to_string(), "{input} in {region}");
                }
            }
        }
        for input in ["+39 06 6982 0000", "+39 333 123 4567", "+919876543210", "+16502530000", "+442079460958"] {
            let number = phonenumber::parse(None, input).unwrap();
            assert!(phonenumber::is_valid(&number), "{input}");
            assert_eq!(e164(&number), number.format().mode(Mode::E164).to_string(), "{input}");
            valid += 1;
        }
        assert!(valid > 100, "only {valid} valid numbers were compared");
    }

    #[test]
    fn region_codes_are_parsed_case_insensitively_and_checked() {
        assert_eq!("in".parse::<PhoneRegion>(), Ok(PhoneRegion::IN));
        assert!("XX".parse::<PhoneRegion>().is_err());
        assert!("India".parse::<PhoneRegion>().is_err());
    }
}
