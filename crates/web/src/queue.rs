//! The caller queue's plain logic: which key does what, moving the selection
//! across pages, and which Realtime change is a lead newly given to this
//! caller (worth a notification). The page and its alerts are in
//! `pages::my_leads_page` and `alerts`.

use bloc_shared::records::LeadStatus;
use serde_json::Value;

use crate::time;

/// Leads per queue page.
pub const PAGE_SIZE: u32 = 20;

/// What a key press asks of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    Next,
    Previous,
    Call,
    SetStatus(LeadStatus),
}

/// The shortcut legend: keys and what they do, in the order shown.
pub const LEGEND: [(&str, &str); 7] = [
    ("j / n", "next lead"),
    ("k / p", "previous lead"),
    ("c", "call"),
    ("1", "contacted"),
    ("2", "qualified"),
    ("3", "converted"),
    ("4", "lost"),
];

/// The action for a `KeyboardEvent.key`; none with Ctrl, Alt or Meta held,
/// so the browser's own shortcuts keep working.
pub fn key_action(key: &str, modified: bool) -> Option<KeyAction> {
    if modified {
        return None;
    }
    Some(match key {
        "j" | "n" | "J" | "N" => KeyAction::Next,
        "k" | "p" | "K" | "P" => KeyAction::Previous,
        "c" | "C" => KeyAction::Call,
        "1" => KeyAction::SetStatus(LeadStatus::Contacted),
        "2" => KeyAction::SetStatus(LeadStatus::Qualified),
        "3" => KeyAction::SetStatus(LeadStatus::Converted),
        "4" => KeyAction::SetStatus(LeadStatus::Lost),
        _ => return None,
    })
}

/// Whether a key press goes to a text field (the focused element's tag name
/// and `contenteditable`), where shortcuts must not fire.
pub fn is_typing(tag_name: &str, content_editable: bool) -> bool {
    content_editable || matches!(tag_name.to_ascii_uppercase().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
}

/// Where a Next or Previous press moves the selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// This row of the current page.
    Row(usize),
    /// Another page, selecting its first row (`false`) or its last (`true`).
    Page { page: u32, last: bool },
    /// Already at the start or the end of the queue.
    Stay,
}

/// Moves the selection `row` (of `rows` on page `page`, `total` in the
/// queue) one lead forward or back, crossing to the next or previous page
/// at a page's edge.
pub fn step(row: Option<usize>, rows: usize, page: u32, total: u64, forward: bool) -> Step {
    if rows == 0 {
        return Step::Stay;
    }
    let Some(row) = row else {
        return Step::Row(if forward { 0 } else { rows - 1 });
    };
    let pages = page_count(total);
    match forward {
        true if row + 1 < rows => Step::Row(row + 1),
        true if page + 1 < pages => Step::Page { page: page + 1, last: false },
        false if row > 0 => Step::Row(row - 1),
        false if page > 0 => Step::Page { page: page - 1, last: true },
        _ => Step::Stay,
    }
}

/// Pages needed for `total` leads (at least one).
pub fn page_count(total: u64) -> u32 {
    u32::try_from(total.div_ceil(u64::from(PAGE_SIZE))).unwrap_or(u32::MAX).max(1)
}

/// The first and last position shown on `page` (1-based) and the total, as
/// `21–40 of 57`; `0 of 0` for an empty queue.
pub fn range_text(page: u32, rows: usize, total: u64) -> String {
    if rows == 0 {
        return format!("0 of {total}");
    }
    let first = u64::from(page) * u64::from(PAGE_SIZE) + 1;
    format!("{first}–{} of {total}", first + rows as u64 - 1)
}

/// How recent an assignment must be to be announced: Realtime delivers
/// within seconds, and an older `assigned_at` on a change means the lead
/// was edited (a note by an admin), not newly given.
pub const FRESH_MS: i64 = 5 * 60_000;

