// Engine tests without Node (run: petrel_tests engine_): the sampler (greedy, ties, top-k = 1,
// seeds, penalties, parameter checks) and a tiny qwen3 model written with GgufWriter and run
// through petrel/engine.h: batch vs token-by-token logits, snapshot/restore, clone, the context
// limit, bad token ids and load errors; a cancelled evaluation rolls the session back, and the
// weights digest tells apart two models of the same shapes. Logit correctness against the float64 reference is
// covered by test/engine/reference.test.ts.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "engine/sampler.h"
#include "gguf/writer.h"
#include "petrel/engine.h"
#include "synth/random_source.h"
#include "tests/test.h"

namespace petrel {
namespace {

// ---- sampler -------------------------------------------------------------------------------------

std::vector<float> ramp_logits(int n) {
  std::vector<float> l(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) l[static_cast<size_t>(i)] = std::sin(0.37f * static_cast<float>(i)) * 3.0f;
  return l;
}

int32_t argmax_of(const std::vector<float>& l) {
  int32_t best = 0;
  for (size_t i = 1; i < l.size(); ++i) if (l[i] > l[static_cast<size_t>(best)]) best = static_cast<int32_t>(i);
  return best;
}

PETREL_TEST(engine_sampler_greedy_is_argmax_lowest_id_on_ties) {
  std::vector<float> l = ramp_logits(1000);
  SamplingParams p;
  p.temperature = 0.0f;
  Rng rng;
  SamplerScratch s;
  int32_t tok = -1;
  PETREL_CHECK(sample_token(l.data(), 1000, p, nullptr, 0, rng, s, &tok).ok());
  PETREL_CHECK_EQ(tok, argmax_of(l));
  std::vector<float> flat(10, 1.0f);
  PETREL_CHECK(sample_token(flat.data(), 10, p, nullptr, 0, rng, s, &tok).ok());
  PETREL_CHECK_EQ(tok, 0);
}

PETREL_TEST(engine_sampler_top_k_1_is_greedy_and_seeds_repeat) {
  std::vector<float> l = ramp_logits(5000);
  SamplingParams p;
  p.temperature = 2.0f;
  p.top_k = 1;
  Rng rng;
  SamplerScratch s;
  int32_t tok = -1;
  PETREL_CHECK(sample_token(l.data(), 5000, p, nullptr, 0, rng, s, &tok).ok());
  PETREL_CHECK_EQ(tok, argmax_of(l));

  p.top_k = 0;
  p.top_p = 0.9f;
  p.min_p = 0.0f;
  auto draw = [&](uint64_t seed) {
    Rng r;
    r.seed(seed);
    std::vector<int32_t> out;
    for (int i = 0; i < 32; ++i) {
      int32_t t = -1;
      PETREL_CHECK(sample_token(l.data(), 5000, p, nullptr, 0, r, s, &t).ok());
      out.push_back(t);
    }
    return out;
  };
  PETREL_CHECK(draw(7) == draw(7));
  PETREL_CHECK(draw(7) != draw(8));
}

// top-k over a vocabulary with many tied logits: the same draws as a plain reference (all ids
// sorted by logit desc, id asc; the first k; softmax at the temperature; the same random draw).
PETREL_TEST(engine_sampler_top_k_matches_reference) {
  const int32_t n_vocab = 20000;
  std::vector<float> l(n_vocab);
  uint64_t x = 12345;
  for (auto& v : l) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    v = static_cast<float>((x >> 40) % 64) * 0.25f;  // 64 distinct values: ties everywhere
  }
  for (int k : {1, 2, 40, 500}) {
    SamplingParams p;
    p.temperature = 0.7f;
    p.top_k = k;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    std::vector<int32_t> order(n_vocab);
    for (int32_t i = 0; i < n_vocab; ++i) order[static_cast<size_t>(i)] = i;
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
    Rng mine, ref;
    mine.seed(99);
    ref.seed(99);
    SamplerScratch s;
    for (int draw = 0; draw < 50; ++draw) {
      int32_t got = -1;
      PETREL_CHECK(sample_token(l.data(), n_vocab, p, nullptr, 0, mine, s, &got).ok());
      int32_t want = order[0];
      if (k > 1) {
        std::vector<double> probs(static_cast<size_t>(k));
        double total = 0.0;
        for (int i = 0; i < k; ++i) {
          probs[static_cast<size_t>(i)] = static_cast<float>(std::exp((static_cast<double>(l[order[i]]) - l[order[0]]) / p.temperature));
          total += probs[static_cast<size_t>(i)];
        }
        const double r = ref.uniform() * total;
        double cum = 0.0;
        want = order[static_cast<size_t>(k - 1)];
        for (int i = 0; i < k; ++i) {
          cum += probs[static_cast<size_t>(i)];
          if (r < cum) {
            want = order[static_cast<size_t>(i)];
            break;
          }
        }
      }
      PETREL_CHECK_EQ(got, want);
    }
  }
}

PETREL_TEST(engine_sampler_filters_and_penalties) {
  std::vector<float> l(100, 0.0f);
  l[3] = 10.0f;
  l[4] = 9.0f;
  l[5] = 1.0f;
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.1f;  // keeps 3 (p=1) and 4 (p=e^-1 > 0.1), drops 5 and the zeros
  Rng rng;
  SamplerScratch s;
  for (int i = 0; i < 200; ++i) {
    int32_t t = -1;
    PETREL_CHECK(sample_token(l.data(), 100, p, nullptr, 0, rng, s, &t).ok());
    PETREL_CHECK(t == 3 || t == 4);
  }
  // A presence penalty on 3 and 4 in the history makes greedy pick 5.
  p.temperature = 0.0f;
  p.presence_penalty = 20.0f;
  const int32_t history[] = {3, 4, 3};
  int32_t t = -1;
  PETREL_CHECK(sample_token(l.data(), 100, p, history, 3, rng, s, &t).ok());
  PETREL_CHECK_EQ(t, 5);
  // Outside a window of 1 only the last token (3) is penalised: 4 wins.
  p.penalty_last_n = 1;
  PETREL_CHECK(sample_token(l.data(), 100, p, history, 3, rng, s, &t).ok());
  PETREL_CHECK_EQ(t, 4);
  // Repetition penalty divides positive logits: 10 / 2 = 5 < 9.
  p.presence_penalty = 0.0f;
  p.repeat_penalty = 2.0f;
  PETREL_CHECK(sample_token(l.data(), 100, p, history, 3, rng, s, &t).ok());
  PETREL_CHECK_EQ(t, 4);

  SamplingParams bad;
  bad.min_p = 2.0f;
  PETREL_CHECK(validate_sampling(bad).code() == StatusCode::invalid_argument);
  bad = SamplingParams();
  bad.temperature = NAN;
  PETREL_CHECK(!validate_sampling(bad).ok());
}

// ---- a tiny qwen3 model ----------------------------------------------------------------------------

constexpr int kEmbd = 64, kHead = 4, kHeadKv = 2, kHeadDim = 16, kFf = 96, kVocab = 50, kLayers = 2;

// Writes a tiny random qwen3 model; `skip` names a tensor to leave out, `first_seed` picks the weights.
std::string write_tiny_qwen3(const std::string& path, const std::string& skip = "", uint64_t first_seed = 1) {
  GgufWriter w;
  const std::string a = "qwen3.";
  w.add_kv("general.architecture", GgufValue::str("qwen3"));
  w.add_kv(a + "block_count", GgufValue::u32(kLayers));
  w.add_kv(a + "context_length", GgufValue::u32(256));
  w.add_kv(a + "embedding_length", GgufValue::u32(kEmbd));
  w.add_kv(a + "feed_forward_length", GgufValue::u32(kFf));
  w.add_kv(a + "attention.head_count", GgufValue::u32(kHead));
  w.add_kv(a + "attention.head_count_kv", GgufValue::u32(kHeadKv));
  w.add_kv(a + "attention.key_length", GgufValue::u32(kHeadDim));
  w.add_kv(a + "attention.value_length", GgufValue::u32(kHeadDim));
  w.add_kv(a + "attention.layer_norm_rms_epsilon", GgufValue::f32(1e-6f));
  w.add_kv(a + "rope.freq_base", GgufValue::f32(1e6f));
  uint64_t seed = first_seed;
  auto tensor = [&](const std::string& name, std::vector<int64_t> shape, double mean, double std) {
    if (name == skip) return;
    GgufWriteTensor t;
    t.name = name;
    t.type_id = 0;
    t.shape = std::move(shape);
    t.generate = random_values({seed++, mean, std, RandomTransform::none});
    w.add_tensor(std::move(t));
  };
  tensor("token_embd.weight", {kEmbd, kVocab}, 0, 0.4);
  for (int il = 0; il < kLayers; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    tensor(p + "attn_norm.weight", {kEmbd}, 1, 0.1);
    tensor(p + "ffn_norm.weight", {kEmbd}, 1, 0.1);
    tensor(p + "attn_q.weight", {kEmbd, kHead * kHeadDim}, 0, 0.125);
    tensor(p + "attn_k.weight", {kEmbd, kHeadKv * kHeadDim}, 0, 0.125);
    tensor(p + "attn_v.weight", {kEmbd, kHeadKv * kHeadDim}, 0, 0.125);
    tensor(p + "attn_output.weight", {kHead * kHeadDim, kEmbd}, 0, 0.06);
    tensor(p + "attn_q_norm.weight", {kHeadDim}, 1, 0.1);
    tensor(p + "attn_k_norm.weight", {kHeadDim}, 1, 0.1);
    tensor(p + "ffn_gate.weight", {kEmbd, kFf}, 0, 0.125);
    tensor(p + "ffn_up.weight", {kEmbd, kFf}, 0, 0.125);
    tensor(p + "ffn_down.weight", {kFf, kEmbd}, 0, 0.05);
  }
  tensor("output_norm.weight", {kEmbd}, 1, 0.1);
  const Status st = w.write(path);
  PETREL_CHECK(st.ok());
  return path;
}

std::string temp_path(const char* tag) {
  return "/tmp/petrel-engine-test-" + std::to_string(getpid()) + "-" + tag + ".gguf";
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0, scale = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
  }
  return a.size() == b.size() && scale > 0 ? m / scale : 1e9;
}

