//! Building PostgREST query strings from the leads table's filters, and
//! reading the total out of `Content-Range`.
//!
//! At 1,000,000 leads an exact count of a broad filter costs more than the
//! page itself, so the table asks for `Prefer: count=planned` (the query
//! planner's estimate, read from `EXPLAIN`) and shows "about N" until the
//! last page tells the exact figure ([`Total`]). A search goes to
//! `rpc/lead_search` with the filters, order and page as arguments; the
//! planner has no estimate of its matches, so it asks for one row more than
//! a page and shows "more than N" while that row comes back
//! ([`Total::More`]). Pages stop at [`MAX_PAGES`]: an offset costs one
//! index step per skipped row, and nobody pages through 10,000 leads one
//! page at a time when a filter finds them faster. A search stops at its
//! first [`SEARCH_MAX`] matches.

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

/// The fewest characters a search needs (after trimming): the trigram
/// indexes that serve it split text into three-character pieces, so a
/// shorter term would read every lead. `lead_search` refuses one, and the
/// leads table says so instead of sending it.
pub const MIN_SEARCH_CHARS: usize = 3;

/// Whether `text` is a search too short to send (empty is no search).
pub fn search_too_short(text: &str) -> bool {
    let n = text.trim().chars().count();
    n > 0 && n < MIN_SEARCH_CHARS
}

/// How deep the leads table pages: 400 pages of 25, the newest 10,000 leads
/// of a filter. The deepest page stays within the 50 ms budget at 1,000,000
/// leads (docs/benchmarks.md).
pub const MAX_PAGES: u32 = 400;

/// How far a search reaches: its first 1,000 matches in the table's order
/// (40 pages of 25). No index holds a search's matches in that order, so a
/// deeper page reads ever more leads: `lead_search` refuses one past this
/// (supabase/migrations/…003200_lead_search_first_thousand.sql).
pub const SEARCH_MAX: u32 = 1000;

impl LeadQuery {
    /// The zero-based page asked for, at most the last one the table
    /// reaches: [`MAX_PAGES`], or with a search its first [`SEARCH_MAX`] matches.
    pub fn page(&self) -> u32 {
        let size = self.page_size.max(1);
        let pages = if self.search.trim().is_empty() { MAX_PAGES } else { (SEARCH_MAX / size).max(1) };
        self.page.min(pages - 1)
    }

    /// The order: the column, then the time received, then `id`, all in one
    /// direction and with PostgreSQL's default null placement (last going
    /// up, first going down), so that one index on `(column, created_at, id)`
    /// serves both directions (supabase/migrations/…002300_million_lead_indexes.sql).
    fn order(&self) -> String {
        let dir = if self.descending { "desc" } else { "asc" };
        match self.sort {
            SortColumn::CreatedAt => format!("created_at.{dir},id.{dir}"),
            other => format!("{}.{dir},created_at.{dir},id.{dir}", other.column()),
        }
    }

    /// The query string (without `?`) for `GET /rest/v1/leads`, in the
    /// team's UTC offset: the filters, order and page, never the search
    /// (that goes to `lead_search`, see [`LeadQuery::to_request`]).
    pub fn to_query_string(&self, offset_minutes: i32) -> String {
        self.params(offset_minutes)
    }

