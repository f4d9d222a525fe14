// The CPU backend's tensor interface (run: petrel_tests cpu_tensor_): memory (zeroed allocations,
// strided upload / download / copy), views that the model passes instead of copies (each result
// bit-equal to the operation on a contiguous copy), and the operations that replaced host
// arithmetic in the model code (add, deltanet_gates, kv_store, moe_route, moe_experts, with an
// offload hook that runs some experts through the lent expert FFN) against references written here.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "backend/cpu/ops/cpu_backend.h"
#include "backend/expert_hooks.h"
#include "backend/expert_weights.h"
#include "quant/convert.h"
#include "tests/test.h"

namespace petrel {
namespace {

using test::Rng;

std::vector<float> random_vec(Rng& rng, size_t n, float amp = 1.0f) {
  std::vector<float> v(n);
  for (auto& x : v) x = amp * rng.sym();
  return v;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// A host array as a contiguous tensor of the CPU backend.
template <class T>
Tensor host(Backend& be, std::vector<T>& v, GgmlType type, int64_t ne0, int64_t ne1 = 1, int64_t ne2 = 1) {
  return be.wrap_host(v.data(), Tensor::contiguous(type, ne0, ne1, ne2));
}

// ---- memory and views ------------------------------------------------------------------------------

PETREL_TEST(cpu_tensor_memory_and_strided_transfers) {
  auto be = make_cpu_backend(2);
  TensorBuffer buf;
  PETREL_CHECK(be->allocate(Tensor::contiguous(GgmlType::F32, 6, 5, 4), &buf).ok());
  const Tensor t = buf.tensor();
  PETREL_CHECK(t.is_contiguous() && t.n_elements() == 120);
  std::vector<float> zeros(120, 1.0f);
  be->download(t, zeros.data());
  PETREL_CHECK(std::all_of(zeros.begin(), zeros.end(), [](float x) { return x == 0.0f; }));
  std::vector<float> values(120);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  be->upload(values.data(), t);
  // A head-major cache {6, 5 positions, 4 heads} read position-major: {6, 4 heads, 3 positions}.
  Tensor by_position = t;
  by_position.ne[1] = 4;
  by_position.nb[1] = t.nb[2];
  by_position.ne[2] = 3;
  by_position.nb[2] = t.nb[1];
  std::vector<float> got(72), want;
  be->download(by_position, got.data());
  for (int pos = 0; pos < 3; ++pos) {
    for (int h = 0; h < 4; ++h) {
      for (int i = 0; i < 6; ++i) want.push_back(values[static_cast<size_t>((h * 5 + pos) * 6 + i)]);
    }
  }
  PETREL_CHECK(bit_equal(got, want));
  // Upload through the same view, then copy the buffer into another through views.
  std::vector<float> back(72);
  for (size_t i = 0; i < back.size(); ++i) back[i] = -static_cast<float>(i);
  be->upload(back.data(), by_position);
  be->download(by_position, got.data());
  PETREL_CHECK(bit_equal(got, back));
  TensorBuffer other;
  PETREL_CHECK(be->allocate(Tensor::contiguous(GgmlType::F32, 6, 5, 4), &other).ok());
  Tensor other_view = other.tensor();
  other_view.ne[1] = 4;
  other_view.nb[1] = other.tensor().nb[2];
  other_view.ne[2] = 3;
  other_view.nb[2] = other.tensor().nb[1];
  be->copy(by_position, other_view);
  be->download(other_view, got.data());
  PETREL_CHECK(bit_equal(got, back));
  // Moving a buffer hands its memory over; reset gives it back.
  TensorBuffer moved = std::move(buf);
  PETREL_CHECK(buf.tensor().empty() && !moved.tensor().empty());
  moved.reset();
  PETREL_CHECK(moved.tensor().empty());
}

PETREL_TEST(cpu_tensor_views) {
  Tensor t = Tensor::contiguous(GgmlType::F32, 12, 3);  // {conv_dim = 12, n = 3}
  t.storage = &t;  // any non-null address: only the arithmetic of views is checked
  const Tensor k = t.slice(0, 4, 4).split0(2);  // the K columns as {d_k = 2, Hk = 2, n = 3}
  PETREL_CHECK(k.ne[0] == 2 && k.ne[1] == 2 && k.ne[2] == 3 && k.ne[3] == 1);
  PETREL_CHECK(k.nb[1] == 8 && k.nb[2] == 48 && k.offset == 16 && !k.is_contiguous());
  PETREL_CHECK_EQ(k.row_offset(1, 2), uint64_t{16 + 8 + 96});
  const Tensor rows = t.slice(1, 1, 2);
  PETREL_CHECK(rows.is_contiguous() && rows.offset == 48 && rows.n_rows() == 2);
  const Tensor heads = t.reshape(4, 3, 3);
  PETREL_CHECK(heads.is_contiguous() && heads.nb[2] == 48);
}

// rms_norm and gate_mul read the attention projection's interleaved [q_h | gate_h] rows in place;
// delta_net reads q, k and v as columns of the conv output: each result equals the operation on
// contiguous copies, bit for bit.
PETREL_TEST(cpu_tensor_strided_inputs_equal_contiguous_copies) {
  auto be = make_cpu_backend(3);
  Rng rng(3);
  const int64_t hd = 64, n_head = 4, n = 7;
  std::vector<float> qg = random_vec(rng, static_cast<size_t>(n * n_head * 2 * hd), 3.0f);
  std::vector<float> norm_w = random_vec(rng, static_cast<size_t>(hd));
  std::vector<float> q_copy, gate_copy;
  for (int64_t r = 0; r < n * n_head; ++r) {
    q_copy.insert(q_copy.end(), qg.begin() + r * 2 * hd, qg.begin() + r * 2 * hd + hd);
    gate_copy.insert(gate_copy.end(), qg.begin() + r * 2 * hd + hd, qg.begin() + (r + 1) * 2 * hd);
  }
  const Tensor qg_t = host(*be, qg, GgmlType::F32, 2 * hd, n_head, n);
  const Tensor w_t = host(*be, norm_w, GgmlType::F32, hd);
  std::vector<float> y_view(q_copy.size()), y_copy(q_copy.size());
  be->rms_norm(qg_t.slice(0, 0, hd), w_t, 1e-6f, host(*be, y_view, GgmlType::F32, hd, n_head, n));
  be->rms_norm(host(*be, q_copy, GgmlType::F32, hd, n_head, n), w_t, 1e-6f, host(*be, y_copy, GgmlType::F32, hd, n_head, n));
  PETREL_CHECK(bit_equal(y_view, y_copy));
  std::vector<float> x = random_vec(rng, q_copy.size()), g_view = x, g_copy = x;
  be->gate_mul(GateActivation::sigmoid, qg_t.slice(0, hd, hd), host(*be, g_view, GgmlType::F32, hd, n_head, n),
               host(*be, g_view, GgmlType::F32, hd, n_head, n));
  be->gate_mul(GateActivation::sigmoid, gate_copy.data(), g_copy.data(), static_cast<int64_t>(g_copy.size()), g_copy.data());
  PETREL_CHECK(bit_equal(g_view, g_copy));

  // delta_net: conv output rows [Q (Hk·dk) | K (Hk·dk) | V (Hv·dv)], prefill and decode.
  const int64_t hk = 2, hv = 4, dk = 32, dv = 16, conv_dim = 2 * hk * dk + hv * dv;
  const DeltaNetShape shape{2, 4, 32, 16, false, 1e-6f};
  for (int64_t tokens : {int64_t{70}, int64_t{1}}) {
    std::vector<float> conv_out = random_vec(rng, static_cast<size_t>(tokens * conv_dim), 2.0f);
    std::vector<float> q, k, v;
    for (int64_t t = 0; t < tokens; ++t) {
      const auto row = conv_out.begin() + t * conv_dim;
      q.insert(q.end(), row, row + hk * dk);
      k.insert(k.end(), row + hk * dk, row + 2 * hk * dk);
      v.insert(v.end(), row + 2 * hk * dk, row + conv_dim);
    }
    std::vector<float> g(static_cast<size_t>(tokens * hv)), beta(g.size());
    for (size_t i = 0; i < g.size(); ++i) {
      g[i] = -0.5f * rng.uniform();
      beta[i] = rng.uniform();
    }
    std::vector<float> s_view = random_vec(rng, static_cast<size_t>(hv * dk * dv), 0.5f), s_copy = s_view;
    std::vector<float> o_view(static_cast<size_t>(tokens * hv * dv)), o_copy(o_view.size());
    const Tensor c = host(*be, conv_out, GgmlType::F32, conv_dim, tokens);
    be->delta_net(shape, c.slice(0, 0, hk * dk).split0(dk), c.slice(0, hk * dk, hk * dk).split0(dk),
                  c.slice(0, 2 * hk * dk, hv * dv).split0(dv), host(*be, g, GgmlType::F32, hv, tokens),
                  host(*be, beta, GgmlType::F32, hv, tokens), host(*be, s_view, GgmlType::F32, dv, dk, hv),
                  host(*be, o_view, GgmlType::F32, dv, hv, tokens));
    be->delta_net(shape, q.data(), k.data(), v.data(), g.data(), beta.data(), s_copy.data(), tokens, o_copy.data());
    PETREL_CHECK(bit_equal(o_view, o_copy));
    PETREL_CHECK(bit_equal(s_view, s_copy));
  }
}

// ---- the operations that replaced host arithmetic ------------------------------------------------

PETREL_TEST(cpu_tensor_add_and_kept_rows) {
  auto be = make_cpu_backend(2);
  Rng rng(4);
  const int64_t width = 3000, n = 5;
  std::vector<float> h = random_vec(rng, static_cast<size_t>(width * n)), a = random_vec(rng, h.size());
  std::vector<float> want = h;
  for (size_t i = 0; i < want.size(); ++i) want[i] = h[i] + a[i];
  std::vector<float> y = h;
  be->add(host(*be, y, GgmlType::F32, width, n), host(*be, a, GgmlType::F32, width, n), host(*be, y, GgmlType::F32, width, n));
  PETREL_CHECK(bit_equal(y, want));
  // The last layer's kept rows: a view of the residual stream, with the mixer's rows for them only.
  std::vector<float> kept = h, mixer(static_cast<size_t>(2 * width));
  for (size_t i = 0; i < mixer.size(); ++i) mixer[i] = a[3 * width + i];
  const Tensor rows = host(*be, kept, GgmlType::F32, width, n).slice(1, 3, 2);
  be->add(rows, host(*be, mixer, GgmlType::F32, width, 2), rows);
  PETREL_CHECK(std::equal(kept.begin(), kept.begin() + 3 * width, h.begin()));
  PETREL_CHECK(std::equal(kept.begin() + 3 * width, kept.end(), want.begin() + 3 * width));
}

// beta = sigmoid(b), g = ssm_a · softplus(alpha + dt); qwen3next's grouped ssm_ba read in place.
PETREL_TEST(cpu_tensor_deltanet_gates_plain_and_grouped) {
  auto be = make_cpu_backend(2);
  Rng rng(5);
  const int64_t hk = 3, r = 2, hv = hk * r, n = 9;
  std::vector<float> ssm_a(static_cast<size_t>(hv)), dt = random_vec(rng, static_cast<size_t>(hv));
  for (auto& a : ssm_a) a = -std::exp(rng.sym());
  std::vector<float> b = random_vec(rng, static_cast<size_t>(n * hv), 4.0f), alpha = random_vec(rng, b.size(), 12.0f);
  alpha[3] = 30.0f;  // softplus is linear above 20
  auto check = [&](const std::vector<float>& beta, const std::vector<float>& g, const std::string& what) {
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t p = 0; p < hv; ++p) {
        const size_t i = static_cast<size_t>(t * hv + p);
        const double x = static_cast<double>(alpha[i]) + dt[static_cast<size_t>(p)];
        const double want_g = ssm_a[static_cast<size_t>(p)] * (x > 20.0 ? x : std::log1p(std::exp(x)));
        const double want_beta = 1.0 / (1.0 + std::exp(-static_cast<double>(b[i])));
        if (std::fabs(beta[i] - want_beta) > 1e-6 || std::fabs(g[i] - want_g) > 1e-5 * (1.0 + std::fabs(want_g))) {
          test::fail(__FILE__, __LINE__, what + ": head " + std::to_string(p) + " token " + std::to_string(t));
          return;
        }
      }
    }
  };
  const Tensor a_t = host(*be, ssm_a, GgmlType::F32, hv), dt_t = host(*be, dt, GgmlType::F32, hv);
  std::vector<float> beta(b.size()), g(b.size());
  be->deltanet_gates(host(*be, b, GgmlType::F32, hv, 1, n), host(*be, alpha, GgmlType::F32, hv, 1, n), a_t, dt_t,
                     host(*be, beta, GgmlType::F32, hv, n), host(*be, g, GgmlType::F32, hv, n));
  check(beta, g, "plain");
  // ssm_ba rows per key head: [b (r) | alpha (r)].
  std::vector<float> ba;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t kh = 0; kh < hk; ++kh) {
      for (int64_t j = 0; j < r; ++j) ba.push_back(b[static_cast<size_t>(t * hv + kh * r + j)]);
      for (int64_t j = 0; j < r; ++j) ba.push_back(alpha[static_cast<size_t>(t * hv + kh * r + j)]);
    }
  }
  const Tensor grouped = host(*be, ba, GgmlType::F32, 2 * hv, n).split0(2 * r);
  std::vector<float> beta2(b.size()), g2(b.size());
  be->deltanet_gates(grouped.slice(0, 0, r), grouped.slice(0, r, r), a_t, dt_t, host(*be, beta2, GgmlType::F32, hv, n),
                     host(*be, g2, GgmlType::F32, hv, n));
  check(beta2, g2, "grouped");
  PETREL_CHECK(bit_equal(beta2, beta) && bit_equal(g2, g));
}

