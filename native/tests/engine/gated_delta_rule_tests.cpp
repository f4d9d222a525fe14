// The gated delta rule's fast forms against the plain recurrence in double
// (model/qwen35/gated_delta_rule_reference.h), on random inputs shaped as the model makes them:
// the CPU backend's delta_net (chunked WY form for prefill, fused steps for decode) for every
// length up to 200, fed whole and in calls of several sizes so that its 64-token chunks end
// anywhere in the sequence, for tiled and grouped heads with Hv = Hk, 2 Hk and 3 Hk; and the fused
// decode step (CpuKernels::delta_step_f32) of every kernel table this CPU runs.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/ops/cpu_backend.h"
#include "model/qwen35/gated_delta_rule_reference.h"
#include "tests/engine/delta_net_case.h"
#include "tests/test.h"

namespace petrel {
namespace {

using test::DeltaCase;
using test::make_delta_case;
using test::Rng;

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

// Whether |got - want| <= tol; a failure is reported with what and the element's index.
bool within(double got, double want, double tol, const std::string& what, size_t index) {
  if (std::fabs(got - want) <= tol) return true;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s [%zu]: got %.9g want %.9g (tol %.3g)", what.c_str(), index, got, want, tol);
  test::fail(__FILE__, __LINE__, buf);
  return false;
}

bool all_within(const std::vector<float>& got, const std::vector<double>& want, double tol, const std::string& what) {
  for (size_t i = 0; i < want.size(); ++i) {
    if (!within(got[i], want[i], tol, what, i)) return false;
  }
  return true;
}

std::string describe(const DeltaCase& c, int64_t call_tokens) {
  return "delta_net hk=" + std::to_string(c.shape.n_k_heads) + " hv=" + std::to_string(c.shape.n_v_heads) +
         (c.shape.grouped_heads ? " grouped" : " tiled") + " dk=" + std::to_string(c.shape.d_k) +
         " dv=" + std::to_string(c.shape.d_v) + " n=" + std::to_string(c.n) + " in calls of " +
         std::to_string(call_tokens);
}

// The backend over the case in calls of each of call_sizes tokens, against the reference: outputs
// and the final state, within tol relative to their largest magnitude (at least 1).
void check_against_reference(CpuBackend& be, const DeltaCase& c, std::initializer_list<int64_t> call_sizes, double tol) {
  const int64_t hv = c.shape.n_v_heads, dv = c.shape.d_v;
  std::vector<double> state_ref(c.state0.begin(), c.state0.end());
  std::vector<double> out_ref(static_cast<size_t>(c.n * hv * dv));
  qwen35::gated_delta_rule_reference(c.shape, c.q.data(), c.k.data(), c.v.data(), c.g.data(), c.beta.data(),
                                     state_ref.data(), c.n, out_ref.data());
  const double out_scale = std::max(1.0, max_abs(out_ref)), state_scale = std::max(1.0, max_abs(state_ref));
  for (int64_t call_tokens : call_sizes) {
    std::vector<float> state = c.state0;
    const std::vector<float> out = test::delta_run(be, c, call_tokens, state);
    const std::string what = describe(c, call_tokens);
    if (!all_within(out, out_ref, tol * out_scale, what + ": output")) return;
    if (!all_within(state, state_ref, tol * state_scale, what + ": state")) return;
  }
}

PETREL_TEST(gated_delta_rule_every_length) {
  auto be = make_cpu_backend(2);
  for (int64_t n = 1; n <= 200; ++n) {
    const DeltaCase c = make_delta_case(2, 4, 16, 8, true, n, 1000 + n);
    if (n % 13 == 1) {
      check_against_reference(*be, c, {n, 1, 17, 64, 100}, 2e-5);
    } else {
      check_against_reference(*be, c, {n}, 2e-5);
    }
  }
}

PETREL_TEST(gated_delta_rule_head_mappings) {
  auto be = make_cpu_backend(3);
  uint64_t seed = 5000;
  for (bool grouped : {false, true}) {
    for (int ratio : {1, 2, 3}) {
      for (int64_t n : {2, 63, 64, 65, 130}) {
        check_against_reference(*be, make_delta_case(2, 2 * ratio, 32, 24, grouped, n, ++seed), {n, 1, 50}, 2e-5);
      }
    }
  }
  // Full-size heads (d_k = d_v = 128) across a chunk boundary, and strong decay (underflow).
  check_against_reference(*be, make_delta_case(1, 2, 128, 128, false, 130, ++seed), {130, 1, 100}, 2e-5);
  check_against_reference(*be, make_delta_case(2, 4, 32, 32, false, 150, ++seed, true), {150, 1, 70}, 2e-5);
}

PETREL_TEST(gated_delta_rule_head_mapping_is_distinct) {
  // Tiled and grouped differ when Hv > Hk (guards against one ignoring the flag).
  auto be = make_cpu_backend(1);
  DeltaCase c = make_delta_case(2, 4, 16, 8, false, 3, 77);
  std::vector<float> s1 = c.state0, s2 = c.state0;
  const std::vector<float> tiled = test::delta_run(*be, c, 3, s1);
  c.shape.grouped_heads = true;
  const std::vector<float> grouped = test::delta_run(*be, c, 3, s2);
  double diff = 0;
  for (size_t i = 0; i < tiled.size(); ++i) diff = std::max(diff, std::fabs(static_cast<double>(tiled[i]) - grouped[i]));
  PETREL_CHECK(diff > 1e-3);
}

// A few decode steps of one head through the kernel table's fused step and through the reference,
// the state carried forward. q and k stand for l2-normalised vectors (entries ~ 1/sqrt(d_k)).
void check_decode_step(const cpu::CpuKernels& kern, int64_t dk, int64_t dv, Rng& rng) {
  std::vector<float> state(static_cast<size_t>(dk * dv));
  for (auto& x : state) x = rng.normal() * 0.1f;
  std::vector<double> state_ref(state.begin(), state.end());
  const std::string what = std::string(kern.name) + " delta_step_f32 dk=" + std::to_string(dk) + " dv=" + std::to_string(dv);
  for (int step = 0; step < 4; ++step) {
    std::vector<float> q(static_cast<size_t>(dk)), k(static_cast<size_t>(dk)), v(static_cast<size_t>(dv)), out(static_cast<size_t>(dv));
    for (auto& x : q) x = rng.normal() * 0.09f;
    for (auto& x : k) x = rng.normal() * 0.09f;
    for (auto& x : v) x = rng.normal();
    const float alpha = std::exp(-rng.uniform()), beta = rng.uniform();
    kern.delta_step_f32(state.data(), dk, dv, q.data(), k.data(), v.data(), alpha, beta, out.data());
    const std::vector<double> qd(q.begin(), q.end()), kd(k.begin(), k.end()), vd(v.begin(), v.end());
    std::vector<double> out_ref(static_cast<size_t>(dv));
    qwen35::gated_delta_rule_step(state_ref.data(), dk, dv, qd.data(), kd.data(), vd.data(), alpha, beta, out_ref.data());
    // Each output is a sum of d_k products: its rounding is relative to the sum of their magnitudes.
    for (int64_t j = 0; j < dv; ++j) {
      double magnitude = 0;
      for (int64_t i = 0; i < dk; ++i) magnitude += std::fabs(state_ref[static_cast<size_t>(i * dv + j)] * q[static_cast<size_t>(i)]);
      if (!within(out[static_cast<size_t>(j)], out_ref[static_cast<size_t>(j)], 1e-5 * magnitude + 1e-6,
                  what + " step " + std::to_string(step) + " output", static_cast<size_t>(j))) {
        return;
      }
    }
    for (size_t i = 0; i < state.size(); ++i) {
      if (!within(state[i], state_ref[i], 1e-5 * (std::fabs(state_ref[i]) + 0.1),
                  what + " step " + std::to_string(step) + " state", i)) {
        return;
      }
    }
  }
}

PETREL_TEST(gated_delta_rule_decode_step_every_kernel_table) {
  Rng rng(17);
  for (const cpu::CpuKernels* k : cpu::cpu_kernels_runnable()) {
    check_decode_step(*k, 128, 128, rng);
    check_decode_step(*k, 64, 40, rng);  // a width that is not a multiple of 32
  }
}

}  // namespace
}  // namespace petrel
