//! The newest leads, updated over Realtime; each arrival is highlighted.

use std::collections::HashSet;
use std::time::Duration;

use bloc_shared::records::{Caller, Lead};
use bloc_shared::states;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::error_message::ErrorMessage;
use crate::components::status_badge::StatusBadge;
use crate::context::{use_api, use_now, use_realtime, use_team, Fetch};
use crate::display;
use crate::realtime::phoenix::ChangeKind;
use crate::time;

const FEED_SIZE: usize = 12;
const HIGHLIGHT_MS: u32 = 5_000;

#[derive(Clone, PartialEq)]
enum FeedState {
    Loading,
    Ready,
    Failed(String),
}

#[component]
pub fn LiveFeed(#[prop(into)] callers: Signal<Vec<Caller>>) -> impl IntoView {
    let api = use_api();
    let realtime = use_realtime();
    let team = use_team();
    let now = use_now(Duration::from_secs(20));
    let leads = RwSignal::new(Vec::<Lead>::new());
    let state = RwSignal::new(FeedState::Loading);
    let fresh = RwSignal::new(HashSet::<i64>::new());

    // The newest leads are read through a resource, fetched again after every
    // Realtime (re)join and on "Try again"; arrivals over Realtime are then
    // applied to the feed's copy in `leads`.
    let fetched = Fetch::new(move || {
        realtime.resyncs.track();
        async move { api.recent_leads(FEED_SIZE as u32).await }
    });
    Effect::new(move |_| match fetched.get() {
        None => {}
        Some(Ok(rows)) => {
            leads.set(rows);
            state.set(FeedState::Ready);
        }
        Some(Err(error)) => state.set(FeedState::Failed(error.to_string())),
    });
    realtime.on_change("leads", move |change| {
        let record = if change.kind == ChangeKind::Delete { &change.old_record } else { &change.record };
        let Ok(lead) = serde_json::from_value::<Lead>(record.clone()) else { return };
        match change.kind {
            ChangeKind::Insert => {
                leads.update(|list| {
                    list.retain(|l| l.id != lead.id);
                    list.insert(0, lead.clone());
                    list.truncate(FEED_SIZE);
                });
                fresh.update(|f| {
                    f.insert(lead.id);
                });
                let id = lead.id;
                spawn_local(async move {
                    gloo_timers::future::TimeoutFuture::new(HIGHLIGHT_MS).await;
                    fresh.try_update(|f| f.remove(&id));
                });
            }
            ChangeKind::Update => leads.update(|list| {
                if let Some(existing) = list.iter_mut().find(|l| l.id == lead.id) {
                    *existing = lead;
                }
            }),
            ChangeKind::Delete => leads.update(|list| list.retain(|l| l.id != lead.id)),
        }
    });

    let caller_name = move |id: Option<i64>| -> String {
        match id {
            None => "Unassigned".to_owned(),
            Some(id) => callers.with(|cs| {
                cs.iter().find(|c| c.id == id).map(|c| c.name.clone()).unwrap_or_else(|| format!("Caller {id}"))
            }),
        }
    };

    view! {
        {move || match state.get() {
            FeedState::Loading => view! { <p class="loading" role="status">"Loading the newest leads…"</p> }.into_any(),
            FeedState::Failed(message) => view! {
                <ErrorMessage message=message on_retry=Callback::new(move |_| fetched.refetch())/>
            }
            .into_any(),
            FeedState::Ready if leads.with(Vec::is_empty) => view! {
                <p class="empty">"No leads yet. New leads appear here the moment they arrive."</p>
            }
            .into_any(),
            FeedState::Ready => view! {
                <ol class="feed" data-testid="live-feed" aria-live="polite">
                    <For each=move || leads.get() key=|lead| (lead.id, lead.updated_at.clone()) let:lead>
                        {
                            let id = lead.id;
                            // Named reactively: the callers may load after the lead is shown.
                            let caller_id = lead.caller_id;
                            let created = time::parse_timestamp(&lead.created_at);
                            let place = lead.state.as_deref().map(states::display_name).unwrap_or("—").to_owned();
                            view! {
                                <li class="feed-item" class:arrived=move || fresh.with(|f| f.contains(&id)) data-lead-id=id>
                                    <div class="feed-main">
                                        <span class="feed-name">{lead.name.clone().unwrap_or_else(|| "(no name)".to_owned())}</span>
                                        {display::is_test_lead(&lead.metadata).then(|| view! { <span class="badge test-lead">"test"</span> })}
                                        <StatusBadge status=lead.status/>
                                    </div>
                                    <div class="feed-meta">
                                        <span>{place}</span>
                                        {lead.source.clone().map(|s| view! { <span class="feed-source">{s}</span> })}
                                        <span>"→ " {move || caller_name(caller_id)}</span>
                                        <span class="feed-time" title=move || created.map(|ms| time::local_datetime(ms, team.offset_minutes)).unwrap_or_default()>
                                            {move || created.map(|ms| display::relative(now.get(), ms)).unwrap_or_default()}
                                        </span>
                                    </div>
                                </li>
                            }
                        }
                    </For>
                </ol>
            }
            .into_any(),
        }}
    }
}
