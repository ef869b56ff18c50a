//! Desktop notifications (the Notification API) and a short beep (WebAudio,
//! no audio file) for a lead newly given to the signed-in caller. Both are
//! opt-in: permission is asked only when the caller clicks to turn
//! notifications on, and each choice is kept in localStorage. Which change
//! counts as a new lead is decided in `queue::newly_assigned`.

use std::cell::RefCell;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{AudioContext, Notification, NotificationOptions, NotificationPermission};

const NOTIFY_KEY: &str = "bloc.queue.notify";
const SOUND_KEY: &str = "bloc.queue.sound";

thread_local! {
    /// Made on the caller's click (browsers start audio only after a gesture) and reused.
    static AUDIO: RefCell<Option<AudioContext>> = const { RefCell::new(None) };
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

fn stored(key: &str) -> bool {
    storage().and_then(|s| s.get_item(key).ok().flatten()).as_deref() == Some("on")
}

fn store(key: &str, on: bool) {
    if let Some(s) = storage() {
        let _ = s.set_item(key, if on { "on" } else { "off" });
    }
}

/// What the browser allows for desktop notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// The browser has no Notification API (or it is blocked for this page).
    Unsupported,
    Default,
    Granted,
    Denied,
}

/// The browser's current notification permission.
pub fn permission() -> Permission {
    let supported = web_sys::window()
        .is_some_and(|w| js_sys::Reflect::has(&w, &"Notification".into()).unwrap_or(false));
    if !supported {
        return Permission::Unsupported;
    }
    match Notification::permission() {
        NotificationPermission::Granted => Permission::Granted,
        NotificationPermission::Denied => Permission::Denied,
        _ => Permission::Default,
    }
}

/// Whether the caller turned desktop notifications on (and the browser still allows them).
pub fn notifications_on() -> bool {
    stored(NOTIFY_KEY) && permission() == Permission::Granted
}

/// Turns desktop notifications on or off. Turning them on asks the browser
/// for permission if it has not been given yet (call this from a click);
/// `done` receives whether they are on afterwards.
pub fn set_notifications(on: bool, done: impl FnOnce(bool) + 'static) {
    if !on || permission() == Permission::Granted {
        store(NOTIFY_KEY, on);
        done(on && permission() == Permission::Granted);
        return;
    }
    if permission() != Permission::Default {
        store(NOTIFY_KEY, false);
        done(false);
        return;
    }
    let Ok(promise) = Notification::request_permission() else {
        done(false);
        return;
    };
    let answered = Closure::<dyn FnMut(JsValue)>::once(move |_: JsValue| {
        let granted = permission() == Permission::Granted;
        store(NOTIFY_KEY, granted);
        done(granted);
    });
    let _ = promise.then(&answered);
    // Called once, when the caller answers the browser's prompt.
    answered.forget();
}

/// Whether the caller turned the sound on.
pub fn sound_on() -> bool {
    stored(SOUND_KEY)
}

/// Turns the sound on or off (call from a click: it also unlocks audio).
pub fn set_sound(on: bool) {
    store(SOUND_KEY, on);
    if on {
        AUDIO.with(|audio| {
            if audio.borrow().is_none() {
                *audio.borrow_mut() = AudioContext::new().ok();
            }
        });
        beep();
    }
}

/// A 150 ms 880 Hz beep at low volume.
fn beep() {
    AUDIO.with(|audio| {
        let mut audio = audio.borrow_mut();
        if audio.is_none() {
            *audio = AudioContext::new().ok();
        }
        let Some(ctx) = audio.as_ref() else { return };
        let _ = ctx.resume();
        let (Ok(osc), Ok(gain)) = (ctx.create_oscillator(), ctx.create_gain()) else { return };
        osc.frequency().set_value(880.0);
        gain.gain().set_value(0.08);
        let now = ctx.current_time();
        let wired = osc.connect_with_audio_node(&gain).and_then(|_| gain.connect_with_audio_node(&ctx.destination()));
        if wired.is_ok() && osc.start_with_when(now).is_ok() {
            let _ = osc.stop_with_when(now + 0.15);
        }
    });
}

/// Announces a lead newly given to the caller: a desktop notification and
/// the beep, each if the caller turned it on.
pub fn announce(lead_id: i64, name: &str) {
    if notifications_on() {
        let options = NotificationOptions::new();
        options.set_body(&format!("{name} was assigned to you."));
        options.set_tag(&format!("bloc-lead-{lead_id}"));
        if let Ok(notification) = Notification::new_with_options("New lead", &options) {
            let focus: JsValue = Closure::<dyn FnMut()>::once_into_js(move || {
                if let Some(window) = web_sys::window() {
                    let _ = window.focus();
                }
            });
            notification.set_onclick(Some(focus.unchecked_ref::<js_sys::Function>()));
        }
    }
    if sound_on() {
        beep();
    }
}
