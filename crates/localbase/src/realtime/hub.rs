//! The subscribers the polling loop fans changes out to.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::mpsc;

use super::binding::Binding;
use super::identity::Identity;
use super::phoenix::Vsn;

/// One joined channel with `postgres_changes` bindings.
pub struct Subscriber {
    pub socket: u64,
    pub topic: String,
    pub vsn: Vsn,
    pub bindings: Vec<Binding>,
    pub identity: Arc<Identity>,
    /// Rendered text frames for the socket's writer task.
    pub tx: mpsc::UnboundedSender<String>,
}

/// Every subscriber, by (socket, topic).
#[derive(Default)]
pub struct Hub {
    subscribers: RwLock<HashMap<(u64, String), Arc<Subscriber>>>,
}

impl Hub {
    /// Adds or replaces the subscriber for its socket and topic.
    pub fn insert(&self, subscriber: Subscriber) {
        let key = (subscriber.socket, subscriber.topic.clone());
        self.write().insert(key, Arc::new(subscriber));
    }

    pub fn remove(&self, socket: u64, topic: &str) {
        self.write().remove(&(socket, topic.to_owned()));
    }

    pub fn remove_socket(&self, socket: u64) {
        self.write().retain(|(s, _), _| *s != socket);
    }

    /// The current subscribers, for one dispatch.
    pub fn snapshot(&self) -> Vec<Arc<Subscriber>> {
        match self.subscribers.read() {
            Ok(map) => map.values().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().values().cloned().collect(),
        }
    }

    pub fn len(&self) -> usize {
        match self.subscribers.read() {
            Ok(map) => map.len(),
            Err(poisoned) => poisoned.into_inner().len(),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<(u64, String), Arc<Subscriber>>> {
        match self.subscribers.write() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}
