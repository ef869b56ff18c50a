//! The caller's opt-in alerts for new leads: desktop notifications (the
//! browser asks for permission on the click, never before) and a beep.

use leptos::prelude::*;

use crate::alerts::{self, Permission};

#[component]
pub fn QueueAlerts() -> impl IntoView {
    let notify = RwSignal::new(alerts::notifications_on());
    let sound = RwSignal::new(alerts::sound_on());
    let blocked = RwSignal::new(alerts::permission() == Permission::Denied);
    let unsupported = alerts::permission() == Permission::Unsupported;
    let toggle_notify = move |_| {
        let on = !notify.get_untracked();
        alerts::set_notifications(on, move |now_on| {
            notify.set(now_on);
            blocked.set(alerts::permission() == Permission::Denied);
        });
    };
    view! {
        <div class="queue-alerts" role="group" aria-label="New lead alerts">
            <button class="button secondary small" data-testid="notify-toggle" aria-pressed=move || notify.get().to_string()
                disabled=unsupported on:click=toggle_notify>
                {move || if notify.get() { "Notifications on" } else { "Turn on notifications" }}
            </button>
            <label class="toggle" for="queue-sound">
                <input id="queue-sound" type="checkbox" prop:checked=move || sound.get()
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        alerts::set_sound(on);
                        sound.set(on);
                    }/>
                " Sound"
            </label>
            {move || blocked.get().then(|| view! {
                <span class="muted small">"Notifications are blocked in this browser's site settings."</span>
            })}
        </div>
    }
}
