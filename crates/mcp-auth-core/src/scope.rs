//! OAuth scopes (RFC 6749 §3.3) and scope hierarchies (MCP 2026-07-28, "Scope Selection
//! Strategy": servers MUST account for scope hierarchies, where a broader scope implies
//! narrower ones).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// The `offline_access` scope, which MCP servers SHOULD NOT put in a challenge or in
/// `scopes_supported` (MCP 2026-07-28, "Refresh Tokens").
pub const OFFLINE_ACCESS: &str = "offline_access";

/// A scope token was not valid RFC 6749 §3.3 syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scope token {0:?}: RFC 6749 §3.3 allows 1*( %x21 / %x23-5B / %x5D-7E )")]
pub struct InvalidScope(pub String);

/// One scope token: `1*( %x21 / %x23-5B / %x5D-7E )` (RFC 6749 §3.3).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope(Arc<str>);

impl Scope {
    /// Parses one scope token.
    pub fn new(s: &str) -> Result<Self, InvalidScope> {
        if is_scope_token(s) {
            Ok(Self(Arc::from(s)))
        } else {
            Err(InvalidScope(s.to_owned()))
        }
    }

    /// The scope text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Scope {
    type Err = InvalidScope;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// A set of scopes, ordered for deterministic output.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a space-delimited `scope` value (RFC 6749 §3.3, RFC 9068 §2.2.3). Runs of
    /// spaces are tolerated; an invalid token fails the whole value.
    pub fn parse(s: &str) -> Result<Self, InvalidScope> {
        s.split(' ')
            .filter(|t| !t.is_empty())
            .map(Scope::new)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    /// Builds a set from scope strings (for configuration).
    pub fn try_from_iter<I, S>(iter: I) -> Result<Self, InvalidScope>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        iter.into_iter()
            .map(|s| Scope::new(s.as_ref()))
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    /// Adds a scope.
    pub fn insert(&mut self, scope: Scope) -> bool {
        self.0.insert(scope)
    }

    /// Whether the set holds `scope` literally (no hierarchy).
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s.as_str() == scope)
    }

    /// Number of scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates in order.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// Union of two sets.
    #[must_use]
    pub fn union(&self, other: &Self) -> Self {
        Self(self.0.union(&other.0).cloned().collect())
    }

    /// The set without `scope`.
    #[must_use]
    pub fn without(&self, scope: &str) -> Self {
        Self(
            self.0
                .iter()
                .filter(|s| s.as_str() != scope)
                .cloned()
                .collect(),
        )
    }

    /// The scopes of `required` that `self` does not satisfy under `hierarchy`.
    #[must_use]
    pub fn missing(&self, required: &Self, hierarchy: &dyn ScopeHierarchy) -> Self {
        Self(
            required
                .0
                .iter()
                .filter(|r| !self.grants(r, hierarchy))
                .cloned()
                .collect(),
        )
    }

    /// Whether `self` satisfies every scope of `required` under `hierarchy`.
    pub fn satisfies(&self, required: &Self, hierarchy: &dyn ScopeHierarchy) -> bool {
        required.0.iter().all(|r| self.grants(r, hierarchy))
    }

    /// Whether a held scope grants `required`: held as such (hierarchies are reflexive, see
    /// [`ScopeHierarchy`]; one set lookup, the common case), or implied by another.
    fn grants(&self, required: &Scope, hierarchy: &dyn ScopeHierarchy) -> bool {
        self.0.contains(required) || self.0.iter().any(|held| hierarchy.implies(held, required))
    }

    /// The space-delimited form.
    pub fn to_scope_string(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(s.as_str());
        }
        out
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.iter()).finish()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_scope_string())
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<T: IntoIterator<Item = Scope>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a ScopeSet {
    type Item = &'a Scope;
    type IntoIter = std::collections::btree_set::Iter<'a, Scope>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Decides whether a held scope satisfies a required one.
///
/// MCP 2026-07-28 ("Scope Selection Strategy"): "Servers MUST account for scope hierarchies,
/// where a broader scope implies narrower ones". Implementations must be reflexive
/// (`implies(a, a)` is true).
pub trait ScopeHierarchy: Send + Sync + fmt::Debug {
    /// Whether holding `held` grants `required`.
    fn implies(&self, held: &Scope, required: &Scope) -> bool;
}

/// No hierarchy: a scope grants only itself.
#[derive(Debug, Clone, Copy, Default)]
#[allow(clippy::exhaustive_structs)] // a unit marker: nothing to add later
pub struct FlatScopes;

impl ScopeHierarchy for FlatScopes {
    fn implies(&self, held: &Scope, required: &Scope) -> bool {
        held == required
    }
}

/// An explicit hierarchy: `mcp:admin` implies `mcp:write`, which implies `mcp:read`, and so
/// on. The closure is transitive and computed once when built.
///
/// ```
/// use mcp_auth_core::scope::{ImpliedScopes, Scope, ScopeHierarchy};
/// let h = ImpliedScopes::builder()
///     .implies("mcp:admin", ["mcp:write"])
///     .implies("mcp:write", ["mcp:read"])
///     .build()
///     .unwrap();
/// let admin = Scope::new("mcp:admin").unwrap();
/// let read = Scope::new("mcp:read").unwrap();
/// assert!(h.implies(&admin, &read));
/// assert!(!h.implies(&read, &admin));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ImpliedScopes {
    closure: BTreeMap<Scope, BTreeSet<Scope>>,
}

