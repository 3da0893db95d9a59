//! Owned message types and their one codec: size-prefixed flatbuffers.
//!
//! Every type implements [`Message`]: `encode` builds a size-prefixed flatbuffer, `decode` runs
//! the flatbuffers verifier over untrusted bytes and then converts, rejecting unknown enum values
//! and missing fields with a [`DecodeError`]. `TryFrom<&[u8]>` and `From<&T> for Vec<u8>` are the
//! same two operations under the standard names.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use flatbuffers::{FlatBufferBuilder, UnionWIPOffset, WIPOffset};

use crate::fb;

/// Why bytes are not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The flatbuffers verifier rejected the bytes.
    #[error("Invalid flatbuffer: {0}")]
    Flatbuffer(flatbuffers::InvalidFlatbuffer),
    /// The 4-byte size prefix does not match the length of the bytes.
    #[error("Size prefix does not match the message length")]
    SizePrefix,
    /// A union or enum field holds a value this version does not know.
    #[error("Unknown {field} value {value}")]
    UnknownEnum {
        /// The field.
        field: &'static str,
        /// The raw value.
        value: u16,
    },
    /// A union's type tag and its table disagree, or the union is empty.
    #[error("Missing or mismatched value in {field}")]
    MissingValue {
        /// The field.
        field: &'static str,
    },
    /// A list holds more entries than any message of this kind may.
    #[error("{field} has {count} entries, more than {limit}")]
    TooMany {
        /// The field.
        field: &'static str,
        /// How many it has.
        count: usize,
        /// How many are allowed.
        limit: usize,
    },
}

/// Most arguments a call may carry (host functions and guest functions take a handful).
pub const MAX_ARGS: usize = 64;
/// Most tables one message may have the verifier visit.
const MAX_TABLES: usize = 4096;
/// Deepest table nesting of any message (a call's parameter's value is three deep).
const MAX_DEPTH: usize = 8;
/// What a message may visit beyond its own length: vtables are shared by design (the builder
/// deduplicates them), so visiting each table's vtable again adds a few bytes per table.
const SHARED_VTABLE_SLACK: usize = 8 * MAX_TABLES;

// Not `#[from]`: without `std`, `InvalidFlatbuffer` is not a `core::error::Error`.
impl From<flatbuffers::InvalidFlatbuffer> for DecodeError {
    fn from(e: flatbuffers::InvalidFlatbuffer) -> Self {
        Self::Flatbuffer(e)
    }
}

/// A message that crosses the host/guest boundary.
pub trait Message: Sized {
    /// Size-prefixed flatbuffer bytes.
    fn encode(&self) -> Vec<u8>;
    /// Verifies and converts size-prefixed flatbuffer bytes.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError>;
}

/// The type of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// No value (return type only).
    Void,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `bool`.
    Bool,
    /// UTF-8 string.
    String,
    /// Byte vector.
    Bytes,
}

/// A typed value: a parameter or a return value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// No value.
    Void,
    /// `i32`.
    I32(i32),
    /// `i64`.
    I64(i64),
    /// `u32`.
    U32(u32),
    /// `u64`.
    U64(u64),
    /// `f32`.
    F32(f32),
    /// `f64`.
    F64(f64),
    /// `bool`.
    Bool(bool),
    /// UTF-8 string.
    String(String),
    /// Byte vector.
    Bytes(Vec<u8>),
}

impl Value {
    /// About how many bytes this value takes in a message (its data and a table).
    pub(crate) fn encoded_len(&self) -> usize {
        match self {
            Value::String(s) => s.len() + 32,
            Value::Bytes(b) => b.len() + 32,
            _ => 32,
        }
    }

    /// The type of this value.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Void => ValueType::Void,
            Value::I32(_) => ValueType::I32,
            Value::I64(_) => ValueType::I64,
            Value::U32(_) => ValueType::U32,
            Value::U64(_) => ValueType::U64,
            Value::F32(_) => ValueType::F32,
            Value::F64(_) => ValueType::F64,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Bytes(_) => ValueType::Bytes,
        }
    }
}

