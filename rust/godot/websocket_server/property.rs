//! How the property setters of the primary block hand a value to the core: converted,
//! checked, applied, or reported with the property's name and left unchanged.

use godot::prelude::*;

use super::WebSocketServer;
use crate::core::{Error, Server};
use crate::godot::errors;

impl WebSocketServer {
    /// Applies a new value of `property` through `set`; a refusal is reported (Godot
    /// error text with the property's name) and nothing changes. True when applied.
    pub(super) fn apply(
        &mut self,
        property: &str,
        set: impl FnOnce(&mut Server) -> Result<(), Error>,
    ) -> bool {
        match set(&mut self.server) {
            Ok(()) => true,
            Err(e) => {
                errors::report(&format!("WebSocketServer.{property} (unchanged)"), &e);
                false
            }
        }
    }

    /// A limit counted from 0 (no limit) up.
    pub(super) fn apply_count(
        &mut self,
        property: &str,
        value: i64,
        set: impl FnOnce(&mut Server, usize),
    ) -> bool {
        self.apply(property, |s| {
            set(s, errors::count(value, property)?);
            Ok(())
        })
    }

    /// A list of strings the core parses (all or nothing).
    pub(super) fn apply_list(
        &mut self,
        property: &str,
        value: &PackedStringArray,
        set: impl FnOnce(&mut Server, &[String]) -> Result<(), Error>,
    ) -> bool {
        let list: Vec<String> = value.as_slice().iter().map(|v| v.to_string()).collect();
        self.apply(property, |s| set(s, &list))
    }
}
