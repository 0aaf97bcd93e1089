//! GGUF reading (versions 2 and 3): metadata, tensor infos, alignment, and
//! every tensor's byte range checked against the file before any is read.
//!
//! Layout (all little-endian): `"GGUF"`, u32 version, u64 tensor count, u64
//! metadata count, the metadata (key string, u32 value type, value), the tensor
//! infos (name string, u32 n_dims, u64 `ne[n_dims]`, u32 ggml type, u64 offset),
//! zero padding up to `general.alignment` (default 32), then the data area.
//! Strings are a u64 length and UTF-8 bytes. `ne[0]` is the innermost
//! (contiguous) dimension: a linear weight `[out, in]` has `ne = [in, out]`.

use super::gguf_types::{GgmlType, Value, ValueType};
use crate::error::bad;
use crate::error::Result;
use std::collections::HashMap;

pub const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml's GGML_MAX_DIMS.
pub const MAX_DIMS: u32 = 4;
/// Nesting limit for arrays of arrays, so a crafted file cannot exhaust the stack.
const MAX_DEPTH: usize = 16;

/// One tensor's info; `offset` is relative to the data area.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// GGUF dims order: `ne[0]` innermost.
    pub ne: Vec<u64>,
    pub ty: GgmlType,
    pub offset: u64,
    /// `numel / block elements × block bytes`
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Row-major shape, outermost first (`ne` reversed): `[out, in]` for a linear weight.
    pub fn shape(&self) -> Vec<usize> {
        // Every dim was checked to fit in usize at parse time.
        self.ne.iter().rev().map(|&d| d as usize).collect()
    }

    pub fn numel(&self) -> usize {
        self.ne.iter().map(|&d| d as usize).product()
    }
}

/// A parsed, validated GGUF header.
#[derive(Debug, Clone)]
pub struct Gguf {
    pub file: String,
    pub version: u32,
    /// In file order.
    pub metadata: Vec<(String, Value)>,
    /// In file order.
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Byte offset of the data area in the file.
    pub data_start: u64,
    by_name: HashMap<String, usize>,
}

