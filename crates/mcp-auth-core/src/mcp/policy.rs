//! Scope requirements and the per-operation [`McpPolicy`] (MCP 2026-07-28 "Scope Selection
//! Strategy": scope hierarchies, fail closed for unknown names).

use super::{Classification, NAME_FROM_URI, Operation, method_has_name};
use crate::scope::{ScopeHierarchy, ScopeSet};
use std::collections::BTreeMap;

/// A scope requirement: any one of several alternatives, each a set of scopes all needed.
///
/// `Requirement::all_of(["a", "b"])` needs both; `Requirement::any_of([["a"], ["b"]])` needs
/// either. [`Requirement::none`] is always satisfied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    alternatives: Vec<ScopeSet>,
}

/// Cap on the alternatives of a combined requirement; beyond it the requirement keeps the
/// first alternatives only (stricter, never looser).
const MAX_ALTERNATIVES: usize = 16;

impl Requirement {
    /// Always satisfied.
    pub fn none() -> Self {
        Self {
            alternatives: vec![ScopeSet::new()],
        }
    }

    /// All of `scopes`.
    pub fn all_of(scopes: ScopeSet) -> Self {
        Self {
            alternatives: vec![scopes],
        }
    }

    /// Any one of `alternatives` (each all-of). The first is the preferred one, named in
    /// challenges when none is satisfied. An empty list is never satisfiable (and
    /// [`McpPolicyBuilder::build`] refuses one).
    pub fn any_of(alternatives: Vec<ScopeSet>) -> Self {
        Self { alternatives }
    }

    /// The alternatives.
    pub fn alternatives(&self) -> &[ScopeSet] {
        &self.alternatives
    }

    /// Both `self` and `other`.
    #[must_use]
    pub fn and(&self, other: &Self) -> Self {
        let mut alternatives = Vec::new();
        'outer: for a in &self.alternatives {
            for b in &other.alternatives {
                let u = a.union(b);
                if !alternatives.contains(&u) {
                    alternatives.push(u);
                }
                if alternatives.len() >= MAX_ALTERNATIVES {
                    break 'outer;
                }
            }
        }
        Self { alternatives }
    }

    /// Whether `granted` satisfies one alternative under `hierarchy`.
    pub fn is_satisfied_by(&self, granted: &ScopeSet, hierarchy: &dyn ScopeHierarchy) -> bool {
        self.alternatives
            .iter()
            .any(|alt| granted.satisfies(alt, hierarchy))
    }

    /// The scopes to name in a 403: every scope of the alternative that needs the fewest
    /// scopes the token lacks (the first on a tie). MCP 2026-07-28: "include all scopes
    /// required for the current operation in a single challenge".
    pub fn challenge_scopes(&self, granted: &ScopeSet, hierarchy: &dyn ScopeHierarchy) -> ScopeSet {
        self.alternatives
            .iter()
            .min_by_key(|alt| granted.missing(alt, hierarchy).len())
            .cloned()
            .unwrap_or_default()
    }

    /// Every scope named in any alternative.
    pub fn all_scopes(&self) -> ScopeSet {
        self.alternatives
            .iter()
            .fold(ScopeSet::new(), |acc, a| acc.union(a))
    }
}

/// Per-operation scope policy for an MCP endpoint.
///
/// The requirement of an operation is `default` and its method's requirement and, for a
/// named operation, its name's requirement. For a method with at least one name rule, names
/// without a rule get [`unknown_names`](McpPolicyBuilder::unknown_names) (by default every
/// scope the policy names anywhere: fail closed).
///
/// ```
/// use mcp_auth_core::mcp::{Classification, McpPolicy, Operation};
/// use mcp_auth_core::scope::{FlatScopes, ScopeSet};
/// let policy = McpPolicy::builder()
///     .default_scopes(["mcp:read"])
///     .tool("add_note", ["mcp:write"])
///     .build()
///     .unwrap();
/// let call = McpPolicy::operation("tools/call", Some("add_note"));
/// let need = policy.requirement(&Classification::Operations(vec![call]));
/// let granted = ScopeSet::parse("mcp:read").unwrap();
/// assert!(!need.is_satisfied_by(&granted, &FlatScopes));
/// assert_eq!(need.challenge_scopes(&granted, &FlatScopes).to_string(), "mcp:read mcp:write");
/// ```
#[derive(Debug, Clone)]
pub struct McpPolicy {
    default: Requirement,
    methods: BTreeMap<String, Requirement>,
    names: BTreeMap<(String, String), Requirement>,
    unknown_names: Requirement,
    strongest: Requirement,
}

