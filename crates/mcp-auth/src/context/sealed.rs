//! [`AuthContext::seal_handle`] and [`AuthContext::open_handle`]: state handles bound to the
//! caller (MCP 2026-07-28), see [`mcp_auth_core::sealed`].

use super::AuthContext;
use mcp_auth_core::sealed::{HandleSealer, HandleTooLong, OpenError, Principal};

impl AuthContext {
    /// The principal handles are sealed to: the verified issuer, subject and client id.
    pub fn principal(&self) -> Principal<'_> {
        Principal::new(self.issuer(), self.subject(), self.client_id())
    }

    /// `handle` sealed to this caller, to hand to the client.
    ///
    /// ```
    /// use mcp_auth::AuthContext;
    /// use mcp_auth::core::sealed::HandleSealer;
    ///
    /// fn next_page(ctx: &AuthContext, sealer: &HandleSealer, cursor: &str) -> Option<String> {
    ///     let cursor = ctx.open_handle(sealer, cursor).ok()?; // another user's: refused
    ///     ctx.seal_handle(sealer, &format!("{cursor}+1")).ok()
    /// }
    /// ```
    pub fn seal_handle(
        &self,
        sealer: &HandleSealer,
        handle: &str,
    ) -> Result<String, HandleTooLong> {
        sealer.seal(handle, &self.principal())
    }

    /// The handle inside `sealed`, only if it was sealed to this caller.
    pub fn open_handle(&self, sealer: &HandleSealer, sealed: &str) -> Result<String, OpenError> {
        sealer.open(sealed, &self.principal())
    }
}

#[cfg(test)]
mod tests {
    use crate::AuthContext;
    use mcp_auth_core::TokenHash;
    use mcp_auth_core::claims::Claims;
    use mcp_auth_core::scope::ScopeSet;
    use mcp_auth_core::sealed::HandleSealer;

    fn ctx(sub: &str) -> AuthContext {
        let claims = Claims::from_json(
            serde_json::json!({
                "iss": "https://as.example", "sub": sub, "client_id": "app",
                "aud": "https://mcp.example", "exp": 4_000_000_000_u64, "iat": 1
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        AuthContext::new(claims, ScopeSet::new(), TokenHash::of(sub.as_bytes()))
    }

    #[test]
    fn a_handle_opens_for_its_caller_only() {
        let sealer = HandleSealer::new(vec![9u8; 32]).unwrap();
        let (alice, bob) = (ctx("alice"), ctx("bob"));
        let sealed = alice.seal_handle(&sealer, "task-7").unwrap();
        assert_eq!(alice.open_handle(&sealer, &sealed).unwrap(), "task-7");
        assert!(bob.open_handle(&sealer, &sealed).is_err());
    }
}
