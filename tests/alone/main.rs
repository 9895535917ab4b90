//! The integration tests that need this process to themselves, one at a time: they read
//! its resident set (floods, a compression bomb) or shut down the process-wide runtime.
//! Every test here starts with `let _alone = alone();`, which `tests/it/architecture.rs`
//! checks.

#[path = "../common/mod.rs"]
mod common;

mod compression;
mod floods;
mod runtime;

use std::sync::{Mutex, MutexGuard};

/// Held for a whole test: no other test of this program runs meanwhile.
fn alone() -> MutexGuard<'static, ()> {
    static ALONE: Mutex<()> = Mutex::new(());
    // A test that failed holding it poisons it; the next one may still run.
    ALONE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
