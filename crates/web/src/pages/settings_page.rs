//! Team settings (admins): the time zone from the full IANA list, the
//! duplicate window, the SLA and the maximum reassignments, each checked on
//! its own, and the newest entries of the settings audit.

use leptos::prelude::*;
use serde_json::Value;

use crate::components::error_message::ErrorMessage;
use crate::context::{use_api, use_team, use_team_clock, Fetch};
use crate::error::ApiError;
use crate::team_settings::{field_of_server_message, offset_label, SettingsErrors, SettingsField, SettingsForm};
use crate::time;

/// The id of a field's input, and of its message.
fn ids(field: SettingsField) -> (String, String) {
    let id = format!("settings-{}", field.key().replace('_', "-"));
    let error = format!("{id}-error");
    (id, error)
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let api = use_api();
    let team = use_team();
    let clock = use_team_clock();
    let form = RwSignal::new(SettingsForm::default());
    let saved_zone = RwSignal::new(String::new());
    let errors = RwSignal::new(SettingsErrors::new());
    let notice = RwSignal::new(None::<Result<String, String>>);
    let loaded = Fetch::new(move || async move { api.team_settings().await });
    let zones = Fetch::new(move || async move { api.time_zone_names().await.unwrap_or_default() });
    let audit = Fetch::new(move || async move { api.settings_audit().await });
    Effect::new(move |_| {
        if let Some(Ok(settings)) = loaded.get() {
            saved_zone.set(settings.time_zone.clone());
            form.set(settings);
        }
    });

    let save = Action::new_local(move |args: &Value| {
        let args = args.clone();
        async move { api.update_settings(&args).await }
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(saved)) => {
            saved_zone.set(saved.time_zone.clone());
            form.set(saved);
            notice.set(Some(Ok("Saved.".to_owned())));
            audit.refetch();
            clock.refresh();
        }
        Some(Err(ApiError::InvalidInput(message))) if field_of_server_message(&message).is_some() => {
            errors.set(field_of_server_message(&message).into_iter().collect());
        }
        Some(Err(other)) => notice.set(Some(Err(other.to_string()))),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        notice.set(None);
        // Without the zone list (still loading, or unreadable) the server checks the zone.
        let zones = zones.get().unwrap_or_default();
        match form.with_untracked(|f| f.validate(&zones, &saved_zone.get_untracked())) {
            Ok(args) => {
                errors.set(SettingsErrors::new());
                save.dispatch(args);
            }
            Err(found) => errors.set(found),
        }
    };

    let message = move |field: SettingsField| errors.with(|e| e.iter().find(|(f, _)| *f == field).map(|(_, m)| m.clone()));
    let input = move |field: SettingsField, hint: &'static str| {
        let (id, error_id) = ids(field);
        let hint_id = format!("{id}-hint");
        let described = format!("{error_id} {hint_id}");
        let is_zone = field == SettingsField::TimeZone;
        view! {
            <div class="field">
                <label for=id.clone()>{field.label()}</label>
                <input id=id type="text" autocomplete="off" spellcheck="false"
                    inputmode=if is_zone { "text" } else { "numeric" }
                    list=is_zone.then_some("settings-zones")
                    prop:value=move || form.with(|f| f.value(field).to_owned())
                    on:input=move |ev| form.update(|f| f.set(field, event_target_value(&ev)))
                    aria-invalid=move || message(field).is_some().to_string() aria-describedby=described/>
                <p class="muted small" id=hint_id>{hint}</p>
                <p class="field-error" id=error_id>{move || message(field)}</p>
            </div>
        }
    };

    view! {
        <div class="page-head">
            <h1>"Settings"</h1>
            <span class="muted" data-testid="team-day">{move || clock.day.with(|d| {
                format!("Today is {} in {} ({})", d.date, d.time_zone, offset_label(d.offset_minutes))
            })}</span>
        </div>
        {move || loaded.get().and_then(Result::err).map(|message| view! {
            <ErrorMessage message=message.to_string() on_retry=Callback::new(move |_| loaded.refetch())/>
        })}
        <div class="settings-grid">
            <form class="card settings-form" on:submit=submit novalidate data-testid="settings-form">
                <h2>"Team"</h2>
                <datalist id="settings-zones">
                    {move || zones.get().unwrap_or_default().into_iter().map(|z| {
                        view! { <option value=z.name>{offset_label(z.offset_minutes)}</option> }
                    }).collect_view()}
                </datalist>
                {input(SettingsField::TimeZone, "Every \"today\" (daily limits, the dashboard) is a day in this zone. Type to search.")}
                {input(SettingsField::DuplicateWindow, "A lead whose phone was seen within this many minutes is a duplicate (1440 = 24 hours).")}
                {input(SettingsField::Sla, "Minutes a caller has to contact a new lead before it is reassigned.")}
                {input(SettingsField::MaxReassignments, "How many times one lead may be moved for a missed SLA.")}
                <div class="form-actions">
                    <button class="button" type="submit" disabled=move || save.pending().get() || loaded.get().is_none()>
                        {move || if save.pending().get() { "Saving…" } else { "Save settings" }}
                    </button>
                    {move || notice.get().map(|n| match n {
                        Ok(text) => view! { <span class="success" role="status">{text}</span> }.into_any(),
                        Err(text) => view! { <ErrorMessage message=text/> }.into_any(),
                    })}
                </div>
            </form>
            <section class="card settings-audit" aria-labelledby="audit-title" data-testid="settings-audit">
                <h2 id="audit-title">"Recent changes"</h2>
                {move || match audit.get() {
                    None => view! { <p class="loading" role="status">"Loading changes…"</p> }.into_any(),
                    Some(Err(message)) => view! { <ErrorMessage message=message.to_string()/> }.into_any(),
                    Some(Ok(entries)) if entries.is_empty() => view! { <p class="empty">"No changes yet."</p> }.into_any(),
                    Some(Ok(entries)) => view! {
                        <ol class="audit-list">
                            {entries.into_iter().map(|e| view! {
                                <li>
                                    <div><strong>{e.field_label().to_owned()}</strong>": "
                                        {e.old_value.clone().unwrap_or_default()}" → "<strong>{e.new_value.clone().unwrap_or_default()}</strong></div>
                                    <div class="muted small">
                                        {time::display_timestamp(&e.changed_at, team.offset_minutes)}" · "
                                        {e.who.clone().unwrap_or_else(|| "outside the app".to_owned())}
                                    </div>
                                </li>
                            }).collect_view()}
                        </ol>
                    }.into_any(),
                }}
            </section>
        </div>
    }
}
