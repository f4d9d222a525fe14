// The forward pass on a backend whose memory the host cannot read (run: petrel_tests forward_):
// OpaqueBackend hands out tensors whose storage is a handle, not an address, keeps its own copies
// of the weights' vectors, refuses to write into host memory (so the logits come back through
// download) and computes with the CPU backend underneath. If the model code read or wrote a
// tensor's memory itself, or skipped an operation, its logits would differ: they must equal the
// CPU backend's bit for bit, for a prompt and for decode steps after it, on tiny qwen3 (dense,
// attention only), qwen35moe (DeltaNet, gated attention, MoE with a shared expert) and qwen3next
// (grouped value heads read through ssm_ba views) models.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "backend/cpu/ops/cpu_backend.h"
#include "backend/expert_weights.h"
#include "gguf/model_files.h"
#include "gguf/writer.h"
#include "model/qwen35/forward.h"
#include "model/qwen35/hparams.h"
#include "model/qwen35/state.h"
#include "model/qwen35/weights.h"
#include "synth/random_source.h"
#include "tests/engine/tiny_model_file.h"
#include "tests/test.h"

namespace petrel {
namespace {

using test_models::Kind;
using test_models::kVocab;

// ---- a backend whose tensors are handles ---------------------------------------------------------

class OpaqueBackend final : public Backend {
 public:
  explicit OpaqueBackend(int n_threads) : cpu_(make_cpu_backend(n_threads)) {}

  const char* name() const override { return "opaque"; }

  Status allocate(const Tensor& desc, TensorBuffer* out) override {
    TensorBuffer inner;
    PETREL_RETURN_IF_ERROR(cpu_->allocate(desc, &inner));
    auto handle = std::make_unique<TensorBuffer>(std::move(inner));
    Tensor t = handle->tensor();
    t.storage = handle.get();
    buffers_[handle.get()] = std::move(handle);
    *out = TensorBuffer(this, t);
    return Status();
  }
  Status constant(const void* host, const Tensor& desc, Tensor* out) override {
    TensorBuffer copy;
    PETREL_RETURN_IF_ERROR(allocate(desc, &copy));
    upload(host, copy.tensor());
    *out = copy.tensor();
    constants_.push_back(std::move(copy));
    return Status();
  }
  Tensor wrap_host(void*, const Tensor&) override { return Tensor{}; }
  void upload(const void* host, const Tensor& t) override { cpu_->upload(host, in(t)); }
  void download(const Tensor& t, void* host) override { cpu_->download(in(t), host); }
  void copy(const Tensor& src, const Tensor& dst) override { cpu_->copy(in(src), in(dst)); }
  void prepare_weight(WeightView* w, bool file_mapped) override { cpu_->prepare_weight(w, file_mapped); }

  void matmul(const WeightView& w, const Tensor& x, const Tensor& y) override { cpu_->matmul(w, in(x), in(y)); }
  void get_rows(const WeightView& table, const Tensor& ids, const Tensor& out) override {
    cpu_->get_rows(table, in(ids), in(out));
  }
  void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& y) override {
    cpu_->rms_norm(in(x), in(w), eps, in(y));
  }
  void add(const Tensor& a, const Tensor& b, const Tensor& y) override { cpu_->add(in(a), in(b), in(y)); }
  void gate_mul(GateActivation act, const Tensor& gate, const Tensor& x, const Tensor& y) override {
    cpu_->gate_mul(act, in(gate), in(x), in(y));
  }
  void rope_neox(const Tensor& x, const Tensor& positions, int64_t n_rot, float freq_base) override {
    cpu_->rope_neox(in(x), in(positions), n_rot, freq_base);
  }
  void kv_store(const Tensor& x, const Tensor& cache, const Tensor& positions) override {
    cpu_->kv_store(in(x), in(cache), in(positions));
  }
  void attention(const AttentionShape& shape, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                 const Tensor& positions, const Tensor& out) override {
    cpu_->attention(shape, in(q), in(k_cache), in(v_cache), in(positions), in(out));
  }
  void conv1d_silu(const Tensor& x, const Tensor& weights, const Tensor& state, const Tensor& y) override {
    cpu_->conv1d_silu(in(x), in(weights), in(state), in(y));
  }
  void deltanet_gates(const Tensor& b, const Tensor& alpha, const Tensor& ssm_a, const Tensor& dt_bias,
                      const Tensor& beta, const Tensor& g) override {
    cpu_->deltanet_gates(in(b), in(alpha), in(ssm_a), in(dt_bias), in(beta), in(g));
  }
  void delta_net(const DeltaNetShape& shape, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& g,
                 const Tensor& beta, const Tensor& state, const Tensor& out) override {
    cpu_->delta_net(shape, in(q), in(k), in(v), in(g), in(beta), in(state), in(out));
  }
  void moe_route(const Tensor& logits, const Tensor& probs, const Tensor& selected, const Tensor& weights) override {
    cpu_->moe_route(in(logits), in(probs), in(selected), in(weights));
  }
  void moe_experts(int32_t il, const Tensor& x, const Tensor& selected, const Tensor& weights,
                   const ExpertWeights& experts, const Tensor& shared, const Tensor& shared_gate, const Tensor& out,
                   ExpertHooks* hooks) override {
    cpu_->moe_experts(il, in(x), in(selected), in(weights), experts, in(shared), in(shared_gate), in(out), hooks);
  }

