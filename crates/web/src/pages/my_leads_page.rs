//! The caller workspace: "My leads", the caller queue one page at a time in
//! SLA order (the `caller_queue` view orders it server-side), with a
//! keyboard flow (next, call, set status), opt-in alerts for new leads, and
//! the converted and lost leads on a second tab.

use std::time::Duration;

use bloc_shared::records::Lead;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::alerts;
use crate::clock::now_ms;
use crate::components::error_message::ErrorMessage;
use crate::components::queue_alerts::QueueAlerts;
use crate::components::queue_card::QueueCard;
use crate::components::shortcut_legend::ShortcutLegend;
use crate::context::{use_api, use_now, use_realtime, use_team, Fetch};
use crate::display;
use crate::queue::{self, KeyAction, Step};
use crate::realtime::phoenix::ChangeKind;

/// Lead ids with the `assigned_at` last seen for them, kept to this many.
const SEEN_LIMIT: usize = 500;

fn remember(seen: &mut Vec<(i64, String)>, rows: &[Lead]) {
    for lead in rows {
        if let Some(at) = &lead.assigned_at {
            if !seen.iter().any(|(id, seen_at)| *id == lead.id && seen_at == at) {
                seen.push((lead.id, at.clone()));
            }
        }
    }
    let excess = seen.len().saturating_sub(SEEN_LIMIT);
    seen.drain(..excess);
}

/// Whether the key press comes from a text field.
fn typing(ev: &web_sys::KeyboardEvent) -> bool {
    ev.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
        .is_some_and(|el| queue::is_typing(&el.tag_name(), el.is_content_editable()))
}

fn scroll_to_selected() {
    let selected = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector("[data-testid=my-lead].selected").ok().flatten());
    if let Some(card) = selected {
        card.scroll_into_view_with_bool(false);
    }
}

