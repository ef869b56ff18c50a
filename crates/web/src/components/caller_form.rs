//! Create or edit a caller, with a message under each invalid field.

use bloc_shared::languages::LANGUAGES;
use bloc_shared::states::{StateKind, STATES};
use leptos::prelude::*;

use crate::components::error_message::ErrorMessage;
use crate::context::use_team;
use crate::forms::{CallerForm, CallerInput, Field, FieldErrors, MAX_DAILY_LIMIT, MAX_WEIGHT};

fn toggle(list: RwSignal<Vec<String>>, code: &'static str, on: bool) {
    list.update(|items| {
        items.retain(|c| c != code);
        if on {
            items.push(code.to_owned());
        }
    });
}

#[component]
fn FieldError(errors: RwSignal<FieldErrors>, field: Field, id: &'static str) -> impl IntoView {
    view! {
        {move || errors.with(|e| e.get(field)).map(|message| view! { <p class="field-error" id=id>{message}</p> })}
    }
}

#[component]
pub fn CallerFormPanel(
    #[prop(into)] title: String,
    initial: CallerForm,
    #[prop(into)] server_error: Signal<Option<String>>,
    #[prop(into)] saving: Signal<bool>,
    on_submit: Callback<CallerInput>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let team = use_team();
    let name = RwSignal::new(initial.name);
    let email = RwSignal::new(initial.email);
    let chosen_states = RwSignal::new(initial.assigned_states);
    let chosen_languages = RwSignal::new(initial.languages);
    let limit = RwSignal::new(initial.daily_lead_limit);
    let weight = RwSignal::new(initial.weight);
    let active = RwSignal::new(initial.active);
    let paused_until = RwSignal::new(initial.paused_until);
    let errors = RwSignal::new(FieldErrors::default());
    let invalid = move |field: Field| move || errors.with(|e| e.get(field).is_some()).to_string();

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let form = CallerForm {
            name: name.get_untracked(),
            email: email.get_untracked(),
            assigned_states: chosen_states.get_untracked(),
            languages: chosen_languages.get_untracked(),
            daily_lead_limit: limit.get_untracked(),
            weight: weight.get_untracked(),
            active: active.get_untracked(),
            paused_until: paused_until.get_untracked(),
        };
        match form.validate(team.offset_minutes) {
            Ok(input) => {
                errors.set(FieldErrors::default());
                on_submit.run(input);
            }
            Err(found) => errors.set(found),
        }
    };

    view! {
        <form class="card caller-form" on:submit=submit novalidate data-testid="caller-form">
            <h2>{title}</h2>
            <div class="form-grid">
                <div class="field">
                    <label for="caller-name">"Name"</label>
                    <input id="caller-name" type="text" autocomplete="off" prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                        aria-invalid=invalid(Field::Name) aria-describedby="caller-name-error"/>
                    <FieldError errors=errors field=Field::Name id="caller-name-error"/>
                </div>
                <div class="field">
                    <label for="caller-email">"Login email"</label>
                    <input id="caller-email" type="email" autocomplete="off" prop:value=move || email.get()
                        on:input=move |ev| email.set(event_target_value(&ev))
                        aria-invalid=invalid(Field::Email) aria-describedby="caller-email-error"/>
                    <FieldError errors=errors field=Field::Email id="caller-email-error"/>
                </div>
                <div class="field">
                    <label for="caller-limit">"Daily lead limit"</label>
                    <input id="caller-limit" type="number" inputmode="numeric" min="0" max=MAX_DAILY_LIMIT.to_string()
                        prop:value=move || limit.get() on:input=move |ev| limit.set(event_target_value(&ev))
                        aria-invalid=invalid(Field::DailyLeadLimit) aria-describedby="caller-limit-error"/>
                    <FieldError errors=errors field=Field::DailyLeadLimit id="caller-limit-error"/>
                </div>
                <div class="field">
                    <label for="caller-weight">"Weight"</label>
                    <input id="caller-weight" type="number" inputmode="numeric" min="1" max=MAX_WEIGHT.to_string()
                        prop:value=move || weight.get() on:input=move |ev| weight.set(event_target_value(&ev))
                        aria-invalid=invalid(Field::Weight) aria-describedby="caller-weight-error"/>
                    <FieldError errors=errors field=Field::Weight id="caller-weight-error"/>
                </div>
                <div class="field">
                    <label for="caller-paused">"Paused until (optional)"</label>
                    <input id="caller-paused" type="datetime-local" prop:value=move || paused_until.get()
                        on:input=move |ev| paused_until.set(event_target_value(&ev))
                        aria-invalid=invalid(Field::PausedUntil) aria-describedby="caller-paused-error"/>
                    <FieldError errors=errors field=Field::PausedUntil id="caller-paused-error"/>
                </div>
                <div class="field checkbox-field">
                    <input id="caller-active" type="checkbox" prop:checked=move || active.get()
                        on:change=move |ev| active.set(event_target_checked(&ev))/>
                    <label for="caller-active">"Active (receives new leads)"</label>
                </div>
            </div>
            <fieldset class="choices" aria-describedby="caller-states-error">
                <legend>{move || format!("Assigned states ({} chosen)", chosen_states.with(Vec::len))}</legend>
                <div class="choice-grid">
                    {STATES.iter().map(|state| {
                        let code = state.code;
                        let id = format!("state-{code}");
                        let label_for = id.clone();
                        let suffix = if state.kind == StateKind::UnionTerritory { " (UT)" } else { "" };
                        view! {
                            <label class="choice" for=label_for>
                                <input id=id type="checkbox" value=code
                                    prop:checked=move || chosen_states.with(|s| s.iter().any(|c| c == code))
                                    on:change=move |ev| toggle(chosen_states, code, event_target_checked(&ev))/>
                                <span>{format!("{}{suffix}", state.name)}</span>
                            </label>
                        }
                    }).collect_view()}
                </div>
                <FieldError errors=errors field=Field::States id="caller-states-error"/>
            </fieldset>
            <fieldset class="choices" aria-describedby="caller-languages-error">
                <legend>"Languages"</legend>
                <div class="choice-grid">
                    {LANGUAGES.iter().map(|language| {
                        let code = language.code;
                        let id = format!("language-{code}");
                        let label_for = id.clone();
                        view! {
                            <label class="choice" for=label_for>
                                <input id=id type="checkbox" value=code
                                    prop:checked=move || chosen_languages.with(|s| s.iter().any(|c| c == code))
                                    on:change=move |ev| toggle(chosen_languages, code, event_target_checked(&ev))/>
                                <span>{language.name}</span>
                            </label>
                        }
                    }).collect_view()}
                </div>
                <FieldError errors=errors field=Field::Languages id="caller-languages-error"/>
            </fieldset>
            {move || server_error.get().map(|message| view! { <ErrorMessage message=message/> })}
            <div class="form-actions">
                <button class="button" type="submit" disabled=move || saving.get()>
                    {move || if saving.get() { "Saving…" } else { "Save caller" }}
                </button>
                <button class="button secondary" type="button" on:click=move |_| on_cancel.run(())>"Cancel"</button>
            </div>
        </form>
    }
}
