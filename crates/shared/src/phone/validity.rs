//! `phonenumber::is_valid`, answered with each region's patterns compiled
//! once.
//!
//! The crate keeps its compiled patterns in one regex cache shared by the
//! process: every match locks it and hashes the pattern's text (some are
//! kilobytes) to find its regex, and a validity check makes a dozen of them.
//! That was most of a lead's normalization, and ~40% of the ingest service's
//! own CPU under load (docs/benchmarks.md). Here each region's patterns are
//! compiled on first use, from the crate's own metadata with the crate's own
//! regex options, and kept by region; the decision is the crate's
//! `is_valid`, step for step:
//!
//! 1. the region is the only one of the country code, or, for a code shared
//!    by several (`+1`, `+7`, `+44`), the first whose leading digits start
//!    the national number, or, for one without leading digits, whose
//!    patterns accept it;
//! 2. the number is valid if the region's general pattern accepts it and so
//!    does the pattern of any number type.
//!
//! A pattern accepts a national number when its length is one of the
//! pattern's possible lengths (if it lists any) and a match starts at its
//! first digit. The tests compare this with the crate on every kind of
//! number; a region whose patterns do not compile here (none do) is left to
//! the crate.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use phonenumber::metadata::{Descriptor, Metadata, DATABASE};
use phonenumber::{PhoneNumber, Type};
use regex::{Regex, RegexBuilder};

/// The types the crate's `number_type` tries after the general pattern, in
/// its order; the first that matches is the number's type, and any makes it
/// valid.
const TYPES: [Type; 10] = [
    Type::PremiumRate,
    Type::TollFree,
    Type::SharedCost,
    Type::Voip,
    Type::PersonalNumber,
    Type::Pager,
    Type::Uan,
    Type::Voicemail,
    Type::FixedLine,
    Type::Mobile,
];

/// Regions whose patterns are kept compiled. One region's take about 0.6 MB
/// (every region's, 142 MB), and senders choose the country codes, so past
/// these (first come; the default region is compiled at start-up) a number
/// is left to the crate, whose regex cache is bounded.
const MAX_REGIONS: usize = 32;

/// Whether `number` is valid, exactly as `phonenumber::is_valid` answers.
pub(super) fn is_valid(number: &PhoneNumber) -> bool {
    static SHARED: OnceLock<Regions> = OnceLock::new();
    is_valid_in(SHARED.get_or_init(|| Regions::new(MAX_REGIONS)), number)
}

fn is_valid_in(regions: &Regions, number: &PhoneNumber) -> bool {
    let national = number.national().to_string();
    match region_of(regions, number.country().code(), &national) {
        Some(Ok(patterns)) => patterns.accept(&national),
        Some(Err(Uncompiled)) => phonenumber::is_valid(number),
        None => false,
    }
}

/// One number type's pattern.
struct Pattern {
    lengths: Vec<u16>,
    regex: Regex,
}

impl Pattern {
    fn new(descriptor: &Descriptor) -> Result<Pattern, Uncompiled> {
        Ok(Pattern { lengths: descriptor.possible_length().to_vec(), regex: compile(descriptor.national_number().as_str())? })
    }

    fn accepts(&self, national: &str) -> bool {
        let length_ok = self.lengths.is_empty() || u16::try_from(national.len()).is_ok_and(|n| self.lengths.contains(&n));
        length_ok && starts_a_match(&self.regex, national)
    }
}

/// A region's patterns.
struct Patterns {
    general: Pattern,
    types: Vec<Pattern>,
    leading_digits: Option<Regex>,
}

impl Patterns {
    fn new(meta: &Metadata) -> Result<Patterns, Uncompiled> {
        let descriptors = meta.descriptors();
        let types = TYPES.iter().filter_map(|t| descriptors.get(*t)).map(Pattern::new).collect::<Result<_, _>>()?;
        let leading_digits = meta.leading_digits().map(|r| compile(r.as_str())).transpose()?;
        Ok(Patterns { general: Pattern::new(descriptors.general())?, types, leading_digits })
    }

    fn accept(&self, national: &str) -> bool {
        self.general.accepts(national) && self.types.iter().any(|p| p.accepts(national))
    }
}

/// A region whose patterns are not compiled here: one of them did not
/// compile (none does), or [`MAX_REGIONS`] are. The crate answers for it.
#[derive(Clone, Copy)]
struct Uncompiled;

/// The crate builds every pattern with whitespace ignored, and otherwise the
/// `regex` crate's defaults (the same `regex` crate, resolved once), and
/// asks whether the leftmost match starts at the text's start. A match
/// starting there exists exactly when the leftmost one does, so the pattern
/// is compiled anchored there (`\A`), which lets `is_match` stop at the
/// first accepting state instead of finding where a match ends. The group
/// closes on a new line in case the pattern ends in a `#` comment.
fn compile(pattern: &str) -> Result<Regex, Uncompiled> {
    RegexBuilder::new(&format!("\\A(?:{pattern}\n)")).ignore_whitespace(true).build().map_err(|_| Uncompiled)
}

/// Whether a match of `regex` (compiled by [`compile`]) starts at `text`'s start.
fn starts_a_match(regex: &Regex, text: &str) -> bool {
    regex.is_match(text)
}

type Compiled = Result<Arc<Patterns>, Uncompiled>;