PETREL_TEST(cpu_tensor_kv_store_f16_and_f32) {
  auto be = make_cpu_backend(2);
  Rng rng(6);
  const int64_t hd = 40, n_head_kv = 3, cap = 11, n = 4, pos0 = 6;
  std::vector<float> x = random_vec(rng, static_cast<size_t>(n * n_head_kv * hd), 5.0f);
  std::vector<int32_t> positions = {6, 7, 8, 9};
  for (GgmlType type : {GgmlType::F32, GgmlType::F16}) {
    TensorBuffer cache;
    PETREL_CHECK(be->allocate(Tensor::contiguous(type, hd, cap, n_head_kv), &cache).ok());
    be->kv_store(host(*be, x, GgmlType::F32, hd, n_head_kv, n), cache.tensor(), host(*be, positions, GgmlType::I32, n));
    const size_t elem = type == GgmlType::F16 ? 2 : 4;
    std::vector<uint8_t> bytes(static_cast<size_t>(hd * cap * n_head_kv) * elem);
    be->download(cache.tensor(), bytes.data());
    bool ok = true;
    for (int64_t h = 0; h < n_head_kv; ++h) {
      for (int64_t p = 0; p < cap; ++p) {
        const uint8_t* row = bytes.data() + static_cast<size_t>((h * cap + p) * hd) * elem;
        std::vector<uint8_t> want(static_cast<size_t>(hd) * elem, 0);
        if (p >= pos0 && p < pos0 + n) {
          const float* src = x.data() + ((p - pos0) * n_head_kv + h) * hd;
          PETREL_CHECK(quantize_row(type, src, want.data(), hd).ok());
        }
        ok = ok && std::memcmp(row, want.data(), want.size()) == 0;
      }
    }
    PETREL_CHECK(ok);
  }
}

