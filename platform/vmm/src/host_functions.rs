//! Host functions: Rust closures the guest may call by name with typed arguments.
//!
//! Their signatures go into the read-only host-function table in guest memory, where the guest
//! runtime looks before calling. The host checks every call again against the registry, since
//! nothing the guest sends is trusted.

use std::collections::BTreeMap;
use std::sync::Arc;

use flint_abi::host_fn::HostFunction;
use flint_abi::message::{HostFunctionDefinition, HostFunctionDetails, Value, ValueType};

/// An error a host function returns; the call that made it fails with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HostFunctionError(pub String);

/// Why a host call from the guest was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostCallError {
    /// No host function has that name.
    #[error("Unknown host function {name:?}")]
    UnknownFunction {
        /// The name the guest asked for.
        name: String,
    },
    /// The argument types do not match the signature.
    #[error("Host function {name:?} takes {expected:?}, guest passed {got:?}")]
    BadArguments {
        /// The function.
        name: String,
        /// Its parameter types.
        expected: Vec<ValueType>,
        /// The types the guest sent.
        got: Vec<ValueType>,
    },
    /// The function ran and failed.
    #[error("Host function {name:?} failed")]
    Failed {
        /// The function.
        name: String,
        /// Its error.
        #[source]
        source: HostFunctionError,
    },
    /// The function returned a value of the wrong type (a host bug, reported, not trusted).
    #[error("Host function {name:?} returned {got:?}, declared {declared:?}")]
    BadReturn {
        /// The function.
        name: String,
        /// The declared type.
        declared: ValueType,
        /// What it returned.
        got: ValueType,
    },
}

type Callback = dyn Fn(&[Value]) -> Result<Value, HostFunctionError> + Send + Sync;

struct Entry {
    definition: HostFunctionDefinition,
    callback: Box<Callback>,
}

/// A set of host functions, shared by every sandbox built with it.
#[derive(Clone, Default)]
pub struct HostFunctions {
    entries: Arc<BTreeMap<String, Entry>>,
}

impl std::fmt::Debug for HostFunctions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.keys()).finish()
    }
}

/// Builds a [`HostFunctions`].
#[derive(Default)]
pub struct HostFunctionsBuilder {
    entries: BTreeMap<String, Entry>,
}

impl HostFunctionsBuilder {
    /// Registers `name(params) -> ret`, replacing an earlier function of that name.
    pub fn register(
        mut self,
        name: &str,
        params: &[ValueType],
        ret: ValueType,
        callback: impl Fn(&[Value]) -> Result<Value, HostFunctionError> + Send + Sync + 'static,
    ) -> Self {
        let definition = HostFunctionDefinition {
            name: name.to_string(),
            params: params.to_vec(),
            ret,
        };
        self.entries.insert(
            name.to_string(),
            Entry {
                definition,
                callback: Box::new(callback),
            },
        );
        self
    }

    /// Registers the host call behind `declared` (from [`flint_abi::host_fn`]) with its
    /// declared name and signature. A function declared without a host call registers nothing.
    pub fn declare(
        self,
        declared: &HostFunction,
        callback: impl Fn(&[Value]) -> Result<Value, HostFunctionError> + Send + Sync + 'static,
    ) -> Self {
        match declared.call {
            Some(c) => self.register(c.name, c.params, c.returns, callback),
            None => self,
        }
    }

    /// Finishes the set.
    pub fn build(self) -> HostFunctions {
        HostFunctions {
            entries: Arc::new(self.entries),
        }
    }
}

impl HostFunctions {
    /// Starts an empty set.
    pub fn builder() -> HostFunctionsBuilder {
        HostFunctionsBuilder::default()
    }

    /// The signatures, as written into the guest's host-function table.
    pub fn details(&self) -> HostFunctionDetails {
        HostFunctionDetails {
            functions: self
                .entries
                .values()
                .map(|e| e.definition.clone())
                .collect(),
        }
    }

    /// Checks a call from the guest against the registry and runs it.
    pub fn call(&self, name: &str, args: &[Value]) -> Result<Value, HostCallError> {
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| HostCallError::UnknownFunction {
                name: name.to_string(),
            })?;
        let got: Vec<ValueType> = args.iter().map(Value::value_type).collect();
        if got != entry.definition.params {
            return Err(HostCallError::BadArguments {
                name: name.to_string(),
                expected: entry.definition.params.clone(),
                got,
            });
        }
        let value = (entry.callback)(args).map_err(|source| HostCallError::Failed {
            name: name.to_string(),
            source,
        })?;
        if value.value_type() != entry.definition.ret {
            return Err(HostCallError::BadReturn {
                name: name.to_string(),
                declared: entry.definition.ret,
                got: value.value_type(),
            });
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn functions() -> HostFunctions {
        HostFunctions::builder()
            .register("double", &[ValueType::I64], ValueType::I64, |a| match a {
                [Value::I64(x)] => Ok(Value::I64(x * 2)),
                _ => unreachable!("checked by the registry"),
            })
            .register("lies", &[], ValueType::I32, |_| Ok(Value::Bool(true)))
            .build()
    }

    #[test]
    fn checks_names_types_and_returns() {
        let f = functions();
        assert_eq!(f.call("double", &[Value::I64(21)]), Ok(Value::I64(42)));
        assert!(matches!(
            f.call("nope", &[]),
            Err(HostCallError::UnknownFunction { .. })
        ));
        assert!(matches!(
            f.call("double", &[Value::Bool(true)]),
            Err(HostCallError::BadArguments { .. })
        ));
        assert!(matches!(
            f.call("lies", &[]),
            Err(HostCallError::BadReturn { .. })
        ));
        assert_eq!(f.details().functions.len(), 2);
    }
}
