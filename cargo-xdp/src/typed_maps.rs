//! Map keys and values by field: the key and value types a kern object's
//! BTF gives each map (BTF-defined maps in `.maps`; legacy maps annotated
//! the way libbpf's `BPF_ANNOTATE_KV_PAIR` and AOSP's `DEFINE_BPF_MAP` do,
//! a `struct ____btf_map_NAME { key; value; }`), and bytes read as those
//! types: integers by size and sign, `__be16`/`__be32`/`__be64` in the
//! order the user wrote them, enums by name, structs by field, arrays and
//! `char` arrays (as text). A map without BTF types stays hex.

use std::{collections::BTreeMap, path::Path};

use anyhow::{Context, Result};
use btfparse::{Readable, TypeInformation, TypeVariant};
use object::{Object, ObjectSection};
use serde_json::{json, Value};

/// The key and value types of every map an object's BTF describes.
pub struct MapTypes {
    btf: TypeInformation,
    /// Map name -> (key type id, value type id).
    maps: BTreeMap<String, (u32, u32)>,
}

/// A `.BTF` section as btfparse reads it.
struct Bytes<'a>(&'a [u8]);

impl Readable for Bytes<'_> {
    fn read(&self, offset: u64, buffer: &mut [u8]) -> btfparse::Result<()> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        match self.0.get(start..start.saturating_add(buffer.len())) {
            Some(bytes) => {
                buffer.copy_from_slice(bytes);
                Ok(())
            }
            None => Err(btfparse::Error::new(
                btfparse::ErrorKind::IOError,
                "read past the end of .BTF",
            )),
        }
    }
}

/// Deepest chain of typedefs/qualifiers or nesting followed.
const MAX_DEPTH: usize = 32;

impl MapTypes {
    /// The map types of the kern object at `path`; None when it has no BTF.
    pub fn of_object(path: &Path) -> Result<Option<MapTypes>> {
        let data =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let file = object::File::parse(&*data)
            .with_context(|| format!("{} is not an ELF object", path.display()))?;
        let Some(section) = file.section_by_name(".BTF") else {
            return Ok(None);
        };
        let bytes = section.data()?;
        let btf = TypeInformation::new(&Bytes(bytes))
            .map_err(|e| anyhow::anyhow!("cannot read the BTF of {}: {e:?}", path.display()))?;
        Ok(Some(MapTypes::from_btf(btf)))
    }

    fn from_btf(btf: TypeInformation) -> MapTypes {
        let mut maps = BTreeMap::new();
        for ty in btf.get().values() {
            match ty {
                TypeVariant::DataSec(section) if section.name().as_deref() == Some(".maps") => {
                    for variable in section.variable_list() {
                        if let Some(TypeVariant::Var(var)) = btf.from_id(variable.var_decl_id) {
                            let name = var.name().clone().unwrap_or_default();
                            if let Some(types) = defined_map(&btf, *var.tid()) {
                                maps.insert(name, types);
                            }
                        }
                    }
                }
                TypeVariant::Struct(annotation) => {
                    let Some(name) = annotation
                        .name()
                        .as_deref()
                        .and_then(|n| n.strip_prefix("____btf_map_"))
                    else {
                        continue;
                    };
                    let member = |wanted: &str| {
                        annotation
                            .member_list()
                            .iter()
                            .find(|m| m.name().as_deref() == Some(wanted))
                            .map(|m| m.tid())
                    };
                    if let (Some(key), Some(value)) = (member("key"), member("value")) {
                        maps.entry(name.to_string()).or_insert((key, value));
                    }
                }
                _ => {}
            }
        }
        MapTypes { btf, maps }
    }

    /// Whether the BTF gives `map`'s key and value types.
    pub fn knows(&self, map: &str) -> bool {
        self.maps.contains_key(map)
    }

    /// `bytes` read as `map`'s key type; None for a map without types.
    pub fn key(&self, map: &str, bytes: &[u8]) -> Option<Typed> {
        let (key_type, _) = *self.maps.get(map)?;
        Some(self.read(key_type, bytes, 0))
    }

    /// `bytes` read as `map`'s value type.
    pub fn value(&self, map: &str, bytes: &[u8]) -> Option<Typed> {
        let (_, value_type) = *self.maps.get(map)?;
        Some(self.read(value_type, bytes, 0))
    }

