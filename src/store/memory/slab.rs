//! A chunked slab: values addressed by a `u32`, stored densely in fixed-size chunks.
//!
//! The maps of the memory store hold `u32` slots instead of their values, so a hash table's
//! empty buckets cost 4 bytes of value instead of the whole record, and growing never copies
//! (or doubles) the records themselves: a new chunk is added instead.

/// Slots per chunk.
const CHUNK: usize = 4096;

/// Values addressed by `u32`, with vacant slots reused.
pub(super) struct Slab<T> {
    chunks: Vec<Vec<Option<T>>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Slab<T> {
    pub(super) const fn new() -> Self {
        Slab {
            chunks: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    /// How many values are stored.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Store `value`, returning its slot (below `u32::MAX`); `None` if the slab is full.
    pub(super) fn insert(&mut self, value: T) -> Option<u32> {
        if let Some(slot) = self.free.pop() {
            if let Some(cell) = self.cell_mut(slot) {
                if cell.is_none() {
                    *cell = Some(value);
                    self.len += 1;
                    return Some(slot);
                }
            }
            // A free-list entry that is not vacant cannot happen; fall through and append.
        }
        let (needs_chunk, next) = match self.chunks.last() {
            Some(last) if last.len() < CHUNK => {
                (false, (self.chunks.len() - 1) * CHUNK + last.len())
            }
            _ => (true, self.chunks.len() * CHUNK),
        };
        let slot = u32::try_from(next).ok().filter(|&s| s < u32::MAX)?;
        if needs_chunk {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks.last_mut()?.push(Some(value));
        self.len += 1;
        Some(slot)
    }

    /// The value in `slot`.
    pub(super) fn get(&self, slot: u32) -> Option<&T> {
        let (c, i) = split(slot);
        self.chunks.get(c)?.get(i)?.as_ref()
    }

    /// The value in `slot`, mutably.
    pub(super) fn get_mut(&mut self, slot: u32) -> Option<&mut T> {
        self.cell_mut(slot)?.as_mut()
    }

    /// Take the value out of `slot`.
    pub(super) fn remove(&mut self, slot: u32) -> Option<T> {
        let value = self.cell_mut(slot)?.take()?;
        self.len -= 1;
        if self.len == 0 {
            // Give the memory back once empty (after a purge, say).
            self.chunks = Vec::new();
            self.free = Vec::new();
        } else {
            self.free.push(slot);
        }
        Some(value)
    }

    /// Every occupied slot with its value.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, &T)> + '_ {
        self.chunks.iter().enumerate().flat_map(|(c, chunk)| {
            chunk.iter().enumerate().filter_map(move |(i, v)| {
                let slot = u32::try_from(c * CHUNK + i).ok()?;
                Some((slot, v.as_ref()?))
            })
        })
    }

    /// Every occupied slot with its value, mutably.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut T)> + '_ {
        self.chunks.iter_mut().enumerate().flat_map(|(c, chunk)| {
            chunk.iter_mut().enumerate().filter_map(move |(i, v)| {
                let slot = u32::try_from(c * CHUNK + i).ok()?;
                Some((slot, v.as_mut()?))
            })
        })
    }

    /// Release spare free-list capacity.
    pub(super) fn shrink(&mut self) {
        if self.free.capacity() > 4 * self.free.len() + 64 {
            self.free.shrink_to_fit();
        }
    }

    fn cell_mut(&mut self, slot: u32) -> Option<&mut Option<T>> {
        let (c, i) = split(slot);
        self.chunks.get_mut(c)?.get_mut(i)
    }
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab::new()
    }
}

fn split(slot: u32) -> (usize, usize) {
    let slot = slot as usize;
    (slot / CHUNK, slot % CHUNK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove_reuse() {
        let mut s = Slab::new();
        let slots: Vec<u32> = (0..10_000).map(|i| s.insert(i).unwrap()).collect();
        assert_eq!(s.len(), 10_000);
        assert_eq!(s.get(slots[5000]), Some(&5000));
        assert_eq!(s.remove(slots[5000]), Some(5000));
        assert_eq!(s.remove(slots[5000]), None);
        assert_eq!(s.get(slots[5000]), None);
        let again = s.insert(42).unwrap();
        assert_eq!(again, slots[5000], "vacant slots are reused");
        assert_eq!(s.iter().count(), 10_000);
        *s.get_mut(again).unwrap() += 1;
        assert_eq!(s.get(again), Some(&43));
        for slot in s.iter().map(|(k, _)| k).collect::<Vec<_>>() {
            s.remove(slot);
        }
        assert_eq!(s.len(), 0);
        assert_eq!(s.get(0), None);
        assert_eq!(s.insert(7), Some(0), "an emptied slab starts over");
    }
}
