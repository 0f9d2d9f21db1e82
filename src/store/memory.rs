//! Placeholder: being written.
/// The in-memory store.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore;
/// In-memory users.
#[derive(Debug, Clone, Default)]
pub struct MemoryUsers;