/// The patterns of the region that decides `national`'s validity under
/// `code` (the crate's `source_for`), or `None` when no region does.
fn region_of(regions: &Regions, code: u16, national: &str) -> Option<Compiled> {
    let ids = DATABASE.region(&code)?;
    if let [only] = ids.as_slice() {
        let meta = if *only == "001" {
            DATABASE.by_code(&code).and_then(|metas| metas.into_iter().next())
        } else {
            only.parse::<phonenumber::country::Id>().ok().and_then(|id| DATABASE.by_id(id.as_ref()))
        };
        return meta.map(|meta| regions.patterns(meta));
    }
    for id in ids {
        let meta = DATABASE.by_id(id)?;
        let compiled = regions.patterns(meta);
        let Ok(p) = &compiled else { return Some(compiled) };
        let chosen = match &p.leading_digits {
            Some(leading) => starts_a_match(leading, national),
            None => p.accept(national),
        };
        if chosen {
            return Some(compiled);
        }
    }
    None
}

/// Compiled regions, at most `max`. Keyed by the metadata's address: the
/// crate's database is a static that never moves or frees an entry, and
/// non-geographic entities share the region id `001`.
struct Regions {
    max: usize,
    compiled: RwLock<HashMap<usize, Compiled>>,
}

impl Regions {
    fn new(max: usize) -> Regions {
        Regions { max, compiled: RwLock::default() }
    }

    /// `meta`'s patterns, compiled on first use while there is room.
    fn patterns(&self, meta: &Metadata) -> Compiled {
        let key = std::ptr::from_ref(meta) as usize;
        {
            let compiled = self.compiled.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(found) = compiled.get(&key) {
                return found.clone();
            }
            if compiled.len() >= self.max {
                return Err(Uncompiled);
            }
        }
        let patterns = Patterns::new(meta).map(Arc::new);
        let mut compiled = self.compiled.write().unwrap_or_else(PoisonError::into_inner);
        if compiled.len() >= self.max && !compiled.contains_key(&key) {
            return Err(Uncompiled);
        }
        compiled.entry(key).or_insert(patterns).clone()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.compiled.read().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Every region's example numbers and their neighbours, and numbers of
    /// every length under every country code: the two answers agree.
    #[test]
    fn the_answer_is_the_crates_for_every_kind_of_number() {
        let mut checked = 0;
        let mut valid = 0;
        let every_region = Regions::new(usize::MAX);
        let mut agree = |text: &str| {
            if let Ok(number) = phonenumber::parse(None, text) {
                let expected = phonenumber::is_valid(&number);
                assert_eq!(is_valid_in(&every_region, &number), expected, "{text}");
                checked += 1;
                valid += usize::from(expected);
            }
        };
        let mut codes: Vec<u16> = (1..1000).filter(|c| DATABASE.region(c).is_some()).collect();
        codes.dedup();
        for code in &codes {
            for meta in DATABASE.by_code(code).unwrap_or_default() {
                for kind in TYPES {
                    let Some(example) = meta.descriptors().get(kind).and_then(Descriptor::example) else { continue };
                    agree(&format!("+{code}{example}"));
                    // The example with its last digit changed, one digit
                    // shorter and one longer.
                    for d in 0..10 {
                        agree(&format!("+{code}{}{d}", &example[..example.len() - 1]));
                        agree(&format!("+{code}{example}{d}"));
                    }
                    agree(&format!("+{code}{}", &example[..example.len() - 1]));
                }
            }
            // Digits of every length, from a fixed pseudo-random sequence.
            let mut seed = u64::from(*code).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            for length in 4..=14 {
                for _ in 0..6 {
                    let digits: String = (0..length)
                        .map(|_| {
                            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                            char::from(b'0' + u8::try_from((seed >> 33) % 10).unwrap())
                        })
                        .collect();
                    agree(&format!("+{code}{digits}"));
                }
            }
        }
        assert!(checked > 20_000 && valid > 5_000, "{checked} numbers checked, {valid} valid");
        assert!(every_region.len() > 200, "only {} regions were compiled", every_region.len());
    }

    #[test]
    fn a_code_shared_by_several_regions_is_judged_by_the_region_its_digits_belong_to() {
        // The United States and Canada (+1), Russia and Kazakhstan (+7), the
        // United Kingdom and Guernsey (+44), and a +1 number too short for any.
        let numbers =
            ["+1 650-253-0000", "+1 604-555-5555", "+7 912 345-67-89", "+7 701 234 5678", "+44 7400 123456", "+44 1481 256789", "+1 2530000"];
        let every_region = Regions::new(usize::MAX);
        for text in numbers {
            let number = phonenumber::parse(None, text).unwrap();
            assert_eq!(is_valid_in(&every_region, &number), phonenumber::is_valid(&number), "{text}");
        }
        assert!(is_valid(&phonenumber::parse(None, "+1 650-253-0000").unwrap()));
        assert!(!is_valid(&phonenumber::parse(None, "+1 2530000").unwrap()));
    }

    #[test]
    fn past_the_room_for_compiled_regions_the_crate_answers_and_nothing_more_is_kept() {
        let two = Regions::new(2);
        let numbers = ["+919876543210", "+16502530000", "+442079460958", "+4915123456789", "+61412345678", "+9198765", "+1 2530000"];
        for text in numbers {
            let number = phonenumber::parse(None, text).unwrap();
            assert_eq!(is_valid_in(&two, &number), phonenumber::is_valid(&number), "{text}");
        }
        assert_eq!(two.len(), 2);
        assert!(is_valid_in(&two, &phonenumber::parse(None, "+4915123456789").unwrap()), "a region past the room is still judged");
    }
}
