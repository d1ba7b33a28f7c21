//! A deterministic xorshift64 stream, for the kernel tests and benches that want values
//! without a strategy or an rng crate.

/// The xorshift64 states that follow `seed` (made odd, so the stream never sticks at 0).
pub fn xorshift(seed: u64) -> impl Iterator<Item = u64> {
    let mut state = seed | 1;
    std::iter::repeat_with(move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    })
}
