//! Numbers and phone numbers as the UI shows them: SLA countdowns, relative
//! times, percentages, grouped phone numbers and `tel:` links.

use crate::time::{DAY_MS, MINUTE_MS};

/// Sources offered in the leads table's filter: the native platform sources
/// (docs/sources.md). Any other stored source still shows in the table.
pub const SOURCES: [&str; 3] = ["Google Ads", "Meta Lead Ads", "WhatsApp"];

/// Whether a lead's metadata marks it as a platform's test lead (`is_test`).
pub fn is_test_lead(metadata: &serde_json::Value) -> bool {
    metadata.get("is_test").and_then(serde_json::Value::as_bool) == Some(true)
}

fn hours_minutes(ms: i64) -> String {
    let minutes = ms / MINUTE_MS;
    if minutes >= 60 * 24 {
        format!("{}d {}h", minutes / (60 * 24), minutes / 60 % 24)
    } else if minutes >= 60 {
        format!("{}h {:02}m", minutes / 60, minutes % 60)
    } else if minutes >= 1 {
        format!("{minutes}m")
    } else {
        format!("{}s", ms / 1000)
    }
}

/// An SLA countdown: `1h 05m left`, `45s left`, or `overdue 12m`.
pub fn countdown(remaining_ms: i64) -> String {
    if remaining_ms >= 0 {
        format!("{} left", hours_minutes(remaining_ms))
    } else {
        format!("overdue {}", hours_minutes(-remaining_ms))
    }
}

/// How long ago: `just now`, `4m ago`, `3h ago`, `2d ago`.
pub fn relative(now_ms: i64, then_ms: i64) -> String {
    let ago = now_ms - then_ms;
    if ago < 45_000 {
        "just now".to_owned()
    } else if ago < 3_600_000 {
        format!("{}m ago", (ago + 30_000) / MINUTE_MS)
    } else if ago < DAY_MS {
        format!("{}h ago", ago / 3_600_000)
    } else {
        format!("{}d ago", ago / DAY_MS)
    }
}

/// A number as SVG coordinates and CSS lengths take it, to two decimals
/// (`12.5` → `12.50`), written with integer arithmetic: formatting an `f64`
/// would bring Rust's float printing into the bundle (about 4 KB gzipped).
pub fn decimal(x: f64) -> String {
    let hundredths = (x * 100.0).round() as i64;
    let sign = if hundredths < 0 { "-" } else { "" };
    let n = hundredths.unsigned_abs();
    format!("{sign}{}.{:02}", n / 100, n % 100)
}

/// `12.5%`, or `–` when nothing was received.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "–".to_owned();
    }
    let tenths = (part * 1000 + whole / 2) / whole;
    if tenths.is_multiple_of(10) {
        format!("{}%", tenths / 10)
    } else {
        format!("{}.{}%", tenths / 10, tenths % 10)
    }
}

/// A readable phone number: `+91 98765 43210` for Indian mobiles, else as stored.
pub fn phone(e164: &str) -> String {
    match e164.strip_prefix("+91") {
        Some(rest) if rest.len() == 10 && rest.bytes().all(|b| b.is_ascii_digit()) => {
            format!("+91 {} {}", &rest[..5], &rest[5..])
        }
        _ => e164.to_owned(),
    }
}

/// A `tel:` link target holding only `+` and digits.
pub fn tel_href(phone: &str) -> String {
    let cleaned: String = phone
        .chars()
        .enumerate()
        .filter(|(i, c)| c.is_ascii_digit() || (*i == 0 && *c == '+'))
        .map(|(_, c)| c)
        .collect();
    format!("tel:{cleaned}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_true_is_test_flag_marks_a_test_lead() {
        assert!(is_test_lead(&serde_json::json!({"is_test": true})));
        assert!(!is_test_lead(&serde_json::json!({"is_test": "true"})));
        assert!(!is_test_lead(&serde_json::json!({})));
    }

    #[test]
    fn decimals_have_two_places_and_round_to_the_nearest_hundredth() {
        assert_eq!(decimal(480.0), "480.00");
        assert_eq!(decimal(12.345_6), "12.35");
        assert_eq!(decimal(0.004), "0.00");
        assert_eq!(decimal(-3.5), "-3.50");
        assert_eq!(decimal(-0.25), "-0.25");
        assert_eq!(decimal(99.999), "100.00");
    }

    #[test]
    fn countdowns_read_naturally_before_and_after_the_deadline() {
        assert_eq!(countdown(65 * 60_000), "1h 05m left");
        assert_eq!(countdown(45_000), "45s left");
        assert_eq!(countdown(-12 * 60_000 - 5_000), "overdue 12m");
        assert_eq!(countdown(3 * DAY_MS + 2 * 3_600_000), "3d 2h left");
    }

    #[test]
    fn relative_times_round_to_the_nearest_unit() {
        assert_eq!(relative(100_000, 90_000), "just now");
        assert_eq!(relative(10 * 60_000, 0), "10m ago");
        assert_eq!(relative(5 * 3_600_000, 0), "5h ago");
        assert_eq!(relative(3 * DAY_MS, 0), "3d ago");
    }

    #[test]
    fn percentages_show_one_decimal_only_when_needed() {
        assert_eq!(percent(1, 8), "12.5%");
        assert_eq!(percent(1, 4), "25%");
        assert_eq!(percent(0, 0), "–");
    }

    #[test]
    fn indian_mobiles_are_grouped_and_tel_links_hold_only_digits() {
        assert_eq!(phone("+919876543210"), "+91 98765 43210");
        assert_eq!(phone("+14155550100"), "+14155550100");
        assert_eq!(tel_href("+91 98765-43210"), "tel:+919876543210");
    }
}

/// Properties over many generated inputs.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn an_indian_mobile_is_grouped_and_its_tel_link_dials_the_stored_number(digits in "[0-9]{10}") {
            let e164 = format!("+91{digits}");
            let shown = phone(&e164);
            prop_assert_eq!(&shown, &format!("+91 {} {}", &digits[..5], &digits[5..]));
            prop_assert_eq!(tel_href(&shown), format!("tel:{e164}"));
        }

        #[test]
        fn a_tel_link_holds_only_a_leading_plus_and_digits(text in any::<String>()) {
            let href = tel_href(&text);
            let number = href.strip_prefix("tel:").unwrap_or_default();
            let digits = number.strip_prefix('+').unwrap_or(number);
            prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{}", href);
            prop_assert_eq!(number.starts_with('+'), text.starts_with('+'));
        }

        #[test]
        fn a_countdown_says_left_before_the_deadline_and_overdue_after(ms in -400 * DAY_MS..400 * DAY_MS) {
            let text = countdown(ms);
            prop_assert_eq!(text.ends_with(" left"), ms >= 0, "{}", text);
            prop_assert_eq!(text.starts_with("overdue "), ms < 0, "{}", text);
        }

        #[test]
        fn a_percentage_is_within_a_tenth_of_the_exact_share(whole in 1_u64..1_000_000, share in 0.0_f64..=1.0) {
            let part = (whole as f64 * share) as u64;
            let text = percent(part, whole);
            let shown: f64 = text.trim_end_matches('%').parse().unwrap_or(f64::NAN);
            prop_assert!((shown - part as f64 * 100.0 / whole as f64).abs() <= 0.05 + 1e-9, "{} of {} is {}", part, whole, text);
        }
    }
}