#[component]
pub fn MyLeadsPage() -> impl IntoView {
    let api = use_api();
    let realtime = use_realtime();
    let team = use_team();
    let now = use_now(Duration::from_secs(1));
    let Some(caller_id) = team.caller_id else {
        return view! {
            <ErrorMessage message="Your account is a caller without a caller profile. Ask an admin to link it."/>
        }
        .into_any();
    };
    let closed = RwSignal::new(false);
    let page = RwSignal::new(0u32);
    // The selected row of the page; past the end means the last row.
    let selected = RwSignal::new(None::<usize>);
    let keyed = RwSignal::new(None);
    let seen = StoredValue::new(Vec::<(i64, String)>::new());
    // A lead moved to another caller sends no event to this caller's filtered
    // channel, so the list is also refreshed every minute.
    let minute = use_now(Duration::from_secs(60));
    let leads = Fetch::new(move || {
        minute.track();
        realtime.leads_version.track();
        realtime.resyncs.track();
        let (closed, page) = (closed.get(), page.get());
        async move {
            let answer = if closed { api.closed_leads(caller_id, page).await } else { api.caller_queue(caller_id, page).await };
            if let Ok((rows, _)) = &answer {
                seen.update_value(|seen| remember(seen, rows));
            }
            // The page the rows are of, which the page signal may have left already.
            answer.map(|(rows, total)| (rows, total, page))
        }
    });
    let page_rows = move || leads.get().and_then(Result::ok).map(|(rows, _, _)| rows).unwrap_or_default();
    let total = move || leads.get().and_then(Result::ok).map_or(0, |(_, total, _)| total);
    let shown_page = move || leads.get().and_then(Result::ok).map_or(0, |(_, _, page)| page);
    let selected_row = move || {
        let count = page_rows().len();
        selected.get().filter(|_| count > 0).map(|row| row.min(count - 1))
    };
    let selected_id = Memo::new(move |_| selected_row().and_then(|row| page_rows().get(row).map(|l| l.id)));
    let go_to_page = move |to: u32| {
        page.set(to);
        selected.set(None);
    };

    realtime.on_change("leads", move |change| {
        if change.kind == ChangeKind::Delete {
            return;
        }
        let fresh = seen.with_value(|seen| queue::newly_assigned(&change.record, caller_id, now_ms(), seen));
        if let Some((id, name)) = fresh {
            if let Some(at) = change.record.get("assigned_at").and_then(|v| v.as_str()) {
                seen.update_value(|seen| seen.push((id, at.to_owned())));
            }
            alerts::announce(id, &name);
        }
    });

    let keys = window_event_listener(leptos::ev::keydown, move |ev| {
        let modified = ev.ctrl_key() || ev.alt_key() || ev.meta_key();
        let Some(action) = queue::key_action(&ev.key(), modified) else { return };
        if typing(&ev) {
            return;
        }
        ev.prevent_default();
        let count = page_rows().len();
        match action {
            KeyAction::Next | KeyAction::Previous => {
                match queue::step(selected_row(), count, shown_page(), total(), action == KeyAction::Next) {
                    Step::Row(row) => selected.set(Some(row)),
                    Step::Page { page: to, last } => {
                        page.set(to);
                        selected.set(Some(if last { usize::MAX } else { 0 }));
                    }
                    Step::Stay => {}
                }
                request_animation_frame(scroll_to_selected);
            }
            KeyAction::Call => {
                let lead = selected_row().and_then(|row| page_rows().into_iter().nth(row));
                if let (Some(lead), Some(window)) = (lead, web_sys::window()) {
                    let _ = window.location().set_href(&display::tel_href(&lead.phone));
                }
            }
            KeyAction::SetStatus(status) => {
                if let Some(id) = selected_id.get_untracked() {
                    keyed.set(Some((id, status)));
                }
            }
        }
    });
    on_cleanup(move || keys.remove());

    let tab = move |label: &'static str, is_closed: bool| {
        view! {
            <button class="button small" class:secondary=move || closed.get() != is_closed
                aria-pressed=move || (closed.get() == is_closed).to_string()
                on:click=move |_| { closed.set(is_closed); go_to_page(0); }>
                {label}
            </button>
        }
    };
    view! {
        <div class="page-head">
            <h1>"My leads"</h1>
            <QueueAlerts/>
        </div>
        <div class="queue-bar">
            <div class="queue-tabs" role="group" aria-label="Which leads">
                {tab("Open", false)}
                {tab("Converted and lost", true)}
            </div>
            <ShortcutLegend/>
        </div>
        {move || match leads.get() {
            None => view! { <p class="loading" role="status">"Loading your leads…"</p> }.into_any(),
            Some(Err(message)) => view! { <ErrorMessage message=message.to_string() on_retry=Callback::new(move |_| leads.refetch())/> }.into_any(),
            Some(Ok((rows, _, _))) if rows.is_empty() && !closed.get_untracked() => view! {
                <p class="empty card">"No open leads right now. New leads appear here as soon as they are assigned to you."</p>
            }.into_any(),
            Some(Ok((rows, _, _))) if rows.is_empty() => view! {
                <p class="empty card">"No converted or lost leads yet."</p>
            }.into_any(),
            Some(Ok((rows, total, shown))) => {
                let count = rows.len();
                view! {
                    <ol class="my-leads" data-testid="caller-queue">
                        <For each=move || rows.clone() key=|l| (l.id, l.updated_at.clone(), l.status) let:lead>
                            {
                                let id = lead.id;
                                view! {
                                    <QueueCard lead=lead now=now keyed=keyed
                                        selected=Signal::derive(move || selected_id.get() == Some(id))
                                        on_select=Callback::new(move |id| {
                                            if let Some(row) = page_rows().iter().position(|l| l.id == id) {
                                                selected.set(Some(row));
                                            }
                                        })/>
                                }
                            }
                        </For>
                    </ol>
                    <nav class="pagination" aria-label="Queue pages">
                        <button class="button secondary small" disabled={shown == 0}
                            on:click=move |_| go_to_page(shown.saturating_sub(1))>"‹ Previous"</button>
                        <span data-testid="queue-range">{queue::range_text(shown, count, total)}</span>
                        <button class="button secondary small" disabled={shown + 1 >= queue::page_count(total)}
                            on:click=move |_| go_to_page(shown + 1)>"Next ›"</button>
                    </nav>
                }.into_any()
            }
        }}
    }
    .into_any()
}
