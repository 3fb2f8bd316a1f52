//! Reading what the code under test logs, from a test. **Test-only.**
//!
//! A test that installs a thread-local subscriber (`tracing::subscriber::set_default`) and
//! asserts on what it captured can miss events when a sibling test of the same binary runs
//! the same code on another thread without a subscriber. tracing caches one `Interest` per
//! callsite for the whole process, computed when the callsite is first reached. While at most
//! one dispatcher is registered, tracing-core 0.1 computes it against the *registering
//! thread's* default (`Rebuilder::JustOne` in `callsite.rs`): a sibling thread without a
//! subscriber answers `never`, and the callsite stays dead for every thread, the capturing
//! one included, until another dispatcher is created. That made a log assertion of
//! `examples/mcp-server/tests/fleet.rs` fail now and then (in CI once; 3 of 15 runs here).
//!
//! [`capture`] first creates a second dispatcher (a `NoSubscriber`) that lives as long as the
//! process, so two dispatchers are always registered while a capture is live and a callsite's
//! interest is asked of every live dispatcher (the capture answers for itself), whichever
//! thread reaches it first.
//!
//! ```
//! let _guard = mcp_auth_dev::test_support::logs::capture(tracing_subscriber::registry());
//! tracing::info!("seen by this thread's subscriber only");
//! ```

use std::sync::OnceLock;

use tracing::Dispatch;
use tracing::dispatcher::DefaultGuard;
use tracing::subscriber::{NoSubscriber, Subscriber};

/// Sets `subscriber` as this thread's default until the guard is dropped, as
/// `tracing::subscriber::set_default` does, with every callsite's interest asked of it (see
/// the module documentation).
pub fn capture<S>(subscriber: S) -> DefaultGuard
where
    S: Subscriber + Send + Sync + 'static,
{
    static PINNED: OnceLock<Dispatch> = OnceLock::new();
    // Creating a `Dispatch` registers it; kept in the static, it is never dropped.
    PINNED.get_or_init(|| Dispatch::new(NoSubscriber::default()));
    tracing::subscriber::set_default(subscriber)
}
