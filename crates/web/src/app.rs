//! The app shell: loads `config.json`, restores the session, reads the
//! user's role from `team_members`, starts Realtime for that role and
//! routes to the admin screens or the caller workspace. The providers and
//! hooks it wires live in `context`; nothing imports this module but `lib.rs`.

use bloc_shared::records::{Role, Settings, TeamMember};
use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

use crate::api;
use crate::components::connection_indicator::ConnectionIndicator;
use crate::components::error_message::ErrorMessage;
use crate::config::AppConfig;
use crate::context::{provide_api, provide_realtime, provide_team, provide_team_clock, use_api, Fetch, Team};
use crate::error::ApiError;
use crate::pages::callers_page::CallersPage;
use crate::pages::dashboard_page::DashboardPage;
use crate::pages::import_page::ImportPage;
use crate::pages::leads_page::LeadsPage;
use crate::pages::login_page::LoginPage;
use crate::pages::my_leads_page::MyLeadsPage;
use crate::pages::reports_page::ReportsPage;
use crate::pages::settings_page::SettingsPage;
use crate::time::TeamDay;

/// The root component.
#[component]
pub fn App() -> impl IntoView {
    let config = Fetch::new(api::load_config);
    view! {
        {move || match config.get() {
            None => view! { <div class="splash" role="status">"Loading Bloc CRM…"</div> }.into_any(),
            Some(Err(message)) => view! {
                <div class="splash">
                    <ErrorMessage message=message.to_string()/>
                </div>
            }
            .into_any(),
            Some(Ok(config)) => view! { <Configured config=config/> }.into_any(),
        }}
    }
}

#[component]
fn Configured(config: AppConfig) -> impl IntoView {
    let api = provide_api(config);
    let user_id = Memo::new(move |_| api.session.with(|s| s.as_ref().map(|s| s.user.id.clone())));
    view! {
        <Router>
            {move || match user_id.get() {
                None => view! { <LoginPage/> }.into_any(),
                Some(user_id) => view! { <SignedIn user_id=user_id/> }.into_any(),
            }}
        </Router>
    }
}

#[component]
fn SignedIn(user_id: String) -> impl IntoView {
    let api = use_api();
    let membership = Fetch::new(move || {
        let user_id = user_id.clone();
        async move {
            let member = api.my_membership(&user_id).await?;
            let settings = api.settings().await.unwrap_or_default();
            // The team's day and the zone's offset, from the server (members only).
            let day = match &member {
                Some(m) if !matches!(m.role, Role::Other) => Some(api.team_today().await?),
                _ => None,
            };
            Ok::<(Option<TeamMember>, Settings, Option<TeamDay>), ApiError>((member, settings, day))
        }
    });
    let sign_out_action = Action::new_local(move |_: &()| async move { api.sign_out().await });
    let sign_out = move |_| {
        sign_out_action.dispatch(());
    };
    view! {
        {move || match membership.get() {
            None => view! { <div class="splash" role="status">"Loading your workspace…"</div> }.into_any(),
            Some(Err(message)) => view! {
                <div class="splash">
                    <ErrorMessage message=message.to_string() on_retry=Callback::new(move |_| membership.refetch())/>
                    <button class="button secondary" on:click=sign_out>"Sign out"</button>
                </div>
            }
            .into_any(),
            Some(Ok((None, _, _))) | Some(Ok((_, _, None))) => view! {
                <div class="splash">
                    <div class="card narrow">
                        <h1>"No access yet"</h1>
                        <p>"Your account is not on the team. Ask an admin to add you as an admin or a caller."</p>
                        <button class="button secondary" on:click=sign_out>"Sign out"</button>
                    </div>
                </div>
            }
            .into_any(),
            Some(Ok((Some(member), settings, Some(day)))) => {
                view! { <Workspace member settings day/> }.into_any()
            }
        }}
    }
}

/// Starts the team clock and builds the shell, again whenever the zone's
/// offset changes (a daylight-saving change, or an admin choosing another
/// zone), so every time shown uses the offset the server states.
#[component]
fn Workspace(member: TeamMember, settings: Settings, day: TeamDay) -> impl IntoView {
    let clock = provide_team_clock(use_api(), day);
    let offset = Memo::new(move |_| clock.day.with(|d| d.offset_minutes));
    move || view! { <Shell team=Team::new(&member, &settings, offset.get())/> }
}

#[component]
fn Shell(team: Team) -> impl IntoView {
    let api = use_api();
    provide_team(team);
    let realtime = provide_realtime(api, team);
    let email = move || api.session.with(|s| s.as_ref().and_then(|s| s.user.email.clone()).unwrap_or_default());
    let sign_out_action = Action::new_local(move |_: &()| async move { api.sign_out().await });
    let sign_out = move |_| {
        realtime.stop();
        sign_out_action.dispatch(());
    };
    let is_admin = team.role == Role::Admin;
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="topbar">
            <div class="brand">
                <span class="logo" aria-hidden="true">"◆"</span>
                <span>"Bloc CRM"</span>
            </div>
            <nav class="mainnav" aria-label="Main">
                {if is_admin {
                    view! {
                        <A href="/" exact=true>"Dashboard"</A>
                        <A href="/leads">"Leads"</A>
                        <A href="/callers">"Callers"</A>
                        <A href="/reports">"Reports"</A>
                        <A href="/settings">"Settings"</A>
                    }
                    .into_any()
                } else {
                    view! { <A href="/" exact=true>"My leads"</A> }.into_any()
                }}
            </nav>
            <div class="topbar-end">
                <ConnectionIndicator/>
                <span class="user-email" title="Signed in">{email}</span>
                <button class="button secondary small" on:click=sign_out>"Sign out"</button>
            </div>
        </header>
        <main id="main" class="content" tabindex="-1">
            {if is_admin {
                view! {
                    <Routes fallback=NoSuchPage>
                        <Route path=path!("/") view=DashboardPage/>
                        <Route path=path!("/leads") view=LeadsPage/>
                        <Route path=path!("/leads/import") view=ImportPage/>
                        <Route path=path!("/callers") view=CallersPage/>
                        <Route path=path!("/reports") view=ReportsPage/>
                        <Route path=path!("/settings") view=SettingsPage/>
                    </Routes>
                }
                .into_any()
            } else {
                view! {
                    <Routes fallback=NoSuchPage>
                        <Route path=path!("/") view=MyLeadsPage/>
                    </Routes>
                }
                .into_any()
            }}
        </main>
    }
}

/// What a path outside the signed-in role's routes shows: a caller who opens
/// an admin link, or a mistyped address. A page rather than a redirect: a
/// `<Redirect>` rendered on the first load trapped the app (a caller opening
/// `/callers` was left on "Loading your workspace…").
#[component]
fn NoSuchPage() -> impl IntoView {
    view! {
        <section class="card narrow" data-testid="no-such-page">
            <h1>"Page not available"</h1>
            <p>"This address is not a page you can open with your role."</p>
            <A href="/">"Go to your start page"</A>
        </section>
    }
}