impl Gguf {
    /// Parses a whole file in memory.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Gguf> {
        Gguf::parse_header(file, bytes, bytes.len() as u64)
    }

    /// Parses the header from the file's leading bytes; tensor ranges are
    /// checked against `file_len`, the full file's length.
    pub fn parse_header(file: &str, prefix: &[u8], file_len: u64) -> Result<Gguf> {
        let mut r = Reader { file, b: prefix, pos: 0 };
        let magic = r.take(4, "the magic \"GGUF\"", None)?;
        if magic != b"GGUF" {
            return Err(bad(file, None, "the magic bytes \"GGUF\" (47 47 55 46)", format!("{magic:02x?}")));
        }
        let version = r.u32("the version", None)?;
        if version != 2 && version != 3 {
            let hint = if version.swap_bytes() <= 3 { " (a big-endian file?)" } else { "" };
            return Err(bad(file, None, "GGUF version 2 or 3", format!("version {version}{hint}")));
        }
        let n_tensors = r.u64("the tensor count", None)?;
        let n_kv = r.u64("the metadata count", None)?;
        let need = n_kv.saturating_mul(8 + 4 + 1).saturating_add(n_tensors.saturating_mul(8 + 4 + 4 + 8));
        if need > r.left() {
            return Err(bad(
                file,
                None,
                format!("at least {need} header bytes for {n_tensors} tensors and {n_kv} metadata entries"),
                format!("{} bytes left", r.left()),
            ));
        }

        let mut metadata: Vec<(String, Value)> = Vec::with_capacity(n_kv as usize);
        for _ in 0..n_kv {
            let key = r.string("a metadata key", None)?;
            let what = format!("the value of metadata key '{key}'");
            let tag = r.u32(&what, None)?;
            let ty = ValueType::from_u32(tag).ok_or_else(|| bad(file, None, format!("a value type 0..=12 for metadata key '{key}'"), format!("type {tag}")))?;
            let value = r.value(ty, 0, &what)?;
            if metadata.iter().any(|(k, _)| *k == key) {
                return Err(bad(file, None, format!("metadata key '{key}' once"), "it twice"));
            }
            metadata.push((key, value));
        }
        let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some((_, v)) => match v.as_u64() {
                Some(a) if a.is_power_of_two() => a,
                _ => return Err(bad(file, None, "general.alignment to be a power of two", format!("{v:?}"))),
            },
        };

        let mut tensors: Vec<TensorInfo> = Vec::with_capacity(n_tensors as usize);
        let mut by_name = HashMap::with_capacity(n_tensors as usize);
        for i in 0..n_tensors {
            let t = r.tensor_info(i)?;
            if by_name.insert(t.name.clone(), tensors.len()).is_some() {
                return Err(bad(file, Some(&t.name), "each tensor name once", "it twice"));
            }
            tensors.push(t);
        }
        let data_start = (r.pos as u64)
            .checked_next_multiple_of(alignment)
            .ok_or_else(|| bad(file, None, "a data area offset that fits in 64 bits", format!("alignment {alignment}")))?;

        let g = Gguf { file: file.to_string(), version, metadata, tensors, alignment, data_start, by_name };
        g.check_ranges(file_len)?;
        Ok(g)
    }

    /// Offsets aligned, every tensor inside the file, no two overlapping.
    fn check_ranges(&self, file_len: u64) -> Result<()> {
        let data_len = file_len.saturating_sub(self.data_start);
        for t in &self.tensors {
            if t.offset % self.alignment != 0 {
                return Err(bad(
                    &self.file,
                    Some(&t.name),
                    format!("an offset that is a multiple of the alignment {}", self.alignment),
                    format!("offset {}", t.offset),
                ));
            }
            let end = t.offset.checked_add(t.n_bytes);
            if file_len < self.data_start || end.is_none_or(|e| e > data_len) {
                return Err(bad(
                    &self.file,
                    Some(&t.name),
                    format!("its {} bytes of {} data inside the data area ({data_len} bytes from file offset {})", t.n_bytes, t.ty, self.data_start),
                    format!("offset {}: the file ({file_len} bytes) is truncated or the offset is out of range", t.offset),
                ));
            }
        }
        let mut order: Vec<&TensorInfo> = self.tensors.iter().collect();
        order.sort_by_key(|t| (t.offset, t.n_bytes));
        for pair in order.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if b.offset < a.offset + a.n_bytes {
                return Err(bad(
                    &self.file,
                    Some(&b.name),
                    format!("data starting at or after offset {}, where tensor '{}' ends (no overlap)", a.offset + a.n_bytes, a.name),
                    format!("offset {}", b.offset),
                ));
            }
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name.get(name).map(|&i| &self.tensors[i])
    }

    /// Like [`Gguf::tensor`], with an error naming the missing tensor.
    pub fn require(&self, name: &str) -> Result<&TensorInfo> {
        self.tensor(name).ok_or_else(|| bad(&self.file, Some(name), "a tensor of this name", format!("none among the file's {} tensors", self.tensors.len())))
    }

    /// The tensor's raw bytes within `bytes`, the whole file.
    pub fn tensor_bytes<'a>(&self, bytes: &'a [u8], t: &TensorInfo) -> Result<&'a [u8]> {
        let start = self.data_start.checked_add(t.offset);
        let end = start.and_then(|s| s.checked_add(t.n_bytes));
        let range = start.zip(end).and_then(|(s, e)| Some(usize::try_from(s).ok()?..usize::try_from(e).ok()?));
        range.and_then(|r| bytes.get(r)).ok_or_else(|| {
            bad(
                &self.file,
                Some(&t.name),
                format!("{} bytes at file offset {}", t.n_bytes, self.data_start.saturating_add(t.offset)),
                format!("a file of {} bytes", bytes.len()),
            )
        })
    }
}