    /// The leads table's request: `GET leads?…`, or with a search
    /// `POST rpc/lead_search?select=*&order=…` and a body naming the term,
    /// the filters, the order and the page, asking one row more than a page
    /// (see [`Total::of_search_page`]). Through `leads` a search runs under
    /// RLS, which cannot use the trigram indexes (`ilike` is not leakproof),
    /// and REST would order and page every match; `lead_search` runs as its
    /// owner and plans the page itself
    /// (supabase/migrations/…002800_lead_search_pages.sql). The term goes
    /// as typed, trimmed: JSON carries it, and the function reads `%` and
    /// `_` literally.
    pub fn to_request(&self, offset_minutes: i32) -> (String, Option<String>) {
        let term = self.search.trim();
        if term.is_empty() {
            return (format!("leads?{}", self.params(offset_minutes)), None);
        }
        let mut body = serde_json::Map::new();
        body.insert("term".into(), term.into());
        if let Some(status) = self.status {
            body.insert("status".into(), status.as_str().into());
        }
        match self.caller {
            CallerFilter::Any => {}
            CallerFilter::Nobody => {
                body.insert("unassigned".into(), true.into());
            }
            CallerFilter::Caller(id) => {
                body.insert("caller_id".into(), id.into());
            }
        }
        if let Some(state) = self.state() {
            body.insert("state".into(), state.into());
        }
        if let Some(source) = self.source() {
            body.insert("source".into(), source.into());
        }
        let (from, before) = self.received(offset_minutes);
        if let Some(from) = from {
            body.insert("received_from".into(), from.into());
        }
        if let Some(before) = before {
            body.insert("received_before".into(), before.into());
        }
        body.insert("sort".into(), self.sort.column().into());
        body.insert("descending".into(), self.descending.into());
        let size = self.page_size.max(1);
        body.insert("row_limit".into(), (size + 1).into());
        body.insert("row_offset".into(), (self.page() * size).into());
        let path = format!("rpc/lead_search?select=%2A&order={}", encode_component(&self.order()));
        (path, Some(serde_json::Value::Object(body).to_string()))
    }

