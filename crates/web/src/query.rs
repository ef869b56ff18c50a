//! Building PostgREST query strings from the leads table's filters, and
//! reading the total out of `Content-Range`.

use bloc_shared::records::LeadStatus;

use crate::time;

/// Percent-encodes a query-string component (RFC 3986 unreserved characters stay).
pub fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Columns the leads table can sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortColumn {
    #[default]
    CreatedAt,
    Name,
    State,
    Status,
    AssignedAt,
}

impl SortColumn {
    /// The database column.
    pub fn column(self) -> &'static str {
        match self {
            SortColumn::CreatedAt => "created_at",
            SortColumn::Name => "name",
            SortColumn::State => "state",
            SortColumn::Status => "status",
            SortColumn::AssignedAt => "assigned_at",
        }
    }
}

/// Which caller the leads table is filtered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallerFilter {
    #[default]
    Any,
    Nobody,
    Caller(i64),
}

/// The leads table's filters, sort and page.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadQuery {
    pub status: Option<LeadStatus>,
    pub caller: CallerFilter,
    /// A state code (`MH`).
    pub state: Option<String>,
    /// A lead source as stored (`WhatsApp`, `Google Ads`, …).
    pub source: Option<String>,
    /// Local `YYYY-MM-DD`, inclusive.
    pub from: Option<String>,
    /// Local `YYYY-MM-DD`, inclusive.
    pub to: Option<String>,
    /// Matches name or phone.
    pub search: String,
    pub sort: SortColumn,
    pub descending: bool,
    /// Zero-based page.
    pub page: u32,
    pub page_size: u32,
}

impl Default for LeadQuery {
    fn default() -> Self {
        LeadQuery {
            status: None,
            caller: CallerFilter::Any,
            state: None,
            source: None,
            from: None,
            to: None,
            search: String::new(),
            sort: SortColumn::CreatedAt,
            descending: true,
            page: 0,
            page_size: 25,
        }
    }
}

/// Keeps what a person would search for and drops PostgREST's reserved
/// characters, so a search can never change the shape of the filter.
fn search_term(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, ',' | '(' | ')' | '"' | '\\' | '*' | '%' | ':' | '.' | '\''))
        .collect::<String>()
        .trim()
        .to_owned()
}

