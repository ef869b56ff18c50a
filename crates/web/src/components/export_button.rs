//! "Export CSV" on the leads table: every lead its filters match (up to
//! `EXPORT_MAX`, or a search's first `SEARCH_MAX`), in its order, paged from
//! PostgREST and saved as a file. An export that stops at its cap says so.

use bloc_shared::records::{Caller, Lead};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::context::{use_api, use_team};
use crate::csv::write_record;
use crate::download;
use crate::api::EXPORT_MAX;
use crate::query::{LeadQuery, SEARCH_MAX};

const COLUMNS: [&str; 14] = [
    "id", "received_at", "name", "phone", "email", "state", "city", "language", "source", "status", "caller",
    "assigned_at", "notes", "reassign_count",
];

fn lead_csv(leads: &[Lead], callers: &[Caller]) -> String {
    let mut out = write_record(&COLUMNS);
    for lead in leads {
        let caller = lead.caller_id.map(|id| callers.iter().find(|c| c.id == id).map_or(id.to_string(), |c| c.name.clone()));
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        out.push_str(&write_record(&[
            lead.id.to_string(),
            lead.created_at.clone(),
            text(&lead.name),
            lead.phone.clone(),
            text(&lead.email),
            text(&lead.state),
            text(&lead.city),
            text(&lead.language),
            text(&lead.source),
            lead.status.as_str().to_owned(),
            caller.unwrap_or_default(),
            text(&lead.assigned_at),
            text(&lead.notes),
            lead.reassign_count.to_string(),
        ]));
    }
    out
}

#[component]
pub fn ExportButton(query: RwSignal<LeadQuery>, callers: Signal<Vec<Caller>>) -> impl IntoView {
    let api = use_api();
    let team = use_team();
    let status = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let export = move |_| {
        busy.set(true);
        status.set(Some("Exporting…".to_owned()));
        let q = query.get_untracked();
        let cap = if q.search.trim().is_empty() { EXPORT_MAX } else { SEARCH_MAX as usize };
        spawn_local(async move {
            let fetched = api.export_leads(&q, team.offset_minutes, |n| status.set(Some(format!("Exporting… {n} leads")))).await;
            match fetched {
                Ok(leads) => {
                    let file = callers.with_untracked(|cs| lead_csv(&leads, cs));
                    let saved = download::save_text("leads.csv", "text/csv", &file);
                    status.set(Some(match saved {
                        Ok(()) if leads.len() >= cap => format!("Exported the first {} leads; narrow the filters for the rest.", leads.len()),
                        Ok(()) => format!("Exported {} leads.", leads.len()),
                        Err(why) => why,
                    }));
                }
                Err(error) => status.set(Some(format!("Export failed: {error}"))),
            }
            busy.set(false);
        });
    };
    view! {
        <span class="export">
            <button class="button secondary" type="button" disabled=move || busy.get() on:click=export>"Export CSV"</button>
            <span class="export-status" role="status">{move || status.get()}</span>
        </span>
    }
}
