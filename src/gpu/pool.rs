//! A pool of storage buffers, bucketed by size, so that a forward pass reuses
//! the buffers of the previous one instead of allocating on every op. Each
//! buffer has an id for as long as it exists (bind groups are cached by it);
//! the ids of destroyed buffers are kept until the device drops their bind groups.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

/// Free buffers kept beyond this many bytes are destroyed instead.
const MAX_FREE_BYTES: u64 = 512 << 20;

pub(crate) const USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC).union(wgpu::BufferUsages::COPY_DST);

#[derive(Default)]
pub(crate) struct Pool {
    free: HashMap<u64, Vec<(u64, wgpu::Buffer)>>,
    pub(crate) free_bytes: u64,
    /// Bytes in buffers handed out and not yet returned.
    pub(crate) live_bytes: u64,
    /// The most bytes held (live + free) since the last reset.
    pub(crate) peak_bytes: u64,
    /// Buffers created (counted in [`super::GpuCounters`]).
    pub(crate) created: u64,
    /// Ids of buffers destroyed since the last [`Pool::take_destroyed`].
    destroyed: Vec<u64>,
    next_id: u64,
}

/// Rounds a request up to a bucket: 8 buckets per power of two (at most 12.5%
/// waste), 256 bytes at least, never past `cap` (the device's binding limit).
pub(crate) fn bucket(bytes: u64, cap: u64) -> u64 {
    let bytes = bytes.max(256);
    let step = 1u64 << (63 - bytes.leading_zeros()).saturating_sub(3);
    let rounded = bytes.div_ceil(step) * step;
    if rounded > cap {
        bytes.div_ceil(4) * 4
    } else {
        rounded
    }
}

/// A buffer borrowed from the pool; it goes back when the last view drops.
pub(crate) struct PooledBuffer {
    pub(crate) buffer: wgpu::Buffer,
    /// The buffer's id: never reused, so a cached bind group that names it
    /// binds this buffer.
    pub(crate) id: u64,
    pub(crate) size: u64,
    pool: Weak<RefCell<Pool>>,
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        let Some(pool) = self.pool.upgrade() else {
            self.buffer.destroy();
            return;
        };
        let mut pool = pool.borrow_mut();
        pool.live_bytes -= self.size;
        if pool.free_bytes + self.size > MAX_FREE_BYTES {
            self.buffer.destroy();
            pool.destroyed.push(self.id);
        } else {
            pool.free_bytes += self.size;
            pool.free.entry(self.size).or_default().push((self.id, self.buffer.clone()));
        }
    }
}

impl Pool {
    /// Takes a free buffer of `size` bytes (a bucket size) or makes one.
    pub(crate) fn take(this: &Rc<RefCell<Pool>>, device: &wgpu::Device, size: u64) -> PooledBuffer {
        let mut pool = this.borrow_mut();
        let reused = pool.free.get_mut(&size).and_then(Vec::pop);
        let (id, buffer) = match reused {
            Some(b) => {
                pool.free_bytes -= size;
                b
            }
            None => {
                pool.created += 1;
                (pool.created_ids(), device.create_buffer(&wgpu::BufferDescriptor { label: Some("webfm.pool"), size, usage: USAGE, mapped_at_creation: false }))
            }
        };
        pool.live_bytes += size;
        pool.peak_bytes = pool.peak_bytes.max(pool.live_bytes + pool.free_bytes);
        PooledBuffer { buffer, id, size, pool: Rc::downgrade(this) }
    }

    /// A new buffer id.
    fn created_ids(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The ids of the buffers destroyed since the last call.
    pub(crate) fn take_destroyed(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.destroyed)
    }

    /// Destroys every free buffer (after a model is disposed, say).
    pub(crate) fn trim(&mut self) {
        for (id, b) in self.free.drain().flat_map(|(_, v)| v) {
            b.destroy();
            self.destroyed.push(id);
        }
        self.free_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::bucket;

    #[test]
    fn buckets_round_up_by_at_most_an_eighth() {
        assert_eq!(bucket(1, u64::MAX), 256);
        assert_eq!(bucket(256, u64::MAX), 256);
        assert_eq!(bucket(257, u64::MAX), 288);
        for n in [1000u64, 4097, 1 << 20, (1 << 20) + 1, 123_456_789] {
            let b = bucket(n, u64::MAX);
            assert!(b >= n && b - n <= n / 8 + 4, "bucket({n}) = {b}");
        }
        assert_eq!(bucket(1001, 1002), 1004, "a bucket past the cap falls back to the 4-byte aligned size");
    }
}
