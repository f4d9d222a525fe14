#include "model/qwen35/gated_delta_rule_reference.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace petrel::qwen35 {
namespace {

// x / max(‖x‖, eps) · post.
std::vector<double> l2_normalised(const float* x, int64_t n, double eps, double post) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const double scale = post / std::max(std::sqrt(sum), eps);
  std::vector<double> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[static_cast<size_t>(i)] = x[i] * scale;
  return y;
}

}  // namespace

void gated_delta_rule_step(double* state, int64_t d_k, int64_t d_v, const double* q, const double* k, const double* v,
                           double alpha, double beta, double* o) {
  auto S = [&](int64_t i, int64_t j) -> double& { return state[i * d_v + j]; };
  // Decay.
  for (int64_t i = 0; i < d_k; ++i) {
    for (int64_t j = 0; j < d_v; ++j) S(i, j) *= alpha;
  }
  // Read what the state holds for k, and the correction toward v: δ = β (v − Sᵀk).
  std::vector<double> delta(static_cast<size_t>(d_v));
  for (int64_t j = 0; j < d_v; ++j) {
    double recalled = 0.0;
    for (int64_t i = 0; i < d_k; ++i) recalled += S(i, j) * k[i];
    delta[static_cast<size_t>(j)] = beta * (v[j] - recalled);
  }
  // Write: S ← S + k δᵀ.
  for (int64_t i = 0; i < d_k; ++i) {
    for (int64_t j = 0; j < d_v; ++j) S(i, j) += k[i] * delta[static_cast<size_t>(j)];
  }
  // Output from the updated state: o = Sᵀq.
  for (int64_t j = 0; j < d_v; ++j) {
    double sum = 0.0;
    for (int64_t i = 0; i < d_k; ++i) sum += S(i, j) * q[i];
    o[j] = sum;
  }
}

void gated_delta_rule_reference(const DeltaNetShape& shape, const float* q, const float* k, const float* v,
                                const float* g, const float* beta, double* state, int64_t n_tokens, double* out) {
  const int64_t n_k_heads = shape.n_k_heads, n_v_heads = shape.n_v_heads, d_k = shape.d_k, d_v = shape.d_v;
  const int64_t heads_per_k_head = n_v_heads / n_k_heads;
  const double q_scale = 1.0 / std::sqrt(static_cast<double>(d_k));
  std::vector<double> v_head(static_cast<size_t>(d_v));
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t p = 0; p < n_v_heads; ++p) {
      const int64_t kh = shape.grouped_heads ? p / heads_per_k_head : p % n_k_heads;
      const std::vector<double> q_hat = l2_normalised(q + (t * n_k_heads + kh) * d_k, d_k, shape.eps, q_scale);
      const std::vector<double> k_hat = l2_normalised(k + (t * n_k_heads + kh) * d_k, d_k, shape.eps, 1.0);
      const float* vt = v + (t * n_v_heads + p) * d_v;
      std::copy(vt, vt + d_v, v_head.begin());
      const int64_t gate = t * n_v_heads + p;
      gated_delta_rule_step(state + p * d_k * d_v, d_k, d_v, q_hat.data(), k_hat.data(), v_head.data(),
                            std::exp(static_cast<double>(g[gate])), beta[gate], out + (t * n_v_heads + p) * d_v);
    }
  }
}

}  // namespace petrel::qwen35
