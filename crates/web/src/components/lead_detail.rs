//! The lead detail panel: fields, metadata, the assignment timeline from the
//! `assignment_timeline` view (candidates only when the reader may see them),
//! and manual reassignment through `reassign_lead`.

use bloc_shared::records::{AssignmentLog, Caller, Lead};
use bloc_shared::{languages, states};
use leptos::ev::KeyboardEvent;
use leptos::prelude::*;

use crate::components::error_message::ErrorMessage;
use crate::components::status_badge::StatusBadge;
use crate::context::{use_api, use_realtime, use_team, Fetch};
use crate::display;
use crate::error::ApiError;
use crate::time;

fn caller_label(callers: &[Caller], id: Option<i64>) -> String {
    match id {
        None => "nobody".to_owned(),
        Some(id) => callers.iter().find(|c| c.id == id).map(|c| c.name.clone()).unwrap_or_else(|| format!("caller {id}")),
    }
}

#[component]
pub fn LeadDetail(id: i64, #[prop(into)] callers: Signal<Vec<Caller>>, on_close: Callback<()>) -> impl IntoView {
    let api = use_api();
    let realtime = use_realtime();
    let team = use_team();
    let detail = Fetch::new(move || {
        realtime.leads_version.track();
        realtime.logs_version.track();
        realtime.resyncs.track();
        async move {
            let lead = api.lead(id).await?;
            let logs = api.assignment_timeline(id).await?;
            Ok::<(Lead, Vec<AssignmentLog>), ApiError>((lead, logs))
        }
    });
    let target = RwSignal::new(String::new());
    let note = RwSignal::new(String::new());
    let reassign = Action::new_local(move |(caller_id, note): &(i64, String)| {
        let (caller_id, note) = (*caller_id, note.clone());
        async move { api.reassign_lead(id, caller_id, &note).await.map(|_| caller_id) }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = reassign.value().get() {
            note.set(String::new());
            target.set(String::new());
            detail.refetch();
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Ok(caller_id) = target.get_untracked().parse::<i64>() {
            reassign.dispatch((caller_id, note.get_untracked()));
        }
    };
    let on_keydown = move |ev: KeyboardEvent| {
        if ev.key() == "Escape" {
            on_close.run(());
        }
    };
    let close_button = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if let Some(button) = close_button.get() {
            let _ = button.focus();
        }
    });
    let offset = team.offset_minutes;
    let when = move |text: &Option<String>| text.as_deref().map(|t| time::display_timestamp(t, offset)).unwrap_or_else(|| "—".to_owned());

    view! {
        <aside class="drawer" role="dialog" aria-modal="false" aria-labelledby="lead-detail-title" on:keydown=on_keydown data-testid="lead-detail">
            <div class="drawer-head">
                <h2 id="lead-detail-title">{format!("Lead #{id}")}</h2>
                <button class="button secondary small" node_ref=close_button on:click=move |_| on_close.run(()) aria-label="Close lead details">"✕"</button>
            </div>
            {move || match detail.get() {
                None => view! { <p class="loading" role="status">"Loading the lead…"</p> }.into_any(),
                Some(Err(message)) => view! { <ErrorMessage message=message.to_string() on_retry=Callback::new(move |_| detail.refetch())/> }.into_any(),
                Some(Ok((lead, logs))) => {
                    let metadata = serde_json::to_string_pretty(&lead.metadata).unwrap_or_default();
                    let all_callers = callers.get();
                    let current = lead.caller_id;
                    let options = all_callers
                        .iter()
                        .filter(|c| Some(c.id) != current)
                        .map(|c| {
                            let label = if c.active { c.name.clone() } else { format!("{} (inactive)", c.name) };
                            view! { <option value=c.id.to_string()>{label}</option> }
                        })
                        .collect_view();
                    view! {
                        <div class="drawer-body">
                            <div class="detail-title">
                                <span class="detail-name">{lead.name.clone().unwrap_or_else(|| "(no name)".to_owned())}</span>
                                <StatusBadge status=lead.status/>
                            </div>
                            <dl class="fields">
                                <dt>"Phone"</dt><dd><a href=display::tel_href(&lead.phone)>{display::phone(&lead.phone)}</a></dd>
                                <dt>"Email"</dt><dd>{lead.email.clone().unwrap_or_else(|| "—".to_owned())}</dd>
                                <dt>"State"</dt><dd>{lead.state.as_deref().map(states::display_name).unwrap_or("—").to_owned()}</dd>
                                <dt>"City"</dt><dd>{lead.city.clone().unwrap_or_else(|| "—".to_owned())}</dd>
                                <dt>"Language"</dt><dd>{lead.language.as_deref().map(languages::display_name).unwrap_or("—").to_owned()}</dd>
                                <dt>"Source"</dt><dd>{lead.source.clone().unwrap_or_else(|| "—".to_owned())}</dd>
                                <dt>"Caller"</dt><dd data-testid="detail-caller">{caller_label(&all_callers, lead.caller_id)}</dd>
                                <dt>"Received"</dt><dd>{time::display_timestamp(&lead.created_at, offset)}</dd>
                                <dt>"Assigned"</dt><dd>{when(&lead.assigned_at)}</dd>
                                <dt>"Contacted"</dt><dd>{when(&lead.contacted_at)}</dd>
                                <dt>"Duplicates"</dt><dd>{lead.duplicate_count.to_string()}</dd>
                                <dt>"Reassigned"</dt><dd>{format!("{} times", lead.reassign_count)}</dd>
                                <dt>"Notes"</dt><dd class="notes">{lead.notes.clone().unwrap_or_else(|| "—".to_owned())}</dd>
                            </dl>
                            <details class="metadata">
                                <summary>"Metadata"</summary>
                                <pre>{metadata}</pre>
                            </details>
                            <h3>"Assignment timeline"</h3>
                            {if logs.is_empty() {
                                view! { <p class="empty">"No assignment decisions recorded for this lead."</p> }.into_any()
                            } else {
                                view! {
                                    <ol class="timeline" data-testid="timeline">
                                        {logs.into_iter().map(|log| {
                                            let candidates = log.candidates.clone();
                                            view! {
                                                <li>
                                                    <div class="timeline-head">
                                                        <strong>{log.reason.label()}</strong>
                                                        {log.tier.map(|t| view! { <span class="muted">{format!(" · tier {t}")}</span> })}
                                                        <span class="muted">{format!(" · {}", time::display_timestamp(&log.created_at, offset))}</span>
                                                    </div>
                                                    <div>
                                                        {match log.previous_caller_id {
                                                            Some(_) => format!("{} → {}", caller_label(&all_callers, log.previous_caller_id), caller_label(&all_callers, log.caller_id)),
                                                            None => format!("to {}", caller_label(&all_callers, log.caller_id)),
                                                        }}
                                                    </div>
                                                    {log.note.clone().map(|n| view! { <div class="muted">{n}</div> })}
                                                    {(!candidates.is_empty()).then(|| view! {
                                                        <details>
                                                            <summary>{format!("{} candidates considered", candidates.len())}</summary>
                                                            <ul class="candidates">
                                                                {candidates.into_iter().map(|c| view! {
                                                                    <li>{format!("{} — {} / {} today, weight {}", c.name.unwrap_or_else(|| format!("caller {}", c.caller_id)), c.assigned_today, c.daily_lead_limit, c.weight)}</li>
                                                                }).collect_view()}
                                                            </ul>
                                                        </details>
                                                    })}
                                                </li>
                                            }
                                        }).collect_view()}
                                    </ol>
                                }.into_any()
                            }}
                            <form class="reassign" on:submit=submit>
                                <h3>"Reassign"</h3>
                                <label for="reassign-caller">"New caller"</label>
                                <select id="reassign-caller" required prop:value=move || target.get() on:change=move |ev| target.set(event_target_value(&ev))>
                                    <option value="">"Choose a caller…"</option>
                                    {options}
                                </select>
                                <label for="reassign-note">"Note (optional)"</label>
                                <input id="reassign-note" type="text" maxlength="500" prop:value=move || note.get() on:input=move |ev| note.set(event_target_value(&ev))/>
                                <button class="button" type="submit" disabled=move || reassign.pending().get() || target.get().is_empty()>
                                    {move || if reassign.pending().get() { "Reassigning…" } else { "Reassign lead" }}
                                </button>
                                {move || reassign.value().get().map(|result| match result {
                                    Ok(caller_id) => view! { <p class="success" role="status">{format!("Reassigned to {}.", caller_label(&callers.get_untracked(), Some(caller_id)))}</p> }.into_any(),
                                    Err(message) => view! { <ErrorMessage message=message.to_string()/> }.into_any(),
                                })}
                            </form>
                        </div>
                    }
                    .into_any()
                }
            }}
        </aside>
    }
}