impl LeadQuery {
    /// The query string (without `?`) for `GET /rest/v1/leads`, in the team's UTC offset.
    pub fn to_query_string(&self, offset_minutes: i32) -> String {
        let mut params: Vec<(String, String)> = vec![("select".into(), "*".into())];
        if let Some(status) = self.status {
            params.push(("status".into(), format!("eq.{}", status.as_str())));
        }
        match self.caller {
            CallerFilter::Any => {}
            CallerFilter::Nobody => params.push(("caller_id".into(), "is.null".into())),
            CallerFilter::Caller(id) => params.push(("caller_id".into(), format!("eq.{id}"))),
        }
        if let Some(state) = self.state.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            params.push(("state".into(), format!("eq.{state}")));
        }
        if let Some(source) = self.source.as_deref().filter(|s| !s.is_empty()) {
            // `eq.` takes the rest of the value as written (dots and commas included).
            params.push(("source".into(), format!("eq.{source}")));
        }
        if let Some(start) = self.from.as_deref().and_then(|d| time::local_date_start(d, offset_minutes)) {
            params.push(("created_at".into(), format!("gte.{}", time::to_iso_utc(start))));
        }
        if let Some(start) = self.to.as_deref().and_then(|d| time::local_date_start(d, offset_minutes)) {
            params.push(("created_at".into(), format!("lt.{}", time::to_iso_utc(start + time::DAY_MS))));
        }
        let term = search_term(&self.search);
        if !term.is_empty() {
            let digits: String = term.chars().filter(char::is_ascii_digit).collect();
            let mut alternatives = vec![format!("name.ilike.*{term}*")];
            if digits.len() >= 3 {
                alternatives.push(format!("phone.like.*{digits}*"));
            }
            params.push(("or".into(), format!("({})", alternatives.join(","))));
        }
        let direction = if self.descending { "desc" } else { "asc" };
        let nulls = if self.descending { ".nullslast" } else { "" };
        params.push(("order".into(), format!("{}.{direction}{nulls},id.{direction}", self.sort.column())));
        params.push(("limit".into(), self.page_size.max(1).to_string()));
        params.push(("offset".into(), (u64::from(self.page) * u64::from(self.page_size.max(1))).to_string()));
        params
            .iter()
            .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// The total from a `Content-Range` header (`0-24/1234`, `*/0`); `None` when absent or `*`.
pub fn total_from_content_range(header: &str) -> Option<u64> {
    header.rsplit_once('/')?.1.trim().parse().ok()
}

/// How many pages `total` rows fill.
pub fn page_count(total: u64, page_size: u32) -> u64 {
    total.div_ceil(u64::from(page_size.max(1))).max(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_default_query_orders_newest_first_and_takes_the_first_page() {
        let q = LeadQuery::default().to_query_string(330);
        assert_eq!(q, "select=%2A&order=created_at.desc.nullslast%2Cid.desc&limit=25&offset=0");
    }

    #[test]
    fn every_filter_becomes_a_postgrest_operator() {
        let query = LeadQuery {
            status: Some(LeadStatus::Contacted),
            caller: CallerFilter::Caller(4),
            state: Some("MH".into()),
            source: Some("WhatsApp".into()),
            from: Some("2026-11-25".into()),
            to: Some("2026-11-25".into()),
            search: "Asha".into(),
            sort: SortColumn::Name,
            descending: false,
            page: 2,
            page_size: 10,
        };
        let q = query.to_query_string(330);
        assert!(q.contains("status=eq.contacted"), "{q}");
        assert!(q.contains("caller_id=eq.4"), "{q}");
        assert!(q.contains("state=eq.MH"), "{q}");
        assert!(q.contains("source=eq.WhatsApp"), "{q}");
        assert!(q.contains("created_at=gte.2026-11-24T18%3A30%3A00.000Z"), "{q}");
        assert!(q.contains("created_at=lt.2026-11-25T18%3A30%3A00.000Z"), "{q}");
        assert!(q.contains("or=%28name.ilike.%2AAsha%2A%29"), "{q}");
        assert!(q.contains("order=name.asc%2Cid.asc"), "{q}");
        assert!(q.ends_with("limit=10&offset=20"), "{q}");
    }

    #[test]
    fn a_search_with_digits_also_matches_the_phone() {
        let query = LeadQuery { search: "98765 43".into(), ..LeadQuery::default() };
        let q = query.to_query_string(0);
        assert!(q.contains("phone.like.%2A9876543%2A"), "{q}");
    }

    #[test]
    fn reserved_characters_in_a_search_cannot_break_out_of_the_filter() {
        let query = LeadQuery { search: "a),status.eq.lost,(b".into(), ..LeadQuery::default() };
        let q = query.to_query_string(0);
        assert!(q.contains("or=%28name.ilike.%2Aastatuseqlostb%2A%29"), "{q}");
    }

    #[test]
    fn unassigned_leads_filter_on_a_null_caller() {
        let query = LeadQuery { caller: CallerFilter::Nobody, ..LeadQuery::default() };
        assert!(query.to_query_string(0).contains("caller_id=is.null"));
    }

    #[test]
    fn content_range_totals_are_read_and_pages_counted() {
        assert_eq!(total_from_content_range("0-24/1234"), Some(1234));
        assert_eq!(total_from_content_range("*/0"), Some(0));
        assert_eq!(total_from_content_range("0-24/*"), None);
        assert_eq!(total_from_content_range("garbage"), None);
        assert_eq!(page_count(1234, 25), 50);
        assert_eq!(page_count(0, 25), 1);
    }

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(encode_component("a b&c=d"), "a%20b%26c%3Dd");
        assert_eq!(encode_component("é"), "%C3%A9");
    }
}