// Softmax over all experts, the top k (ties to the lower id), weights over their sum.
PETREL_TEST(cpu_tensor_moe_route) {
  auto be = make_cpu_backend(3);
  Rng rng(7);
  const int64_t n_expert = 40, k = 5, n = 33;
  std::vector<float> logits = random_vec(rng, static_cast<size_t>(n * n_expert), 4.0f);
  for (int64_t e = 0; e < n_expert; ++e) logits[static_cast<size_t>(n_expert + e)] = 1.0f;  // token 1: all tied
  std::vector<float> probs(logits.size()), weights(static_cast<size_t>(n * k));
  std::vector<int32_t> selected(weights.size());
  be->moe_route(host(*be, logits, GgmlType::F32, n_expert, n), host(*be, probs, GgmlType::F32, n_expert, n),
                host(*be, selected, GgmlType::I32, k, n), host(*be, weights, GgmlType::F32, k, n));
  for (int64_t t = 0; t < n; ++t) {
    const float* l = logits.data() + t * n_expert;
    double mx = l[0], sum = 0;
    for (int64_t e = 1; e < n_expert; ++e) mx = std::max<double>(mx, l[e]);
    std::vector<double> p(static_cast<size_t>(n_expert));
    for (int64_t e = 0; e < n_expert; ++e) sum += (p[static_cast<size_t>(e)] = std::exp(l[e] - mx));
    for (auto& v : p) v /= sum;
    std::vector<int32_t> order(static_cast<size_t>(n_expert));
    for (int32_t e = 0; e < n_expert; ++e) order[static_cast<size_t>(e)] = e;
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return p[a] > p[b]; });
    double top = 0;
    for (int64_t i = 0; i < k; ++i) top += p[static_cast<size_t>(order[static_cast<size_t>(i)])];
    for (int64_t i = 0; i < k; ++i) {
      const int32_t want = order[static_cast<size_t>(i)];
      PETREL_CHECK_EQ(selected[static_cast<size_t>(t * k + i)], want);
      PETREL_CHECK(std::fabs(weights[static_cast<size_t>(t * k + i)] - p[static_cast<size_t>(want)] / top) < 1e-6);
    }
    for (int64_t e = 0; e < n_expert; ++e) {
      PETREL_CHECK(std::fabs(probs[static_cast<size_t>(t * n_expert + e)] - p[static_cast<size_t>(e)]) < 1e-6);
    }
  }
}