/// Whether a call goes to a guest function or to a host function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// The host calls a function the guest runtime provides.
    Guest,
    /// The guest calls a function the host registered.
    Host,
}

/// A call of a named function.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionCall {
    /// The function's name.
    pub name: String,
    /// Its arguments, in order.
    pub args: Vec<Value>,
    /// Who is called.
    pub kind: CallKind,
}

/// What a function returned.
#[derive(Clone, Debug, PartialEq)]
pub struct ReturnValue(pub Value);

/// Why a guest call failed, as the guest reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// Unclassified.
    Unknown,
    /// The guest runtime panicked.
    GuestPanic,
    /// No guest function has that name.
    UnknownFunction,
    /// The arguments do not match the function.
    BadArguments,
    /// The call message itself was malformed.
    MalformedCall,
    /// The guest heap is exhausted.
    OutOfMemory,
    /// A host function call failed.
    HostCallFailed,
    /// The guest code trapped.
    Trap,
}

/// An error the guest reports instead of a return value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestError {
    /// Its class.
    pub code: ErrorCode,
    /// A human-readable message.
    pub message: String,
}

/// Severity of a guest log record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warn.
    Warn,
    /// Error.
    Error,
}

impl LogLevel {
    /// Every level, least severe first (the order of `flint.log`'s level argument).
    pub const ALL: [LogLevel; 5] = [
        LogLevel::Trace,
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warn,
        LogLevel::Error,
    ];

    /// The level's name in logs, records and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    /// The level numbered `n` in [`LogLevel::ALL`]; anything past the end is an error.
    pub fn from_index(n: u32) -> LogLevel {
        Self::ALL
            .get(n as usize)
            .copied()
            .unwrap_or(LogLevel::Error)
    }
}

/// One log record from the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestLogData {
    /// Severity.
    pub level: LogLevel,
    /// The message.
    pub message: String,
    /// Source file (may be empty).
    pub source: String,
    /// Source line (0 if unknown).
    pub line: u32,
}

/// The signature of a host function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFunctionDefinition {
    /// Its name.
    pub name: String,
    /// Parameter types, in order.
    pub params: Vec<ValueType>,
    /// Return type.
    pub ret: ValueType,
}

/// The host-function table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostFunctionDetails {
    /// Every host function, by name.
    pub functions: Vec<HostFunctionDefinition>,
}

impl HostFunctionDetails {
    /// The definition named `name`.
    pub fn find(&self, name: &str) -> Option<&HostFunctionDefinition> {
        self.functions.iter().find(|f| f.name == name)
    }
}

// ---------------------------------------------------------------- enum conversions

fn value_type_to_fb(t: ValueType) -> fb::ValueType {
    match t {
        ValueType::Void => fb::ValueType::Void,
        ValueType::I32 => fb::ValueType::I32,
        ValueType::I64 => fb::ValueType::I64,
        ValueType::U32 => fb::ValueType::U32,
        ValueType::U64 => fb::ValueType::U64,
        ValueType::F32 => fb::ValueType::F32,
        ValueType::F64 => fb::ValueType::F64,
        ValueType::Bool => fb::ValueType::Bool,
        ValueType::String => fb::ValueType::String,
        ValueType::Bytes => fb::ValueType::Bytes,
    }
}

fn value_type_from_fb(t: fb::ValueType) -> Result<ValueType, DecodeError> {
    Ok(match t {
        fb::ValueType::Void => ValueType::Void,
        fb::ValueType::I32 => ValueType::I32,
        fb::ValueType::I64 => ValueType::I64,
        fb::ValueType::U32 => ValueType::U32,
        fb::ValueType::U64 => ValueType::U64,
        fb::ValueType::F32 => ValueType::F32,
        fb::ValueType::F64 => ValueType::F64,
        fb::ValueType::Bool => ValueType::Bool,
        fb::ValueType::String => ValueType::String,
        fb::ValueType::Bytes => ValueType::Bytes,
        other => {
            return Err(DecodeError::UnknownEnum {
                field: "ValueType",
                value: other.0.into(),
            });
        }
    })
}

