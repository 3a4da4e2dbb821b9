//! MT19937 as `at::mt19937`, plus torch's uniform transforms of its output.

const MT_N: usize = 624;
const MT_M: usize = 397;

/// Standard 32-bit Mersenne Twister, seeded like `at::mt19937` (low 32 bits).
#[derive(Clone)]
pub(super) struct Mt19937 {
    state: Box<[u32; MT_N]>,
    /// Index of the next word to temper; `MT_N` means "regenerate first".
    next: usize,
}

impl Mt19937 {
    pub(super) fn new(seed: u64) -> Self {
        let mut state = Box::new([0u32; MT_N]);
        // torch keeps the full u64 as "the seed" but only its low word seeds the engine.
        state[0] = seed as u32;
        for j in 1..MT_N {
            let prev = state[j - 1];
            state[j] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(j as u32);
        }
        Mt19937 { state, next: MT_N }
    }

    fn regenerate(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        let s = &mut self.state;
        for i in 0..MT_N {
            let y = (s[i] & UPPER) | (s[(i + 1) % MT_N] & LOWER);
            let mag = if y & 1 != 0 { 0x9908_b0df } else { 0 };
            s[i] = s[(i + MT_M) % MT_N] ^ (y >> 1) ^ mag;
        }
        self.next = 0;
    }

    /// `CPUGeneratorImpl::random()`: one tempered 32-bit word.
    #[inline]
    pub(super) fn next_u32(&mut self) -> u32 {
        if self.next >= MT_N {
            self.regenerate();
        }
        let mut y = self.state[self.next];
        self.next += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// `CPUGeneratorImpl::random64()`: first word is the high half.
    #[inline]
    fn next_u64(&mut self) -> u64 {
        let hi = self.next_u32() as u64;
        let lo = self.next_u32() as u64;
        (hi << 32) | lo
    }

    /// `uniform_real_distribution<float>(0, 1)`: 24 random bits, exact in f32.
    #[inline]
    pub(super) fn uniform_f32(&mut self) -> f32 {
        (self.next_u32() & 0x00ff_ffff) as f32 * (1.0 / 16_777_216.0)
    }

    /// `uniform_real_distribution<double>(0, 1)`: 53 random bits of a 64-bit draw.
    #[inline]
    pub(super) fn uniform_f64(&mut self) -> f64 {
        (self.next_u64() & ((1u64 << 53) - 1)) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }
}
