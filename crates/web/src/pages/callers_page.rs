//! Callers: list, create, edit and deactivate. An edit shows at once and is
//! reconciled with the row that comes back (over HTTP and over Realtime).

use std::collections::HashSet;

use bloc_shared::records::Caller;
use bloc_shared::{languages, states};
use leptos::prelude::*;

use crate::components::caller_form::CallerFormPanel;
use crate::components::error_message::ErrorMessage;
use crate::context::{use_api, use_realtime, use_team, Fetch};
use crate::forms::{CallerForm, CallerInput};
use crate::realtime::phoenix::ChangeKind;
use crate::time;

#[derive(Clone, PartialEq)]
enum ListState {
    Loading,
    Ready,
    Failed(String),
}

#[derive(Clone, PartialEq)]
enum Editing {
    New,
    Existing(Caller),
}

fn upsert(list: &mut Vec<Caller>, caller: Caller) {
    match list.iter_mut().find(|c| c.id == caller.id) {
        Some(existing) => *existing = caller,
        None => {
            list.push(caller);
            list.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then(a.id.cmp(&b.id)));
        }
    }
}

fn list_names(codes: &[String], name: fn(&str) -> &str) -> String {
    if codes.is_empty() {
        return "—".to_owned();
    }
    codes.iter().map(|c| name(c)).collect::<Vec<_>>().join(", ")
}

