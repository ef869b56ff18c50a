//! The CSV import's logic, kept off the DOM so it is tested on the host:
//! which lead field each column maps to (the webhook's aliases, overridable),
//! the rows sent to the ingest service, the file's SHA-256 (the import's
//! name: the same file imported again creates nothing twice), and the
//! per-row result file.

use bloc_shared::fields::{match_field, LeadField};
use serde_json::{json, Map, Value};

/// Rows per import request (the service takes at most 1000).
pub const BATCH_ROWS: usize = 500;

/// Rows the preview shows.
pub const PREVIEW_ROWS: usize = 20;

/// What a column can be mapped to: `(select value, label)`. The value of a
/// lead field is the key the service matches (`match_field`); `meta` keeps
/// the column in the lead's metadata; `skip` leaves it out.
pub const TARGETS: [(&str, &str); 11] = [
    ("name", "Name"),
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("phone", "Phone"),
    ("email", "Email"),
    ("state", "State"),
    ("city", "City"),
    ("language", "Language"),
    ("source", "Source"),
    ("meta", "Keep as extra detail"),
    ("skip", "Leave out"),
];

/// The target a column gets by default: the lead field its header names
/// under the webhook's aliases (`Phone Number`, `mobile`, `Region`…), else
/// kept as extra detail.
pub fn default_target(header: &str) -> &'static str {
    match match_field(header) {
        Some(LeadField::Name) => "name",
        Some(LeadField::FirstName) => "first_name",
        Some(LeadField::LastName) => "last_name",
        Some(LeadField::Phone) => "phone",
        Some(LeadField::Email) => "email",
        Some(LeadField::State) => "state",
        Some(LeadField::City) => "city",
        Some(LeadField::Language) => "language",
        Some(LeadField::Source) => "source",
        None => "meta",
    }
}

/// The key a column's cells are sent under: the field's own name, the
/// header for extra detail (prefixed when the header would otherwise be
/// matched to a field the manager did not choose), or none.
pub fn request_key(header: &str, target: &str) -> Option<String> {
    match target {
        "skip" => None,
        "meta" if match_field(header).is_some() => Some(format!("column {header}")),
        "meta" if header.trim().is_empty() => Some("column".to_owned()),
        "meta" => Some(header.to_owned()),
        field => Some(field.to_owned()),
    }
}

/// The body of `POST /api/imports(/preview)` for `rows`: each row's number
/// in the file (the header is row 1) and its non-empty cells under their
/// keys. Two columns mapped to one field: the first non-empty cell wins.
pub fn request_body(import_ref: &str, headers: &[String], targets: &[String], rows: &[(u32, &[String])]) -> String {
    let keys: Vec<Option<String>> =
        headers.iter().zip(targets).map(|(header, target)| request_key(header, target)).collect();
    let rows: Vec<Value> = rows
        .iter()
        .map(|(number, cells)| {
            let mut fields = Map::new();
            for (key, cell) in keys.iter().zip(cells.iter()) {
                let (Some(key), cell) = (key, cell.trim()) else { continue };
                if !cell.is_empty() && !fields.contains_key(key) {
                    fields.insert(key.clone(), Value::String(cell.to_owned()));
                }
            }
            json!({"row": number, "fields": fields})
        })
        .collect();
    json!({"import_ref": import_ref, "rows": rows}).to_string()
}

/// How many rows ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub assigned: u32,
    pub unassigned: u32,
    pub duplicate: u32,
    pub invalid: u32,
    /// Answered from an earlier import of the same file.
    pub already: u32,
}

impl Tally {
    pub fn add(&mut self, row: &Value) {
        if row.get("replayed").and_then(Value::as_bool) == Some(true) {
            self.already += 1;
        }
        match row.get("status").and_then(Value::as_str) {
            Some("assigned") => self.assigned += 1,
            Some("unassigned") => self.unassigned += 1,
            Some("duplicate") => self.duplicate += 1,
            _ => self.invalid += 1,
        }
    }
}

