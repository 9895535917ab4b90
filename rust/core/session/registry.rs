//! The live sessions of one server, by peer id: how a returning connection finds the
//! session it claims (its hello then proves it holds the secret).

use std::sync::Arc;

use parking_lot::Mutex;

use super::{Session, Token};
use crate::core::ids::{IdMap, PeerId};

/// Live sessions by their peer's id.
#[derive(Default)]
pub(crate) struct Registry(Mutex<IdMap<Arc<Session>>>);

impl Registry {
    /// A new session for peer `id`, with a fresh secret.
    pub fn open(&self, id: PeerId) -> Arc<Session> {
        let state = Arc::new(Session::new(id, Token::random()));
        self.0.lock().insert(id, state.clone());
        state
    }

    /// The live session of peer `id`, if it has one.
    pub fn find(&self, id: PeerId) -> Option<Arc<Session>> {
        self.0.lock().get(&id).cloned()
    }

    /// The session is over: it opens nothing any more.
    pub fn close(&self, state: &Session) {
        self.0.lock().remove(&state.id);
        state.end();
    }
}
