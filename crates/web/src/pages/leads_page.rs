//! The leads table: server-side pages, filters and sorting, with the detail panel.

use bloc_shared::records::{Caller, LeadStatus};
use bloc_shared::states::{self, STATES};
use leptos::prelude::*;

use crate::components::error_message::ErrorMessage;
use crate::components::export_button::ExportButton;
use crate::components::lead_detail::LeadDetail;
use crate::components::pagination::Pagination;
use crate::components::status_badge::StatusBadge;
use crate::context::{use_api, use_realtime, use_team, Fetch};
use crate::display;
use crate::query::{search_too_short, CallerFilter, LeadQuery, SortColumn, MIN_SEARCH_CHARS};
use crate::time;

#[component]
fn SortHeader(label: &'static str, column: SortColumn, query: RwSignal<LeadQuery>) -> impl IntoView {
    let aria = move || {
        query.with(|q| match (q.sort == column, q.descending) {
            (false, _) => "none",
            (true, true) => "descending",
            (true, false) => "ascending",
        })
    };
    let arrow = move || query.with(|q| if q.sort != column { "" } else if q.descending { " ↓" } else { " ↑" });
    view! {
        <th aria-sort=aria scope="col">
            <button class="sort" type="button" on:click=move |_| query.update(|q| {
                if q.sort == column {
                    q.descending = !q.descending;
                } else {
                    q.sort = column;
                    q.descending = matches!(column, SortColumn::CreatedAt | SortColumn::AssignedAt);
                }
                q.page = 0;
            })>
                {label}{arrow}
            </button>
        </th>
    }
}

