//! The fuzz input read as structured values.

/// Reads structured values off the front of the fuzz input; past the end every read
/// gives zeros, so any input is a complete description.
pub(super) struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(super) fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub(super) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub(super) fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// A value in `low..=high`, spread evenly over the byte's 256 values.
    pub(super) fn f32_in(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * f32::from(self.u8()) / 255.0
    }

    /// Up to 15 chunk sizes: a count byte, then per chunk a byte read as 0-199 samples,
    /// or as a multiple of `step` above that. If every size is 0, `fallback` is added:
    /// empty chunks are fed too, but some chunk must make progress.
    pub(super) fn chunk_sizes(&mut self, step: usize, fallback: &[usize]) -> Vec<usize> {
        let count = usize::from(self.u8() % 16);
        let mut chunks: Vec<usize> = self
            .bytes(count)
            .iter()
            .map(|&b| match b {
                0..=199 => usize::from(b),
                _ => usize::from(b - 200) * step,
            })
            .collect();
        if chunks.iter().all(|&size| size == 0) {
            chunks.extend_from_slice(fallback);
        }
        chunks
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub(super) fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }
}
