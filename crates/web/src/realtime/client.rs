//! The browser's Realtime socket: one Phoenix channel carrying the
//! `postgres_changes` bindings for the signed-in role, a 25 s heartbeat,
//! reconnect with backoff, rejoin, and a `resyncs` bump after every join so
//! pages refetch whatever changed while the socket was down.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use futures::channel::mpsc::{unbounded, UnboundedSender};
use futures::future::{self, Either};
use futures::stream::SplitSink;
use futures::{stream, SinkExt, StreamExt};
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::Message;
use gloo_timers::future::{IntervalStream, TimeoutFuture};
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::backoff::{Backoff, Heartbeat, HeartbeatAction};
use super::phoenix::{self, Binding, Change, Incoming, Outgoing, RefCounter};
use super::ConnectionState;

/// The one channel the app joins.
const TOPIC: &str = "realtime:bloc";
/// Change bursts are coalesced into one version bump per table.
const COALESCE_MS: u32 = 120;
/// A socket that has not joined by then is given up and retried.
const JOIN_TIMEOUT_MS: u32 = 10_000;
/// A frame that cannot be written by then means the socket is dead.
const SEND_TIMEOUT_MS: u32 = 5_000;

/// Writes one text frame; `false` when the socket refused it or stalled
/// (a socket closed before it opened never becomes writable).
async fn send_text(write: &mut SplitSink<WebSocket, Message>, text: String) -> bool {
    let send = write.send(Message::Text(text));
    let timeout = TimeoutFuture::new(SEND_TIMEOUT_MS);
    futures::pin_mut!(send);
    matches!(future::select(send, timeout).await, Either::Left((Ok(()), _)))
}

type Listener = Rc<dyn Fn(&Change)>;

#[derive(Default)]
struct Inner {
    listeners: Vec<(u64, String, Listener)>,
    next_listener: u64,
    outgoing: Option<UnboundedSender<Option<String>>>,
    join_ref: Option<String>,
    refs: RefCounter,
    stopped: bool,
    bump_scheduled: HashSet<String>,
}

/// The Realtime handle in context. `Copy`; the socket state lives in a local arena slot.
#[derive(Clone, Copy)]
pub struct Realtime {
    /// What the connection indicator shows.
    pub state: RwSignal<ConnectionState>,
    /// The last failure, for the indicator's tooltip.
    pub last_error: RwSignal<Option<String>>,
    /// Bumped after every successful join: refetch what may have been missed.
    pub resyncs: RwSignal<u32>,
    /// Bumped after changes to `leads`.
    pub leads_version: RwSignal<u32>,
    /// Bumped after changes to `callers`.
    pub callers_version: RwSignal<u32>,
    /// Bumped after changes to `assignment_logs`.
    pub logs_version: RwSignal<u32>,
    inner: StoredValue<Rc<RefCell<Inner>>, LocalStorage>,
}

impl Realtime {
    /// Opens the socket for `bindings`; `token` is the user's access token, followed as it refreshes.
    pub fn start(url: String, bindings: Vec<Binding>, token: Signal<Option<String>>) -> Realtime {
        let realtime = Realtime {
            state: RwSignal::new(ConnectionState::Connecting),
            last_error: RwSignal::new(None),
            resyncs: RwSignal::new(0),
            leads_version: RwSignal::new(0),
            callers_version: RwSignal::new(0),
            logs_version: RwSignal::new(0),
            inner: StoredValue::new_local(Rc::new(RefCell::new(Inner::default()))),
        };
        spawn_local(realtime.run(url, bindings, token));
        // Pass a refreshed token to the joined channel.
        Effect::new(move |previous: Option<Option<String>>| {
            let current = token.get();
            if previous.is_some() && previous.as_ref() != Some(&current) {
                if let Some(token) = &current {
                    realtime.send_token(token);
                }
            }
            current
        });
        realtime
    }

    fn inner(&self) -> Rc<RefCell<Inner>> {
        self.inner.get_value()
    }

    /// Calls `listener` for every change to `table` until the calling component is dropped.
    pub fn on_change(&self, table: &str, listener: impl Fn(&Change) + 'static) {
        let inner = self.inner();
        let id = {
            let mut inner = inner.borrow_mut();
            inner.next_listener += 1;
            let id = inner.next_listener;
            inner.listeners.push((id, table.to_owned(), Rc::new(listener)));
            id
        };
        let this = *self;
        on_cleanup(move || {
            if let Some(inner) = this.inner.try_get_value() {
                inner.borrow_mut().listeners.retain(|(i, _, _)| *i != id);
            }
        });
    }

    /// Closes the socket for good (sign-out).
    pub fn stop(&self) {
        if let Some(inner) = self.inner.try_get_value() {
            let mut inner = inner.borrow_mut();
            inner.stopped = true;
            if let Some(tx) = inner.outgoing.take() {
                let _ = tx.unbounded_send(None);
            }
        }
    }

    fn send_token(&self, token: &str) {
        let inner = self.inner();
        let mut inner = inner.borrow_mut();
        let Some(join_ref) = inner.join_ref.clone() else { return };
        let reference = inner.refs.next_ref();
        let frame = Outgoing::access_token(TOPIC, token, join_ref, reference).encode();
        if let Some(tx) = &inner.outgoing {
            let _ = tx.unbounded_send(Some(frame));
        }
    }

    fn version_of(&self, table: &str) -> Option<RwSignal<u32>> {
        match table {
            "leads" => Some(self.leads_version),
            "callers" => Some(self.callers_version),
            "assignment_logs" => Some(self.logs_version),
            _ => None,
        }
    }

