//! How the property setters of the primary block hand a value to the core's settings:
//! converted, checked, applied, or reported with the property's name and left unchanged.

use std::time::Duration;

use godot::prelude::*;

use super::WebSocketServer;
use crate::core::{Error, Settings};
use crate::godot::errors;

impl WebSocketServer {
    /// Puts `value` (converted from the property's Godot type) into the settings with
    /// `set`; a refusal, of the conversion or of the settings as a whole, is reported
    /// (Godot error text with the property's name) and nothing changes. True when applied.
    pub(super) fn configure<T>(
        &mut self,
        property: &str,
        value: Result<T, Error>,
        set: impl FnOnce(&mut Settings, T),
    ) -> bool {
        match value.and_then(|v| self.server.configure(|s| set(s, v))) {
            Ok(()) => true,
            Err(e) => {
                errors::report(&format!("WebSocketServer.{property} (unchanged)"), &e);
                false
            }
        }
    }
}

impl WebSocketServer {
    /// A count from 0 (no limit) up.
    pub(super) fn configure_count(
        &mut self,
        property: &str,
        value: i64,
        set: impl FnOnce(&mut Settings, usize),
    ) -> bool {
        self.configure(property, errors::count(value, property), set)
    }

    /// Seconds, 0 for off.
    pub(super) fn configure_secs(
        &mut self,
        property: &str,
        seconds: f64,
        set: impl FnOnce(&mut Settings, Duration),
    ) -> bool {
        self.configure(property, errors::seconds_or_off(seconds, property), set)
    }
}

/// A Godot list of strings as Rust strings.
pub(super) fn list(value: &PackedStringArray) -> Vec<String> {
    value.as_slice().iter().map(|v| v.to_string()).collect()
}

/// Rust strings as a Godot list.
pub(super) fn strings(entries: &[String]) -> PackedStringArray {
    entries.iter().map(GString::from).collect()
}