PETREL_TEST(engine_session_batch_steps_snapshot_clone_limit) {
  const std::string path = write_tiny_qwen3(temp_path("ok"));
  std::shared_ptr<Model> model;
  ModelOptions mo;
  mo.n_threads = 2;
  PETREL_CHECK(Model::load(path, mo, &model).ok());
  if (!model) return;
  PETREL_CHECK_EQ(model->info().arch, std::string("qwen3"));
  PETREL_CHECK_EQ(model->info().n_vocab, kVocab);
  PETREL_CHECK(model->info().tied_output);

  std::vector<int32_t> tokens;
  for (int i = 0; i < 40; ++i) tokens.push_back((i * 17 + 3) % kVocab);
  std::unique_ptr<Session> batch, steps;
  PETREL_CHECK(model->create_session({}, &batch).ok());
  PETREL_CHECK(model->create_session({}, &steps).ok());
  PETREL_CHECK(batch->evaluate(tokens.data(), 40, LogitsMode::all).ok());
  const std::vector<float> all = batch->logits();
  PETREL_CHECK_EQ(all.size(), static_cast<size_t>(40 * kVocab));
  std::vector<float> stepwise;
  for (int i = 0; i < 40; ++i) {
    PETREL_CHECK(steps->evaluate(&tokens[static_cast<size_t>(i)], 1, LogitsMode::last).ok());
    stepwise.insert(stepwise.end(), steps->logits().begin(), steps->logits().end());
  }
  PETREL_CHECK(max_rel_diff(stepwise, all) < 1e-5);

  // Snapshot after 20 tokens; restoring it and feeding the rest equals the straight run.
  std::unique_ptr<Session> s;
  PETREL_CHECK(model->create_session({}, &s).ok());
  PETREL_CHECK(s->evaluate(tokens.data(), 20, LogitsMode::none).ok());
  std::vector<uint8_t> snap;
  PETREL_CHECK(s->snapshot(&snap).ok());
  std::unique_ptr<Session> copy;
  PETREL_CHECK(s->clone(&copy).ok());
  PETREL_CHECK(s->evaluate(tokens.data(), 5, LogitsMode::none).ok());  // diverge, then truncate back
  PETREL_CHECK(s->restore(snap.data(), snap.size()).ok());
  PETREL_CHECK_EQ(s->position(), int64_t{20});
  PETREL_CHECK(s->evaluate(tokens.data() + 20, 20, LogitsMode::all).ok());
  PETREL_CHECK(copy->evaluate(tokens.data() + 20, 20, LogitsMode::all).ok());
  PETREL_CHECK(s->logits() == copy->logits());
  std::unique_ptr<Session> straight;
  PETREL_CHECK(model->create_session({}, &straight).ok());
  PETREL_CHECK(straight->evaluate(tokens.data(), 20, LogitsMode::none).ok());
  PETREL_CHECK(straight->evaluate(tokens.data() + 20, 20, LogitsMode::all).ok());
  PETREL_CHECK(straight->logits() == s->logits());

  // Context limit and bad ids fail without touching the session.
  SessionOptions so;
  so.context_length = 8;
  std::unique_ptr<Session> small;
  PETREL_CHECK(model->create_session(so, &small).ok());
  PETREL_CHECK(small->evaluate(tokens.data(), 6, LogitsMode::last).ok());
  const Status full = small->evaluate(tokens.data(), 3, LogitsMode::last);
  PETREL_CHECK(full.code() == StatusCode::invalid_argument);
  PETREL_CHECK(full.message().find("context length exceeded") != std::string::npos);
  PETREL_CHECK_EQ(small->position(), int64_t{6});
  const int32_t bad = kVocab;
  PETREL_CHECK(small->evaluate(&bad, 1, LogitsMode::last).code() == StatusCode::invalid_argument);
  PETREL_CHECK(small->restore(snap.data(), snap.size()).code() == StatusCode::invalid_argument);  // 20 > 8
  PETREL_CHECK_EQ(small->position(), int64_t{6});
  int32_t tok = -1;
  SamplingParams greedy;
  greedy.temperature = 0;
  PETREL_CHECK(small->sample(greedy, &tok).ok());
  PETREL_CHECK(tok >= 0 && tok < kVocab);
  std::remove(path.c_str());
}

