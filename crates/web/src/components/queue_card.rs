//! One lead in the caller queue: name, place, a `tel:` link, the SLA
//! countdown, an optional note and the status buttons. The page selects a
//! card and may set its status from the keyboard through `keyed`.

use bloc_shared::records::{Lead, LeadStatus};
use bloc_shared::{languages, states};
use leptos::prelude::*;

use crate::components::error_message::ErrorMessage;
use crate::components::status_badge::StatusBadge;
use crate::context::{use_api, use_team};
use crate::display;
use crate::time;

/// When a lead's SLA falls due: `assigned_at` plus the team's SLA (the
/// `caller_queue` view's `sla_due_at`).
fn due_ms(lead: &Lead, sla_minutes: i32) -> Option<i64> {
    let assigned = lead.assigned_at.as_deref().and_then(time::parse_timestamp)?;
    Some(assigned + i64::from(sla_minutes) * 60_000)
}

#[component]
pub fn QueueCard(
    lead: Lead,
    now: ReadSignal<i64>,
    #[prop(into)] selected: Signal<bool>,
    /// A status the keyboard asked for, with the lead it is for.
    keyed: RwSignal<Option<(i64, LeadStatus)>>,
    on_select: Callback<i64>,
) -> impl IntoView {
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
    let (id, current_status) = (lead.id, lead.status);
    Effect::new(move |_| {
        if let Some((for_id, status)) = keyed.get() {
            if for_id == id {
                keyed.set(None);
                if status != current_status && !update.pending().get_untracked() {
                    update.dispatch(status);
                }
            }
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
        <li class="lead-card card" class:selected=move || selected.get() aria-current=move || selected.get().then_some("true")
            data-lead-id=lead.id data-testid="my-lead" on:click=move |_| on_select.run(id)>
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
                {LeadStatus::CALLER_ACTIONS.into_iter().enumerate().map(|(n, status)| {
                    let current = lead.status == status;
                    view! {
                        <button class=format!("button small status-button status-{}", status.as_str())
                            class:current=current
                            aria-pressed=current.to_string()
                            aria-keyshortcuts=(n + 1).to_string()
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