// An offload that says it holds some of a layer's experts, and runs them through the expert FFN
// the backend lends it, from its own copy of the routing (slot s = expert s + 100).
class FakeOffload final : public ExpertHooks {
 public:
  FakeOffload(const ExpertWeights& w, std::vector<int32_t> on_device) : w_(w), on_device_(std::move(on_device)) {}
  void route(int32_t, const int32_t* experts, const int64_t*, int64_t n, int64_t* slots) override {
    for (int64_t i = 0; i < n; ++i) {
      const bool held = std::find(on_device_.begin(), on_device_.end(), experts[i]) != on_device_.end();
      slots[i] = held ? experts[i] + 100 : -1;
      routed += held ? 1 : 0;
    }
  }
  const WeightView* prediction_router(int32_t, int32_t*) override { return nullptr; }
  void predicted(int32_t, const int32_t*, int64_t) override {}
  void start_expert_ffn(HostExpertFfn& ffn, const int64_t* slots, const int64_t* offsets, int64_t n_groups,
                        const float* x, float* down) override {
    std::vector<int32_t> experts;
    for (int64_t g = 0; g < n_groups; ++g) experts.push_back(static_cast<int32_t>(slots[g] - 100));
    ffn.run(w_, experts.data(), offsets, n_groups, x, down);
    started += n_groups;
  }
  void finish_layer(int32_t) override { ++finished; }
  int64_t routed = 0, started = 0, finished = 0;

