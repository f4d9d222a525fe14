#version 450
// The DeltaNet gates (docs/MODEL.md#gates), as Backend::deltanet_gates: one invocation per
// (token t, value head h), h = i0 + ne0 * i1, reading b and alpha through their strides (they may
// be interleaved in one buffer: qwen3next's [b (r) | alpha (r)] rows per key head):
//   beta[t][h] = sigmoid(b) = 1 / (1 + exp(-b))
//   g[t][h]    = ssm_a[h] * softplus(alpha + dt_bias[h]),  softplus(x) = x above 20
// as the CPU backend computes them in float32. GLSL has no log1p, and its exp may be off by
// 3 + 2|x| ulp, so both are computed here (exp_f32, log1p_unit) to an ulp or two on any device;
// softplus(x) = max(x, 0) + log1p(exp(-|x|)) keeps log1p's argument in [0, 1] below the cut.
// The steps whose rounding the arithmetic relies on are `precise`: a compiler may otherwise
// fold (1 + e) - 1 to e or fuse them.
layout(constant_id = 0) const uint WG = 256;
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer B { float b[]; };
layout(std430, binding = 1) readonly buffer A { float alpha[]; };
layout(std430, binding = 2) readonly buffer SA { float ssm_a[]; };
layout(std430, binding = 3) readonly buffer DT { float dt_bias[]; };
layout(std430, binding = 4) writeonly buffer Beta { float beta[]; };
layout(std430, binding = 5) writeonly buffer Gate { float g[]; };

layout(push_constant) uniform Params {
  uint n;        // n_tokens * n_heads
  uint n_heads;  // ne0 * ne1
  uint ne0;
  uint b_offset, b_s1, b_s2;  // in floats: element (i0, i1, t) at offset + i0 + i1 * s1 + t * s2
  uint a_offset, a_s1, a_s2;
  uint ssm_a_offset, dt_offset, beta_offset, g_offset;
} p;

// 2^k for k in [-126, 127], built from its exponent bits.
float pow2i(int k) { return intBitsToFloat((k + 127) << 23); }

// e^x (Cephes expf): x = k ln2 + r with |r| <= ln2 / 2, ln2 split so that k * ln2_hi is exact;
// e^r by a degree-7 polynomial. Overflows to +inf, underflows towards 0.
float exp_f32(float x) {
  x = clamp(x, -104.0, 89.0);  // beyond these e^x is 0 or +inf in float; keeps k in range
  const float k = floor(1.44269504088896341 * x + 0.5);
  precise float r = x - k * 0.693359375;
  r = r - k * -2.12194440e-4;
  float q = 1.9875691500e-4;
  q = q * r + 1.3981999507e-3;
  q = q * r + 8.3334519073e-3;
  q = q * r + 4.1665795894e-2;
  q = q * r + 1.6666665459e-1;
  q = q * r + 5.0000001201e-1;
  const float e = q * (r * r) + r + 1.0;
  // 2^k in two factors: k reaches -150, below one factor's exponent range.
  const int ki = int(k), k1 = ki / 2;
  return e * pow2i(k1) * pow2i(ki - k1);
}

// log(1 + e) for e in [0, 1]: u = 1 + e rounded and c = (1 + e) - u exactly (Fast2Sum, as
// 1 >= e), so log(1 + e) = log(u) + c / u to first order; log(u) = k ln2 + log(1 + f) with
// f = u / 2^k - 1 exact and in [1 - sqrt(1/2), sqrt(2) - 1], where Cephes logf's polynomial
// holds. An e below float's precision next to 1 comes back as itself, not as 0.
float log1p_unit(float e) {
  precise const float u = 1.0 + e;
  precise const float c = e - (u - 1.0);
  const bool halve = u > 1.41421356;
  precise const float f = (halve ? 0.5 * u : u) - 1.0;
  float q = 7.0376836292e-2;
  q = q * f - 1.1514610310e-1;
  q = q * f + 1.1676998740e-1;
  q = q * f - 1.2420140846e-1;
  q = q * f + 1.4249322787e-1;
  q = q * f - 1.6668057665e-1;
  q = q * f + 2.0000714765e-1;
  q = q * f - 2.4999993993e-1;
  q = q * f + 3.3333331174e-1;
  const float z = f * f;
  // The small terms first, ln2's large part last (as Cephes orders them).
  float y = f * z * q + c / u;
  if (halve) y += -2.12194440e-4;
  y += -0.5 * z;
  float l = f + y;
  if (halve) l += 0.693359375;
  return l;
}

float softplus(float x) {
  if (x > 20.0) return x;  // as ggml_softplus: linear above 20
  return max(x, 0.0) + log1p_unit(exp_f32(-abs(x)));
}

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * WG;
  if (i >= p.n) return;
  const uint t = i / p.n_heads, h = i % p.n_heads;
  const uint i0 = h % p.ne0, i1 = h / p.ne0;
  const float bv = b[p.b_offset + i0 + i1 * p.b_s1 + t * p.b_s2];
  const float av = alpha[p.a_offset + i0 + i1 * p.a_s1 + t * p.a_s2];
  beta[p.beta_offset + i] = 1.0 / (1.0 + exp_f32(-bv));
  g[p.g_offset + i] = ssm_a[p.ssm_a_offset + h] * softplus(av + dt_bias[p.dt_offset + h]);
}
