//! A hash index of slab slots: 8 bytes per bucket.
//!
//! `std`'s `HashMap<K, u32>` would spend `size_of::<K>() + 4` bytes per bucket, and just after
//! it doubles half its buckets are empty: for a million 32-byte token hashes that is 77 MB.
//! This index keeps only the slot number and 32 bits of the key's hash per bucket (open
//! addressing, linear probing, at most 3/4 full) and leaves the keys in the slab entries, so
//! the same million costs 16 MB. Lookups compare the stored hash bits first and read a slab
//! entry only when they match; growing and deleting never read the slab.

/// A bucket: `hash << 32 | (slot + 1)`; 0 is empty.
type Bucket = u64;

pub(super) struct SlotIndex {
    buckets: Vec<Bucket>,
    len: usize,
}

const MIN_BUCKETS: usize = 16;

/// Whether `len` entries fit in `buckets` buckets (at most 3/4 full, so probes stay short and
/// always end).
fn fits(len: usize, buckets: usize) -> bool {
    len.saturating_mul(4) <= buckets.saturating_mul(3)
}

fn bucket(hash: u32, slot: u32) -> Bucket {
    (u64::from(hash) << 32) | u64::from(slot.saturating_add(1))
}

fn hash_of(b: Bucket) -> u32 {
    (b >> 32) as u32
}

fn slot_of(b: Bucket) -> u32 {
    (b as u32).wrapping_sub(1)
}

impl SlotIndex {
    pub(super) const fn new() -> Self {
        SlotIndex {
            buckets: Vec::new(),
            len: 0,
        }
    }

    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    fn home(&self, hash: u32) -> usize {
        (hash as usize) & self.mask()
    }

    /// The slot holding the key with this `hash`, as told by `holds`.
    pub(super) fn get(&self, hash: u64, mut holds: impl FnMut(u32) -> bool) -> Option<u32> {
        self.position(hash as u32, &mut holds).map(|(_, slot)| slot)
    }

    fn position(&self, hash: u32, holds: &mut impl FnMut(u32) -> bool) -> Option<(usize, u32)> {
        let mask = self.mask();
        let mut i = self.home(hash);
        loop {
            let b = *self.buckets.get(i)?;
            if b == 0 {
                return None;
            }
            if hash_of(b) == hash && holds(slot_of(b)) {
                return Some((i, slot_of(b)));
            }
            i = (i + 1) & mask;
        }
    }

    /// Add `slot` (whose key is not in the index yet) under `hash`. `slot` must be below
    /// `u32::MAX`.
    pub(super) fn insert(&mut self, hash: u64, slot: u32) {
        if !fits(self.len + 1, self.buckets.len()) {
            let size = (self.buckets.len() * 2).max(MIN_BUCKETS);
            let old = std::mem::replace(&mut self.buckets, vec![0; size]);
            for b in old.into_iter().filter(|&b| b != 0) {
                self.place(b);
            }
        }
        self.place(bucket(hash as u32, slot));
        self.len += 1;
    }

    fn place(&mut self, b: Bucket) {
        let mask = self.mask();
        let mut i = self.home(hash_of(b));
        while let Some(slot) = self.buckets.get_mut(i) {
            if *slot == 0 {
                *slot = b;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// Remove the slot `holds` picks among those under `hash`, returning it.
    pub(super) fn remove(&mut self, hash: u64, mut holds: impl FnMut(u32) -> bool) -> Option<u32> {
        let (mut hole, slot) = self.position(hash as u32, &mut holds)?;
        let mask = self.mask();
        // Backward-shift deletion (Knuth's algorithm R): no tombstones.
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let b = match self.buckets.get(j) {
                Some(&b) if b != 0 => b,
                _ => break,
            };
            let home = self.home(hash_of(b));
            // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                if let Some(h) = self.buckets.get_mut(hole) {
                    *h = b;
                }
                hole = j;
            }
        }
        if let Some(h) = self.buckets.get_mut(hole) {
            *h = 0;
        }
        self.len -= 1;
        Some(slot)
    }

    /// Replace the contents with the `len` `entries` (slot and hash), sized for them.
    pub(super) fn rebuild(&mut self, len: usize, entries: impl Iterator<Item = (u32, u64)>) {
        let mut size = MIN_BUCKETS;
        while !fits(len, size) {
            size *= 2;
        }
        self.buckets = vec![0; size];
        self.len = 0;
        for (slot, hash) in entries.take(len) {
            self.place(bucket(hash as u32, slot));
            self.len += 1;
        }
    }

    /// Bytes of bucket storage.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<Bucket>()
    }
}

impl Default for SlotIndex {
    fn default() -> Self {
        SlotIndex::new()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    /// An index over `keys[slot]`, with a deliberately weak hash so probes collide, share hash
    /// bits and wrap around the end of the table.
    struct Model {
        index: SlotIndex,
        keys: Vec<Option<u64>>,
        shadow: HashMap<u64, u32>,
    }

    fn weak(key: u64) -> u64 {
        (key % 7).wrapping_add(u64::MAX - 3)
    }

    impl Model {
        fn new() -> Self {
            Model {
                index: SlotIndex::new(),
                keys: Vec::new(),
                shadow: HashMap::new(),
            }
        }

        fn insert(&mut self, key: u64) {
            if self.shadow.contains_key(&key) {
                return;
            }
            let slot = self.keys.len() as u32;
            self.keys.push(Some(key));
            self.index.insert(weak(key), slot);
            self.shadow.insert(key, slot);
        }

        fn remove(&mut self, key: u64) {
            let keys = &self.keys;
            let got = self
                .index
                .remove(weak(key), |s| keys[s as usize] == Some(key));
            assert_eq!(got, self.shadow.remove(&key));
            if let Some(slot) = got {
                self.keys[slot as usize] = None;
            }
        }

        fn check(&self) {
            assert_eq!(self.index.len, self.shadow.len());
            for (&key, &slot) in &self.shadow {
                let got = self
                    .index
                    .get(weak(key), |s| self.keys[s as usize] == Some(key));
                assert_eq!(got, Some(slot), "key {key}");
            }
            for missing in 1000..1010 {
                assert_eq!(
                    self.index
                        .get(weak(missing), |s| self.keys[s as usize] == Some(missing)),
                    None
                );
            }
        }
    }

    proptest! {
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((any::<bool>(), 0u64..200), 0..400)) {
            let mut m = Model::new();
            for (add, key) in ops {
                if add { m.insert(key) } else { m.remove(key) }
                m.check();
            }
            let keys = m.keys.clone();
            m.index.rebuild(
                m.shadow.len(),
                keys.iter()
                    .enumerate()
                    .filter_map(|(s, k)| Some((s as u32, weak((*k)?)))),
            );
            m.check();
        }
    }

    #[test]
    fn eight_bytes_a_bucket() {
        let mut index = SlotIndex::new();
        let hash = |slot: u32| u64::from(slot).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for slot in 0..1_000u32 {
            index.insert(hash(slot), slot);
        }
        assert_eq!(index.bytes(), 2048 * 8);
        for slot in 0..1_000u32 {
            assert_eq!(index.get(hash(slot), |s| s == slot), Some(slot));
        }
        for slot in (0..1_000u32).step_by(2) {
            assert_eq!(index.remove(hash(slot), |s| s == slot), Some(slot));
        }
        for slot in 0..1_000u32 {
            let want = (slot % 2 == 1).then_some(slot);
            assert_eq!(index.get(hash(slot), |s| s == slot), want);
        }
    }
}
