//! The report range: today, 7 days, 30 days, or two local dates.

use leptos::prelude::*;

use crate::report::RangeChoice;

#[component]
pub fn RangePicker(choice: RwSignal<RangeChoice>) -> impl IntoView {
    let custom_open = RwSignal::new(false);
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<&'static str>);
    let preset = move |label: &'static str, value: RangeChoice| {
        let pressed = {
            let value = value.clone();
            move || !custom_open.get() && choice.with(|c| *c == value)
        };
        view! {
            <button
                type="button"
                class="button secondary small"
                aria-pressed=move || pressed().to_string()
                on:click=move |_| {
                    custom_open.set(false);
                    problem.set(None);
                    choice.set(value.clone());
                }
            >
                {label}
            </button>
        }
    };
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match RangeChoice::custom(&from.get_untracked(), &to.get_untracked()) {
            Ok(range) => {
                problem.set(None);
                choice.set(range);
            }
            Err(message) => problem.set(Some(message)),
        }
    };
    view! {
        <div class="range-picker">
            <div class="range-presets" role="group" aria-label="Report range">
                {preset("Today", RangeChoice::Today)}
                {preset("7 days", RangeChoice::Days7)}
                {preset("30 days", RangeChoice::Days30)}
                <button
                    type="button"
                    class="button secondary small"
                    aria-pressed=move || (custom_open.get() || matches!(choice.get(), RangeChoice::Custom { .. })).to_string()
                    on:click=move |_| custom_open.update(|open| *open = !*open)
                >
                    "Custom"
                </button>
            </div>
            <Show when=move || custom_open.get()>
                <form class="range-custom" on:submit=apply>
                    <label class="field">
                        "First day"
                        <input type="date" name="from" bind:value=from/>
                    </label>
                    <label class="field">
                        "Last day"
                        <input type="date" name="to" bind:value=to/>
                    </label>
                    <button type="submit" class="button small">"Show"</button>
                </form>
                {move || problem.get().map(|message| view! { <p class="field-error" role="alert">{message}</p> })}
            </Show>
        </div>
    }
}