#[component]
pub fn CallersPage() -> impl IntoView {
    let api = use_api();
    let realtime = use_realtime();
    let team = use_team();
    let callers = RwSignal::new(Vec::<Caller>::new());
    let state = RwSignal::new(ListState::Loading);
    let pending = RwSignal::new(HashSet::<i64>::new());
    let editing = RwSignal::new(None::<Editing>);
    let form_error = RwSignal::new(None::<String>);
    let banner = RwSignal::new(None::<String>);

    // The list is read through a resource, fetched again after every Realtime
    // (re)join and on "Try again"; Realtime rows and optimistic edits then
    // patch the page's copy in `callers`.
    let fetched = Fetch::new(move || {
        realtime.resyncs.track();
        async move { api.callers().await }
    });
    Effect::new(move |_| match fetched.get() {
        None => {}
        Some(Ok(rows)) => {
            callers.set(rows);
            state.set(ListState::Ready);
        }
        Some(Err(error)) => state.set(ListState::Failed(error.to_string())),
    });
    realtime.on_change("callers", move |change| match change.kind {
        ChangeKind::Delete => {
            if let Some(id) = change.old_record.get("id").and_then(serde_json::Value::as_i64) {
                callers.update(|list| list.retain(|c| c.id != id));
            }
        }
        _ => match serde_json::from_value::<Caller>(change.record.clone()) {
            Ok(caller) => {
                pending.update(|p| {
                    p.remove(&caller.id);
                });
                callers.update(|list| upsert(list, caller));
            }
            Err(_) => fetched.refetch(),
        },
    });

    // Saves an edit optimistically: the row changes now, and the server's row replaces it.
    let update = Action::new_local(move |(before, input): &(Caller, CallerInput)| {
        let (before, input) = (before.clone(), input.clone());
        async move {
            match api.update_caller(before.id, &input).await {
                Ok(saved) => {
                    callers.try_update(|list| upsert(list, saved));
                }
                Err(error) => {
                    callers.try_update(|list| upsert(list, before.clone()));
                    banner.try_set(Some(format!("Couldn't save {}: {error}", before.name)));
                }
            }
            pending.try_update(|p| p.remove(&before.id));
        }
    });
    let save_existing = move |before: Caller, input: CallerInput| {
        callers.update(|list| upsert(list, input.apply_to(&before)));
        pending.update(|p| {
            p.insert(before.id);
        });
        editing.set(None);
        update.dispatch((before, input));
    };
    let create = Action::new_local(move |input: &CallerInput| {
        let input = input.clone();
        async move {
            match api.create_caller(&input).await {
                Ok(saved) => {
                    callers.try_update(|list| upsert(list, saved));
                    editing.try_set(None);
                }
                Err(error) => {
                    form_error.try_set(Some(error.to_string()));
                }
            }
        }
    });
    let saving = create.pending();
    // Turns a caller off or on optimistically, like an edit.
    let change_active = Action::new_local(move |(before, active): &(Caller, bool)| {
        let (before, active) = (before.clone(), *active);
        async move {
            match api.set_caller_active(before.id, active).await {
                Ok(saved) => {
                    callers.try_update(|list| upsert(list, saved));
                }
                Err(error) => {
                    callers.try_update(|list| upsert(list, before.clone()));
                    banner.try_set(Some(format!("Couldn't change {}: {error}", before.name)));
                }
            }
            pending.try_update(|p| p.remove(&before.id));
        }
    });
    let set_active = move |caller: Caller, active: bool| {
        callers.update(|list| upsert(list, Caller { active, ..caller.clone() }));
        pending.update(|p| {
            p.insert(caller.id);
        });
        change_active.dispatch((caller, active));
    };

    view! {
        <div class="page-head">
            <h1>"Callers"</h1>
            <button class="button" on:click=move |_| {
                form_error.set(None);
                editing.set(Some(Editing::New));
            }>"Add caller"</button>
        </div>
        {move || banner.get().map(|message| view! {
            <div class="banner" role="alert">
                <span>{message}</span>
                <button class="button secondary small" on:click=move |_| banner.set(None)>"Dismiss"</button>
            </div>
        })}
        {move || editing.get().map(|mode| {
            let (title, initial, before) = match mode {
                Editing::New => ("New caller".to_owned(), CallerForm::default(), None),
                Editing::Existing(caller) => (
                    format!("Edit {}", caller.name),
                    CallerForm::from_caller(&caller, team.offset_minutes),
                    Some(caller),
                ),
            };
            let on_submit = Callback::new(move |input: CallerInput| match before.clone() {
                Some(before) => save_existing(before, input),
                None => {
                    form_error.set(None);
                    create.dispatch(input);
                }
            });
            view! {
                <CallerFormPanel title=title initial=initial server_error=form_error saving=saving
                    on_submit=on_submit on_cancel=Callback::new(move |_| editing.set(None))/>
            }
        })}
        <section class="card table-card" aria-label="Callers">
            {move || match state.get() {
                ListState::Loading => view! { <p class="loading" role="status">"Loading callers…"</p> }.into_any(),
                ListState::Failed(message) => view! { <ErrorMessage message=message on_retry=Callback::new(move |_| fetched.refetch())/> }.into_any(),
                ListState::Ready if callers.with(Vec::is_empty) => view! {
                    <p class="empty">"No callers yet. Add your first caller to start routing leads."</p>
                }.into_any(),
                ListState::Ready => view! {
                    <div class="table-scroll">
                        <table class="table" data-testid="callers-table">
                            <thead>
                                <tr>
                                    <th scope="col">"Name"</th>
                                    <th scope="col">"States"</th>
                                    <th scope="col">"Languages"</th>
                                    <th scope="col" class="num">"Daily limit"</th>
                                    <th scope="col" class="num">"Weight"</th>
                                    <th scope="col">"Status"</th>
                                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                </tr>
                            </thead>
                            <tbody>
                                <For each=move || callers.get() key=|c| (c.id, c.updated_at.clone(), c.daily_lead_limit, c.active, c.name.clone(), c.weight, c.paused_until.clone(), c.assigned_states.clone(), c.languages.clone(), c.email.clone()) let:caller>
                                    {
                                        let id = caller.id;
                                        let paused = caller.paused_until.as_deref()
                                            .and_then(time::parse_timestamp)
                                            .filter(|ms| *ms > crate::clock::now_ms());
                                        let status = match (caller.active, paused) {
                                            (false, _) => "Inactive".to_owned(),
                                            (true, Some(ms)) => format!("Paused until {}", time::local_datetime(ms, team.offset_minutes)),
                                            (true, None) => "Active".to_owned(),
                                        };
                                        let for_edit = caller.clone();
                                        let for_toggle = caller.clone();
                                        let active = caller.active;
                                        view! {
                                            <tr data-caller-id=id class:muted=!active>
                                                <td>
                                                    <div class="strong">{caller.name.clone()}</div>
                                                    <div class="muted small">{caller.email.clone().unwrap_or_default()}</div>
                                                </td>
                                                <td class="wrap">{list_names(&caller.assigned_states, states::display_name)}</td>
                                                <td>{list_names(&caller.languages, languages::display_name)}</td>
                                                <td class="num" data-testid="caller-limit">{caller.daily_lead_limit.to_string()}</td>
                                                <td class="num">{caller.weight.to_string()}</td>
                                                <td>
                                                    {status}
                                                    {move || pending.with(|p| p.contains(&id)).then(|| view! { <span class="saving" role="status">" · saving…"</span> })}
                                                </td>
                                                <td>
                                                    <div class="actions">
                                                    <button class="button secondary small" aria-label=format!("Edit {}", caller.name)
                                                        on:click=move |_| {
                                                            form_error.set(None);
                                                            editing.set(Some(Editing::Existing(for_edit.clone())));
                                                        }>"Edit"</button>
                                                    <button class="button secondary small" aria-label=format!("{} {}", if active { "Deactivate" } else { "Activate" }, caller.name)
                                                        on:click=move |_| set_active(for_toggle.clone(), !active)>
                                                        {if active { "Deactivate" } else { "Activate" }}
                                                    </button>
                                                    </div>
                                                </td>
                                            </tr>
                                        }
                                    }
                                </For>
                            </tbody>
                        </table>
                    </div>
                }.into_any(),
            }}
        </section>
    }
}