    fn dispatch(&self, change: &Change) {
        let inner = self.inner();
        let listeners: Vec<Listener> = inner
            .borrow()
            .listeners
            .iter()
            .filter(|(_, table, _)| *table == change.table)
            .map(|(_, _, l)| l.clone())
            .collect();
        for listener in listeners {
            listener(change);
        }
        let Some(version) = self.version_of(&change.table) else { return };
        let table = change.table.clone();
        if inner.borrow_mut().bump_scheduled.insert(table.clone()) {
            let this = *self;
            spawn_local(async move {
                TimeoutFuture::new(COALESCE_MS).await;
                if let Some(inner) = this.inner.try_get_value() {
                    inner.borrow_mut().bump_scheduled.remove(&table);
                    version.try_update(|v| *v = v.wrapping_add(1));
                }
            });
        }
    }

    fn stopped(&self) -> bool {
        self.inner.try_get_value().is_none_or(|inner| inner.borrow().stopped)
    }

    async fn run(self, url: String, bindings: Vec<Binding>, token: Signal<Option<String>>) {
        let mut backoff = Backoff::default();
        while !self.stopped() {
            let joined = self.connect_once(&url, &bindings, token).await;
            if self.stopped() {
                break;
            }
            if joined {
                backoff.reset();
            }
            let delay = backoff.next_delay_ms();
            self.state.try_set(if backoff.looks_offline() { ConnectionState::Offline } else { ConnectionState::Reconnecting });
            TimeoutFuture::new(delay).await;
        }
    }

    /// One socket's life; returns whether the channel was joined.
    async fn connect_once(&self, url: &str, bindings: &[Binding], token: Signal<Option<String>>) -> bool {
        let socket = match WebSocket::open(url) {
            Ok(socket) => socket,
            Err(e) => {
                self.last_error.try_set(Some(format!("could not open the socket: {e}")));
                return false;
            }
        };
        let (mut write, read) = socket.split();
        let (tx, rx) = unbounded::<Option<String>>();
        let join = {
            let inner = self.inner();
            let mut inner = inner.borrow_mut();
            let reference = inner.refs.next_ref();
            inner.join_ref = Some(reference.clone());
            inner.outgoing = Some(tx);
            Outgoing::join(TOPIC, bindings, token.get_untracked().as_deref(), reference)
        };
        enum Event {
            Frame(Option<Result<Message, gloo_net::websocket::WebSocketError>>),
            Tick,
            Out(Option<String>),
            JoinDeadline,
        }
        let frames = read.map(|m| Event::Frame(Some(m))).chain(stream::once(async { Event::Frame(None) }));
        let ticks = IntervalStream::new(25_000).map(|_| Event::Tick);
        let outs = rx.map(Event::Out);
        let deadline = stream::once(TimeoutFuture::new(JOIN_TIMEOUT_MS)).map(|_| Event::JoinDeadline);
        let mut events = Box::pin(stream::select(frames, stream::select(ticks, stream::select(outs, deadline))));
        let mut heartbeat = Heartbeat::default();
        let mut joined = false;
        if !send_text(&mut write, join.encode()).await {
            self.last_error.try_set(Some("the socket did not open".to_owned()));
            return false;
        }
        while let Some(event) = events.next().await {
            match event {
                Event::Frame(Some(Ok(Message::Text(text)))) => match phoenix::decode(&text) {
                    Ok(Incoming::Reply { topic, reference, ok, response }) => {
                        if topic == phoenix::PHOENIX_TOPIC {
                            if let Some(reference) = reference {
                                heartbeat.reply(&reference);
                            }
                        } else if topic == TOPIC && reference == join.join_ref {
                            if ok {
                                joined = true;
                                self.last_error.try_set(None);
                                self.state.try_set(ConnectionState::Live);
                                self.resyncs.try_update(|v| *v = v.wrapping_add(1));
                            } else {
                                self.last_error.try_set(Some(phoenix::reply_reason(&response)));
                                break;
                            }
                        }
                    }
                    Ok(Incoming::Change { change, .. }) => self.dispatch(&change),
                    Ok(Incoming::ChannelClosed { topic, .. }) if topic == TOPIC => break,
                    Ok(Incoming::System { ok: false, message, .. }) => {
                        self.last_error.try_set(Some(message));
                    }
                    Ok(_) => {}
                    Err(e) => leptos::logging::warn!("realtime: ignoring a frame: {}", e.0),
                },
                Event::Frame(Some(Ok(Message::Bytes(_)))) => {}
                Event::Frame(Some(Err(_)) | None) => break,
                Event::Tick => {
                    let reference = self.inner().borrow_mut().refs.next_ref();
                    match heartbeat.tick(reference) {
                        HeartbeatAction::Send(reference) => {
                            if !send_text(&mut write, Outgoing::heartbeat(reference).encode()).await {
                                break;
                            }
                        }
                        HeartbeatAction::TimedOut => {
                            self.last_error.try_set(Some("the server stopped answering heartbeats".to_owned()));
                            break;
                        }
                    }
                }
                Event::Out(Some(text)) => {
                    if !send_text(&mut write, text).await {
                        break;
                    }
                }
                Event::Out(None) => break,
                Event::JoinDeadline if !joined => {
                    self.last_error.try_set(Some("the server did not answer the join".to_owned()));
                    break;
                }
                Event::JoinDeadline => {}
            }
        }
        if let Some(inner) = self.inner.try_get_value() {
            let mut inner = inner.borrow_mut();
            inner.outgoing = None;
            inner.join_ref = None;
        }
        let close = write.close();
        futures::pin_mut!(close);
        let _ = future::select(close, TimeoutFuture::new(SEND_TIMEOUT_MS)).await;
        joined
    }
}
