//! The tensors of a weights file moved onto the device a model runs on, one
//! at a time as their bytes arrive, and typed views of them for the model's
//! modules with every shape checked against what the config implies.
//!
//! On the GPU a tensor larger than one buffer may hold
//! ([`Gpu::max_binding_bytes`](crate::gpu::Gpu::max_binding_bytes)) is split
//! into blocks of whole rows; a block holds a power-of-two number of rows, so
//! the blocks of a smaller companion tensor (scales next to packed codes)
//! always line up with them.

use std::collections::HashMap;
use std::rc::Rc;

use super::Quantization;
use crate::error::bad;
use crate::error::{Error, Result};
use crate::gpu::GpuView;
use crate::kinds::DType;
use crate::ops::tensor::{Device, Storage, Tensor};
use crate::weights::convert::{quantizable, quantize_weight};
use crate::weights::safetensors::{Dtype, TensorInfo};

/// A file's tensor on the device. Floats are f32 (bf16 widened), or f16 on a
/// GPU with `shader-f16`; `U32` words are kept raw (packed quantized codes).
pub(crate) enum Param {
    Float {
        shape: Vec<usize>,
        block_rows: usize,
        blocks: Vec<Tensor>,
    },
    Words {
        shape: Vec<usize>,
        block_rows: usize,
        blocks: Vec<Words>,
    },
    /// A dtype no module reads (e.g. int64 `position_ids` buffers): kept as a name only.
    Unused {
        dtype: Dtype,
    },
}

#[derive(Clone)]
pub(crate) enum Words {
    Cpu(Rc<Vec<u32>>),
    Gpu(GpuView),
}

/// The parameters of one model, by checkpoint name.
pub struct Params {
    device: Device,
    /// Where each tensor came from, for error messages.
    files: HashMap<String, String>,
    params: HashMap<String, Param>,
    bytes: u64,
    /// Quantize float linear and embedding weights as they arrive.
    quantize: Option<Quantization>,
}

/// The largest power of two `<= n` (n >= 1).
fn pow2_floor(n: u64) -> u64 {
    1 << (63 - n.max(1).leading_zeros())
}

impl Params {
    pub fn new(device: &Device) -> Params {
        Params { device: device.clone(), files: HashMap::new(), params: HashMap::new(), bytes: 0, quantize: None }
    }

    /// Quantizes float 2-D linear and embedding weights (the ones `webfm
    /// convert` would) to `q` as they arrive; ones whose columns do not split
    /// into groups stay float. Models then treat the file as quantized.
    pub fn quantize_on_load(&mut self, q: Quantization) {
        self.quantize = Some(q);
    }

