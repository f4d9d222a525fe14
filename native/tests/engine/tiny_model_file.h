// Tiny hybrid and dense models written as GGUF files, for tests that run the whole forward pass
// on a backend and compare it with the CPU's (engine/forward_device_tests.cpp,
// vulkan/forward_tests.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gguf/model_files.h"
#include "gguf/writer.h"
#include "model/qwen35/hparams.h"
#include "model/qwen35/weights.h"
#include "synth/random_source.h"
#include "tests/test.h"

namespace petrel::test_models {

constexpr int64_t kEmbd = 64, kVocab = 60, kHeadDim = 16, kFfExp = 32, kFfShexp = 48;

enum class Kind { qwen3, qwen35moe, qwen3next };

// Four layers of random F32 weights: qwen3 all attention with a dense FFN; the hybrids DeltaNet in
// layers 0-2 and gated attention in layer 3, 6 experts (top 2) and a shared expert; qwen3next with
// Hv = 2·Hk and one ssm_ba projection.
inline std::string write_tiny(Kind kind, const std::string& path) {
  const bool hybrid = kind != Kind::qwen3;
  const std::string arch = kind == Kind::qwen3 ? "qwen3" : kind == Kind::qwen35moe ? "qwen35moe" : "qwen3next";
  const int64_t n_head = 4, n_head_kv = 2, n_layer = 4, n_expert = 6;
  const int64_t hk = 2, hv = kind == Kind::qwen3next ? 4 : 2, ds = 16, conv_dim = 2 * hk * ds + hv * ds;
  GgufWriter w;
  const std::string a = arch + ".";
  w.add_kv("general.architecture", GgufValue::str(arch));
  w.add_kv(a + "block_count", GgufValue::u32(n_layer));
  w.add_kv(a + "context_length", GgufValue::u32(256));
  w.add_kv(a + "embedding_length", GgufValue::u32(kEmbd));
  w.add_kv(a + "attention.head_count", GgufValue::u32(n_head));
  w.add_kv(a + "attention.head_count_kv", GgufValue::u32(n_head_kv));
  w.add_kv(a + "attention.key_length", GgufValue::u32(kHeadDim));
  w.add_kv(a + "attention.value_length", GgufValue::u32(kHeadDim));
  w.add_kv(a + "attention.layer_norm_rms_epsilon", GgufValue::f32(1e-6f));
  w.add_kv(a + "rope.freq_base", GgufValue::f32(1e6f));
  if (hybrid) {
    w.add_kv(a + "rope.dimension_count", GgufValue::u32(8));
    w.add_kv(a + "expert_count", GgufValue::u32(n_expert));
    w.add_kv(a + "expert_used_count", GgufValue::u32(2));
    w.add_kv(a + "expert_feed_forward_length", GgufValue::u32(kFfExp));
    w.add_kv(a + "expert_shared_feed_forward_length", GgufValue::u32(kFfShexp));
    w.add_kv(a + "ssm.conv_kernel", GgufValue::u32(4));
    w.add_kv(a + "ssm.inner_size", GgufValue::u32(static_cast<uint32_t>(hv * ds)));
    w.add_kv(a + "ssm.state_size", GgufValue::u32(ds));
    w.add_kv(a + "ssm.time_step_rank", GgufValue::u32(static_cast<uint32_t>(hv)));
    w.add_kv(a + "ssm.group_count", GgufValue::u32(hk));
  } else {
    w.add_kv(a + "feed_forward_length", GgufValue::u32(96));
  }
  uint64_t seed = 1;
  auto tensor = [&](const std::string& name, std::vector<int64_t> shape, double mean, double std,
                    RandomTransform transform = RandomTransform::none) {
    GgufWriteTensor t;
    t.name = name;
    t.type_id = 0;
    t.shape = std::move(shape);
    t.generate = random_values({seed++, mean, std, transform});
    w.add_tensor(std::move(t));
  };
  tensor("token_embd.weight", {kEmbd, kVocab}, 0, 0.4);
  for (int64_t il = 0; il < n_layer; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    tensor(p + "attn_norm.weight", {kEmbd}, 1, 0.1);
    tensor(p + (hybrid ? "post_attention_norm.weight" : "ffn_norm.weight"), {kEmbd}, 1, 0.1);
    if (hybrid && il < 3) {
      tensor(p + "attn_qkv.weight", {kEmbd, conv_dim}, 0, 0.125);
      tensor(p + "attn_gate.weight", {kEmbd, hv * ds}, 0, 0.125);
      tensor(p + "ssm_conv1d.weight", {4, conv_dim}, 0, 0.3);
      tensor(p + "ssm_dt.bias", {hv}, 0, 0.5);
      tensor(p + "ssm_a", {hv}, 0, 0.5, RandomTransform::neg_exp);
      if (kind == Kind::qwen3next) {
        tensor(p + "ssm_ba.weight", {kEmbd, 2 * hv}, 0, 0.3);
      } else {
        tensor(p + "ssm_beta.weight", {kEmbd, hv}, 0, 0.3);
        tensor(p + "ssm_alpha.weight", {kEmbd, hv}, 0, 0.3);
      }
      tensor(p + "ssm_norm.weight", {ds}, 1, 0.1);
      tensor(p + "ssm_out.weight", {hv * ds, kEmbd}, 0, 0.1);
    } else {
      tensor(p + "attn_q.weight", {kEmbd, (hybrid ? 2 : 1) * n_head * kHeadDim}, 0, 0.125);
      tensor(p + "attn_k.weight", {kEmbd, n_head_kv * kHeadDim}, 0, 0.125);
      tensor(p + "attn_v.weight", {kEmbd, n_head_kv * kHeadDim}, 0, 0.125);
      tensor(p + "attn_output.weight", {n_head * kHeadDim, kEmbd}, 0, 0.06);
      tensor(p + "attn_q_norm.weight", {kHeadDim}, 1, 0.1);
      tensor(p + "attn_k_norm.weight", {kHeadDim}, 1, 0.1);
    }
    if (hybrid) {
      tensor(p + "ffn_gate_inp.weight", {kEmbd, n_expert}, 0, 0.3);
      tensor(p + "ffn_gate_exps.weight", {kEmbd, kFfExp, n_expert}, 0, 0.125);
      tensor(p + "ffn_up_exps.weight", {kEmbd, kFfExp, n_expert}, 0, 0.125);
      tensor(p + "ffn_down_exps.weight", {kFfExp, kEmbd, n_expert}, 0, 0.1);
      tensor(p + "ffn_gate_inp_shexp.weight", {kEmbd}, 0, 0.2);
      tensor(p + "ffn_gate_shexp.weight", {kEmbd, kFfShexp}, 0, 0.125);
      tensor(p + "ffn_up_shexp.weight", {kEmbd, kFfShexp}, 0, 0.125);
      tensor(p + "ffn_down_shexp.weight", {kFfShexp, kEmbd}, 0, 0.1);
    } else {
      tensor(p + "ffn_gate.weight", {kEmbd, 96}, 0, 0.125);
      tensor(p + "ffn_up.weight", {kEmbd, 96}, 0, 0.125);
      tensor(p + "ffn_down.weight", {96, kEmbd}, 0, 0.05);
    }
  }
  tensor("output_norm.weight", {kEmbd}, 1, 0.1);
  PETREL_CHECK(w.write(path).ok());
  return path;
}

// A tiny model written to `path`, opened and bound: the weight views point into gguf's mapping.
struct TinyModel {
  std::string path;
  std::unique_ptr<GgufModel> gguf;
  qwen35::Hparams hp;
  qwen35::ModelWeights weights;
};

inline TinyModel open_tiny(Kind kind, const std::string& path) {
  TinyModel m;
  m.path = write_tiny(kind, path);
  PETREL_CHECK(GgufModel::open(m.path, &m.gguf).ok());
  PETREL_CHECK(qwen35::load_hparams(*m.gguf, m.path, &m.hp).ok());
  PETREL_CHECK(qwen35::bind_weights(*m.gguf, m.path, &m.hp, &m.weights).ok());
  return m;
}

}  // namespace petrel::test_models