const ERROR_CODES: [(ErrorCode, fb::ErrorCode); 8] = [
    (ErrorCode::Unknown, fb::ErrorCode::Unknown),
    (ErrorCode::GuestPanic, fb::ErrorCode::GuestPanic),
    (ErrorCode::UnknownFunction, fb::ErrorCode::UnknownFunction),
    (ErrorCode::BadArguments, fb::ErrorCode::BadArguments),
    (ErrorCode::MalformedCall, fb::ErrorCode::MalformedCall),
    (ErrorCode::OutOfMemory, fb::ErrorCode::OutOfMemory),
    (ErrorCode::HostCallFailed, fb::ErrorCode::HostCallFailed),
    (ErrorCode::Trap, fb::ErrorCode::Trap),
];

const LOG_LEVELS: [(LogLevel, fb::LogLevel); 5] = [
    (LogLevel::Trace, fb::LogLevel::Trace),
    (LogLevel::Debug, fb::LogLevel::Debug),
    (LogLevel::Info, fb::LogLevel::Info),
    (LogLevel::Warn, fb::LogLevel::Warn),
    (LogLevel::Error, fb::LogLevel::Error),
];

fn to_fb<A: PartialEq + Copy, B: Copy>(table: &[(A, B)], a: A) -> B {
    // Every owned variant has a row: the tables above list them all.
    table
        .iter()
        .find(|(x, _)| *x == a)
        .map(|&(_, b)| b)
        .unwrap_or(table[0].1)
}

fn from_fb<A: Copy, B: PartialEq + Copy>(
    table: &[(A, B)],
    b: B,
    field: &'static str,
    raw: u16,
) -> Result<A, DecodeError> {
    table
        .iter()
        .find(|(_, y)| *y == b)
        .map(|&(a, _)| a)
        .ok_or(DecodeError::UnknownEnum { field, value: raw })
}

// ---------------------------------------------------------------- values

fn build_value<'a>(
    fbb: &mut FlatBufferBuilder<'a>,
    v: &Value,
) -> (fb::Value, WIPOffset<UnionWIPOffset>) {
    macro_rules! scalar {
        ($table:ident, $args:ident, $x:expr) => {
            (
                fb::Value::$table,
                fb::$table::create(fbb, &fb::$args { value: $x }).as_union_value(),
            )
        };
    }
    match v {
        Value::Void => (
            fb::Value::VoidValue,
            fb::VoidValue::create(fbb, &fb::VoidValueArgs {}).as_union_value(),
        ),
        Value::I32(x) => scalar!(I32Value, I32ValueArgs, *x),
        Value::I64(x) => scalar!(I64Value, I64ValueArgs, *x),
        Value::U32(x) => scalar!(U32Value, U32ValueArgs, *x),
        Value::U64(x) => scalar!(U64Value, U64ValueArgs, *x),
        Value::F32(x) => scalar!(F32Value, F32ValueArgs, *x),
        Value::F64(x) => scalar!(F64Value, F64ValueArgs, *x),
        Value::Bool(x) => scalar!(BoolValue, BoolValueArgs, *x),
        Value::String(s) => {
            let s = fbb.create_string(s);
            scalar!(StringValue, StringValueArgs, Some(s))
        }
        Value::Bytes(b) => {
            let b = fbb.create_vector(b);
            scalar!(BytesValue, BytesValueArgs, Some(b))
        }
    }
}