    /// `bytes` read as type `tid`.
    fn read(&self, tid: u32, bytes: &[u8], depth: usize) -> Typed {
        let (tid, typedef) = self.resolve(tid);
        let hex = || Typed::hex(bytes);
        if depth > MAX_DEPTH {
            return hex();
        }
        match self.btf.from_id(tid) {
            Some(TypeVariant::Int(int)) => {
                let size = (*int.size()).min(bytes.len());
                let big_endian = typedef.as_deref().is_some_and(is_big_endian);
                let raw = integer(&bytes[..size], big_endian);
                if *int.boolean() {
                    Typed::Bool(raw != 0)
                } else if *int.signed() {
                    let shift = 128 - 8 * size as u32;
                    Typed::Int(((raw as i128) << shift) >> shift)
                } else {
                    Typed::Int(raw as i128)
                }
            }
            Some(TypeVariant::Enum(enumeration)) => {
                let size = (*enumeration.size()).min(bytes.len());
                let raw = integer(&bytes[..size], false) as i128;
                let name = enumeration
                    .named_value_list()
                    .iter()
                    .find(|v| match v.value {
                        btfparse::Integer32Value::Signed(n) => n as i128 == raw,
                        btfparse::Integer32Value::Unsigned(n) => n as i128 == raw,
                    });
                match name {
                    Some(v) => Typed::Enum(v.name.clone()),
                    None => Typed::Int(raw),
                }
            }
            Some(TypeVariant::Struct(record)) => self.read_struct(&record, bytes, depth),
            Some(TypeVariant::Array(array)) => {
                let element = *array.element_tid();
                let size = self.size(element);
                if size == 0 {
                    return hex();
                }
                let (element_tid, _) = self.resolve(element);
                let is_char = matches!(
                    self.btf.from_id(element_tid),
                    Some(TypeVariant::Int(int)) if *int.char() || (*int.size() == 1 && self.btf.name_of(element_tid).as_deref() == Some("char"))
                );
                if is_char {
                    let text = bytes.split(|b| *b == 0).next().unwrap_or_default();
                    return Typed::Text(String::from_utf8_lossy(text).into_owned());
                }
                Typed::Array(
                    bytes
                        .chunks(size)
                        .take(*array.element_count() as usize)
                        .map(|chunk| self.read(element, chunk, depth + 1))
                        .collect(),
                )
            }
            _ => hex(),
        }
    }

    /// `bytes` read field by field as `record`.
    fn read_struct(&self, record: &btfparse::Struct, bytes: &[u8], depth: usize) -> Typed {
        let mut fields = Vec::new();
        for member in record.member_list() {
            let name = member.name().clone().unwrap_or_default();
            let value = match member.offset() {
                btfparse::Offset::ByteOffset(start) => {
                    let start = start as usize;
                    let size = self.size(member.tid());
                    match bytes.get(start..start + size) {
                        Some(part) => self.read(member.tid(), part, depth + 1),
                        None => Typed::Hex(String::new()),
                    }
                }
                btfparse::Offset::BitOffsetAndSize(offset, size) => bitfield(bytes, offset, size),
            };
            fields.push((name, value));
        }
        Typed::Struct(fields)
    }

    /// Bytes of type `tid` (0: unknown); a pointer is 8 (BPF is 64-bit).
    fn size(&self, tid: u32) -> usize {
        match self.btf.from_id(self.resolve(tid).0) {
            Some(TypeVariant::Ptr(_)) => 8,
            _ => self.btf.size_of(tid).unwrap_or(0),
        }
    }

    /// `tid` past typedefs and qualifiers, and the innermost typedef's name
    /// on the way (`__be16` ...).
    fn resolve(&self, mut tid: u32) -> (u32, Option<String>) {
        let mut typedef: Option<String> = None;
        for _ in 0..MAX_DEPTH {
            tid = match self.btf.from_id(tid) {
                Some(TypeVariant::Typedef(alias)) => {
                    if typedef.as_deref().is_none_or(|t| !is_big_endian(t)) {
                        typedef = alias.name().clone();
                    }
                    *alias.tid()
                }
                Some(TypeVariant::Const(c)) => *c.tid(),
                Some(TypeVariant::Volatile(v)) => *v.tid(),
                Some(TypeVariant::Restrict(r)) => *r.tid(),
                Some(TypeVariant::TypeTag(t)) => *t.tid(),
                _ => break,
            };
        }
        (tid, typedef)
    }
}