/// Builder of [`ImpliedScopes`].
#[derive(Debug, Default)]
#[must_use]
pub struct ImpliedScopesBuilder {
    edges: Vec<(String, Vec<String>)>,
}

impl ImpliedScopesBuilder {
    /// `broader` implies each of `narrower`.
    pub fn implies<I, S>(mut self, broader: &str, narrower: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.edges.push((
            broader.to_owned(),
            narrower
                .into_iter()
                .map(|s| s.as_ref().to_owned())
                .collect(),
        ));
        self
    }

    /// Validates every scope and computes the transitive closure.
    pub fn build(self) -> Result<ImpliedScopes, InvalidScope> {
        let mut direct: BTreeMap<Scope, BTreeSet<Scope>> = BTreeMap::new();
        for (broader, narrower) in self.edges {
            let b = Scope::new(&broader)?;
            let entry = direct.entry(b).or_default();
            for n in narrower {
                entry.insert(Scope::new(&n)?);
            }
        }
        let mut closure = BTreeMap::new();
        for start in direct.keys() {
            let mut seen = BTreeSet::new();
            let mut stack = vec![start.clone()];
            while let Some(s) = stack.pop() {
                if let Some(next) = direct.get(&s) {
                    for n in next {
                        if seen.insert(n.clone()) {
                            stack.push(n.clone());
                        }
                    }
                }
            }
            closure.insert(start.clone(), seen);
        }
        Ok(ImpliedScopes { closure })
    }
}

impl ImpliedScopes {
    /// Starts a builder.
    pub fn builder() -> ImpliedScopesBuilder {
        ImpliedScopesBuilder::default()
    }

    /// Every scope `scope` implies, itself excluded.
    pub fn implied_by(&self, scope: &Scope) -> impl Iterator<Item = &Scope> {
        self.closure.get(scope).into_iter().flatten()
    }
}

impl ScopeHierarchy for ImpliedScopes {
    fn implies(&self, held: &Scope, required: &Scope) -> bool {
        held == required
            || self
                .closure
                .get(held)
                .is_some_and(|set| set.contains(required))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap()
    }

    #[test]
    fn parse_space_delimited_and_sorted() {
        let s = set("b a  c");
        assert_eq!(s.to_scope_string(), "a b c");
        assert_eq!(s.len(), 3);
        assert!(set("").is_empty());
    }

    #[test]
    fn rejects_invalid_scope_tokens() {
        assert!(ScopeSet::parse("a \"b").is_err());
        assert!(ScopeSet::parse("a\\b").is_err());
        assert!(ScopeSet::parse("caf\u{e9}").is_err());
        assert!(ScopeSet::parse("a\tb").is_err());
        assert!(Scope::new("").is_err());
    }

    #[test]
    fn flat_missing_lists_each_absent_scope() {
        let held = set("mcp:read");
        let req = set("mcp:read mcp:write tools:x");
        assert_eq!(held.missing(&req, &FlatScopes), set("mcp:write tools:x"));
        assert!(!held.satisfies(&req, &FlatScopes));
        assert!(held.satisfies(&set("mcp:read"), &FlatScopes));
        assert!(held.satisfies(&ScopeSet::new(), &FlatScopes));
    }

    #[test]
    fn hierarchy_is_transitive_and_one_way() {
        let h = ImpliedScopes::builder()
            .implies("mcp:admin", ["mcp:write"])
            .implies("mcp:write", ["mcp:read"])
            .build()
            .unwrap();
        assert!(set("mcp:admin").satisfies(&set("mcp:read mcp:write"), &h));
        assert!(set("mcp:write").satisfies(&set("mcp:read"), &h));
        assert!(!set("mcp:read").satisfies(&set("mcp:write"), &h));
        assert_eq!(
            set("mcp:write").missing(&set("mcp:admin mcp:read"), &h),
            set("mcp:admin")
        );
    }

    #[test]
    fn hierarchy_tolerates_cycles() {
        let h = ImpliedScopes::builder()
            .implies("a", ["b"])
            .implies("b", ["a"])
            .build()
            .unwrap();
        assert!(h.implies(&Scope::new("a").unwrap(), &Scope::new("b").unwrap()));
        assert!(h.implies(&Scope::new("b").unwrap(), &Scope::new("a").unwrap()));
    }
}