/// A cursor over the header bytes; every read checks what is left.
struct Reader<'a> {
    file: &'a str,
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> u64 {
        (self.b.len() - self.pos) as u64
    }

    fn take(&mut self, n: u64, what: &str, tensor: Option<&str>) -> Result<&'a [u8]> {
        if n > self.left() {
            return Err(bad(
                self.file,
                tensor,
                format!("{n} bytes for {what} at offset {}", self.pos),
                format!("{} bytes left: the file is truncated", self.left()),
            ));
        }
        let s = &self.b[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str, tensor: Option<&str>) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N as u64, what, tensor)?);
        Ok(a)
    }

    fn u32(&mut self, what: &str, tensor: Option<&str>) -> Result<u32> {
        self.array(what, tensor).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str, tensor: Option<&str>) -> Result<u64> {
        self.array(what, tensor).map(u64::from_le_bytes)
    }

    /// A u64 length, then that many UTF-8 bytes (trailing NULs dropped, as
    /// llama.cpp-made files sometimes carry them).
    fn string(&mut self, what: &str, tensor: Option<&str>) -> Result<String> {
        let len = self.u64(what, tensor)?;
        let bytes = self.take(len, what, tensor)?;
        let end = bytes.iter().rposition(|&c| c != 0).map_or(0, |p| p + 1);
        std::str::from_utf8(&bytes[..end]).map(str::to_string).map_err(|e| bad(self.file, tensor, format!("UTF-8 text for {what}"), e.to_string()))
    }

    fn value(&mut self, ty: ValueType, depth: usize, what: &str) -> Result<Value> {
        Ok(match ty {
            ValueType::U8 => Value::U8(self.array::<1>(what, None)?[0]),
            ValueType::I8 => Value::I8(i8::from_le_bytes(self.array(what, None)?)),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array(what, None)?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array(what, None)?)),
            ValueType::U32 => Value::U32(self.u32(what, None)?),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array(what, None)?)),
            ValueType::U64 => Value::U64(self.u64(what, None)?),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array(what, None)?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array(what, None)?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array(what, None)?)),
            ValueType::Bool => match self.array::<1>(what, None)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(bad(self.file, None, format!("0 or 1 for the bool {what}"), format!("{b}"))),
            },
            ValueType::String => Value::String(self.string(what, None)?),
            ValueType::Array => {
                if depth >= MAX_DEPTH {
                    return Err(bad(self.file, None, format!("arrays nested at most {MAX_DEPTH} deep in {what}"), "deeper nesting"));
                }
                let tag = self.u32(what, None)?;
                let elem = ValueType::from_u32(tag).ok_or_else(|| bad(self.file, None, format!("an element type 0..=12 for {what}"), format!("type {tag}")))?;
                let n = self.u64(what, None)?;
                if n.saturating_mul(elem.min_size()) > self.left() {
                    return Err(bad(self.file, None, format!("room for {n} array elements in {what}"), format!("{} bytes left", self.left())));
                }
                // A Value is ~32 bytes however small on disk: reserve little, let it grow.
                let mut items = Vec::with_capacity((n as usize).min(4096));
                for _ in 0..n {
                    items.push(self.value(elem, depth + 1, what)?);
                }
                Value::Array(elem, items)
            }
        })
    }

    /// One tensor info, with its dims, type and byte size checked.
    fn tensor_info(&mut self, index: u64) -> Result<TensorInfo> {
        let name = self.string(&format!("the name of tensor #{index}"), None)?;
        let t = Some(name.as_str());
        let n_dims = self.u32("the number of dims", t)?;
        if n_dims > MAX_DIMS {
            return Err(bad(self.file, t, format!("at most {MAX_DIMS} dims"), format!("{n_dims} dims")));
        }
        let mut ne = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            ne.push(self.u64("a dim", t)?);
        }
        let ty = GgmlType(self.u32("the tensor type", t)?);
        let offset = self.u64("the data offset", t)?;
        let n_bytes = byte_size(&ne, ty).map_err(|(expected, found)| bad(self.file, t, expected, found))?;
        Ok(TensorInfo { name, ne, ty, offset, n_bytes })
    }
}

/// Bytes of a tensor of type `ty` with dims `ne`, or (expected, found) saying
/// why those dims do not make a valid tensor: unknown type, a product past
/// this machine's address space, or `ne[0]` not a whole number of blocks.
pub(crate) fn byte_size(ne: &[u64], ty: GgmlType) -> std::result::Result<u64, (String, String)> {
    let Some((block_elems, block_bytes)) = ty.block() else {
        return Err(("a known ggml tensor type".into(), format!("{ty}")));
    };
    // Zeros counted as 1 bound every partial product (see safetensors.rs).
    let bound = ne.iter().try_fold(1u64, |a, &d| a.checked_mul(d.max(1)));
    if !bound.is_some_and(|b| usize::try_from(b).is_ok() && b <= i64::MAX as u64) {
        return Err(("dims whose element count fits in this machine's address space".into(), format!("ne {ne:?}")));
    }
    if !ne.first().copied().unwrap_or(1).is_multiple_of(block_elems as u64) {
        return Err((format!("ne[0] a multiple of {block_elems}, the {ty} block size"), format!("ne {ne:?}")));
    }
    let numel: u64 = ne.iter().product(); // <= bound
    (numel / block_elems as u64).checked_mul(block_bytes as u64).ok_or_else(|| ("a byte size that fits in 64 bits".into(), format!("ne {ne:?} of {ty}")))
}
