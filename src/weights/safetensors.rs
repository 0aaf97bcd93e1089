//! Safetensors reading: the header is validated in full (length, JSON, dtypes,
//! shapes, offsets) before any tensor byte is touched.
//!
//! File layout: `[u64 LE n][n bytes of JSON header][data area]`. The header maps
//! each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` with
//! offsets relative to the data area; `__metadata__` maps strings to strings.

use crate::error::bad;
use crate::error::Result;
use half::{bf16, f16};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use std::collections::{BTreeMap, HashMap};

/// Largest JSON header we accept (the reference implementation uses the same cap).
pub const MAX_HEADER_LEN: u64 = 100 * 1024 * 1024;

/// Element types a safetensors file may declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    Bool,
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F16,
    BF16,
    F32,
    F64,
}

impl Dtype {
    const ALL: [Dtype; 13] = [
        Dtype::Bool,
        Dtype::U8,
        Dtype::I8,
        Dtype::U16,
        Dtype::I16,
        Dtype::U32,
        Dtype::I32,
        Dtype::U64,
        Dtype::I64,
        Dtype::F16,
        Dtype::BF16,
        Dtype::F32,
        Dtype::F64,
    ];

    /// The name used in the header (`"F32"`, `"BOOL"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Bool => "BOOL",
            Dtype::U8 => "U8",
            Dtype::I8 => "I8",
            Dtype::U16 => "U16",
            Dtype::I16 => "I16",
            Dtype::U32 => "U32",
            Dtype::I32 => "I32",
            Dtype::U64 => "U64",
            Dtype::I64 => "I64",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::F32 => "F32",
            Dtype::F64 => "F64",
        }
    }

    pub fn from_name(s: &str) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| d.name() == s)
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::Bool | Dtype::U8 | Dtype::I8 => 1,
            Dtype::U16 | Dtype::I16 | Dtype::F16 | Dtype::BF16 => 2,
            Dtype::U32 | Dtype::I32 | Dtype::F32 => 4,
            Dtype::U64 | Dtype::I64 | Dtype::F64 => 8,
        }
    }
}

/// One tensor's header entry; `start..end` is relative to the data area.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub start: u64,
    pub end: u64,
}

