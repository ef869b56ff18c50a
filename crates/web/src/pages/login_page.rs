//! Email and password sign-in.

use leptos::prelude::*;

use crate::components::error_message::ErrorMessage;
use crate::context::use_api;

#[component]
pub fn LoginPage() -> impl IntoView {
    let api = use_api();
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let sign_in = Action::new_local(move |(email, password): &(String, String)| {
        let (email, password) = (email.clone(), password.clone());
        async move { api.sign_in(&email, &password).await.map(|_| ()) }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        sign_in.dispatch((email.get_untracked(), password.get_untracked()));
    };
    view! {
        <main class="login">
            <form class="card narrow login-card" on:submit=submit>
                <div class="brand big">
                    <span class="logo" aria-hidden="true">"◆"</span>
                    <span>"Bloc CRM"</span>
                </div>
                <h1>"Sign in"</h1>
                <div class="field">
                    <label for="login-email">"Email"</label>
                    <input id="login-email" type="email" autocomplete="username" required autofocus
                        prop:value=move || email.get() on:input=move |ev| email.set(event_target_value(&ev))/>
                </div>
                <div class="field">
                    <label for="login-password">"Password"</label>
                    <input id="login-password" type="password" autocomplete="current-password" required
                        prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev))/>
                </div>
                {move || sign_in.value().get().and_then(Result::err).map(|message| view! { <ErrorMessage message=message.to_string()/> })}
                <button class="button wide" type="submit" disabled=move || sign_in.pending().get()>
                    {move || if sign_in.pending().get() { "Signing in…" } else { "Sign in" }}
                </button>
            </form>
        </main>
    }
}