    /// The quantization applied on load, if any.
    pub fn quantized_on_load(&self) -> Option<Quantization> {
        self.quantize
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Bytes of tensor data taken in so far (with quantize-on-load, the
    /// quantized codes, scales and biases).
    pub fn bytes_loaded(&self) -> u64 {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.params.len()
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.params.contains_key(name)
    }

    /// Bytes `info` will take on this device once added (f16 and bf16 widen
    /// to f32 unless the GPU keeps f16; quantized on load: codes, scales and biases).
    fn device_bytes(&self, info: &TensorInfo) -> u64 {
        let numel = info.numel() as u64;
        match self.quantized_as(info) {
            Some(q) => numel * q.bits as u64 / 8 + numel / q.group as u64 * 8,
            None if is_float(info.dtype) => numel * if self.keeps_f16(info) { 2 } else { 4 },
            None if info.dtype == Dtype::U32 => numel * 4,
            None => 0,
        }
    }

    /// The quantization `info` gets on load: a float 2-D linear or embedding
    /// weight whose columns split into groups, when quantizing on load.
    fn quantized_as(&self, info: &TensorInfo) -> Option<Quantization> {
        self.quantize.filter(|q| is_float(info.dtype) && quantizable(&info.name, &info.shape) && info.shape[1].is_multiple_of(q.group))
    }

    /// An f16 tensor stays f16 on a GPU with `shader-f16`; floats are f32 everywhere else.
    fn keeps_f16(&self, info: &TensorInfo) -> bool {
        info.dtype == Dtype::F16 && matches!(&self.device, Device::Gpu(g) if g.has_f16())
    }

    /// Refuses a weights file that cannot fit before its tensors download:
    /// on the CPU path in wasm32, the bytes they will take against the 4 GiB
    /// the page's memory can reach (less what is allocated and `headroom` for
    /// running the model); on the GPU, a row (or a 1-D tensor) larger than one
    /// buffer may hold. The error names the sizes.
    pub fn check_fits(&self, file: &str, tensors: &[TensorInfo], headroom: u64) -> Result<()> {
        match &self.device {
            Device::Cpu => {
                let Some(left) = crate::platform::memory_left() else { return Ok(()) };
                let needed: u64 = tensors.iter().map(|t| self.device_bytes(t)).sum::<u64>() + headroom;
                if needed > left {
                    return Err(Error::LimitExceeded {
                        what: format!(
                            "{file}: its weights on the CPU path ({} MB, and {} MB to run the model)",
                            needed.saturating_sub(headroom) >> 20,
                            headroom >> 20
                        ),
                        needed,
                        limit_name: "wasm32 memory left (4 GiB less what the page holds)",
                        limit: left,
                    });
                }
            }
            Device::Gpu(g) => {
                let cap = g.max_binding_bytes();
                for t in tensors {
                    let rows = if t.shape.len() >= 2 { t.shape[0].max(1) as u64 } else { 1 };
                    let row = self.device_bytes(t) / rows;
                    if row > cap {
                        return Err(Error::LimitExceeded {
                            what: format!("{file}: tensor {} (shape {:?}), one row of which", t.name, t.shape),
                            needed: row,
                            limit_name: "maxStorageBufferBindingSize",
                            limit: cap,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Moves one tensor (`bytes` exactly as in the file) onto the device.
    pub fn add(&mut self, file: &str, info: &TensorInfo, bytes: &[u8]) -> Result<()> {
        if self.params.contains_key(&info.name) {
            return Err(bad(file, Some(&info.name), "each tensor in one weights file only", format!("it also in {}", self.files[&info.name])));
        }
        if let Some(q) = self.quantized_as(info) {
            return self.add_quantized(file, info, bytes, q);
        }
        let shape = info.shape.clone();
        let param = match info.dtype {
            Dtype::F32 | Dtype::F16 | Dtype::BF16 => self.floats(info, bytes)?,
            Dtype::U32 => {
                let block_rows = self.block_rows(&shape, 4);
                let blocks = match &self.device {
                    Device::Cpu => vec![Words::Cpu(Rc::new(bytemuck::pod_collect_to_vec(bytes)))],
                    Device::Gpu(g) => {
                        // Straight from the file's bytes: no second copy in wasm memory.
                        let per = block_rows * shape[1..].iter().product::<usize>() * 4;
                        let mut out = Vec::new();
                        for c in bytes.chunks(per.max(4)) {
                            out.push(Words::Gpu(g.upload(c, DType::F32, c.len() / 4)?));
                        }
                        out
                    }
                };
                Param::Words { shape, block_rows, blocks }
            }
            dtype => Param::Unused { dtype },
        };
        self.bytes += bytes.len() as u64;
        self.files.insert(info.name.clone(), file.to_string());
        self.params.insert(info.name.clone(), param);
        Ok(())
    }

    /// Quantizes a float weight `P.weight` and adds `P.weight` (codes), `P.scales`, `P.biases`.
    fn add_quantized(&mut self, file: &str, info: &TensorInfo, bytes: &[u8], q: Quantization) -> Result<()> {
        let (rows, cols) = (info.shape[0], info.shape[1]);
        let m = quantize_weight(file, &info.name, &widen(info.dtype, bytes), rows, cols, q.bits, q.group)?;
        let prefix = info.name.strip_suffix(".weight").unwrap_or(&info.name);
        let as_info = |name: String, dtype, shape: Vec<usize>| TensorInfo { name, dtype, shape, start: 0, end: 0 };
        // None of the three is a float `.weight`, so `add` stores them as they are.
        let words = as_info(info.name.clone(), Dtype::U32, vec![rows, m.words_per_row()]);
        let groups = vec![rows, m.groups_per_row()];
        self.add(file, &words, bytemuck::cast_slice(&m.packed))?;
        self.add(file, &as_info(format!("{prefix}.scales"), Dtype::F32, groups.clone()), bytemuck::cast_slice(&m.scales))?;
        self.add(file, &as_info(format!("{prefix}.biases"), Dtype::F32, groups), bytemuck::cast_slice(&m.biases))
    }

    /// Rows per block for a tensor of `shape` with elements of `size` bytes:
    /// all of them on the CPU or when the tensor fits one buffer.
    fn block_rows(&self, shape: &[usize], size: usize) -> usize {
        let rows = shape.first().copied().unwrap_or(1).max(1);
        let row_bytes = (shape.iter().skip(1).product::<usize>() * size).max(1) as u64;
        match &self.device {
            Device::Gpu(g) if shape.len() >= 2 && row_bytes * rows as u64 > g.max_binding_bytes() => {
                pow2_floor(g.max_binding_bytes() / row_bytes).max(1) as usize
            }
            _ => rows,
        }
    }

    fn floats(&self, info: &TensorInfo, bytes: &[u8]) -> Result<Param> {
        let shape = info.shape.clone();
        let keep_f16 = self.keeps_f16(info);
        let size = if keep_f16 { 2 } else { 4 };
        let block_rows = self.block_rows(&shape, size);
        let row_len = shape.iter().skip(1).product::<usize>().max(1);
        // Element ranges of the blocks; an empty tensor is one empty block.
        let numel = bytes.len() / info.dtype.size();
        let per = block_rows * row_len;
        let ranges: Vec<(usize, usize)> = if numel == 0 { vec![(0, 0)] } else { (0..numel).step_by(per).map(|a| (a, (a + per).min(numel))).collect() };
        let shape_of = |(a, b): (usize, usize)| if numel == 0 { shape.clone() } else { block_shape(&shape, (b - a) / row_len) };
        let mut blocks = Vec::with_capacity(ranges.len());
        match &self.device {
            // Straight from the file's bytes: no second copy in wasm memory.
            Device::Gpu(g) if info.dtype == Dtype::F32 || keep_f16 => {
                let dtype = if keep_f16 { DType::F16 } else { DType::F32 };
                for r in ranges {
                    blocks.push(Tensor::from_gpu_bytes(g, &bytes[r.0 * size..r.1 * size], dtype, &shape_of(r))?);
                }
            }
            // One block (always, on the CPU): the widened values become the tensor.
            _ if ranges.len() == 1 => blocks.push(Tensor::from_f32_vec(&self.device, widen(info.dtype, bytes), &shape)?),
            _ => {
                let wide = widen(info.dtype, bytes);
                for r in ranges {
                    blocks.push(Tensor::from_f32(&self.device, &wide[r.0..r.1], &shape_of(r))?);
                }
            }
        }
        Ok(Param::Float { shape, block_rows, blocks })
    }

    fn file_of(&self, name: &str) -> &str {
        self.files.get(name).map(String::as_str).unwrap_or("the weights")
    }

    fn get(&self, name: &str) -> Result<&Param> {
        self.params
            .get(name)
            .ok_or_else(|| bad("the weights", Some(name), "a tensor of this name", format!("none among the {} tensors loaded", self.params.len())))
    }

    fn check_shape(&self, name: &str, have: &[usize], want: &[usize], why: &str) -> Result<()> {
        if have != want {
            return Err(bad(self.file_of(name), Some(name), format!("shape {want:?} ({why})"), format!("shape {have:?}")));
        }
        Ok(())
    }

    /// A float tensor of shape `want`, in one piece, as f32.
    pub fn float(&self, name: &str, want: &[usize], why: &str) -> Result<Tensor> {
        let (_, blocks) = self.float_blocks(name, want, why)?;
        match blocks.as_slice() {
            [one] => widen_tensor(one),
            _ => Err(Error::InvalidArgument(format!("{name}: {want:?} is split over {} buffers; this module needs it whole", blocks.len()))),
        }
    }

    /// A float tensor of shape `want` as its row blocks (each `[rows, ..]`, f32
    /// or f16), with the rows per block.
    pub(crate) fn float_blocks(&self, name: &str, want: &[usize], why: &str) -> Result<(usize, Vec<Tensor>)> {
        match self.get(name)? {
            Param::Float { shape, blocks, block_rows } => {
                self.check_shape(name, shape, want, why)?;
                Ok((*block_rows, blocks.clone()))
            }
            Param::Words { .. } => {
                Err(bad(self.file_of(name), Some(name), "a float tensor (F32, F16 or BF16)", "U32 words: a quantized weight where the config says float"))
            }
            Param::Unused { dtype } => Err(bad(self.file_of(name), Some(name), "a float tensor (F32, F16 or BF16)", format!("dtype {}", dtype.name()))),
        }
    }

    /// The U32 tensor `name` of shape `want`, with its rows per block.
    pub(crate) fn words(&self, name: &str, want: &[usize], why: &str) -> Result<(usize, Vec<Words>)> {
        match self.get(name)? {
            Param::Words { shape, block_rows, blocks } => {
                self.check_shape(name, shape, want, why)?;
                Ok((*block_rows, blocks.clone()))
            }
            _ => Err(bad(self.file_of(name), Some(name), format!("packed U32 codes {want:?} ({why})"), "a float tensor: the config says quantized")),
        }
    }

    /// Rows `[start, start + len)` of a float tensor of shape `want`, as one
    /// contiguous f32 tensor (they must lie in one block).
    pub(crate) fn float_rows(&self, name: &str, want: &[usize], why: &str, start: usize, len: usize) -> Result<Tensor> {
        let (block_rows, blocks) = self.float_blocks(name, want, why)?;
        let (b, at) = (start / block_rows, start % block_rows);
        let block = blocks
            .get(b)
            .filter(|_| at + len <= block_rows)
            .ok_or_else(|| Error::InvalidArgument(format!("{name}: rows {start}..{} cross a buffer boundary", start + len)))?;
        let row_len: usize = want[1..].iter().product();
        let t = widen_tensor(block)?;
        match &t.storage {
            Storage::Cpu(c) => Ok(Tensor { shape: shape_rows(want, len), dtype: DType::F32, storage: Storage::Cpu(c.narrow(0, at, len)?.contiguous()?) }),
            Storage::Gpu(v) => {
                let view = v.with_layout(at * row_len, crate::gpu::contiguous_strides(&[len, row_len]));
                let flat = crate::gpu::ops::contiguous_f32(&view, &[len, row_len], DType::F32)?;
                Ok(Tensor { shape: shape_rows(want, len), dtype: DType::F32, storage: Storage::Gpu(flat) })
            }
        }
    }
}

fn shape_rows(shape: &[usize], rows: usize) -> Vec<usize> {
    let mut s = shape.to_vec();
    s[0] = rows;
    s
}

/// The shape of a block of `rows` rows (a scalar stays a scalar).
fn block_shape(shape: &[usize], rows: usize) -> Vec<usize> {
    if shape.is_empty() {
        return Vec::new();
    }
    shape_rows(shape, rows)
}

/// f32 values of F32/F16/BF16 little-endian bytes.
fn is_float(dtype: Dtype) -> bool {
    matches!(dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16)
}

fn widen(dtype: Dtype, bytes: &[u8]) -> Vec<f32> {
    match dtype {
        Dtype::F16 => bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => bytes.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        _ => bytemuck::pod_collect_to_vec(bytes),
    }
}

/// An f32 tensor with `t`'s values (itself when already f32).
pub(crate) fn widen_tensor(t: &Tensor) -> Result<Tensor> {
    match (t.dtype, &t.storage) {
        (DType::F32, _) => Ok(t.clone()),
        (_, Storage::Cpu(c)) => Ok(Tensor { shape: t.shape.clone(), dtype: DType::F32, storage: Storage::Cpu(c.to_dtype(candle_core::DType::F32)?) }),
        (dtype, Storage::Gpu(v)) => {
            Ok(Tensor { shape: t.shape.clone(), dtype: DType::F32, storage: Storage::Gpu(crate::gpu::ops::contiguous_f32(v, &t.shape, dtype)?) })
        }
    }
}
