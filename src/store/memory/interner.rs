//! One shared copy of each value many records repeat (client ids, subjects, scope sets).

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::Hash;
use std::sync::Mutex;

/// A set of shared values; [`Interner::intern`] hands out the set's copy.
pub(super) struct Interner<T> {
    values: Mutex<HashSet<T>>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            values: Mutex::new(HashSet::new()),
        }
    }
}

impl<T: Hash + Eq + Clone> Interner<T> {
    /// The shared copy of `value`, made by `make` the first time (a cheap clone afterwards:
    /// the values are reference-counted).
    pub(super) fn intern<Q>(&self, value: &Q, make: impl FnOnce() -> T) -> T
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = values.get(value) {
            return existing.clone();
        }
        let owned = make();
        values.insert(owned.clone());
        owned
    }

    /// Keep only the values `in_use` says some record still holds.
    pub(super) fn forget_unused(&self, in_use: impl Fn(&T) -> bool) {
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        values.retain(|v| in_use(v));
        if values.capacity() > 4 * values.len().max(64) {
            values.shrink_to_fit();
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.values.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
