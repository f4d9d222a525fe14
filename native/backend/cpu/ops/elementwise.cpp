// gate_mul: y = act(gate) * x elementwise (SwiGLU, the DeltaNet output gate, attention's sigmoid
// gate), split into contiguous ranges over the pool; each range is one kernel call.
#include "backend/cpu/ops/ops.h"

namespace petrel::cpu {

void op_gate_mul(OpContext& ctx, GateActivation act, const float* gate, const float* x, int64_t n, float* y) {
  if (n <= 0) return;
  constexpr int64_t kBlock = 1024;  // elements per task
  const int64_t n_blocks = (n + kBlock - 1) / kBlock;
  const CpuKernels& k = ctx.kernels;
  // An exp is ~10 multiply-adds of work per element.
  ctx.pool.parallel_for(n_blocks, grain_for(ctx.pool, n_blocks, 10 * kBlock), [&](int64_t begin, int64_t end, int) {
    const int64_t i0 = begin * kBlock;
    const int64_t i1 = end * kBlock < n ? end * kBlock : n;
    k.gate_mul_f32(act, gate + i0, x != nullptr ? x + i0 : nullptr, i1 - i0, y + i0);
  });
}

}  // namespace petrel::cpu