#[component]
pub fn LeadsPage() -> impl IntoView {
    let api = use_api();
    let realtime = use_realtime();
    let team = use_team();
    let query = RwSignal::new(LeadQuery::default());
    let search = RwSignal::new(String::new());
    let selected = RwSignal::new(None::<i64>);
    let page = Fetch::new(move || {
        let q = query.get();
        realtime.leads_version.track();
        realtime.resyncs.track();
        async move { api.leads_page(&q, team.offset_minutes).await }
    });
    let callers = Fetch::new(move || {
        realtime.callers_version.track();
        realtime.resyncs.track();
        async move { api.callers().await }
    });
    let caller_list: Signal<Vec<Caller>> = Signal::derive(move || callers.get().and_then(Result::ok).unwrap_or_default());
    // The native sources always, with every other source in use.
    let sources = Fetch::new(move || async move { api.lead_sources().await });
    let source_list = move || {
        let mut all: Vec<String> = display::SOURCES.map(str::to_owned).into();
        all.extend(sources.get().unwrap_or_default());
        all.sort_unstable();
        all.dedup();
        all
    };
    let search_short = RwSignal::new(false);
    let caller_name = move |id: Option<i64>| match id {
        None => "—".to_owned(),
        Some(id) => caller_list.with(|cs| cs.iter().find(|c| c.id == id).map(|c| c.name.clone()).unwrap_or_else(|| format!("Caller {id}"))),
    };
    let total = Signal::derive(move || page.get().and_then(Result::ok).map(|(_, t)| t));
    let page_number = Signal::derive(move || query.with(|q| q.page));
    let set = move |f: Box<dyn Fn(&mut LeadQuery)>| query.update(|q| {
        f(q);
        q.page = 0;
    });

    view! {
        <div class="page-head">
            <h1>"Leads"</h1>
            <div class="page-actions">
                <ExportButton query=query callers=caller_list/>
                <leptos_router::components::A href="/leads/import">"Import CSV"</leptos_router::components::A>
            </div>
        </div>
        <form class="filters card" on:submit=move |ev| {
            ev.prevent_default();
            let text = search.get_untracked();
            // A term under MIN_SEARCH_CHARS is refused here, not sent.
            search_short.set(search_too_short(&text));
            if !search_short.get_untracked() {
                set(Box::new(move |q| q.search = text.clone()));
            }
        }>
            <div class="field">
                <label for="filter-search">"Name or phone"</label>
                <input id="filter-search" type="search" placeholder="Search…" prop:value=move || search.get()
                    aria-describedby="filter-search-hint" aria-invalid=move || search_short.get().then_some("true")
                    on:input=move |ev| search.set(event_target_value(&ev))/>
                <small id="filter-search-hint" class="figure-hint" class:field-error=move || search_short.get()
                    role=move || search_short.get().then_some("alert")>
                    {format!("{MIN_SEARCH_CHARS} or more letters or digits")}
                </small>
            </div>
            <div class="field">
                <label for="filter-status">"Status"</label>
                <select id="filter-status" on:change=move |ev| {
                    let value = event_target_value(&ev);
                    set(Box::new(move |q| q.status = LeadStatus::parse(&value)));
                }>
                    <option value="">"Any status"</option>
                    {LeadStatus::ALL.into_iter().map(|s| view! { <option value=s.as_str()>{s.label()}</option> }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="filter-caller">"Caller"</label>
                <select id="filter-caller" on:change=move |ev| {
                    let value = event_target_value(&ev);
                    set(Box::new(move |q| q.caller = match value.as_str() {
                        "" => CallerFilter::Any,
                        "none" => CallerFilter::Nobody,
                        id => id.parse().map(CallerFilter::Caller).unwrap_or_default(),
                    }));
                }>
                    <option value="">"Any caller"</option>
                    <option value="none">"Nobody (unassigned)"</option>
                    {move || caller_list.get().into_iter().map(|c| view! { <option value=c.id.to_string()>{c.name}</option> }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="filter-state">"State"</label>
                <select id="filter-state" on:change=move |ev| {
                    let value = event_target_value(&ev);
                    set(Box::new(move |q| q.state = (!value.is_empty()).then(|| value.clone())));
                }>
                    <option value="">"Any state"</option>
                    {STATES.iter().map(|s| view! { <option value=s.code>{s.name}</option> }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="filter-source">"Source"</label>
                <select id="filter-source" on:change=move |ev| {
                    let value = event_target_value(&ev);
                    set(Box::new(move |q| q.source = (!value.is_empty()).then(|| value.clone())));
                }>
                    <option value="">"Any source"</option>
                    {move || source_list().into_iter().map(|s| view! { <option value=s.clone()>{s.clone()}</option> }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="filter-from">"From"</label>
                <input id="filter-from" type="date" on:change=move |ev| {
                    let value = event_target_value(&ev);
                    set(Box::new(move |q| q.from = (!value.is_empty()).then(|| value.clone())));
                }/>
            </div>
            <div class="field">
                <label for="filter-to">"To"</label>
                <input id="filter-to" type="date" on:change=move |ev| {
                    let value = event_target_value(&ev);
                    set(Box::new(move |q| q.to = (!value.is_empty()).then(|| value.clone())));
                }/>
            </div>
            <div class="field filter-submit">
                <button class="button" type="submit">"Search"</button>
            </div>
        </form>
        <div class="split" class:with-detail=move || selected.get().is_some()>
            <section class="card table-card" aria-label="Leads">
                {move || match page.get() {
                    None => view! { <p class="loading" role="status">"Loading leads…"</p> }.into_any(),
                    Some(Err(message)) => view! { <ErrorMessage message=message.to_string() on_retry=Callback::new(move |_| page.refetch())/> }.into_any(),
                    Some(Ok((rows, _))) if rows.is_empty() => view! {
                        <p class="empty">{if query.with_untracked(|q| q.page) == 0 { "No leads match these filters." } else { "No more leads: the previous page was the last." }}</p>
                    }.into_any(),
                    Some(Ok((rows, _))) => view! {
                        <div class="table-scroll">
                            <table class="table" data-testid="leads-table">
                                <thead>
                                    <tr>
                                        <SortHeader label="Name" column=SortColumn::Name query=query/>
                                        <th scope="col">"Phone"</th>
                                        <SortHeader label="State" column=SortColumn::State query=query/>
                                        <SortHeader label="Status" column=SortColumn::Status query=query/>
                                        <th scope="col">"Source"</th>
                                        <th scope="col">"Caller"</th>
                                        <SortHeader label="Received" column=SortColumn::CreatedAt query=query/>
                                    </tr>
                                </thead>
                                <tbody>
                                    {rows.into_iter().map(|lead| {
                                        let id = lead.id;
                                        view! {
                                            <tr class:selected=move || selected.get() == Some(id) data-lead-id=id>
                                                <td>
                                                    <button class="link" type="button" on:click=move |_| selected.set(Some(id))>
                                                        {lead.name.clone().unwrap_or_else(|| "(no name)".to_owned())}
                                                    </button>
                                                    {display::is_test_lead(&lead.metadata).then(|| view! { <span class="badge test-lead">"test"</span> })}
                                                </td>
                                                <td class="nowrap">{display::phone(&lead.phone)}</td>
                                                <td>{lead.state.as_deref().map(states::display_name).unwrap_or("—").to_owned()}</td>
                                                <td><StatusBadge status=lead.status/></td>
                                                <td class="lead-source">{lead.source.clone().unwrap_or_else(|| "—".to_owned())}</td>
                                                <td>{caller_name(lead.caller_id)}</td>
                                                <td class="nowrap">{time::display_timestamp(&lead.created_at, team.offset_minutes)}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                }}
                <Pagination page=page_number total=total page_size=query.get_untracked().page_size
                    on_page=Callback::new(move |p| query.update(|q| q.page = p))/>
            </section>
            {move || selected.get().map(|id| view! {
                <LeadDetail id=id callers=caller_list on_close=Callback::new(move |_| selected.set(None))/>
            })}
        </div>
    }
}