    fn state(&self) -> Option<&str> {
        self.state.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    fn source(&self) -> Option<&str> {
        self.source.as_deref().filter(|s| !s.is_empty())
    }

    /// The `created_at` bounds of the date filters, as UTC instants: from
    /// the start of `from`, to the start of the day after `to`.
    fn received(&self, offset_minutes: i32) -> (Option<String>, Option<String>) {
        let start = |d: &Option<String>| d.as_deref().and_then(|d| time::local_date_start(d, offset_minutes));
        (start(&self.from).map(time::to_iso_utc), start(&self.to).map(|s| time::to_iso_utc(s + time::DAY_MS)))
    }

    fn params(&self, offset_minutes: i32) -> String {
        let mut params: Vec<(String, String)> = vec![("select".into(), "*".into())];
        if let Some(status) = self.status {
            params.push(("status".into(), format!("eq.{}", status.as_str())));
        }
        match self.caller {
            CallerFilter::Any => {}
            CallerFilter::Nobody => params.push(("caller_id".into(), "is.null".into())),
            CallerFilter::Caller(id) => params.push(("caller_id".into(), format!("eq.{id}"))),
        }
        if let Some(state) = self.state() {
            params.push(("state".into(), format!("eq.{state}")));
        }
        if let Some(source) = self.source() {
            // `eq.` takes the rest of the value as written (dots and commas included).
            params.push(("source".into(), format!("eq.{source}")));
        }
        let (from, before) = self.received(offset_minutes);
        if let Some(from) = from {
            params.push(("created_at".into(), format!("gte.{from}")));
        }
        if let Some(before) = before {
            params.push(("created_at".into(), format!("lt.{before}")));
        }
        params.push(("order".into(), self.order()));
        params.push(("limit".into(), self.page_size.max(1).to_string()));
        let page = self.page();
        params.push(("offset".into(), (u64::from(page) * u64::from(self.page_size.max(1))).to_string()));
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

/// How many pages `total` rows fill, at most [`MAX_PAGES`].
pub fn page_count(total: u64, page_size: u32) -> u64 {
    total.div_ceil(u64::from(page_size.max(1))).clamp(1, u64::from(MAX_PAGES))
}

/// How many leads match the filters, as far as one page tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    /// Known: the page was the last one.
    Exact(u64),
    /// The planner's estimate, raised to what the pages have shown so far.
    About(u64),
    /// More than this many: a search's page came back with the extra row
    /// it asked for, and a search has no estimate.
    More(u64),
}

impl Total {
    /// Reads a page's answer: a page shorter than `page_size` is the last,
    /// so the total is exact; a full page means there may be more, and the
    /// planned total (`Content-Range: 0-24/<planned>`) is an estimate that
    /// can be too low or too high, so it is at least the rows seen plus one.
    pub fn of_page(planned: Option<u64>, page: u32, page_size: u32, rows: usize) -> Total {
        let seen = u64::from(page) * u64::from(page_size) + rows as u64;
        if rows < page_size as usize {
            Total::Exact(seen)
        } else {
            Total::About(planned.unwrap_or(0).max(seen + 1))
        }
    }

    /// Reads a search's page, asked with one row more than `page_size`:
    /// the extra row means a next page; without it the total is exact.
    pub fn of_search_page(page: u32, page_size: u32, rows: usize) -> Total {
        let before = u64::from(page) * u64::from(page_size);
        if rows > page_size as usize {
            Total::More(before + u64::from(page_size))
        } else {
            Total::Exact(before + rows as u64)
        }
    }

    /// The figure, exact or not (for [`Total::More`], the least it can be).
    pub fn value(self) -> u64 {
        match self {
            Total::Exact(n) | Total::About(n) => n,
            Total::More(n) => n + 1,
        }
    }

    /// How many pages of `page_size` the table reaches for this total:
    /// [`MAX_PAGES`], or a search's ([`Total::More`]) first [`SEARCH_MAX`] matches.
    pub fn pages(self, page_size: u32) -> u32 {
        match self {
            Total::More(_) => (SEARCH_MAX / page_size.max(1)).max(1),
            _ => MAX_PAGES,
        }
    }

    /// Whether a page after `page` may hold leads.
    pub fn has_next(self, page: u32, page_size: u32) -> bool {
        page + 1 < self.pages(page_size)
            && match self {
                Total::About(_) | Total::More(_) => true,
                Total::Exact(n) => (u64::from(page) + 1) * u64::from(page_size) < n,
            }
    }

    /// "1,234 leads", "about 1,000,000 leads" with two significant digits,
    /// or "more than 25 leads".
    pub fn label(self) -> String {
        match self {
            Total::Exact(1) => "1 lead".to_owned(),
            Total::Exact(n) => format!("{} leads", thousands(n)),
            Total::About(n) => format!("about {} leads", thousands(round_to_two_digits(n))),
            Total::More(n) => format!("more than {} leads", thousands(n)),
        }
    }
}

/// 1,234,567 → 1,200,000; 87 → 87.
fn round_to_two_digits(n: u64) -> u64 {
    let mut unit = 1;
    while n / unit >= 100 {
        unit *= 10;
    }
    (n + unit / 2) / unit * unit
}

/// 1234567 → "1,234,567".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_default_query_orders_newest_first_and_takes_the_first_page() {
        let q = LeadQuery::default().to_query_string(330);
        assert_eq!(q, "select=%2A&order=created_at.desc%2Cid.desc&limit=25&offset=0");
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
        assert!(!q.contains("Asha"), "the search goes to lead_search, never to REST's ilike: {q}");
        assert!(q.contains("order=name.asc%2Ccreated_at.asc%2Cid.asc"), "{q}");
        assert!(q.ends_with("limit=10&offset=20"), "{q}");
    }