 protected:
  void release(const Tensor& t) override { buffers_.erase(static_cast<TensorBuffer*>(t.storage)); }

 private:
  // The CPU tensor behind a handle, with the view's offset, shape and strides.
  Tensor in(const Tensor& t) const {
    if (t.empty()) return t;
    PETREL_CHECK(buffers_.count(static_cast<TensorBuffer*>(t.storage)) == 1);  // a tensor this backend made
    Tensor u = t;
    u.storage = static_cast<TensorBuffer*>(t.storage)->tensor().storage;
    return u;
  }

  std::unique_ptr<CpuBackend> cpu_;
  std::map<TensorBuffer*, std::unique_ptr<TensorBuffer>> buffers_;
  std::vector<TensorBuffer> constants_;
};

// A prompt of 21 tokens with every row's logits, then three decode steps with the last row's: the
// logits of each call, concatenated.
std::vector<float> run(const qwen35::Hparams& hp, const qwen35::ModelWeights& weights, Backend& backend) {
  qwen35::SequenceState st;
  qwen35::Workspace ws;
  PETREL_CHECK(qwen35::make_state(hp, backend, GgmlType::F16, &st).ok());
  std::vector<int32_t> prompt;
  for (int i = 0; i < 21; ++i) prompt.push_back((i * 17 + 3) % kVocab);
  std::vector<float> all, logits;
  PETREL_CHECK(qwen35::reserve_kv(hp, backend, &st, 24, 256).ok());
  PETREL_CHECK(qwen35::reserve_workspace(hp, backend, 21, &ws).ok());
  qwen35::forward(hp, weights, backend, nullptr, ws, &st, prompt.data(), 21, qwen35::OutputRows::all, &logits);
  all = logits;
  for (int32_t token : {5, 11, 7}) {
    qwen35::forward(hp, weights, backend, nullptr, ws, &st, &token, 1, qwen35::OutputRows::last, &logits);
    all.insert(all.end(), logits.begin(), logits.end());
  }
  return all;
}

PETREL_TEST(forward_on_an_opaque_backend_equals_the_cpu) {
  for (Kind kind : {Kind::qwen3, Kind::qwen35moe, Kind::qwen3next}) {
    const test_models::TinyModel m =
        test_models::open_tiny(kind, "/tmp/petrel-forward-test-" + std::to_string(getpid()) + ".gguf");
    const qwen35::Hparams& hp = m.hp;
    const qwen35::ModelWeights& weights = m.weights;
    PETREL_CHECK_EQ(hp.grouped_heads, kind == Kind::qwen3next);

    auto cpu = make_cpu_backend(2);
    OpaqueBackend opaque(2);
    qwen35::ModelWeights on_cpu = weights, on_opaque = weights;
    PETREL_CHECK(qwen35::prepare_vectors(*cpu, &on_cpu).ok());
    PETREL_CHECK(qwen35::prepare_vectors(opaque, &on_opaque).ok());
    const std::vector<float> want = run(hp, on_cpu, *cpu);
    const std::vector<float> got = run(hp, on_opaque, opaque);
    PETREL_CHECK_EQ(want.size(), static_cast<size_t>(24 * kVocab));
    bool finite = true;
    for (float x : want) finite = finite && std::isfinite(x);
    PETREL_CHECK(finite);
    if (got.size() != want.size() || std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) != 0) {
      test::fail(__FILE__, __LINE__, "the opaque backend's logits differ from the CPU's for arch " + hp.name + " " +
                                         std::to_string(static_cast<int>(kind)));
    }
    std::remove(m.path.c_str());
  }
}

}  // namespace
}  // namespace petrel