/// Reads the `value` union of a `Parameter` or `ReturnValue` table.
macro_rules! read_value {
    ($t:expr, $field:literal) => {{
        let t = $t;
        let missing = DecodeError::MissingValue { field: $field };
        match t.value_type() {
            fb::Value::VoidValue => t.value_as_void_value().map(|_| Value::Void),
            fb::Value::I32Value => t.value_as_i32_value().map(|x| Value::I32(x.value())),
            fb::Value::I64Value => t.value_as_i64_value().map(|x| Value::I64(x.value())),
            fb::Value::U32Value => t.value_as_u32_value().map(|x| Value::U32(x.value())),
            fb::Value::U64Value => t.value_as_u64_value().map(|x| Value::U64(x.value())),
            fb::Value::F32Value => t.value_as_f32_value().map(|x| Value::F32(x.value())),
            fb::Value::F64Value => t.value_as_f64_value().map(|x| Value::F64(x.value())),
            fb::Value::BoolValue => t.value_as_bool_value().map(|x| Value::Bool(x.value())),
            fb::Value::StringValue => t
                .value_as_string_value()
                .map(|x| Value::String(x.value().to_string())),
            fb::Value::BytesValue => t
                .value_as_bytes_value()
                .map(|x| Value::Bytes(x.value().bytes().to_vec())),
            _ => None,
        }
        .ok_or(missing)
    }};
}

/// A builder with room for `payload` bytes of strings and vectors plus the tables around
/// them, so that building a call's message does not grow (reallocate, zero and move) the
/// buffer step by step.
pub(crate) fn builder_for(payload: usize) -> FlatBufferBuilder<'static> {
    FlatBufferBuilder::with_capacity(payload.saturating_add(512))
}

pub(crate) fn finish<T>(mut fbb: FlatBufferBuilder<'_>, root: WIPOffset<T>) -> Vec<u8> {
    fbb.finish_size_prefixed(root, None);
    fbb.finished_data().to_vec()
}

pub(crate) fn root<'a, T>(bytes: &'a [u8]) -> Result<T::Inner, DecodeError>
where
    T: flatbuffers::Follow<'a> + flatbuffers::Verifiable + 'a,
{
    let prefix = bytes
        .get(..4)
        .map(|p| u32::from_le_bytes([p[0], p[1], p[2], p[3]]) as usize);
    if prefix != Some(bytes.len().wrapping_sub(4)) {
        return Err(DecodeError::SizePrefix);
    }
    // Bounded by the bytes themselves: a message that points many times at one large vector
    // (shared offsets) is refused before it is expanded, so everything decoded from it (every
    // string and byte vector copied) is at most about as large as the buffer it came from.
    let opts = flatbuffers::VerifierOptions {
        max_depth: MAX_DEPTH,
        max_tables: MAX_TABLES,
        max_apparent_size: bytes.len() + SHARED_VTABLE_SLACK,
        ignore_missing_null_terminator: false,
    };
    Ok(flatbuffers::size_prefixed_root_with_opts::<T>(
        &opts, bytes,
    )?)
}

// ---------------------------------------------------------------- messages

impl Message for FunctionCall {
    fn encode(&self) -> Vec<u8> {
        let payload = self.name.len() + self.args.iter().map(Value::encoded_len).sum::<usize>();
        let mut fbb = builder_for(payload);
        let params: Vec<_> = self
            .args
            .iter()
            .map(|a| {
                let (value_type, value) = build_value(&mut fbb, a);
                fb::Parameter::create(
                    &mut fbb,
                    &fb::ParameterArgs {
                        value_type,
                        value: Some(value),
                    },
                )
            })
            .collect();
        let parameters = Some(fbb.create_vector(&params));
        let function_name = Some(fbb.create_string(&self.name));
        let kind = match self.kind {
            CallKind::Guest => fb::CallKind::Guest,
            CallKind::Host => fb::CallKind::Host,
        };
        let root = fb::FunctionCall::create(
            &mut fbb,
            &fb::FunctionCallArgs {
                function_name,
                parameters,
                kind,
            },
        );
        finish(fbb, root)
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let call = root::<fb::FunctionCall>(bytes)?;
        let kind = match call.kind() {
            fb::CallKind::Guest => CallKind::Guest,
            fb::CallKind::Host => CallKind::Host,
            other => {
                return Err(DecodeError::UnknownEnum {
                    field: "CallKind",
                    value: other.0.into(),
                });
            }
        };
        let count = call.parameters().map_or(0, |ps| ps.len());
        if count > MAX_ARGS {
            return Err(DecodeError::TooMany {
                field: "FunctionCall.parameters",
                count,
                limit: MAX_ARGS,
            });
        }
        let args = call
            .parameters()
            .map(|ps| {
                ps.iter()
                    .map(|p| read_value!(p, "Parameter"))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            name: call.function_name().to_string(),
            args,
            kind,
        })
    }
}

