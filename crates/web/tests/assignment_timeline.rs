//! The lead detail panel reads `public.assignment_timeline` rows into
//! `AssignmentLog`. The view gives callers `candidates: null` and admins the
//! engine's list; the panel shows "N candidates considered" only for a
//! non-empty list, so a null must decode as an empty list, not fail the row.

use bloc_shared::records::{AssignmentLog, AssignmentReason};

fn decode(row: serde_json::Value) -> AssignmentLog {
    serde_json::from_value(row).unwrap_or_else(|e| panic!("an assignment_timeline row decodes: {e}"))
}

#[test]
fn a_callers_timeline_row_with_null_candidates_decodes_with_no_candidates() {
    let log = decode(serde_json::json!({
        "id": 11, "lead_id": 7, "caller_id": 3, "previous_caller_id": null,
        "reason": "state_match", "tier": 1, "candidates": null, "note": null,
        "created_at": "2026-11-30T08:00:00+00:00"
    }));
    assert!(log.candidates.is_empty());
    assert_eq!(log.caller_id, Some(3));
    assert_eq!(log.reason, AssignmentReason::StateMatch);
}

#[test]
fn an_admins_timeline_row_keeps_its_candidates() {
    let log = decode(serde_json::json!({
        "id": 12, "lead_id": 7, "caller_id": 4, "previous_caller_id": 3,
        "reason": "sla_reassign", "tier": 2, "note": "on leave",
        "candidates": [{"caller_id": 4, "name": "Meera", "assigned_today": 3, "daily_lead_limit": 10, "weight": 2}],
        "created_at": "2026-11-30T09:00:00+00:00"
    }));
    assert_eq!(log.candidates.len(), 1);
    assert_eq!(log.candidates[0].name.as_deref(), Some("Meera"));
    assert_eq!(log.previous_caller_id, Some(3));
}
