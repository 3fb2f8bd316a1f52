//! Identity-provider presets: the [`TrustedIssuer`](crate::TrustedIssuer) settings for the
//! access tokens of a hosted authorization server, each naming what it weakens. See
//! `docs/providers.md`.

mod clerk;
mod cognito;
mod descope;
mod workos;

pub use clerk::Clerk;
pub use cognito::Cognito;
pub use descope::Descope;
pub use workos::WorkOs;