    #[test]
    fn a_search_goes_to_lead_search_with_the_filters_order_and_one_row_more_than_a_page() {
        let query = LeadQuery { search: " Asha K ".into(), status: Some(LeadStatus::New), page: 1, ..LeadQuery::default() };
        let (path, body) = query.to_request(0);
        assert_eq!(path, "rpc/lead_search?select=%2A&order=created_at.desc%2Cid.desc");
        let body: serde_json::Value = serde_json::from_str(&body.unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "term": "Asha K", "status": "new", "sort": "created_at", "descending": true,
                "row_limit": 26, "row_offset": 25,
            })
        );
    }

    #[test]
    fn a_search_names_every_filter_and_the_sort_as_lead_search_arguments() {
        let query = LeadQuery {
            status: Some(LeadStatus::Lost),
            caller: CallerFilter::Caller(7),
            state: Some(" KA ".into()),
            source: Some("Expo, Pune 2026".into()),
            from: Some("2026-11-25".into()),
            to: Some("2026-11-26".into()),
            search: "Priya".into(),
            sort: SortColumn::Status,
            descending: false,
            page: 3,
            page_size: 10,
        };
        let (path, body) = query.to_request(330);
        assert_eq!(path, "rpc/lead_search?select=%2A&order=status.asc%2Ccreated_at.asc%2Cid.asc");
        let body: serde_json::Value = serde_json::from_str(&body.unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "term": "Priya", "status": "lost", "caller_id": 7, "state": "KA", "source": "Expo, Pune 2026",
                "received_from": "2026-11-24T18:30:00.000Z", "received_before": "2026-11-26T18:30:00.000Z",
                "sort": "status", "descending": false, "row_limit": 11, "row_offset": 30,
            })
        );
        let nobody = LeadQuery { caller: CallerFilter::Nobody, ..query };
        let body: serde_json::Value = serde_json::from_str(&nobody.to_request(330).1.unwrap()).unwrap();
        assert_eq!(body["unassigned"], true);
        assert!(body.get("caller_id").is_none(), "{body}");
    }

    #[test]
    fn a_search_sends_percent_underscore_and_brackets_as_typed_for_lead_search_to_read_literally() {
        let query = LeadQuery { search: "50%_off (a),b".into(), ..LeadQuery::default() };
        let body: serde_json::Value = serde_json::from_str(&query.to_request(0).1.unwrap()).unwrap();
        assert_eq!(body["term"], "50%_off (a),b");
    }

    #[test]
    fn the_deepest_search_page_asks_for_the_last_rows_of_the_first_thousand_matches() {
        let query = LeadQuery { search: "Priya".into(), page: MAX_PAGES + 9, ..LeadQuery::default() };
        assert_eq!(query.page(), 39);
        let body: serde_json::Value = serde_json::from_str(&query.to_request(0).1.unwrap()).unwrap();
        assert_eq!(body["row_offset"], 975);
        assert_eq!(body["row_limit"], 26);
        let (offset, limit) = (body["row_offset"].as_u64().unwrap(), body["row_limit"].as_u64().unwrap());
        assert_eq!(offset + limit, u64::from(SEARCH_MAX) + 1, "lead_search's limit: row_offset + row_limit at most 1,001");
        let tens = LeadQuery { page_size: 10, ..query.clone() };
        assert_eq!(tens.page(), 99);
        let without = LeadQuery { search: String::new(), ..query };
        assert_eq!(without.page(), MAX_PAGES - 1, "without a search the table pages to its own cap");
    }

    #[test]
    fn a_search_under_three_characters_is_too_short_and_an_empty_one_is_no_search() {
        assert!(search_too_short("ri"));
        assert!(search_too_short("  r "));
        assert!(search_too_short("नि"), "characters, not bytes");
        assert!(!search_too_short("riy"));
        assert!(!search_too_short(""));
        assert!(!search_too_short("   "));
    }

    #[test]
    fn without_a_search_the_table_reads_leads() {
        let (path, body) = LeadQuery::default().to_request(0);
        assert_eq!(path, "leads?select=%2A&order=created_at.desc%2Cid.desc&limit=25&offset=0");
        assert_eq!(body, None);
    }

    #[test]
    fn a_search_never_reaches_the_leads_query_string_whatever_it_holds() {
        let query = LeadQuery { search: "a),status.eq.lost,(b 98765".into(), ..LeadQuery::default() };
        assert_eq!(query.to_query_string(0), LeadQuery::default().to_query_string(0));
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
        assert_eq!(page_count(1_000_000, 25), u64::from(MAX_PAGES));
    }

    #[test]
    fn a_descending_sort_keeps_one_direction_for_every_tie_break() {
        let query = LeadQuery { sort: SortColumn::AssignedAt, descending: true, ..LeadQuery::default() };
        let q = query.to_query_string(0);
        assert!(q.contains("order=assigned_at.desc%2Ccreated_at.desc%2Cid.desc&"), "{q}");
        assert!(!q.contains("nulls"), "{q}");
    }

    #[test]
    fn a_page_past_the_deepest_asks_for_the_deepest() {
        let query = LeadQuery { page: MAX_PAGES + 50, ..LeadQuery::default() };
        let q = query.to_query_string(0);
        assert!(q.ends_with(&format!("limit=25&offset={}", (MAX_PAGES - 1) * 25)), "{q}");
    }

    #[test]
    fn a_full_page_keeps_the_planned_total_as_an_estimate() {
        let total = Total::of_page(Some(1_003_412), 0, 25, 25);
        assert_eq!(total, Total::About(1_003_412));
        assert_eq!(total.label(), "about 1,000,000 leads");
        assert!(total.has_next(0, 25));
    }

    #[test]
    fn a_planned_total_below_what_was_seen_is_raised_past_it() {
        let total = Total::of_page(Some(30), 3, 25, 25);
        assert_eq!(total, Total::About(101));
        assert!(total.has_next(3, 25));
    }

    #[test]
    fn a_short_page_makes_the_total_exact_whatever_the_planner_said() {
        let total = Total::of_page(Some(5_000), 2, 25, 7);
        assert_eq!(total, Total::Exact(57));
        assert_eq!(total.label(), "57 leads");
        assert!(!total.has_next(2, 25));
        assert_eq!(Total::of_page(Some(200), 0, 25, 1).label(), "1 lead");
        assert_eq!(Total::of_page(Some(200), 0, 25, 0), Total::Exact(0));
    }

    #[test]
    fn the_deepest_page_has_no_next_page() {
        let total = Total::of_page(Some(1_000_000), MAX_PAGES - 1, 25, 25);
        assert!(!total.has_next(MAX_PAGES - 1, 25));
        assert!(total.has_next(MAX_PAGES - 2, 25));
    }

    #[test]
    fn a_search_page_with_its_extra_row_says_more_than_the_rows_so_far_and_has_a_next_page() {
        let total = Total::of_search_page(2, 25, 26);
        assert_eq!(total, Total::More(75));
        assert_eq!(total.label(), "more than 75 leads");
        assert!(total.has_next(2, 25));
        assert_eq!(total.value(), 76);
    }

    #[test]
    fn a_search_page_without_its_extra_row_is_the_last_and_exact() {
        assert_eq!(Total::of_search_page(2, 25, 25), Total::Exact(75));
        assert!(!Total::of_search_page(2, 25, 25).has_next(2, 25));
        assert_eq!(Total::of_search_page(0, 25, 3).label(), "3 leads");
        assert_eq!(Total::of_search_page(0, 25, 0), Total::Exact(0));
        assert_eq!(Total::of_search_page(0, 25, 0).label(), "0 leads");
    }

    #[test]
    fn the_deepest_search_page_has_no_next_page_even_with_more_matches() {
        assert!(!Total::of_search_page(MAX_PAGES - 1, 25, 26).has_next(MAX_PAGES - 1, 25));
        let fortieth = Total::of_search_page(39, 25, 26);
        assert_eq!(fortieth.pages(25), 40);
        assert!(!fortieth.has_next(39, 25), "a search reaches its first 1,000 matches");
        assert!(Total::of_search_page(38, 25, 26).has_next(38, 25));
        assert_eq!(Total::About(5000).pages(25), MAX_PAGES, "the table without a search pages further");
    }

    #[test]
    fn estimates_are_rounded_to_two_significant_digits() {
        assert_eq!(Total::About(87).label(), "about 87 leads");
        assert_eq!(Total::About(23_456).label(), "about 23,000 leads");
        assert_eq!(Total::About(995).label(), "about 1,000 leads");
        assert_eq!(Total::Exact(1_234_567).label(), "1,234,567 leads");
    }

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(encode_component("a b&c=d"), "a%20b%26c%3Dd");
        assert_eq!(encode_component("é"), "%C3%A9");
    }
}