/// The BTF type of a BTF-defined map's `key`/`value` member: a pointer.
fn defined_map(btf: &TypeInformation, tid: u32) -> Option<(u32, u32)> {
    let Some(TypeVariant::Struct(definition)) = btf.from_id(tid) else {
        return None;
    };
    let pointee = |wanted: &str| {
        let member = definition
            .member_list()
            .iter()
            .find(|m| m.name().as_deref() == Some(wanted))?;
        btf.pointee_tid(member.tid()).ok()
    };
    Some((pointee("key")?, pointee("value")?))
}

fn is_big_endian(typedef: &str) -> bool {
    matches!(typedef, "__be16" | "__be32" | "__be64" | "__sum16")
}

/// Little-endian bytes (BPF targets here are little-endian), or network
/// order for a `__be*` field.
fn integer(bytes: &[u8], big_endian: bool) -> u128 {
    let fold = |n: u128, b: &u8| (n << 8) | u128::from(*b);
    if big_endian {
        bytes.iter().fold(0, fold)
    } else {
        bytes.iter().rev().fold(0, fold)
    }
}

/// A bitfield `size` bits long at bit `offset` of a little-endian struct.
fn bitfield(bytes: &[u8], offset: u32, size: u32) -> Typed {
    let start = (offset / 8) as usize;
    let end = bytes.len().min(start + 9);
    let word = integer(bytes.get(start..end).unwrap_or_default(), false);
    let size = size.clamp(1, 64);
    Typed::Int(((word >> (offset % 8)) & ((1u128 << size) - 1)) as i128)
}

/// A value read by its BTF type.
#[derive(Debug, Clone, PartialEq)]
pub enum Typed {
    Int(i128),
    Bool(bool),
    Enum(String),
    Text(String),
    Struct(Vec<(String, Typed)>),
    Array(Vec<Typed>),
    /// No type to read it by (a pointer, a union, a float): its bytes.
    Hex(String),
}

impl Typed {
    /// Bytes with no type to read them by.
    pub fn hex(bytes: &[u8]) -> Typed {
        Typed::Hex(crate::packets::hex(bytes))
    }

    /// Per-CPU values summed, field by field (integers only: the rest is
    /// the first CPU's); None for no values.
    pub fn sum(values: &[Typed]) -> Option<Typed> {
        let mut values = values.iter();
        let first = values.next()?.clone();
        Some(values.fold(first, |total, next| total.plus(next)))
    }

    fn plus(self, other: &Typed) -> Typed {
        match (self, other) {
            (Typed::Int(a), Typed::Int(b)) => Typed::Int(a.saturating_add(*b)),
            (Typed::Struct(a), Typed::Struct(b)) if a.len() == b.len() => Typed::Struct(
                a.into_iter()
                    .zip(b)
                    .map(|((name, x), (_, y))| (name, x.plus(y)))
                    .collect(),
            ),
            (Typed::Array(a), Typed::Array(b)) if a.len() == b.len() => {
                Typed::Array(a.into_iter().zip(b).map(|(x, y)| x.plus(y)).collect())
            }
            (kept, _) => kept,
        }
    }

    /// As JSON: numbers (as strings past 2^53: JSON readers lose them),
    /// objects by field, arrays.
    pub fn to_json(&self) -> Value {
        match self {
            Typed::Int(n) if n.unsigned_abs() < (1 << 53) => json!(*n as i64),
            Typed::Int(n) => json!(n.to_string()),
            Typed::Bool(b) => json!(b),
            Typed::Enum(s) | Typed::Text(s) | Typed::Hex(s) => json!(s),
            Typed::Struct(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(name, value)| (name.clone(), value.to_json()))
                    .collect(),
            ),
            Typed::Array(items) => Value::Array(items.iter().map(Typed::to_json).collect()),
        }
    }
}

