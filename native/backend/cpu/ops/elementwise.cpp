// The elementwise operations between the products: gate_mul (y = act(gate) * x: SwiGLU, the
// DeltaNet output gate, attention's sigmoid gate), add (the residual connection) and the DeltaNet
// gates. Contiguous tensors are cut into fixed blocks of elements, strided ones into rows; each
// block or row is one kernel call, so a result never depends on the thread count.
#include <cmath>

#include "backend/cpu/ops/ops.h"

namespace petrel::cpu {
namespace {

constexpr int64_t kBlock = 1024;  // elements per task of a contiguous tensor

// fn(i0, i1) over [0, n) in blocks of kBlock, `work` multiply-adds per element.
template <class Fn>
void for_blocks(OpContext& ctx, int64_t n, int64_t work, Fn&& fn) {
  const int64_t n_blocks = (n + kBlock - 1) / kBlock;
  ctx.pool.parallel_for(n_blocks, grain_for(ctx.pool, n_blocks, work * kBlock), [&](int64_t begin, int64_t end, int) {
    fn(begin * kBlock, end * kBlock < n ? end * kBlock : n);
  });
}

// fn(r) for every row of t, `work` multiply-adds per element.
template <class Fn>
void for_rows(OpContext& ctx, const Tensor& t, int64_t work, Fn&& fn) {
  const int64_t rows = t.n_rows();
  ctx.pool.parallel_for(rows, grain_for(ctx.pool, rows, work * t.ne[0]), [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) fn(r);
  });
}

// The scalar gate functions of ggml's CPU ops in float32 (docs/MODEL.md#gates).
float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
// ggml_softplus: linear above 20 so exp cannot overflow.
float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }

}  // namespace

void op_gate_mul(OpContext& ctx, GateActivation act, const float* gate, const float* x, int64_t n, float* y) {
  if (n <= 0) return;
  const CpuKernels& k = ctx.kernels;
  // An exp is ~10 multiply-adds of work per element.
  for_blocks(ctx, n, 10, [&](int64_t i0, int64_t i1) {
    k.gate_mul_f32(act, gate + i0, x != nullptr ? x + i0 : nullptr, i1 - i0, y + i0);
  });
}

void op_gate_mul(OpContext& ctx, GateActivation act, const Tensor& gate, const Tensor& x, const Tensor& y) {
  if (gate.is_contiguous() && (x.empty() || x.is_contiguous()) && y.is_contiguous()) {
    op_gate_mul(ctx, act, host_f32(gate), x.empty() ? nullptr : host_f32(x), gate.n_elements(), host_f32(y));
    return;
  }
  const CpuKernels& k = ctx.kernels;
  for_rows(ctx, gate, 10, [&](int64_t r) {
    k.gate_mul_f32(act, reinterpret_cast<const float*>(host_row(gate, r)),
                   x.empty() ? nullptr : reinterpret_cast<const float*>(host_row(x, r)), gate.ne[0],
                   reinterpret_cast<float*>(host_row(y, r)));
  });
}

void op_add(OpContext& ctx, const Tensor& a, const Tensor& b, const Tensor& y) {
  if (a.is_contiguous() && b.is_contiguous() && y.is_contiguous()) {
    const float* pa = host_f32(a);
    const float* pb = host_f32(b);
    float* py = host_f32(y);
    for_blocks(ctx, a.n_elements(), 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) py[i] = pa[i] + pb[i];
    });
    return;
  }
  for_rows(ctx, a, 1, [&](int64_t r) {
    const auto* pa = reinterpret_cast<const float*>(host_row(a, r));
    const auto* pb = reinterpret_cast<const float*>(host_row(b, r));
    auto* py = reinterpret_cast<float*>(host_row(y, r));
    for (int64_t i = 0; i < a.ne[0]; ++i) py[i] = pa[i] + pb[i];
  });
}

// One task per token: its value heads are rows of the (possibly grouped) views, and head
// i0 + ne0·i1 of the output.
void op_deltanet_gates(OpContext& ctx, const Tensor& b, const Tensor& alpha, const float* ssm_a, const float* dt_bias,
                       float* beta, float* g) {
  const int64_t per_row = b.ne[0], rows = b.ne[1], n_tokens = b.ne[2] * b.ne[3];
  const int64_t n_heads = per_row * rows;
  ctx.pool.parallel_for(n_tokens, grain_for(ctx.pool, n_tokens, 20 * n_heads), [&](int64_t begin, int64_t end, int) {
    for (int64_t t = begin; t < end; ++t) {
      for (int64_t i1 = 0; i1 < rows; ++i1) {
        const auto* br = reinterpret_cast<const float*>(host_row(b, t * rows + i1));
        const auto* ar = reinterpret_cast<const float*>(host_row(alpha, t * rows + i1));
        for (int64_t i0 = 0; i0 < per_row; ++i0) {
          const int64_t h = i1 * per_row + i0;
          beta[t * n_heads + h] = sigmoid(br[i0]);                            // beta_sigmoid
          g[t * n_heads + h] = ssm_a[h] * softplus(ar[i0] + dt_bias[h]);  // gate
        }
      }
    }
  });
}

}  // namespace petrel::cpu
