//! Reading a safetensors file as its bytes arrive (a `fetch` body, a file read
//! in chunks): the header is parsed and validated as soon as it is complete,
//! then each tensor is handed to a sink the moment its last byte arrives and
//! its bytes are dropped. At most one tensor (plus one chunk) is held at a
//! time, never the whole file.

use super::safetensors::{header_size, Header, TensorInfo};
use crate::error::bad;
use crate::error::{Error, Result};

pub struct SafetensorsStream {
    file: String,
    header: Option<Header>,
    /// Bytes received and not yet handed on; `buf[0]` is byte `pos` of the file.
    buf: Vec<u8>,
    pos: u64,
    /// The next tensor (in file order) to complete.
    next: usize,
    /// The most bytes `buf` has held.
    peak: usize,
}

impl SafetensorsStream {
    pub fn new(file: &str) -> SafetensorsStream {
        SafetensorsStream { file: file.to_string(), header: None, buf: Vec::new(), pos: 0, next: 0, peak: 0 }
    }

    /// The header, once it has arrived.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// The most bytes buffered at once so far.
    pub fn peak_buffered(&self) -> usize {
        self.peak
    }

    /// Bytes of the file received so far.
    pub fn received(&self) -> u64 {
        self.pos + self.buf.len() as u64
    }

    /// Takes the next chunk of the file; calls `sink` for every tensor it completes.
    pub fn push(&mut self, chunk: &[u8], sink: &mut dyn FnMut(&TensorInfo, &[u8]) -> Result<()>) -> Result<()> {
        let mut chunk = chunk;
        while !chunk.is_empty() {
            let n = self.push_some(chunk, sink)?;
            chunk = &chunk[n..];
        }
        Ok(())
    }

    /// As [`push`](Self::push), but returns when the header has just been
    /// parsed (before any tensor's bytes are buffered, so the caller can
    /// check the header first): the number of bytes of `chunk` taken.
    pub fn push_some(&mut self, whole: &[u8], sink: &mut dyn FnMut(&TensorInfo, &[u8]) -> Result<()>) -> Result<usize> {
        let mut chunk = whole;
        while !chunk.is_empty() {
            let had_header = self.header.is_some();
            let want = self.wanted()?;
            match want {
                // Past the last tensor: any byte here is too many.
                None => {
                    let h = self.header.as_ref().expect("wanted() is None only after the header");
                    let want_len = h.data_start() + h.data_len();
                    return Err(bad(
                        &self.file,
                        None,
                        format!("{want_len} bytes (8 + {} header + {} data)", h.header_len, h.data_len()),
                        "more bytes after the last tensor",
                    ));
                }
                Some(end) => {
                    let take = (end - self.received()).min(chunk.len() as u64) as usize;
                    if self.buf.is_empty() {
                        self.reserve(end - self.pos)?;
                    }
                    self.buf.extend_from_slice(&chunk[..take]);
                    self.peak = self.peak.max(self.buf.len());
                    chunk = &chunk[take..];
                    if self.received() == end {
                        self.complete(sink)?;
                    }
                    if !had_header && self.header.is_some() {
                        break;
                    }
                }
            }
        }
        Ok(whole.len() - chunk.len())
    }

    /// Room for the next `bytes` (one tensor, or the header): a size this
    /// process cannot hold is an error that names it, never an abort.
    fn reserve(&mut self, bytes: u64) -> Result<()> {
        if usize::try_from(bytes).is_ok_and(|n| self.buf.try_reserve_exact(n).is_ok()) {
            return Ok(());
        }
        let what = match &self.header {
            None => "the header".to_string(),
            Some(h) => format!("tensor {}", h.tensors[self.next].name),
        };
        Err(Error::LimitExceeded {
            what: format!("{}: {what} (held whole while it arrives)", self.file),
            needed: bytes,
            limit_name: "memory this process could allocate",
            limit: crate::platform::memory_left().unwrap_or(isize::MAX as u64),
        })
    }

    /// The file offset up to which bytes are needed for the next step (the
    /// header's length, the header, the next tensor's end), or `None` when
    /// every tensor is complete.
    fn wanted(&self) -> Result<Option<u64>> {
        match &self.header {
            None if self.buf.len() < 8 => Ok(Some(8)),
            None => Ok(Some(header_size(&self.file, &self.buf)?)),
            Some(h) => Ok(h.tensors.get(self.next).map(|t| h.data_start() + t.end)),
        }
    }

    fn complete(&mut self, sink: &mut dyn FnMut(&TensorInfo, &[u8]) -> Result<()>) -> Result<()> {
        match &self.header {
            None if self.received() == 8 => return Ok(()), // the length: now wait for the JSON
            None => {
                let header = Header::parse(&self.file, &self.buf)?;
                self.pos += self.buf.len() as u64;
                self.buf = Vec::new();
                self.header = Some(header);
            }
            Some(h) => {
                let t = &h.tensors[self.next];
                let begin = (h.data_start() + t.start - self.pos) as usize;
                sink(t, &self.buf[begin..])?;
                self.pos += self.buf.len() as u64;
                self.buf = Vec::new();
                self.next += 1;
            }
        }
        // Zero-byte tensors complete without any byte arriving.
        while let Some(h) = &self.header {
            match h.tensors.get(self.next) {
                Some(t) if h.data_start() + t.end <= self.pos => {
                    sink(t, &[])?;
                    self.next += 1;
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// Ends the stream: an error naming the first incomplete tensor when the
    /// file was cut short.
    pub fn finish(self) -> Result<Header> {
        let received = self.received();
        let Some(h) = self.header else {
            return Err(bad(&self.file, None, "a safetensors header", format!("a file of {received} bytes that ends inside its header")));
        };
        if let Some(t) = h.tensors.get(self.next) {
            let want = h.data_start() + h.data_len();
            return Err(bad(
                &h.file,
                Some(&t.name),
                format!("{want} bytes (8 + {} header + {} data)", h.header_len, h.data_len()),
                format!("{received} bytes: the file is truncated"),
            ));
        }
        Ok(h)
    }
}