impl std::fmt::Display for Typed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Typed::Int(n) => write!(f, "{n}"),
            Typed::Bool(b) => write!(f, "{b}"),
            Typed::Enum(name) => f.write_str(name),
            Typed::Text(text) => write!(f, "{text:?}"),
            Typed::Hex(hex) => write!(f, "0x{hex}"),
            Typed::Struct(fields) => {
                f.write_str("{ ")?;
                for (i, (name, value)) in fields.iter().enumerate() {
                    let comma = if i > 0 { ", " } else { "" };
                    write!(f, "{comma}{name}: {value}")?;
                }
                f.write_str(" }")
            }
            Typed::Array(items) => {
                f.write_str("[")?;
                for (i, value) in items.iter().enumerate() {
                    let comma = if i > 0 { ", " } else { "" };
                    write!(f, "{comma}{value}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// The map types of `source` (C, standing alone) compiled by the real
/// `clang -target bpf -g`.
#[cfg(test)]
pub(crate) fn compiled(source: &str) -> MapTypes {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typed.c");
    std::fs::write(&file, source).unwrap();
    let object = dir.path().join("typed.o");
    let status = crate::process::Process::new("clang")
        .args(["-target", "bpf", "-g", "-O2", "-c"])
        .arg(&file)
        .arg("-o")
        .arg(&object)
        .status()
        .expect("clang runs");
    assert!(status.success());
    MapTypes::of_object(&object).unwrap().expect("BTF")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kern object with a BTF-defined map and an annotated legacy one.
    fn types() -> MapTypes {
        compiled(
            r#"
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef __u16 __be16;
typedef __u32 __be32;
enum verdict { VERDICT_PASS = 2, VERDICT_DROP = 1 };
struct flow { __be32 addr; __be16 port; __u8 proto; __u8 seen : 1, tries : 3; };
struct tally { __u64 packets; enum verdict last; char tag[8]; short delta; __u32 hist[2]; };
struct {
    int (*type)[6];
    struct flow *key;
    struct tally *value;
} flows __attribute__((section(".maps"), used));
struct legacy_def { __u32 type, key_size, value_size, max_entries; };
struct legacy_def legacy __attribute__((section("maps"), used)) = { 2, 4, 8, 1 };
struct ____btf_map_legacy { __u32 key; __u64 value; };
struct ____btf_map_legacy ____btf_map_legacy_anchor __attribute__((section(".maps.legacy"), used));
char _license[] __attribute__((section("license"), used)) = "GPL";
"#,
        )
    }

    #[test]
    fn keys_and_values_read_by_their_btf_types() {
        let types = types();
        assert!(types.knows("flows") && types.knows("legacy") && !types.knows("other"));
        // addr 192.0.2.1 and port 53 in network order; proto 17; seen 1, tries 5.
        let key = [192, 0, 2, 1, 0, 53, 17, 0b1011];
        let mut value = Vec::new();
        value.extend(7u64.to_le_bytes());
        value.extend(1u32.to_le_bytes());
        value.extend(b"wlan0\0\0\0");
        value.extend((-3i16).to_le_bytes());
        value.extend([0, 0]);
        value.extend(4u32.to_le_bytes());
        value.extend(9u32.to_le_bytes());
        value.extend([0; 4]);
        let (key, value) = (
            types.key("flows", &key).unwrap(),
            types.value("flows", &value).unwrap(),
        );
        assert_eq!(
            key.to_string(),
            "{ addr: 3221225985, port: 53, proto: 17, seen: 1, tries: 5 }"
        );
        assert_eq!(
            value.to_string(),
            "{ packets: 7, last: VERDICT_DROP, tag: \"wlan0\", delta: -3, hist: [4, 9] }"
        );
        assert_eq!(value.to_json()["hist"][1], 9);
        assert_eq!(value.to_json()["last"], "VERDICT_DROP");
        // Per-CPU values: summed by field.
        let total = Typed::sum(&[value.clone(), value]).unwrap();
        assert!(total.to_string().starts_with("{ packets: 14, "), "{total}");
        let (key, value) = (
            types.key("legacy", &5u32.to_le_bytes()).unwrap(),
            types.value("legacy", &6u64.to_le_bytes()).unwrap(),
        );
        assert_eq!((key, value), (Typed::Int(5), Typed::Int(6)));
        assert!(types.key("other", &[1]).is_none() && types.value("other", &[2]).is_none());
    }
}