/// The per-row result file: one line per answered row.
pub fn result_csv(rows: &[Value]) -> String {
    let mut out = crate::csv::write_record(&["row", "status", "lead_id", "phone", "caller", "already_imported", "error", "message"]);
    for row in rows {
        let text = |key: &str| match row.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let already = if row.get("replayed").and_then(Value::as_bool) == Some(true) { "yes" } else { "" };
        out.push_str(&crate::csv::write_record(&[
            text("row"),
            text("status"),
            text("lead_id"),
            text("phone"),
            text("caller_name"),
            already.to_owned(),
            text("error"),
            text("message"),
        ]));
    }
    out
}

/// Lowercase hex SHA-256 of `bytes` (FIPS 180-4): the import's name.
pub fn sha256_hex(bytes: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
        0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
        0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
        0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
        0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
        0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] =
        [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let mut message = bytes.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((bytes.len() as u64) * 8).to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (slot, value) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *slot = slot.wrapping_add(value);
        }
    }
    h.iter().map(|word| format!("{word:08x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_standard_test_vectors() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(sha256_hex(long), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    }

    #[test]
    fn columns_default_to_the_webhooks_aliases() {
        assert_eq!(default_target("Phone Number"), "phone");
        assert_eq!(default_target("mobile"), "phone");
        assert_eq!(default_target("Region"), "state");
        assert_eq!(default_target("utm_source"), "source");
        assert_eq!(default_target("Budget"), "meta");
    }

    #[test]
    fn an_overridden_column_is_sent_under_its_fields_name() {
        assert_eq!(request_key("Tel", "phone").as_deref(), Some("phone"));
        assert_eq!(request_key("Budget", "meta").as_deref(), Some("Budget"));
        assert_eq!(request_key("Phone", "meta").as_deref(), Some("column Phone"), "not matched as the phone");
        assert_eq!(request_key("Notes", "skip"), None);
    }

    #[test]
    fn a_request_carries_row_numbers_and_non_empty_cells_under_their_keys() {
        let headers = vec!["Tel".to_owned(), "Name".to_owned(), "Secret".to_owned()];
        let targets = vec!["phone".to_owned(), "name".to_owned(), "skip".to_owned()];
        let cells = vec!["98765 43210".to_owned(), " ".to_owned(), "x".to_owned()];
        let body: Value = serde_json::from_str(&request_body("ab", &headers, &targets, &[(2, &cells)])).unwrap();
        assert_eq!(body, json!({"import_ref": "ab", "rows": [{"row": 2, "fields": {"phone": "98765 43210"}}]}));
    }

    #[test]
    fn the_tally_counts_outcomes_and_earlier_imports() {
        let mut tally = Tally::default();
        for row in [
            json!({"status": "assigned"}),
            json!({"status": "assigned", "replayed": true}),
            json!({"status": "duplicate"}),
            json!({"status": "invalid", "error": "invalid_phone"}),
            json!({"status": "unassigned"}),
        ] {
            tally.add(&row);
        }
        assert_eq!(tally, Tally { assigned: 2, unassigned: 1, duplicate: 1, invalid: 1, already: 1 });
    }

    #[test]
    fn the_result_file_has_one_line_per_row_with_errors_quoted() {
        let rows = [
            json!({"row": 2, "status": "assigned", "lead_id": 7, "phone": "+919876543210", "caller_name": "Asha"}),
            json!({"row": 3, "status": "invalid", "error": "invalid_phone", "message": "the phone number is too short, or has a letter"}),
        ];
        let file = result_csv(&rows);
        let parsed = crate::csv::parse(&file).unwrap();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[1], vec!["2", "assigned", "7", "+919876543210", "Asha", "", "", ""]);
        assert_eq!(parsed[2][7], "the phone number is too short, or has a letter");
    }
}
