// The gated delta rule one token at a time, in double (docs/MODEL.md#delta-rule): the plain
// recurrence that every backend's delta_net must reproduce, whatever form it computes in (the CPU
// backend: the chunked WY form for prefill, a fused step for decode). The forward pass never
// calls it; the tests compare the backends with it.
#pragma once

#include <cstdint>

#include "backend/backend.h"

namespace petrel::qwen35 {

// One token on one value head's state S [d_k][d_v] (row i = key dim), with q and k already
// l2-normalised and q scaled by 1/sqrt(d_k); alpha = e^g is the decay:
//   S ← α S;   S ← S + k (β (v − Sᵀk))ᵀ;   o = Sᵀ q
void gated_delta_rule_step(double* state, int64_t d_k, int64_t d_v, const double* q, const double* k, const double* v,
                           double alpha, double beta, double* o);

// What Backend::delta_net computes, token by token: q and k ([n_tokens][Hk][d_k], raw) are
// l2-normalised per head (x / max(‖x‖, eps)) and q is scaled by 1/sqrt(d_k); value head p reads
// k head p / (Hv/Hk) (grouped) or p % Hk (tiled); alpha = e^g. v: [n_tokens][Hv][d_v]; g, beta:
// [n_tokens][Hv]; state: [Hv][d_k][d_v], updated; out: [n_tokens][Hv][d_v].
void gated_delta_rule_reference(const DeltaNetShape& shape, const float* q, const float* k, const float* v,
                                const float* g, const float* beta, double* state, int64_t n_tokens, double* out);

}  // namespace petrel::qwen35
