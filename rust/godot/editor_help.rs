//! The classes' help (F1) on the editor's very first start.
//!
//! Godot 4.6 drops the documentation that extensions register when it builds its help
//! from scratch: with no doc cache of its own (a new Godot version on the machine, or a
//! cleared cache) while the project already lists the extension, the help pages of our
//! classes would show only the generated skeleton until the next start. The editor merges
//! extensions' documentation only when it loads its help from that cache.
//!
//! This editor plugin (internal: no setting, nothing to enable) watches for that build and,
//! once it is done, registers the classes' documentation again, as the library did when it
//! loaded: the editor's help then has it. Once per editor start at most, and only when the
//! help was built from scratch in that start.
//!
//! (Asking the editor to reload all its help instead, through
//! `GDExtensionManager.extensions_reloaded`, works too but starts a second help build on a
//! thread, which races with a hot reload of the library made meanwhile: the editor then
//! crashed at exit.)

use godot::classes::{EditorInterface, EditorPlugin, Engine, FileAccess, IEditorPlugin, Time};
use godot::prelude::*;

/// How long after the editor started the plugin keeps watching (seconds).
const WATCH_FOR: f64 = 300.0;

/// Reloads the editor's help once when the editor built it from scratch (see the module).
#[derive(GodotClass)]
#[class(tool, init, internal, base = EditorPlugin)]
pub struct WebSocketServerHelpRefresh {
    /// The editor's doc cache file (Godot 4.6: `editor_doc_cache-4.6.res` in its cache
    /// folder).
    cache: GString,
    /// When the engine started (Unix seconds, whole).
    started: f64,
    base: Base<EditorPlugin>,
}

#[godot_api]
impl IEditorPlugin for WebSocketServerHelpRefresh {
    fn enter_tree(&mut self) {
        let Some(paths) = EditorInterface::singleton().get_editor_paths() else {
            return;
        };
        let version = Engine::singleton().get_version_info();
        let (major, minor) = (version.get("major"), version.get("minor"));
        let (Some(major), Some(minor)) = (major, minor) else {
            return;
        };
        self.cache = GString::from(&format!(
            "{}/editor_doc_cache-{major}.{minor}.res",
            paths.get_cache_dir()
        ));
        // The engine's start: the help is built before the plugins enter the tree.
        let time = Time::singleton();
        let since_start = time.get_ticks_msec() as f64 / 1000.0;
        self.started = (time.get_unix_time_from_system() - since_start).floor();
        self.base_mut().set_process(true);
    }

    fn process(&mut self, _delta: f64) {
        let now = Time::singleton().get_unix_time_from_system();
        // The editor writes the cache at the end of its build, after its last look at
        // the help it built: written since the engine started means built from scratch
        // now, and done.
        let rebuilt = FileAccess::file_exists(&self.cache)
            && FileAccess::get_modified_time(&self.cache) as f64 >= self.started;
        if rebuilt {
            // SAFETY: the binding is initialized (this is a running editor plugin) and this
            // is the main thread (`_process`), which is what `register` requires; the
            // editor's help build has finished with its data (see above).
            unsafe { godot::docs::register() };
        }
        if rebuilt || now - self.started > WATCH_FOR {
            self.base_mut().set_process(false);
        }
    }
}