impl Message for ReturnValue {
    fn encode(&self) -> Vec<u8> {
        let mut fbb = builder_for(self.0.encoded_len());
        let (value_type, value) = build_value(&mut fbb, &self.0);
        let root = fb::ReturnValue::create(
            &mut fbb,
            &fb::ReturnValueArgs {
                value_type,
                value: Some(value),
            },
        );
        finish(fbb, root)
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let r = root::<fb::ReturnValue>(bytes)?;
        Ok(Self(read_value!(r, "ReturnValue")?))
    }
}

impl Message for GuestError {
    fn encode(&self) -> Vec<u8> {
        let mut fbb = FlatBufferBuilder::new();
        let message = Some(fbb.create_string(&self.message));
        let code = to_fb(&ERROR_CODES, self.code);
        let root = fb::GuestError::create(&mut fbb, &fb::GuestErrorArgs { code, message });
        finish(fbb, root)
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let e = root::<fb::GuestError>(bytes)?;
        let code = from_fb(&ERROR_CODES, e.code(), "ErrorCode", e.code().0)?;
        Ok(Self {
            code,
            message: e.message().unwrap_or_default().to_string(),
        })
    }
}

impl Message for GuestLogData {
    fn encode(&self) -> Vec<u8> {
        let mut fbb = FlatBufferBuilder::new();
        let message = Some(fbb.create_string(&self.message));
        let source = Some(fbb.create_string(&self.source));
        let level = to_fb(&LOG_LEVELS, self.level);
        let root = fb::GuestLogData::create(
            &mut fbb,
            &fb::GuestLogDataArgs {
                level,
                message,
                source,
                line: self.line,
            },
        );
        finish(fbb, root)
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let l = root::<fb::GuestLogData>(bytes)?;
        let level = from_fb(&LOG_LEVELS, l.level(), "LogLevel", l.level().0.into())?;
        Ok(Self {
            level,
            message: l.message().to_string(),
            source: l.source().unwrap_or_default().to_string(),
            line: l.line(),
        })
    }
}

impl Message for HostFunctionDetails {
    fn encode(&self) -> Vec<u8> {
        let mut fbb = FlatBufferBuilder::new();
        let defs: Vec<_> = self
            .functions
            .iter()
            .map(|f| {
                let function_name = Some(fbb.create_string(&f.name));
                let params: Vec<fb::ValueType> =
                    f.params.iter().map(|&t| value_type_to_fb(t)).collect();
                let parameters = Some(fbb.create_vector(&params));
                fb::HostFunctionDefinition::create(
                    &mut fbb,
                    &fb::HostFunctionDefinitionArgs {
                        function_name,
                        parameters,
                        return_type: value_type_to_fb(f.ret),
                    },
                )
            })
            .collect();
        let functions = Some(fbb.create_vector(&defs));
        let root =
            fb::HostFunctionDetails::create(&mut fbb, &fb::HostFunctionDetailsArgs { functions });
        finish(fbb, root)
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let d = root::<fb::HostFunctionDetails>(bytes)?;
        let mut functions = Vec::new();
        for f in d.functions().iter().flatten() {
            let params = f
                .parameters()
                .iter()
                .flatten()
                .map(value_type_from_fb)
                .collect::<Result<Vec<_>, _>>()?;
            functions.push(HostFunctionDefinition {
                name: f.function_name().to_string(),
                params,
                ret: value_type_from_fb(f.return_type())?,
            });
        }
        Ok(Self { functions })
    }
}

