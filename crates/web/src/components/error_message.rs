//! A failure in words, with an optional retry button. Never a blank screen.

use leptos::prelude::*;

#[component]
pub fn ErrorMessage(
    #[prop(into)] message: String,
    #[prop(optional)] on_retry: Option<Callback<()>>,
) -> impl IntoView {
    view! {
        <div class="error-box" role="alert">
            <span class="error-icon" aria-hidden="true">"!"</span>
            <p>{message}</p>
            {on_retry.map(|retry| view! {
                <button class="button secondary small" on:click=move |_| retry.run(())>"Try again"</button>
            })}
        </div>
    }
}