PETREL_TEST(engine_cancel_rolls_back_and_weights_digest_tells_models_apart) {
  const std::string path_a = write_tiny_qwen3(temp_path("a"));
  const std::string path_b = write_tiny_qwen3(temp_path("b"), "", 1000);
  std::shared_ptr<Model> a, b;
  PETREL_CHECK(Model::load(path_a, {}, &a).ok());
  PETREL_CHECK(Model::load(path_b, {}, &b).ok());
  if (!a || !b) return;
  SessionOptions so;
  so.context_length = 1200;
  std::unique_ptr<Session> s;
  PETREL_CHECK(a->create_session(so, &s).ok());
  std::vector<int32_t> tokens;
  for (int i = 0; i < 1100; ++i) tokens.push_back((i * 13 + 5) % kVocab);
  PETREL_CHECK(s->evaluate(tokens.data(), 10, LogitsMode::last).ok());
  std::vector<uint8_t> before, after;
  PETREL_CHECK(s->snapshot(&before).ok());

  // Cancelled after the first micro-batch: the call fails and the session is as it was.
  EvaluateControl control;
  std::vector<int64_t> progress;
  control.on_progress = [&](int64_t done, int64_t total) {
    progress.push_back(done);
    PETREL_CHECK_EQ(total, int64_t{1100});
    control.cancel = true;
  };
  PETREL_CHECK(!s->evaluate(tokens.data(), 1100, LogitsMode::all, &control).ok());
  PETREL_CHECK(control.cancelled);
  PETREL_CHECK(progress == std::vector<int64_t>{512});
  PETREL_CHECK_EQ(s->position(), int64_t{10});
  PETREL_CHECK(s->snapshot(&after).ok());
  PETREL_CHECK(after == before);
  EvaluateControl idle;  // never cancelled: runs to the end
  PETREL_CHECK(s->evaluate(tokens.data(), 1100, LogitsMode::none, &idle).ok());
  PETREL_CHECK(!idle.cancelled);
  PETREL_CHECK_EQ(s->position(), int64_t{1110});

  // Same shapes, other weights: same fingerprint, other digest; restore refuses and says why.
  PETREL_CHECK_EQ(a->info().fingerprint, b->info().fingerprint);
  PETREL_CHECK(a->weights_digest() != b->weights_digest());
  std::unique_ptr<Session> other;
  PETREL_CHECK(b->create_session(so, &other).ok());
  bool other_model = false;
  const Status st = other->restore(before.data(), before.size(), &other_model);
  PETREL_CHECK(!st.ok());
  PETREL_CHECK(other_model);
  PETREL_CHECK(st.message().find("same shapes (other weights") != std::string::npos);
  PETREL_CHECK_EQ(other->position(), int64_t{0});
  PETREL_CHECK(s->restore(before.data(), before.size(), &other_model).ok());
  PETREL_CHECK(!other_model);
  std::remove(path_a.c_str());
  std::remove(path_b.c_str());
}

PETREL_TEST(engine_load_errors_name_the_tensor) {
  const std::string path = write_tiny_qwen3(temp_path("missing"), "blk.1.ffn_up.weight");
  std::shared_ptr<Model> model;
  const Status st = Model::load(path, {}, &model);
  PETREL_CHECK(st.code() == StatusCode::corrupt_file);
  PETREL_CHECK(st.message().find("missing tensor 'blk.1.ffn_up.weight'") != std::string::npos);
  std::remove(path.c_str());
  PETREL_CHECK(Model::load("/nonexistent/petrel.gguf", {}, &model).code() == StatusCode::io_error);
}

}  // namespace
}  // namespace petrel
