//! App-wide state in Leptos context: every `provide_*` function and every
//! `use_*` hook. Pages and components import this module for their hooks and
//! never the app shell (`app.rs`), which only wires screens together, so
//! imports point one way: `app` → `pages`/`components` → `context`.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use bloc_shared::records::{Role, Settings, TeamMember};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::Api;
use crate::clock::now_ms;
use crate::config::AppConfig;
use crate::realtime::client::Realtime;
use crate::realtime::phoenix::Binding;
use crate::time::TeamDay;

/// How often the session is checked for an upcoming expiry while the tab is open.
const SESSION_CHECK_MS: u32 = 30_000;

/// Who is signed in and the team's clock, in context for every page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Team {
    pub role: Role,
    /// The signed-in caller's id (callers only).
    pub caller_id: Option<i64>,
    /// The team time zone's offset from UTC now, in minutes, from the
    /// server's `team_today()`; the workspace is built again when it changes.
    pub offset_minutes: i32,
    /// Minutes a caller has to contact a new lead.
    pub sla_minutes: i32,
}

impl Team {
    /// The signed-in member's team view, with the zone's offset the server stated.
    pub fn new(member: &TeamMember, settings: &Settings, offset_minutes: i32) -> Team {
        Team { role: member.role, caller_id: member.caller_id, offset_minutes, sla_minutes: settings.sla_minutes.max(1) }
    }
}

/// The team's day as the server states it (`team_today()`), read again
/// when it stops being true: at local midnight, at an offset change, and
/// on [`TeamClock::refresh`] (after the settings change). Every "today" in
/// the app is `day`'s.
#[derive(Clone, Copy)]
pub struct TeamClock {
    pub day: RwSignal<TeamDay>,
    api: Api,
}

/// The longest wait between looks at the clock: timers stall while a laptop sleeps.
const DAY_CHECK_MS: i64 = 60_000;
/// The wait after a failed read of the day.
const DAY_RETRY_MS: u32 = 30_000;

impl TeamClock {
    /// Reads the day again now.
    pub fn refresh(self) {
        spawn_local(async move {
            if let Ok(day) = self.api.team_today().await {
                let _ = self.day.try_set(day);
            }
        });
    }
}

/// Provides the [`TeamClock`], starting from `first`, and keeps it true
/// until the owner is disposed.
pub fn provide_team_clock(api: Api, first: TeamDay) -> TeamClock {
    let clock = TeamClock { day: RwSignal::new(first), api };
    provide_context(clock);
    spawn_local(async move {
        loop {
            let Some(due) = clock.day.try_with_untracked(|d| d.due_in_ms(now_ms())) else { break };
            if due > 0 {
                gloo_timers::future::TimeoutFuture::new(due.min(DAY_CHECK_MS) as u32).await;
                continue;
            }
            match api.team_today().await {
                Ok(day) => {
                    if clock.day.try_set(day).is_some() {
                        break; // disposed
                    }
                }
                Err(_) => gloo_timers::future::TimeoutFuture::new(DAY_RETRY_MS).await,
            }
        }
    });
    clock
}

/// The team clock from context.
pub fn use_team_clock() -> TeamClock {
    expect_context::<TeamClock>()
}

/// Provides the [`Api`] handle (session restored from localStorage) and keeps
/// the session fresh while the tab is open.
pub fn provide_api(config: AppConfig) -> Api {
    let api = Api::new(config);
    provide_context(api);
    spawn_local(async move {
        loop {
            gloo_timers::future::TimeoutFuture::new(SESSION_CHECK_MS).await;
            match api.session.try_get_untracked() {
                None => break,   // the app was unmounted
                Some(None) => {} // signed out: nothing to refresh until the next sign-in
                Some(Some(_)) => api.refresh_if_due().await,
            }
        }
    });
    api
}

/// The API handle from context.
pub fn use_api() -> Api {
    expect_context::<Api>()
}

/// Provides the signed-in member's [`Team`].
pub fn provide_team(team: Team) {
    provide_context(team);
}

/// The team context.
pub fn use_team() -> Team {
    expect_context::<Team>()
}

/// Opens the Realtime socket with the bindings the role may see, follows the
/// session's token, provides the handle and closes the socket on cleanup.
pub fn provide_realtime(api: Api, team: Team) -> Realtime {
    let bindings = match (team.role, team.caller_id) {
        (Role::Admin, _) => ["leads", "callers", "assignment_logs"]
            .into_iter()
            .map(|table| Binding { table: table.to_owned(), filter: None })
            .collect(),
        (_, Some(caller_id)) => vec![Binding { table: "leads".to_owned(), filter: Some(format!("caller_id=eq.{caller_id}")) }],
        _ => Vec::new(),
    };
    let token = Signal::derive(move || api.session.with(|s| s.as_ref().map(|s| s.access_token.clone())));
    let realtime = Realtime::start(api.config().realtime_url(), bindings, token);
    provide_context(realtime);
    on_cleanup(move || realtime.stop());
    realtime
}

/// The Realtime handle from context.
pub fn use_realtime() -> Realtime {
    expect_context::<Realtime>()
}

/// A signal holding the current time in Unix milliseconds, updated every `every`.
pub fn use_now(every: Duration) -> ReadSignal<i64> {
    let (now, set_now) = signal(now_ms());
    if let Ok(handle) = set_interval_with_handle(move || set_now.set(now_ms()), every) {
        on_cleanup(move || handle.clear());
    }
    now
}

/// A value loaded by an async call: `None` until the first answer, then the
/// latest answer. It loads again whenever a signal the loader reads before
/// its first `.await` changes, and on [`Fetch::refetch`]; an answer that a
/// newer load has overtaken is dropped.
///
/// The app's stand-in for Leptos's `LocalResource`, with the same `get` and
/// `refetch`: that one builds on the async-derived machinery, which is
/// monomorphized for every loader and cost several KB of wasm per use. Here
/// the loader is boxed, so each value type costs one small effect
/// (docs/benchmarks.md, the bundle section).
pub struct Fetch<T: 'static> {
    value: RwSignal<Option<T>, LocalStorage>,
    again: Trigger,
}

impl<T: 'static> Clone for Fetch<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: 'static> Copy for Fetch<T> {}

/// A boxed loader: what [`Fetch`] runs.
type Loader<T> = Box<dyn Fn() -> Pin<Box<dyn Future<Output = T>>>>;

impl<T: Clone + 'static> Fetch<T> {
    /// Starts loading with `load` (run in a reactive scope; see the type).
    pub fn new<F: Future<Output = T> + 'static>(load: impl Fn() -> F + 'static) -> Fetch<T> {
        Fetch::start(Box::new(move || Box::pin(load())))
    }

    fn start(load: Loader<T>) -> Fetch<T> {
        let value = RwSignal::new_local(None);
        let again = Trigger::new();
        let latest = Rc::new(Cell::new(0_u32));
        Effect::new(move |_| {
            again.track();
            let answer = load();
            let run = latest.get().wrapping_add(1);
            latest.set(run);
            let latest = Rc::clone(&latest);
            spawn_local(async move {
                let answer = answer.await;
                if latest.get() == run {
                    value.try_set(Some(answer));
                }
            });
        });
        Fetch { value, again }
    }

    /// The latest answer (tracked), or `None` before the first one.
    pub fn get(&self) -> Option<T> {
        self.value.get()
    }

    /// Loads again now.
    pub fn refetch(&self) {
        self.again.notify();
    }
}
