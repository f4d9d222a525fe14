// Random inputs for Backend::delta_net shaped as the model makes them (g from A_log and
// softplus, beta a sigmoid, a non-zero entering state), and a runner that feeds a case to a
// backend in calls of a given number of tokens.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "backend/cpu/ops/cpu_backend.h"
#include "tests/test.h"

namespace petrel::test {

struct DeltaCase {
  DeltaNetShape shape;
  int64_t n;
  std::vector<float> q, k, v, g, beta, state0;
};

// strong_decay: about a fifth of the gates decay by up to e^-80 (underflow to 0).
inline DeltaCase make_delta_case(int hk, int hv, int dk, int dv, bool grouped, int64_t n, uint64_t seed,
                                 bool strong_decay = false) {
  DeltaCase c{{hk, hv, dk, dv, grouped, 1e-6f}, n, {}, {}, {}, {}, {}, {}};
  Rng rng(seed);
  auto random = [&](size_t count, float amp) {
    std::vector<float> x(count);
    for (auto& e : x) e = amp * rng.sym();
    return x;
  };
  c.q = random(static_cast<size_t>(n * hk * dk), 2.0f);
  c.k = random(static_cast<size_t>(n * hk * dk), 2.0f);
  c.v = random(static_cast<size_t>(n * hv * dv), 1.0f);
  c.g.resize(static_cast<size_t>(n * hv));
  c.beta.resize(c.g.size());
  for (size_t i = 0; i < c.g.size(); ++i) {
    // g = -exp(A_log) * softplus(a + dt_bias), beta = sigmoid(b), as the model computes them.
    const float a = 3.0f * rng.sym(), a_log = rng.sym();
    c.g[i] = -std::exp(a_log) * std::log1p(std::exp(a));
    if (strong_decay && rng.uniform() < 0.2f) c.g[i] = -80.0f * rng.uniform();
    c.beta[i] = 1.0f / (1.0f + std::exp(-3.0f * rng.sym()));
  }
  c.state0 = random(static_cast<size_t>(hv * dk * dv), 0.5f);
  return c;
}

// Runs the backend over the case in calls of `step` tokens (step >= n: one call; step == 1: the
// decode path token by token). Returns the outputs; state is updated in place.
inline std::vector<float> delta_run(CpuBackend& be, const DeltaCase& c, int64_t step, std::vector<float>& state) {
  const int hk = c.shape.n_k_heads, hv = c.shape.n_v_heads, dk = c.shape.d_k, dv = c.shape.d_v;
  std::vector<float> out(static_cast<size_t>(c.n * hv * dv));
  for (int64_t t0 = 0; t0 < c.n; t0 += step) {
    const int64_t len = std::min(step, c.n - t0);
    be.delta_net(c.shape, &c.q[t0 * hk * dk], &c.k[t0 * hk * dk], &c.v[t0 * hv * dv], &c.g[t0 * hv], &c.beta[t0 * hv],
                 state.data(), len, &out[t0 * hv * dv]);
  }
  return out;
}

}  // namespace petrel::test
