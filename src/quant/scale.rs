//! The float type that per-group scales and biases are stored in, and the
//! directed rounding the quantizer needs so a group's range stays covered.

use half::{bf16, f16};

/// Storage type of `scales` and `biases` in a quantized safetensors file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleDType {
    F32,
    F16,
    BF16,
}

impl ScaleDType {
    pub fn name(self) -> &'static str {
        match self {
            ScaleDType::F32 => "F32",
            ScaleDType::F16 => "F16",
            ScaleDType::BF16 => "BF16",
        }
    }

    /// Round to nearest in this type, returned as f32 (exact).
    pub fn round(self, x: f32) -> f32 {
        match self {
            ScaleDType::F32 => x,
            ScaleDType::F16 => f16::from_f32(x).to_f32(),
            ScaleDType::BF16 => bf16::from_f32(x).to_f32(),
        }
    }

    /// Largest value of this type that is `<= x` (x finite).
    pub fn round_down(self, x: f32) -> f32 {
        let r = self.round(x);
        if r <= x {
            r
        } else {
            self.step(r, false)
        }
    }

    /// Smallest value of this type that is `>= x` (x finite).
    pub fn round_up(self, x: f32) -> f32 {
        let r = self.round(x);
        if r >= x {
            r
        } else {
            self.step(r, true)
        }
    }

    /// Whether `x` survives a trip through this type unchanged (NaN never does).
    pub fn holds_exactly(self, x: f32) -> bool {
        self.round(x).to_bits() == x.to_bits()
    }

    /// The neighbour of `r` (a value of this type) towards +inf or -inf.
    fn step(self, r: f32, up: bool) -> f32 {
        match self {
            ScaleDType::F32 => {
                if up {
                    r.next_up()
                } else {
                    r.next_down()
                }
            }
            ScaleDType::F16 => f16::from_bits(step_bits(f16::from_f32(r).to_bits(), up)).to_f32(),
            ScaleDType::BF16 => bf16::from_bits(step_bits(bf16::from_f32(r).to_bits(), up)).to_f32(),
        }
    }
}

/// Next representable 16-bit float (sign-magnitude order, both f16 and bf16).
fn step_bits(bits: u16, up: bool) -> u16 {
    let negative = bits & 0x8000 != 0;
    match (bits, up, negative) {
        (0x0000, false, _) => 0x8001, // +0 → smallest negative subnormal
        (0x8000, true, _) => 0x0001,  // -0 → smallest positive subnormal
        (_, true, false) | (_, false, true) => bits + 1,
        (_, true, true) | (_, false, false) => bits - 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directed_rounding_brackets_the_value() {
        for &x in &[0.1f32, -0.1, 1.0, -3.3e-6, 1e-9, -1e-9, 0.0, 12345.678, -0.333_333] {
            for t in [ScaleDType::F16, ScaleDType::BF16, ScaleDType::F32] {
                let (lo, hi) = (t.round_down(x), t.round_up(x));
                assert!(lo <= x && x <= hi, "{t:?} {x}: {lo} {hi}");
                assert!(t.holds_exactly(lo) && t.holds_exactly(hi), "{t:?} {x}: {lo} {hi}");
            }
        }
        assert_eq!(ScaleDType::F16.round_down(0.1), 0.099_975_586);
        assert_eq!(ScaleDType::F16.round_up(0.1), 0.100_036_62);
    }
}
