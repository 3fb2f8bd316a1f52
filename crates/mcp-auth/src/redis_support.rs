//! What the Redis stores share (feature `redis`): a Lua script sent by `EVALSHA` with an
//! `EVAL` fallback, the keyed hash of identifiers, and error descriptions without keys.

use aws_lc_rs::{digest, hmac};
use redis::aio::ConnectionManager;
use std::fmt::Write as _;
use zeroize::{Zeroize, Zeroizing};

/// A Lua script and its SHA-1 (Redis names cached scripts by it; SHA-1 is Redis's choice
/// here, not a security property).
pub(crate) struct LuaScript {
    code: &'static str,
    sha1: String,
}

impl LuaScript {
    pub(crate) fn new(code: &'static str) -> Self {
        Self {
            code,
            sha1: hex(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, code.as_bytes()).as_ref()),
        }
    }

    /// Runs the script: `EVALSHA`, and `EVAL` (which also caches it) when Redis answers
    /// `NOSCRIPT` (a restarted or flushed Redis, or the first call).
    pub(crate) async fn invoke<T: redis::FromRedisValue>(
        &self,
        conn: &mut ConnectionManager,
        keys: &[Vec<u8>],
        args: &[Vec<u8>],
    ) -> redis::RedisResult<T> {
        let build = |verb: &str, body: &str| {
            let mut cmd = redis::cmd(verb);
            cmd.arg(body).arg(keys.len()).arg(keys).arg(args);
            cmd
        };
        match build("EVALSHA", &self.sha1).query_async(conn).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                build("EVAL", self.code).query_async(conn).await
            }
            other => other,
        }
    }
}

/// HMAC-SHA256 under a key derived from a secret every instance of a fleet shares, so the
/// same identifier gives the same Redis key everywhere and no identifier is stored in clear.
pub(crate) struct KeyedHash {
    key: hmac::Key,
}

/// A shared secret shorter than 32 bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the store secret has {len} bytes, at least 32 are needed")]
pub struct WeakStoreSecret {
    len: usize,
}

impl KeyedHash {
    /// A key derived from `secret` under `label` (one secret may serve several stores).
    pub(crate) fn new(secret: Zeroizing<Vec<u8>>, label: &[u8]) -> Result<Self, WeakStoreSecret> {
        if secret.len() < 32 {
            return Err(WeakStoreSecret { len: secret.len() });
        }
        let mut derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &secret), label)
            .as_ref()
            .to_vec();
        let key = hmac::Key::new(hmac::HMAC_SHA256, &derived);
        derived.zeroize();
        Ok(Self { key })
    }

    /// The first 16 bytes of the MAC of `parts`, each length-prefixed (no ambiguity between
    /// parts), as 32 hex digits.
    pub(crate) fn hex16(&self, parts: &[&[u8]]) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        for p in parts {
            ctx.update(&u64::try_from(p.len()).unwrap_or(u64::MAX).to_be_bytes());
            ctx.update(p);
        }
        hex(&ctx.sign().as_ref()[..16])
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A Redis error for logs and error sources: its category, never a key, a value or a URL
/// (the replay store's own description, so every fleet store words its errors alike).
pub(crate) use mcp_auth_dpop::describe_redis_error as describe;

/// An error whose text is [`describe`]'s.
#[derive(Debug, thiserror::Error)]
#[error("redis: {0}")]
pub(crate) struct Described(pub(crate) String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_name_is_its_sha1() {
        // The SHA-1 of "return 1", as `SCRIPT LOAD` answers it.
        assert_eq!(
            LuaScript::new("return 1").sha1,
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
    }

    #[test]
    fn keyed_hashes_need_the_secret_and_separate_parts() {
        let a = KeyedHash::new(Zeroizing::new(vec![1; 32]), b"l").unwrap();
        let b = KeyedHash::new(Zeroizing::new(vec![2; 32]), b"l").unwrap();
        let other_label = KeyedHash::new(Zeroizing::new(vec![1; 32]), b"m").unwrap();
        assert_eq!(a.hex16(&[b"x"]), a.hex16(&[b"x"]));
        assert_ne!(a.hex16(&[b"x"]), b.hex16(&[b"x"]));
        assert_ne!(a.hex16(&[b"x"]), other_label.hex16(&[b"x"]));
        assert_ne!(a.hex16(&[b"ab", b"c"]), a.hex16(&[b"a", b"bc"]));
        assert_eq!(a.hex16(&[b"x"]).len(), 32);
        assert_eq!(
            KeyedHash::new(Zeroizing::new(vec![1; 31]), b"l").err(),
            Some(WeakStoreSecret { len: 31 })
        );
    }
}
