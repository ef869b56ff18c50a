//! CPU per lead of the ingest service's normalization: `normalize_lead` over
//! loadgen-like rows. `cargo run --release -p bloc-shared --features phone --example normalize_bench`
use std::time::Instant;

use bloc_shared::fields::RawLead;
use bloc_shared::ingest::normalize_lead;
use bloc_shared::phone::{normalize, PhoneRegion};

fn main() {
    let t = Instant::now();
    let _ = normalize("9876543210", PhoneRegion::IN);
    println!("first number (loads the metadata): {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let t = Instant::now();
    let _ = normalize("9876543211", PhoneRegion::IN);
    println!("second number: {:.1} µs", t.elapsed().as_secs_f64() * 1e6);
    let n = 20_000;
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = (0..n)
        .map(|i| {
            serde_json::json!({
                "Full Name": format!("Lead {i}"),
                "Mobile Number": format!("98{:08}", 10_000_000 + i),
                "State": (["MH", "KA", "Atlantis"][i % 3]),
                "Language": (["Hindi", "English"][i % 2]),
                "utm_source": "loadgen"
            })
            .as_object()
            .cloned()
            .unwrap_or_default()
        })
        .collect();
    for round in 0..3 {
        let t = Instant::now();
        for i in 0..n {
            std::hint::black_box(normalize(&format!("98{:08}", 10_000_000 + i), PhoneRegion::IN).ok());
        }
        let phone = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        let t = Instant::now();
        for row in &rows {
            std::hint::black_box(normalize_lead(RawLead::from_json_object(row), PhoneRegion::IN).ok());
        }
        let lead = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("round {round}: phone::normalize {phone:.1} µs, RawLead + normalize_lead {lead:.1} µs per lead");
    }
}
