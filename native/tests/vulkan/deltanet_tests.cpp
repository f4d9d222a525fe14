// The gated delta rule shader against the CPU backend's delta_net: decode steps replayed on the
// device-held state, and a prefill across the CPU's 64-token chunk boundary, for the tiled
// (qwen35) and grouped (qwen3next) key-head mappings.
#include <algorithm>
#include <cmath>

#include "backend/cpu/ops/cpu_backend.h"
#include "backend/vulkan/ops_deltanet.h"
#include "tests/vulkan/sequence_test_support.h"

namespace petrel::vk {
namespace {

using namespace testing;
using test::Rng;

struct Inputs {
  std::vector<float> q, k, v, g, beta;
};

Inputs random_inputs(Rng& rng, const DeltaNetShape& s, int64_t n_tokens) {
  Inputs in;
  in.q = random_floats(rng, static_cast<size_t>(n_tokens * s.n_k_heads * s.d_k));
  // Keys near one common direction, as a model's are: large k_i . k_j, so the chunked form's
  // T = (I + A)^-1 is far from I and its higher-order terms count.
  const auto common = random_floats(rng, static_cast<size_t>(s.d_k));
  in.k = random_floats(rng, in.q.size(), 0.4f);
  for (size_t i = 0; i < in.k.size(); ++i) in.k[i] += common[i % static_cast<size_t>(s.d_k)];
  in.v = random_floats(rng, static_cast<size_t>(n_tokens * s.n_v_heads * s.d_v));
  in.g.resize(static_cast<size_t>(n_tokens * s.n_v_heads));
  in.beta.resize(in.g.size());
  for (size_t i = 0; i < in.g.size(); ++i) {
    in.g[i] = -0.02f - 0.6f * rng.uniform();              // log decay < 0
    in.beta[i] = 1.0f / (1.0f + std::exp(-rng.normal()));  // sigmoid
  }
  return in;
}

// Bounds (tol): about ten times the largest difference measured on lavapipe, rounded up; the
// recurrence and the CPU's chunked form agree as closely as two decode steps do.
// Runs `steps` calls of n_tokens each through one recording (new inputs written to the device
// before each), checking the output and the state against the CPU backend after every call.
// conv_rows: q, k and v are read as the model reads them, columns of one [n_tokens][q | k | v]
// buffer (the conv output); else each from its own packed buffer.
// chunked: give the op a scratch for the chunked form.
void check_against_cpu(Device& dev, const DeltaNetShape& shape, int64_t n_tokens, int steps, double tol,
                       bool conv_rows, bool chunked = false) {
  auto cpu = make_cpu_backend(1);
  Rng rng(static_cast<uint64_t>(21 + n_tokens + 100 * shape.grouped_heads));
  std::vector<float> state = random_floats(rng, static_cast<size_t>(shape.n_v_heads * shape.d_k * shape.d_v), 0.3f);
  Inputs in = random_inputs(rng, shape, n_tokens);
  const int64_t key_dim = shape.n_k_heads * shape.d_k, value_dim = shape.n_v_heads * shape.d_v;
  const int64_t row = 2 * key_dim + value_dim;
  // The inputs as the device reads them: the conv rows, or q (4 bytes in), k and v.
  auto mixed = [&](const Inputs& x) {
    std::vector<float> m(static_cast<size_t>(n_tokens * row));
    for (int64_t t = 0; t < n_tokens; ++t) {
      std::copy_n(x.q.begin() + t * key_dim, key_dim, m.begin() + t * row);
      std::copy_n(x.k.begin() + t * key_dim, key_dim, m.begin() + t * row + key_dim);
      std::copy_n(x.v.begin() + t * value_dim, value_dim, m.begin() + t * row + 2 * key_dim);
    }
    return m;
  };
  auto qb = conv_rows ? buffer_of(*dev.ctx, mixed(in)) : buffer_of(*dev.ctx, in.q, 4);
  auto kb = buffer_of(*dev.ctx, in.k);
  auto vb = buffer_of(*dev.ctx, in.v);
  auto gb = buffer_of(*dev.ctx, in.g);
  auto bb = buffer_of(*dev.ctx, in.beta, 8);
  auto sb = buffer_of(*dev.ctx, state);
  auto ob = buffer_of(*dev.ctx, in.v);
  const uint64_t scratch_bytes = delta_net_chunked_scratch_bytes(shape, n_tokens);
  auto xb = buffer_of(*dev.ctx, std::vector<uint8_t>(scratch_bytes + 4));
  const DeviceSpan scratch = chunked ? DeviceSpan{xb.get(), 4, scratch_bytes} : DeviceSpan{};
  PETREL_CHECK(qb && kb && vb && gb && bb && sb && ob && xb);
  if (!(qb && kb && vb && gb && bb && sb && ob && xb)) return;
  auto rec = record(dev, [&](Recording& r) {
    if (conv_rows) {
      const Buffer* m = qb.get();
      return delta_net(*dev.ops, r, shape, span_of(m), span_of(m, key_dim * 4), span_of(m, 2 * key_dim * 4),
                       span_of(gb.get()), span_of(bb.get(), 8), span_of(sb.get()), n_tokens, span_of(ob.get()),
                       HeadStrides{0, row}, HeadStrides{0, row}, HeadStrides{0, row}, scratch);
    }
    return delta_net(*dev.ops, r, shape, span_of(qb.get(), 4), span_of(kb.get()), span_of(vb.get()), span_of(gb.get()),
                     span_of(bb.get(), 8), span_of(sb.get()), n_tokens, span_of(ob.get()), {}, {}, {}, scratch);
  });
  for (int step = 0; step < steps; ++step) {
    if (step > 0) {
      in = random_inputs(rng, shape, n_tokens);
      if (conv_rows) {
        write(*dev.ctx, *qb, mixed(in));
      } else {
        write(*dev.ctx, *qb, in.q, 4);
        write(*dev.ctx, *kb, in.k);
        write(*dev.ctx, *vb, in.v);
      }
      write(*dev.ctx, *gb, in.g);
      write(*dev.ctx, *bb, in.beta, 8);
    }
    if (!run(rec)) return;
    std::vector<float> want(in.v.size());
    cpu->delta_net(shape, in.q.data(), in.k.data(), in.v.data(), in.g.data(), in.beta.data(), state.data(), n_tokens,
                   want.data());
    PETREL_CHECK(close(read_back<float>(*dev.ctx, *ob, want.size()), as_double(want), tol));
    PETREL_CHECK(close(read_back<float>(*dev.ctx, *sb, state.size()), as_double(state), tol));
  }
}

PETREL_TEST(vulkan_delta_net_decode_matches_cpu) {
  NEED_DEVICE();
  // d_v = 40: a full and a partial block of state columns.
  // The grouped mapping reads q, k, v from conv rows.
  for (bool grouped : {false, true}) {
    check_against_cpu(dev, DeltaNetShape{2, 4, 128, 40, grouped, 1e-6f}, 1, 3, 2e-6, grouped);
  }
  // A key dim that does not fill the lanes evenly, one head pair.
  check_against_cpu(dev, DeltaNetShape{1, 1, 18, 8, false, 1e-6f}, 1, 2, 2e-6, false);
  CHECK_NO_VALIDATION_MESSAGES();
}

PETREL_TEST(vulkan_delta_net_prefill_matches_cpu) {
  NEED_DEVICE();
  // 70 tokens: the CPU runs a full 64-token chunk and a short one; the shader steps token by token.
  for (bool grouped : {false, true}) {
    check_against_cpu(dev, DeltaNetShape{2, 4, 128, 40, grouped, 1e-6f}, 70, 2, 2e-6, !grouped);
  }
  CHECK_NO_VALIDATION_MESSAGES();
}

PETREL_TEST(vulkan_delta_net_chunked_matches_cpu) {
  NEED_DEVICE();
  // Two full chunks and a short one, from conv rows; and a batch shorter than one chunk.
  check_against_cpu(dev, DeltaNetShape{2, 4, 128, 40, true, 1e-6f}, 130, 2, 2e-6, true, true);
  check_against_cpu(dev, DeltaNetShape{2, 4, 128, 40, false, 1e-6f}, 3, 2, 2e-6, false, true);
  CHECK_NO_VALIDATION_MESSAGES();
}

}  // namespace
}  // namespace petrel::vk