/// Builder of [`McpPolicy`].
///
/// Each rule is a list of alternatives, each a set of scopes all needed. An empty scope set
/// is a meaningful requirement, "no scopes" (`default_scopes(Vec::<&str>::new())`,
/// `method_any_of(m, vec![vec![]])`), but an empty list of alternatives
/// (`method_any_of(m, vec![])`) offers no way to be satisfied and no scope to name in a
/// challenge: [`build`](Self::build) refuses it with [`PolicyError::NoAlternatives`] rather
/// than reading it as "allow all" or "deny all". A rule never set is not an empty one:
/// without `default_scopes`, messages need only their method and name rules.
///
/// ```
/// use mcp_auth_core::mcp::{McpPolicy, PolicyError};
/// let err = McpPolicy::builder().method_any_of("tools/list", vec![]).build().unwrap_err();
/// assert!(matches!(err, PolicyError::NoAlternatives { .. }));
/// assert!(McpPolicy::builder().method_any_of("ping", vec![vec![]]).build().is_ok());
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct McpPolicyBuilder {
    default: Option<Vec<Vec<String>>>,
    methods: Vec<(String, Vec<Vec<String>>)>,
    names: Vec<(String, String, Vec<Vec<String>>)>,
    unknown_names: Option<Vec<Vec<String>>>,
}

/// Why [`McpPolicyBuilder::build`] refused a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A scope is not valid RFC 6749 §3.3 syntax.
    #[error(transparent)]
    InvalidScope(#[from] crate::scope::InvalidScope),
    /// An any-of rule was given no alternatives: it could never be satisfied, and there is
    /// no scope to name in a challenge. For "no scopes needed", give one empty set.
    #[error(
        "{rule}: an any-of requirement needs at least one alternative (an empty scope set means no scopes)"
    )]
    NoAlternatives {
        /// The rule: `method "tools/list"`, `tools/call "export"`.
        rule: String,
    },
}

fn strings<I, S>(scopes: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    scopes.into_iter().map(|s| s.as_ref().to_owned()).collect()
}

