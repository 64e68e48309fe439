//! Adapter from the `rand_core` 0.10 traits used across cairn to the 0.6
//! traits that `ed25519-consensus` batch verification asks for.

/// Wraps a `rand_core` 0.10 [`rand_core::CryptoRng`] so that it can be passed
/// where a `rand_core` 0.6 `RngCore + CryptoRng` is required.
pub struct Rng06<'a, R: rand_core::CryptoRng + ?Sized>(pub &'a mut R);

impl<R: rand_core::CryptoRng + ?Sized> rand_core_06::RngCore for Rng06<'_, R> {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core_06::Error> {
        self.0.fill_bytes(dest);
        Ok(())
    }
}

impl<R: rand_core::CryptoRng + ?Sized> rand_core_06::CryptoRng for Rng06<'_, R> {}

/// A deterministic cryptographic RNG: the BLAKE3 extendable output of a seed.
///
/// Used by the simulator, the test-vector generator and tests, where runs must
/// repeat exactly. Shells use the operating system's RNG instead.
pub struct XofRng(blake3::OutputReader);

impl XofRng {
    /// A stream determined by `seed` alone.
    pub fn from_seed(seed: &[u8]) -> Self {
        let mut hasher = blake3::Hasher::new_derive_key(super::context::TEST_RNG);
        hasher.update(seed);
        Self(hasher.finalize_xof())
    }
}

impl rand_core::TryRng for XofRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill(dst);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for XofRng {}
