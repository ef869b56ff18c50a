//! The report range: today, 7 days, 30 days, or two local dates.

use leptos::prelude::*;

use crate::report::RangeChoice;

#[component]
pub fn RangePicker(choice: RwSignal<RangeChoice>) -> impl IntoView {
    let custom_open = RwSignal::new(false);
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<&'static str>);
    // (label, preset; None = the custom form)
    let buttons = [
        ("Today", Some(RangeChoice::Today)),
        ("7 days", Some(RangeChoice::Days7)),
        ("30 days", Some(RangeChoice::Days30)),
        ("Custom", None),
    ];
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
                {buttons
                    .into_iter()
                    .map(|(label, preset)| {
                        let pressed = {
                            let preset = preset.clone();
                            move || match &preset {
                                Some(p) => !custom_open.get() && choice.with(|c| c == p),
                                None => custom_open.get() || choice.with(|c| matches!(c, RangeChoice::Custom { .. })),
                            }
                        };
                        view! {
                            <button
                                type="button"
                                class="button secondary small"
                                aria-pressed=move || pressed().to_string()
                                on:click=move |_| match &preset {
                                    Some(p) => {
                                        custom_open.set(false);
                                        problem.set(None);
                                        choice.set(p.clone());
                                    }
                                    None => custom_open.update(|open| *open = !*open),
                                }
                            >
                                {label}
                            </button>
                        }
                    })
                    .collect_view()}
            </div>
            {move || custom_open.get().then(|| view! {
                <form class="range-custom" on:submit=apply>
                    <label class="field">
                        "First day"
                        <input type="date" name="from" prop:value=move || from.get() on:change=move |ev| from.set(event_target_value(&ev))/>
                    </label>
                    <label class="field">
                        "Last day"
                        <input type="date" name="to" prop:value=move || to.get() on:change=move |ev| to.set(event_target_value(&ev))/>
                    </label>
                    <button type="submit" class="button small">"Show"</button>
                </form>
            })}
            {move || problem.get().map(|message| view! { <p class="field-error" role="alert">{message}</p> })}
        </div>
    }
}
