//! One of today's figures on the dashboard.

use leptos::prelude::*;

#[component]
pub fn FigureCard(
    #[prop(into)] label: String,
    #[prop(into)] value: Signal<String>,
    #[prop(into)] hint: String,
    #[prop(into)] testid: String,
) -> impl IntoView {
    let title = hint.clone();
    view! {
        <div class="figure" title=title>
            <span class="figure-label">{label}</span>
            <span class="figure-value" data-testid=testid>{move || value.get()}</span>
            <span class="figure-hint">{hint}</span>
        </div>
    }
}