impl TensorInfo {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A validated header. Tensors are sorted by offset.
#[derive(Debug, Clone)]
pub struct Header {
    pub file: String,
    /// `n`, the JSON header's length; the data area starts at `8 + n`.
    pub header_len: u64,
    pub metadata: BTreeMap<String, String>,
    pub tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
}

/// `8 + n`: how many leading bytes hold the header, read from the first 8 bytes.
/// A streaming reader calls this, buffers that many bytes, then [`Header::parse`].
pub fn header_size(file: &str, first: &[u8]) -> Result<u64> {
    let Some(len_bytes) = first.get(..8) else {
        return Err(bad(file, None, "at least 8 bytes (the u64 header length)", format!("a file of {} bytes", first.len())));
    };
    let mut b = [0u8; 8];
    b.copy_from_slice(len_bytes);
    let n = u64::from_le_bytes(b);
    if n > MAX_HEADER_LEN {
        return Err(bad(file, None, format!("a header length of at most {MAX_HEADER_LEN} bytes"), format!("{n} bytes")));
    }
    if n < 2 {
        return Err(bad(file, None, "a header length of at least 2 bytes (\"{}\")", format!("{n} bytes")));
    }
    Ok(8 + n)
}

impl Header {
    /// Parses and validates the header from the file's leading bytes (`prefix`
    /// must hold at least [`header_size`] bytes). Checks everything that does
    /// not need the data area; [`Header::check_file_len`] checks the rest.
    pub fn parse(file: &str, prefix: &[u8]) -> Result<Header> {
        let total = header_size(file, prefix)?;
        let json = usize::try_from(total).ok().and_then(|t| prefix.get(8..t)).ok_or_else(|| {
            bad(
                file,
                None,
                format!("a header of {} bytes after the 8-byte length", total - 8),
                format!("only {} bytes in the file", prefix.len().saturating_sub(8)),
            )
        })?;
        let entries = serde_json::from_slice::<Entries>(json).map_err(|e| bad(file, None, "a JSON object as the header", format!("invalid JSON: {e}")))?.0;
        let mut metadata = BTreeMap::new();
        let mut tensors = Vec::with_capacity(entries.len());
        let mut by_name = HashMap::with_capacity(entries.len());
        let mut seen_metadata = false;
        for (name, value) in entries {
            if by_name.contains_key(&name) || (name == "__metadata__" && seen_metadata) {
                return Err(bad(file, Some(&name), "each name once in the header", "it twice"));
            }
            if name == "__metadata__" {
                seen_metadata = true;
                metadata = serde_json::from_value::<BTreeMap<String, String>>(value)
                    .map_err(|e| bad(file, None, "__metadata__ as an object of strings", e.to_string()))?;
                continue;
            }
            let info = tensor_info(file, name, value)?;
            by_name.insert(info.name.clone(), 0);
            tensors.push(info);
        }
        tensors.sort_by_key(|t| (t.start, t.end));
        for pair in tensors.windows(2) {
            let (prev, next) = (&pair[0], &pair[1]);
            if next.start < prev.end {
                return Err(bad(
                    file,
                    Some(&next.name),
                    format!("data starting at or after byte {} of the data area, where tensor '{}' ends (no overlap)", prev.end, prev.name),
                    format!("data_offsets [{}, {}], overlapping '{}' at [{}, {}]", next.start, next.end, prev.name, prev.start, prev.end),
                ));
            }
        }
        for (i, t) in tensors.iter().enumerate() {
            by_name.insert(t.name.clone(), i);
        }
        Ok(Header { file: file.to_string(), header_len: total - 8, metadata, tensors, by_name })
    }

    /// Byte offset of the data area in the file.
    pub fn data_start(&self) -> u64 {
        8 + self.header_len
    }

    /// Length of the data area: the largest `end` offset.
    pub fn data_len(&self) -> u64 {
        self.tensors.iter().map(|t| t.end).max().unwrap_or(0)
    }

    /// The file must end exactly where the last tensor ends.
    pub fn check_file_len(&self, file_len: u64) -> Result<()> {
        let want = self.data_start() + self.data_len();
        if file_len == want {
            return Ok(());
        }
        // Name the first tensor whose data the file does not hold.
        let avail = file_len.saturating_sub(self.data_start());
        let cut = self.tensors.iter().find(|t| t.end > avail).map(|t| t.name.as_str());
        let found = if file_len < want {
            format!("{file_len} bytes: the file is truncated")
        } else {
            format!("{file_len} bytes: {} bytes past the last tensor", file_len - want)
        };
        Err(bad(&self.file, cut, format!("{want} bytes (8 + {} header + {} data)", self.header_len, self.data_len()), found))
    }

    pub fn get(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name.get(name).map(|&i| &self.tensors[i])
    }

