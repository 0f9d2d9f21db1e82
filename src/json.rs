//! JSON serialisation into pre-sized buffers (claims and responses are a few hundred bytes;
//! starting there avoids regrowing the buffer two or three times per token).

use serde::Serialize;

use crate::error::{Error, ErrorKind};

/// Serialise `value` into a buffer of `capacity` bytes to start with.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T, capacity: usize) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut out, value)
        .map_err(|e| Error::new(ErrorKind::Serialization).with_cause(e))?;
    Ok(out)
}