/// A lead newly given to this caller, from a Realtime change's record:
/// `(lead id, name)` when the record is a lead of `caller_id`, still `new`,
/// assigned within [`FRESH_MS`] of `now_ms`, with an `assigned_at` other
/// than the one last seen for it (`seen` pairs a lead id with its
/// `assigned_at`). The caller's own status changes leave `new` and so are
/// never announced, nor is a second change to the same assignment; a lead
/// moved back to this caller gets a new `assigned_at` and is.
pub fn newly_assigned(record: &Value, caller_id: i64, now_ms: i64, seen: &[(i64, String)]) -> Option<(i64, String)> {
    let id = record.get("id")?.as_i64()?;
    if record.get("caller_id")?.as_i64()? != caller_id || record.get("status")?.as_str()? != "new" {
        return None;
    }
    let assigned_at = record.get("assigned_at")?.as_str()?;
    if time::parse_timestamp(assigned_at)? < now_ms - FRESH_MS {
        return None;
    }
    if seen.iter().any(|(seen_id, at)| *seen_id == id && at == assigned_at) {
        return None;
    }
    let name = record.get("name").and_then(Value::as_str).unwrap_or("(no name)").to_owned();
    Some((id, name))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn vim_and_emacs_style_keys_move_and_number_keys_set_a_status() {
        assert_eq!(key_action("j", false), Some(KeyAction::Next));
        assert_eq!(key_action("n", false), Some(KeyAction::Next));
        assert_eq!(key_action("k", false), Some(KeyAction::Previous));
        assert_eq!(key_action("p", false), Some(KeyAction::Previous));
        assert_eq!(key_action("c", false), Some(KeyAction::Call));
        let statuses: Vec<_> = ["1", "2", "3", "4"].iter().map(|k| key_action(k, false)).collect();
        let expected: Vec<_> = LeadStatus::CALLER_ACTIONS.iter().map(|s| Some(KeyAction::SetStatus(*s))).collect();
        assert_eq!(statuses, expected);
    }

    #[test]
    fn keys_with_a_modifier_and_unknown_keys_do_nothing() {
        assert_eq!(key_action("n", true), None);
        assert_eq!(key_action("1", true), None);
        assert_eq!(key_action("x", false), None);
        assert_eq!(key_action("5", false), None);
        assert_eq!(key_action("Enter", false), None);
    }

    #[test]
    fn shortcuts_stay_off_while_typing_in_a_field() {
        assert!(is_typing("INPUT", false));
        assert!(is_typing("textarea", false));
        assert!(is_typing("SELECT", false));
        assert!(is_typing("DIV", true));
        assert!(!is_typing("BUTTON", false));
        assert!(!is_typing("BODY", false));
    }

    #[test]
    fn the_legend_names_a_key_for_every_caller_status() {
        for status in LeadStatus::CALLER_ACTIONS {
            let (key, _) = LEGEND.iter().find(|(_, what)| *what == status.label().to_lowercase()).unwrap();
            assert_eq!(key_action(key, false), Some(KeyAction::SetStatus(status)));
        }
    }

    #[test]
    fn the_selection_moves_within_a_page_then_to_the_next_and_previous_pages() {
        // 45 leads: pages of 20, 20 and 5.
        assert_eq!(step(None, 20, 0, 45, true), Step::Row(0));
        assert_eq!(step(None, 20, 0, 45, false), Step::Row(19));
        assert_eq!(step(Some(3), 20, 0, 45, true), Step::Row(4));
        assert_eq!(step(Some(19), 20, 0, 45, true), Step::Page { page: 1, last: false });
        assert_eq!(step(Some(0), 20, 1, 45, false), Step::Page { page: 0, last: true });
        assert_eq!(step(Some(4), 5, 2, 45, true), Step::Stay);
        assert_eq!(step(Some(0), 20, 0, 45, false), Step::Stay);
        assert_eq!(step(None, 0, 0, 0, true), Step::Stay);
    }

    #[test]
    fn pages_and_ranges_count_from_one() {
        assert_eq!([0, 1, 20, 21, 57].map(page_count), [1, 1, 1, 2, 3]);
        assert_eq!(range_text(0, 20, 57), "1–20 of 57");
        assert_eq!(range_text(2, 17, 57), "41–57 of 57");
        assert_eq!(range_text(0, 0, 0), "0 of 0");
    }

    /// 2026-11-30T10:01:00Z.
    const NOW: i64 = 1_796_032_860_000;

    #[test]
    fn a_lead_assigned_to_this_caller_is_announced_once() {
        let record = json!({"id": 7, "caller_id": 3, "status": "new", "name": "Asha", "assigned_at": "2026-11-30T10:00:00Z"});
        assert_eq!(newly_assigned(&record, 3, NOW, &[]), Some((7, "Asha".to_owned())));
        assert_eq!(newly_assigned(&record, 3, NOW, &[(7, "2026-11-30T10:00:00Z".to_owned())]), None);
        // Moved away and given back later: a new assignment.
        assert_eq!(newly_assigned(&record, 3, NOW, &[(7, "2026-11-29T09:00:00Z".to_owned())]), Some((7, "Asha".to_owned())));
    }

    #[test]
    fn an_edit_to_a_lead_assigned_long_ago_is_not_announced() {
        let record = json!({"id": 7, "caller_id": 3, "status": "new", "assigned_at": "2026-11-30T09:00:00Z"});
        assert_eq!(newly_assigned(&record, 3, NOW, &[]), None);
    }

    #[test]
    fn status_changes_and_other_callers_leads_are_not_announced() {
        let contacted = json!({"id": 7, "caller_id": 3, "status": "contacted", "assigned_at": "2026-11-30T10:00:00Z"});
        let elsewhere = json!({"id": 8, "caller_id": 4, "status": "new", "assigned_at": "2026-11-30T10:00:00Z"});
        let unassigned = json!({"id": 9, "caller_id": null, "status": "unassigned", "assigned_at": null});
        assert_eq!(newly_assigned(&contacted, 3, NOW, &[]), None);
        assert_eq!(newly_assigned(&elsewhere, 3, NOW, &[]), None);
        assert_eq!(newly_assigned(&unassigned, 3, NOW, &[]), None);
        assert_eq!(newly_assigned(&json!(null), 3, NOW, &[]), None);
    }
}