    /// Like [`Header::get`], with an error naming the missing tensor.
    pub fn require(&self, name: &str) -> Result<&TensorInfo> {
        self.get(name).ok_or_else(|| bad(&self.file, Some(name), "a tensor of this name", format!("none among the file's {} tensors", self.tensors.len())))
    }
}

/// Checks one header entry: dtype known, shape × dtype size == offsets' span.
fn tensor_info(file: &str, name: String, value: serde_json::Value) -> Result<TensorInfo> {
    #[derive(serde::Deserialize)]
    struct Raw {
        dtype: String,
        shape: Vec<u64>,
        data_offsets: [u64; 2],
    }
    let raw: Raw = serde_json::from_value(value)
        .map_err(|e| bad(file, Some(&name), "an entry {\"dtype\": string, \"shape\": [non-negative ints], \"data_offsets\": [begin, end]}", e.to_string()))?;
    let dtype = Dtype::from_name(&raw.dtype).ok_or_else(|| {
        let known: Vec<_> = Dtype::ALL.iter().map(|d| d.name()).collect();
        bad(file, Some(&name), format!("a dtype among {}", known.join(", ")), format!("dtype \"{}\"", raw.dtype))
    })?;
    let [start, end] = raw.data_offsets;
    // The product of the dims (zeros counted as 1) bounds every partial product,
    // so once it fits in usize no later shape arithmetic can overflow.
    let bound = raw.shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d.max(1)));
    let nbytes = bound.and_then(|b| b.checked_mul(dtype.size() as u64));
    if nbytes.is_none_or(|n| usize::try_from(n).is_err()) {
        return Err(bad(file, Some(&name), "a shape whose byte size fits in this machine's address space", format!("shape {:?}", raw.shape)));
    }
    let numel: u64 = raw.shape.iter().product();
    let nbytes = numel * dtype.size() as u64;
    if end < start || end - start != nbytes {
        return Err(bad(
            file,
            Some(&name),
            format!("data_offsets spanning {nbytes} bytes ({} shape {:?} = {numel} elements × {} bytes)", dtype.name(), raw.shape, dtype.size()),
            format!("data_offsets [{start}, {end}]"),
        ));
    }
    // Each dim is at most `bound`, which fits in usize.
    let shape = raw.shape.iter().map(|&d| d as usize).collect();
    Ok(TensorInfo { name, dtype, shape, start, end })
}

/// A whole file in memory: the validated header and the data area.
pub struct SafeTensors<'a> {
    pub header: Header,
    data: &'a [u8],
}

impl<'a> SafeTensors<'a> {
    pub fn parse(file: &str, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
        let header = Header::parse(file, bytes)?;
        header.check_file_len(bytes.len() as u64)?;
        // check_file_len guarantees data_start <= bytes.len().
        let data = &bytes[header.data_start() as usize..];
        Ok(SafeTensors { header, data })
    }

    pub fn tensor(&self, name: &str) -> Result<TensorView<'_>> {
        let t = self.header.require(name)?;
        Ok(self.view(t))
    }

    /// Every tensor, in file order.
    pub fn tensors(&self) -> impl Iterator<Item = TensorView<'_>> {
        self.header.tensors.iter().map(|t| self.view(t))
    }

    fn view<'s>(&'s self, t: &'s TensorInfo) -> TensorView<'s> {
        // Offsets were checked against the data area's length in parse.
        TensorView { file: &self.header.file, name: &t.name, dtype: t.dtype, shape: &t.shape, bytes: &self.data[t.start as usize..t.end as usize] }
    }
}

/// One tensor's bytes (little-endian, possibly unaligned) with its dtype and shape.
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    pub file: &'a str,
    pub name: &'a str,
    pub dtype: Dtype,
    pub shape: &'a [usize],
    pub bytes: &'a [u8],
}

impl TensorView<'_> {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The values as f32; F16 and BF16 are widened exactly.
    pub fn to_f32(&self) -> Result<Vec<f32>> {
        let b = self.bytes;
        Ok(match self.dtype {
            Dtype::F32 => b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            Dtype::F16 => b.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            Dtype::BF16 => b.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            other => return Err(bad(self.file, Some(self.name), "a float tensor (F32, F16 or BF16)", format!("dtype {}", other.name()))),
        })
    }

    /// The values of a U32 tensor (packed quantized weights).
    pub fn to_u32(&self) -> Result<Vec<u32>> {
        if self.dtype != Dtype::U32 {
            return Err(bad(self.file, Some(self.name), "dtype U32", format!("dtype {}", self.dtype.name())));
        }
        Ok(self.bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
}

/// The header's entries in file order, duplicates kept (a plain map would
/// silently drop all but one).
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Entries, A::Error> {
                let mut v = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    v.push(entry);
                }
                Ok(Entries(v))
            }
        }
        d.deserialize_map(V)
    }
}
