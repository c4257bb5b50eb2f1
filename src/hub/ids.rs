//! The hash of the hub's client map.

use std::hash::Hasher;

/// Hashes client ids for the hub's map, looked up a few times for every
/// frame delivered. The ids are the server's own sequential numbers, never
/// chosen by a peer, so the map needs no defence against keys crafted to
/// collide (SipHash's job, the default); one multiplication by the golden
/// ratio spreads them over the table. Measured: SipHash's lookups were a
/// visible share of a fan-out's cost per delivery.
#[derive(Default)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
