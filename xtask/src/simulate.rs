//! Realistic traffic, the way a Make.com scenario watching a Google Sheet
//! posts it: Indian names, mobile numbers in messy formats, states by name and
//! abbreviation, languages, about 10% repeats of recent phones, and the
//! occasional bad row. Each body is signed with `X-Signature-256`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};
use sha2::Sha256;

const FIRST: &[&str] = &[
    "Aarav", "Vivaan", "Aditya", "Ishaan", "Sai", "Reyansh", "Krishna", "Arnav", "Ananya", "Diya",
    "Saanvi", "Aadhya", "Pari", "Myra", "Kiara", "Riya", "Rahul", "Pooja", "Suresh", "Lakshmi",
    "Mohammed", "Fatima", "Gurpreet", "Harpreet", "Sneha", "Venkatesh", "Deepa", "Sourav", "Nandini",
];
const LAST: &[&str] = &[
    "Sharma", "Verma", "Patel", "Reddy", "Iyer", "Nair", "Gupta", "Singh", "Kumar", "Das", "Ghosh",
    "Mukherjee", "Rao", "Naidu", "Pillai", "Joshi", "Desai", "Khan", "Shaikh", "Kaur", "Menon", "Bose",
];
const STATES: &[&str] = &[
    "Maharashtra", "MH", "mh ", "Karnataka", "KA", "Tamil Nadu", "TN", "tamilnadu", "Delhi", "DL",
    "New Delhi", "Uttar Pradesh", "UP", "West Bengal", "WB", "Gujarat", "GJ", "Kerala", "Telangana",
    "Andhra Pradesh", "AP", "Rajasthan", "Punjab", "Haryana", "Odisha", "Bihar", "Assam", "",
];
const LANGUAGES: &[&str] = &[
    "Hindi", "hindi", "English", "en", "Marathi", "Tamil", "Telugu", "Kannada", "Bengali", "Gujarati",
    "Malayalam", "", "",
];
const SOURCES: &[&str] = &["facebook_ads", "google_ads", "website_form", "instagram", "referral"];

/// Counters shown on the progress line.
#[derive(Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub assigned: AtomicU64,
    pub duplicates: AtomicU64,
    pub unassigned: AtomicU64,
    pub rejected: AtomicU64,
    pub failed: AtomicU64,
}

/// Starts sender threads posting `rate` leads per second to `ingest_url`.
pub fn start(ingest_url: String, secret: String, rate: f64, stats: Arc<Stats>) {
    let recent: Arc<Mutex<Vec<String>>> = Arc::default();
    let workers = ((rate / 20.0).ceil() as usize).clamp(1, 16);
    let interval = Duration::from_secs_f64(workers as f64 / rate);
    for _ in 0..workers {
        let (url, secret, stats, recent) = (ingest_url.clone(), secret.clone(), stats.clone(), recent.clone());
        std::thread::spawn(move || {
            let mut rng = rand::thread_rng();
            let mut next = Instant::now();
            loop {
                let row = make_row(&mut rng, &recent);
                send(&url, &secret, &row, &stats);
                next += interval;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                } else {
                    next = Instant::now();
                }
            }
        });
    }
}

/// One progress line: sent, assigned, duplicates, unassigned, rejected, rate.
pub fn progress_line(stats: &Stats, since: Instant) -> String {
    let sent = stats.sent.load(Ordering::Relaxed);
    let rate = sent as f64 / since.elapsed().as_secs_f64().max(0.001);
    format!(
        "sent {sent} | assigned {} | duplicates {} | unassigned {} | rejected {} | failed {} | {rate:.1} leads/s",
        stats.assigned.load(Ordering::Relaxed),
        stats.duplicates.load(Ordering::Relaxed),
        stats.unassigned.load(Ordering::Relaxed),
        stats.rejected.load(Ordering::Relaxed),
        stats.failed.load(Ordering::Relaxed),
    )
}

fn make_row(rng: &mut impl Rng, recent: &Mutex<Vec<String>>) -> Value {
    let repeat = rng.gen_bool(0.10);
    let phone = {
        let mut recent = recent.lock().unwrap_or_else(|e| e.into_inner());
        match recent.choose(rng).cloned() {
            Some(p) if repeat => messy_format(rng, &p),
            _ => {
                let digits = format!("{}{:09}", rng.gen_range(6..=9), rng.gen_range(0..1_000_000_000u64));
                recent.push(digits.clone());
                if recent.len() > 200 {
                    recent.remove(0);
                }
                messy_format(rng, &digits)
            }
        }
    };
    let phone = if rng.gen_bool(0.03) { "12345".to_string() } else { phone };
    let first = FIRST.choose(rng).copied().unwrap_or("Asha");
    let last = LAST.choose(rng).copied().unwrap_or("Rao");
    let mut row = json!({
        "Phone Number": phone,
        "State": STATES.choose(rng).copied().unwrap_or(""),
        "Preferred Language": LANGUAGES.choose(rng).copied().unwrap_or(""),
        "utm_source": SOURCES.choose(rng).copied().unwrap_or("website_form"),
        "City": "",
        "Campaign": format!("diwali-{}", rng.gen_range(1..5)),
        "Row Number": rng.gen_range(2..50_000).to_string(),
    });
    if rng.gen_bool(0.5) {
        row["Full Name"] = json!(format!("{first} {last}"));
    } else {
        row["First Name"] = json!(first);
        row["Last Name"] = json!(last);
    }
    if rng.gen_bool(0.6) {
        row["Email"] = json!(format!("{}.{}@example.in", first.to_lowercase(), last.to_lowercase()));
    }
    if rng.gen_bool(0.01) {
        row.as_object_mut().map(|o| o.remove("Phone Number"));
    }
    row
}

fn messy_format(rng: &mut impl Rng, digits: &str) -> String {
    let (a, b) = digits.split_at(5);
    match rng.gen_range(0..6) {
        0 => format!("+91 {a}-{b}"),
        1 => format!("0{a} {b}"),
        2 => digits.to_string(),
        3 => format!("91 {digits}"),
        4 => format!("+91{digits}"),
        _ => format!("(+91) {a} {b}"),
    }
}

fn send(url: &str, secret: &str, row: &Value, stats: &Stats) {
    let body = row.to_string();
    let signature = sign(secret, body.as_bytes());
    stats.sent.fetch_add(1, Ordering::Relaxed);
    let response = ureq::post(url)
        .timeout(Duration::from_secs(10))
        .set("Content-Type", "application/json")
        .set("X-Signature-256", &format!("sha256={signature}"))
        .send_string(&body);
    let counter = match response {
        Ok(r) if r.status() == 201 => &stats.assigned,
        Ok(r) if r.status() == 200 => &stats.duplicates,
        Ok(r) if r.status() == 202 => &stats.unassigned,
        Ok(_) => &stats.failed,
        Err(ureq::Error::Status(code, _)) if (400..500).contains(&code) => &stats.rejected,
        Err(_) => &stats.failed,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Hex HMAC-SHA256 of `body`, as Make.com's `sha256(text; "hex"; key)` gives it.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}