impl McpPolicyBuilder {
    /// Scopes every MCP message needs.
    pub fn default_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.default = Some(vec![strings(scopes)]);
        self
    }

    /// Scopes a JSON-RPC method needs (all of them).
    pub fn method<I, S>(mut self, method: &str, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.methods
            .push((method.to_owned(), vec![strings(scopes)]));
        self
    }

    /// A method that needs any one of several scope sets. At least one set: an empty list
    /// makes [`build`](Self::build) fail with [`PolicyError::NoAlternatives`].
    pub fn method_any_of(mut self, method: &str, alternatives: Vec<Vec<&str>>) -> Self {
        self.methods.push((
            method.to_owned(),
            alternatives.into_iter().map(strings).collect(),
        ));
        self
    }

    /// Scopes a named operation needs: `method` is `tools/call`, `prompts/get` or a
    /// `resources/*` method; `name` the tool or prompt name or the resource URI.
    pub fn name<I, S>(mut self, method: &str, name: &str, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.names
            .push((method.to_owned(), name.to_owned(), vec![strings(scopes)]));
        self
    }

    /// A named operation that needs any one of several scope sets. At least one set: an
    /// empty list makes [`build`](Self::build) fail with [`PolicyError::NoAlternatives`].
    pub fn name_any_of(mut self, method: &str, name: &str, alternatives: Vec<Vec<&str>>) -> Self {
        self.names.push((
            method.to_owned(),
            name.to_owned(),
            alternatives.into_iter().map(strings).collect(),
        ));
        self
    }

    /// Scopes a tool needs (`tools/call` with this name).
    pub fn tool<I, S>(self, tool: &str, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.name("tools/call", tool, scopes)
    }

    /// Scopes a prompt needs (`prompts/get`).
    pub fn prompt<I, S>(self, prompt: &str, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.name("prompts/get", prompt, scopes)
    }

    /// Scopes reading a resource needs (`resources/read`, `subscribe`, `unsubscribe`).
    pub fn resource<I, S>(mut self, uri: &str, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let scopes = strings(scopes);
        for m in NAME_FROM_URI {
            self = self.name(m, uri, scopes.iter());
        }
        self
    }

    /// What names without a rule need, for methods that have name rules. Default: every
    /// scope the policy names (fail closed).
    pub fn unknown_names<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.unknown_names = Some(vec![strings(scopes)]);
        self
    }

    /// Validates the scopes and builds.
    ///
    /// # Errors
    ///
    /// [`PolicyError::InvalidScope`] for a scope that is not RFC 6749 syntax,
    /// [`PolicyError::NoAlternatives`] for an any-of rule given an empty list.
    pub fn build(self) -> Result<McpPolicy, PolicyError> {
        let req = |alts: Vec<Vec<String>>,
                   rule: &dyn Fn() -> String|
         -> Result<Requirement, PolicyError> {
            if alts.is_empty() {
                return Err(PolicyError::NoAlternatives { rule: rule() });
            }
            Ok(Requirement::any_of(
                alts.iter()
                    .map(ScopeSet::try_from_iter)
                    .collect::<Result<_, _>>()?,
            ))
        };
        let default = match self.default {
            Some(alts) => req(alts, &|| "default".to_owned())?,
            None => Requirement::none(),
        };
        let mut methods = BTreeMap::new();
        for (m, alts) in self.methods {
            let r = req(alts, &|| format!("method {m:?}"))?;
            methods.insert(m, r);
        }
        let mut names = BTreeMap::new();
        for (m, n, alts) in self.names {
            let r = req(alts, &|| format!("{m} {n:?}"))?;
            names.insert((m, n), r);
        }
        let everything = methods
            .values()
            .chain(names.values())
            .chain(std::iter::once(&default))
            .fold(ScopeSet::new(), |acc, r| acc.union(&r.all_scopes()));
        let unknown_names = match self.unknown_names {
            Some(alts) => req(alts, &|| "unknown names".to_owned())?,
            None => Requirement::all_of(everything.clone()),
        };
        let strongest = Requirement::all_of(everything.union(&unknown_names.all_scopes()));
        Ok(McpPolicy {
            default,
            methods,
            names,
            unknown_names,
            strongest,
        })
    }
}

impl McpPolicy {
    /// Starts a builder.
    pub fn builder() -> McpPolicyBuilder {
        McpPolicyBuilder::default()
    }

    /// An operation (for tests and custom classifiers).
    pub fn operation(method: &str, name: Option<&str>) -> Operation {
        Operation {
            method: method.to_owned(),
            name: name.map(str::to_owned),
        }
    }

    /// What every message needs.
    pub fn default_requirement(&self) -> &Requirement {
        &self.default
    }

    /// What one operation needs.
    pub fn operation_requirement(&self, op: &Operation) -> Requirement {
        let mut r = self.default.clone();
        if let Some(m) = self.methods.get(&op.method) {
            r = r.and(m);
        }
        if method_has_name(&op.method) {
            let has_rules = self.names.keys().any(|(m, _)| *m == op.method);
            let by_name = op
                .name
                .as_ref()
                .and_then(|n| self.names.get(&(op.method.clone(), n.clone())));
            match (by_name, has_rules) {
                (Some(n), _) => r = r.and(n),
                (None, true) => r = r.and(&self.unknown_names),
                (None, false) => {}
            }
        }
        r
    }

    /// What a classified request needs: every operation's requirement (a batch needs them
    /// all); [`Classification::Uncertain`] needs every scope the policy names.
    pub fn requirement(&self, c: &Classification) -> Requirement {
        match c {
            Classification::Uncertain => self.strongest.clone(),
            Classification::Operations(ops) => ops.iter().fold(self.default.clone(), |acc, op| {
                acc.and(&self.operation_requirement(op))
            }),
        }
    }
}
