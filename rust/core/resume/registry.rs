//! The live sessions of one server, by secret: how a returning connection finds its peer.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Resumable, Token};
use crate::core::ids::PeerId;

/// Live sessions by secret, with their peer's id.
#[derive(Default)]
pub(crate) struct Registry(Mutex<HashMap<Token, (PeerId, Arc<Resumable>)>>);

impl Registry {
    /// A new session for peer `id`, with a fresh secret.
    pub fn open(&self, id: PeerId) -> Arc<Resumable> {
        let mut map = self.0.lock();
        loop {
            let token = Token::random();
            if let std::collections::hash_map::Entry::Vacant(slot) = map.entry(token) {
                let state = Arc::new(Resumable::new(token));
                slot.insert((id, state.clone()));
                return state;
            }
        }
    }

    /// The session with this secret, if it is live.
    pub fn find(&self, token: &Token) -> Option<(PeerId, Arc<Resumable>)> {
        self.0.lock().get(token).cloned()
    }

    /// The session is over: its secret opens nothing any more.
    pub fn close(&self, state: &Resumable) {
        self.0.lock().remove(&state.token);
        state.end();
    }
}