 private:
  ExpertWeights w_;
  std::vector<int32_t> on_device_;
};

// A weight of random Q8_0 rows: {cols, rows, n_slab}.
struct TestWeight {
  std::vector<uint8_t> bytes;
  WeightView view;
};
TestWeight make_q8_weight(int64_t cols, int64_t rows, int64_t n_slab, Rng& rng) {
  TestWeight w;
  const uint64_t row_bytes = static_cast<uint64_t>(cols / 32) * 34;
  w.bytes.resize(row_bytes * static_cast<uint64_t>(rows * n_slab));
  for (int64_t r = 0; r < rows * n_slab; ++r) {
    std::vector<float> src = random_vec(rng, static_cast<size_t>(cols));
    PETREL_CHECK(quantize_row(GgmlType::Q8_0, src.data(), w.bytes.data() + row_bytes * static_cast<uint64_t>(r), cols).ok());
  }
  w.view.type = GgmlType::Q8_0;
  w.view.ne[0] = cols;
  w.view.ne[1] = rows;
  w.view.ne[2] = n_slab;
  w.view.data = w.bytes.data();
  w.view.row_bytes = row_bytes;
  return w;
}

// moe_experts against each token's experts run one by one with matmul and gate_mul and added in
// ascending expert order, with and without a shared expert; the same bits with an offload that
// holds some of the experts, and the hooks called once per layer.
PETREL_TEST(cpu_tensor_moe_experts_with_and_without_offload) {
  auto be = make_cpu_backend(2);
  Rng rng(8);
  const int64_t n_embd = 64, n_ff = 32, n_expert = 6, k = 2, n = 9;
  TestWeight gate = make_q8_weight(n_embd, n_ff, n_expert, rng), up = make_q8_weight(n_embd, n_ff, n_expert, rng);
  TestWeight down = make_q8_weight(n_ff, n_embd, n_expert, rng);
  ExpertWeights ew;
  ew.gate = gate.view;
  ew.up = up.view;
  ew.down = down.view;
  ew.n_ff = n_ff;
  std::vector<float> x = random_vec(rng, static_cast<size_t>(n * n_embd));
  std::vector<int32_t> selected(static_cast<size_t>(n * k));
  std::vector<float> weights(selected.size());
  for (int64_t t = 0; t < n; ++t) {
    selected[static_cast<size_t>(t * k)] = static_cast<int32_t>((t * 5) % n_expert);
    selected[static_cast<size_t>(t * k + 1)] = static_cast<int32_t>((t * 5 + 1 + t % 3) % n_expert);
    weights[static_cast<size_t>(t * k)] = rng.uniform();
    weights[static_cast<size_t>(t * k + 1)] = rng.uniform();
  }
  std::vector<float> shared = random_vec(rng, x.size()), shared_gate = random_vec(rng, static_cast<size_t>(n), 3.0f);

  std::vector<float> want(x.size(), 0.0f);
  for (int64_t t = 0; t < n; ++t) {
    std::vector<std::pair<int32_t, float>> chosen;
    for (int64_t i = 0; i < k; ++i) chosen.emplace_back(selected[static_cast<size_t>(t * k + i)], weights[static_cast<size_t>(t * k + i)]);
    std::sort(chosen.begin(), chosen.end());
    for (const auto& [e, wt] : chosen) {
      std::vector<float> g(static_cast<size_t>(n_ff)), u(g.size()), d(static_cast<size_t>(n_embd));
      be->matmul(gate.view.slab(e), x.data() + t * n_embd, 1, g.data());
      be->matmul(up.view.slab(e), x.data() + t * n_embd, 1, u.data());
      be->gate_mul(GateActivation::silu, g.data(), u.data(), n_ff, g.data());
      be->matmul(down.view.slab(e), g.data(), 1, d.data());
      for (int64_t c = 0; c < n_embd; ++c) want[static_cast<size_t>(t * n_embd + c)] += wt * d[static_cast<size_t>(c)];
    }
  }
  const Tensor x_t = host(*be, x, GgmlType::F32, n_embd, n);
  const Tensor sel_t = host(*be, selected, GgmlType::I32, k, n), w_t = host(*be, weights, GgmlType::F32, k, n);
  std::vector<float> got(x.size());
  be->moe_experts(0, x_t, sel_t, w_t, ew, Tensor{}, Tensor{}, host(*be, got, GgmlType::F32, n_embd, n), nullptr);
  for (size_t i = 0; i < got.size(); ++i) {
    if (!(std::fabs(got[i] - want[i]) <= 1e-5f * (1.0f + std::fabs(want[i])))) {
      test::fail(__FILE__, __LINE__, "moe_experts differs from the experts one by one at " + std::to_string(i));
      break;
    }
  }

  std::vector<float> with_shared(x.size()), offloaded(x.size());
  be->moe_experts(0, x_t, sel_t, w_t, ew, host(*be, shared, GgmlType::F32, n_embd, n),
                  host(*be, shared_gate, GgmlType::F32, 1, n), host(*be, with_shared, GgmlType::F32, n_embd, n), nullptr);
  for (int64_t t = 0; t < n; ++t) {
    const float s = 1.0f / (1.0f + std::exp(-shared_gate[static_cast<size_t>(t)]));
    for (int64_t c = 0; c < n_embd; ++c) {
      const size_t i = static_cast<size_t>(t * n_embd + c);
      PETREL_CHECK_EQ(with_shared[i], got[i] + s * shared[i]);
    }
  }
  FakeOffload off(ew, {1, 4});
  be->moe_experts(3, x_t, sel_t, w_t, ew, host(*be, shared, GgmlType::F32, n_embd, n),
                  host(*be, shared_gate, GgmlType::F32, 1, n), host(*be, offloaded, GgmlType::F32, n_embd, n), &off);
  PETREL_CHECK(bit_equal(offloaded, with_shared));
  PETREL_CHECK(off.routed == 2 && off.started == 2 && off.finished == 1);
}

}  // namespace
}  // namespace petrel