macro_rules! standard_conversions {
    ($($t:ty),*) => {$(
        impl TryFrom<&[u8]> for $t {
            type Error = DecodeError;
            fn try_from(bytes: &[u8]) -> Result<Self, DecodeError> {
                <$t as Message>::decode(bytes)
            }
        }
        impl From<&$t> for Vec<u8> {
            fn from(m: &$t) -> Vec<u8> {
                m.encode()
            }
        }
    )*};
}
standard_conversions!(
    FunctionCall,
    ReturnValue,
    GuestError,
    GuestLogData,
    HostFunctionDetails
);

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn all_values() -> Vec<Value> {
        vec![
            Value::Void,
            Value::I32(-7),
            Value::I64(i64::MIN),
            Value::U32(u32::MAX),
            Value::U64(1 << 40),
            Value::F32(1.5),
            Value::F64(-2.25),
            Value::Bool(true),
            Value::String("héllo".into()),
            Value::Bytes(vec![0, 1, 2, 255]),
        ]
    }

    #[test]
    fn function_call_round_trips_every_type() {
        let call = FunctionCall {
            name: "echo".into(),
            args: all_values(),
            kind: CallKind::Host,
        };
        let bytes: Vec<u8> = (&call).into();
        assert_eq!(FunctionCall::try_from(bytes.as_slice()).unwrap(), call);
    }

    #[test]
    fn return_values_round_trip() {
        for v in all_values() {
            let r = ReturnValue(v);
            assert_eq!(ReturnValue::decode(&r.encode()).unwrap(), r);
        }
    }

    #[test]
    fn errors_logs_and_host_functions_round_trip() {
        let e = GuestError {
            code: ErrorCode::GuestPanic,
            message: "boom".into(),
        };
        assert_eq!(GuestError::decode(&e.encode()).unwrap(), e);
        let l = GuestLogData {
            level: LogLevel::Warn,
            message: "careful".into(),
            source: "main.rs".into(),
            line: 42,
        };
        assert_eq!(GuestLogData::decode(&l.encode()).unwrap(), l);
        let d = HostFunctionDetails {
            functions: vec![HostFunctionDefinition {
                name: "add".into(),
                params: vec![ValueType::I32, ValueType::String],
                ret: ValueType::I64,
            }],
        };
        assert_eq!(HostFunctionDetails::decode(&d.encode()).unwrap(), d);
    }

    #[test]
    fn garbage_and_truncation_are_errors_not_panics() {
        let good = FunctionCall {
            name: "f".into(),
            args: vec![Value::String("x".into())],
            kind: CallKind::Guest,
        }
        .encode();
        for cut in 0..good.len() {
            assert!(FunctionCall::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut seed = 0x1234_5678u32;
        for len in [0usize, 1, 4, 8, 16, 64, 300] {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            let _ = FunctionCall::decode(&junk);
            let _ = ReturnValue::decode(&junk);
            let _ = GuestError::decode(&junk);
            let _ = GuestLogData::decode(&junk);
            let _ = HostFunctionDetails::decode(&junk);
        }
    }

    #[test]
    fn unknown_enum_values_are_rejected() {
        let mut fbb = FlatBufferBuilder::new();
        let message = Some(fbb.create_string("m"));
        let root = fb::GuestLogData::create(
            &mut fbb,
            &fb::GuestLogDataArgs {
                level: fb::LogLevel(200),
                message,
                source: None,
                line: 1,
            },
        );
        let bytes = finish(fbb, root);
        assert_eq!(
            GuestLogData::decode(&bytes),
            Err(DecodeError::UnknownEnum {
                field: "LogLevel",
                value: 200
            })
        );
    }
}
