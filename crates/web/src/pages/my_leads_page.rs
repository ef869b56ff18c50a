//! The caller workspace: "My leads" by SLA due time, with a countdown, a
//! `tel:` link and status buttons with a note.

use std::time::Duration;

use bloc_shared::records::{Lead, LeadStatus};
use bloc_shared::{languages, states};
use leptos::prelude::*;

use crate::components::error_message::ErrorMessage;
use crate::components::status_badge::StatusBadge;
use crate::context::{use_api, use_now, use_realtime, use_team};
use crate::display;
use crate::time;

/// When a lead's SLA falls due: `assigned_at` plus the team's SLA.
fn due_ms(lead: &Lead, sla_minutes: i32) -> Option<i64> {
    let assigned = lead.assigned_at.as_deref().and_then(time::parse_timestamp)?;
    Some(assigned + i64::from(sla_minutes) * 60_000)
}

#[component]
fn LeadCard(lead: Lead, now: ReadSignal<i64>) -> impl IntoView {
    let api = use_api();
    let team = use_team();
    let note = RwSignal::new(String::new());
    let lead_for_action = lead.clone();
    let update = Action::new_local(move |status: &LeadStatus| {
        let (lead, status, text) = (lead_for_action.clone(), *status, note.get_untracked());
        async move { api.set_lead_status(&lead, status, &text).await.map(|saved| saved.status) }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = update.value().get() {
            note.set(String::new());
        }
    });
    let due = due_ms(&lead, team.sla_minutes);
    let awaiting_contact = lead.status == LeadStatus::New;
    let note_id = format!("note-{}", lead.id);
    let name = lead.name.clone().unwrap_or_else(|| "(no name)".to_owned());
    let place = [
        lead.city.clone(),
        lead.state.as_deref().map(|s| states::display_name(s).to_owned()),
        lead.language.as_deref().map(|l| languages::display_name(l).to_owned()),
        lead.source.clone(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ");
    view! {
        <li class="lead-card card" data-lead-id=lead.id data-testid="my-lead">
            <div class="lead-card-head">
                <div>
                    <div class="detail-name">{name.clone()}</div>
                    <div class="muted small">{place}</div>
                </div>
                <StatusBadge status=lead.status/>
            </div>
            <div class="lead-card-row">
                <a class="button call" href=display::tel_href(&lead.phone) aria-label=format!("Call {name}")>
                    "Call " {display::phone(&lead.phone)}
                </a>
                {match (awaiting_contact, due) {
                    (true, Some(due)) => view! {
                        <span class="countdown" class:overdue={move || now.get() > due} data-testid="countdown"
                            title=format!("Contact by {}", time::local_datetime(due, team.offset_minutes))>
                            {move || display::countdown(due - now.get())}
                        </span>
                    }.into_any(),
                    _ => view! {
                        <span class="muted small">
                            {lead.status_changed_at.as_deref().and_then(time::parse_timestamp)
                                .map(|ms| format!("updated {}", time::local_datetime(ms, team.offset_minutes)))
                                .unwrap_or_default()}
                        </span>
                    }.into_any(),
                }}
            </div>
            {lead.notes.clone().filter(|n| !n.trim().is_empty()).map(|n| view! { <p class="notes">{n}</p> })}
            <div class="field">
                <label for=note_id.clone()>"Note (optional)"</label>
                <input id=note_id type="text" maxlength="1000" placeholder="What happened on the call?"
                    prop:value=move || note.get() on:input=move |ev| note.set(event_target_value(&ev))/>
            </div>
            <div class="status-buttons" role="group" aria-label=format!("Set the status of {name}")>
                {LeadStatus::CALLER_ACTIONS.into_iter().map(|status| {
                    let current = lead.status == status;
                    view! {
                        <button class=format!("button small status-button status-{}", status.as_str())
                            class:current=current
                            aria-pressed=current.to_string()
                            disabled=move || update.pending().get() || current
                            on:click=move |_| { update.dispatch(status); }>
                            {status.label()}
                        </button>
                    }
                }).collect_view()}
            </div>
            {move || update.value().get().and_then(Result::err).map(|message| view! { <ErrorMessage message=message.to_string()/> })}
        </li>
    }
}

#[component]
pub fn MyLeadsPage() -> impl IntoView {
    let api = use_api();
    let realtime = use_realtime();
    let team = use_team();
    let now = use_now(Duration::from_secs(1));
    let show_closed = RwSignal::new(false);
    let Some(caller_id) = team.caller_id else {
        return view! {
            <ErrorMessage message="Your account is a caller without a caller profile. Ask an admin to link it."/>
        }
        .into_any();
    };
    // A lead moved to another caller sends no event to this caller's filtered
    // channel, so the list is also refreshed every minute.
    let minute = use_now(Duration::from_secs(60));
    let leads = LocalResource::new(move || {
        minute.track();
        realtime.leads_version.track();
        realtime.resyncs.track();
        async move { api.my_leads(caller_id).await }
    });
    let visible = move || {
        leads.get().map(|result| {
            result.map(|mut rows| {
                let closed = show_closed.get();
                rows.retain(|l| closed || l.status.is_open());
                rows.sort_by_key(|l| (!l.status.is_open(), l.status != LeadStatus::New, due_ms(l, team.sla_minutes).unwrap_or(i64::MAX), l.id));
                rows
            })
        })
    };
    view! {
        <div class="page-head">
            <h1>"My leads"</h1>
            <label class="toggle" for="show-closed">
                <input id="show-closed" type="checkbox" prop:checked=move || show_closed.get()
                    on:change=move |ev| show_closed.set(event_target_checked(&ev))/>
                " Show converted and lost"
            </label>
        </div>
        {move || match visible() {
            None => view! { <p class="loading" role="status">"Loading your leads…"</p> }.into_any(),
            Some(Err(message)) => view! { <ErrorMessage message=message.to_string() on_retry=Callback::new(move |_| leads.refetch())/> }.into_any(),
            Some(Ok(rows)) if rows.is_empty() => view! {
                <p class="empty card">"No open leads right now. New leads appear here as soon as they are assigned to you."</p>
            }.into_any(),
            Some(Ok(rows)) => view! {
                <ol class="my-leads">
                    <For each=move || rows.clone() key=|l| (l.id, l.updated_at.clone(), l.status) let:lead>
                        <LeadCard lead=lead now=now/>
                    </For>
                </ol>
            }.into_any(),
        }}
    }
    .into_any()
}
