// The engine on the Vulkan backend as the addon uses it: Model::load with DeviceChoice::vulkan
// loads libpetrel_vulkan (from beside this executable) and runs sessions on it. Against the same
// model on the CPU: the logits of a prompt and of decode steps, a session cloned and a snapshot
// crossing between the two backends (state goes through download / upload), and the choices and
// errors of ModelOptions::device and n_gpu_layers.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/vulkan_loader.h"
#include "petrel/engine.h"
#include "tests/engine/tiny_model_file.h"
#include "tests/test.h"

namespace petrel {
namespace {

using test_models::Kind;
using test_models::kVocab;

std::shared_ptr<Model> load(const std::string& path, DeviceChoice device, int32_t ngl = -1, Status* status = nullptr) {
  ModelOptions o;
  o.n_threads = 2;
  o.device = device;
  o.n_gpu_layers = ngl;
  std::shared_ptr<Model> m;
  const Status st = Model::load(path, o, &m);
  if (status != nullptr) *status = st;
  return st.ok() ? m : nullptr;
}

std::unique_ptr<Session> session(Model& m, KvCacheType kv = KvCacheType::f16) {
  std::unique_ptr<Session> s;
  SessionOptions o;
  o.kv_cache_type = kv;
  PETREL_CHECK(m.create_session(o, &s).ok());
  return s;
}

double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(static_cast<double>(a[i]) - b[i]));
  return d;
}

// Evaluates tokens (last row's logits) and returns them.
std::vector<float> step(Session& s, std::vector<int32_t> tokens) {
  const Status st = s.evaluate(tokens.data(), static_cast<int64_t>(tokens.size()), LogitsMode::last);
  if (!st.ok()) test::fail(__FILE__, __LINE__, st.message());
  return s.logits();
}

std::string tiny(Kind kind) {
  return test_models::write_tiny(kind, "/tmp/petrel-vulkan-engine-" + std::to_string(getpid()) + "-" +
                                           std::to_string(static_cast<int>(kind)) + ".gguf");
}

constexpr double kTolerance = 2e-3;  // logits of size ~10-20; the forward test measures ~1e-3 below

PETREL_TEST(vulkan_engine_sessions_match_the_cpu) {
  for (Kind kind : {Kind::qwen3, Kind::qwen35moe, Kind::qwen3next}) {
   const std::string path = tiny(kind);
   for (KvCacheType kv : {KvCacheType::f16, KvCacheType::f32}) {
    Status st;
    auto gpu = load(path, DeviceChoice::vulkan, -1, &st);
    PETREL_CHECK(st.ok());
    if (!gpu) {
      std::fprintf(stderr, "%s\n", st.message().c_str());
      return;
    }
    auto cpu = load(path, DeviceChoice::cpu);
    PETREL_CHECK_EQ(gpu->info().backend, std::string("Vulkan"));
    PETREL_CHECK(!gpu->info().device_name.empty());
    PETREL_CHECK_EQ(cpu->info().backend, std::string("CPU"));
    auto a = session(*cpu, kv), b = session(*gpu, kv);
    std::vector<int32_t> prompt;
    for (int i = 0; i < 30; ++i) prompt.push_back((i * 7 + 1) % kVocab);
    double worst = max_diff(step(*a, prompt), step(*b, prompt));
    for (int32_t t : {3, 9, 27, 1, 50}) worst = std::max(worst, max_diff(step(*a, {t}), step(*b, {t})));

    // A clone continues as the original does.
    std::unique_ptr<Session> b2;
    PETREL_CHECK(b->clone(&b2).ok());
    worst = std::max(worst, max_diff(step(*b, {4}), step(*b2, {4})));
    step(*a, {4});

    // Snapshots cross backends: the Vulkan session's state restored on the CPU, and back.
    std::vector<uint8_t> blob;
    PETREL_CHECK(b->snapshot(&blob).ok());
    auto c = session(*cpu, kv);
    PETREL_CHECK(c->restore(blob.data(), blob.size()).ok());
    worst = std::max(worst, max_diff(step(*a, {8}), step(*c, {8})));
    PETREL_CHECK(a->snapshot(&blob).ok());
    auto d = session(*gpu, kv);
    PETREL_CHECK(d->restore(blob.data(), blob.size()).ok());
    worst = std::max(worst, max_diff(step(*a, {12, 13}), step(*d, {12, 13})));
    std::printf("vulkan engine %s, %s KV cache: max |logit diff| against the CPU %.3g\n", gpu->info().arch.c_str(),
                kv == KvCacheType::f16 ? "F16" : "F32", worst);
    PETREL_CHECK(worst <= kTolerance * 20);  // the largest logits are about 20
   }
   std::remove(path.c_str());
  }
}

PETREL_TEST(vulkan_engine_device_choices) {
  const std::string path = tiny(Kind::qwen3);
  Status st;
  // auto takes a GPU only; lavapipe (CI's device) is a software device, so auto runs on the CPU.
  auto m = load(path, DeviceChoice::auto_select, -1, &st);
  PETREL_CHECK(st.ok());
  bool any_gpu = false;
  for (bool g : vulkan_probe().device_is_gpu) any_gpu = any_gpu || g;
  if (m && !any_gpu) {
    PETREL_CHECK_EQ(m->info().backend, std::string("CPU"));
    PETREL_CHECK(!m->info().device_note.empty());
    std::printf("auto without a GPU: %s\n", m->info().device_note.c_str());
  }
  m = load(path, DeviceChoice::auto_select, 0, &st);
  PETREL_CHECK(st.ok() && m && m->info().backend == "CPU");
  // -ngl: 0 or all layers (the tiny model has 4).
  load(path, DeviceChoice::vulkan, 2, &st);
  PETREL_CHECK_EQ(st.code(), StatusCode::invalid_argument);
  PETREL_CHECK(st.message().find("-ngl 2") != std::string::npos);
  load(path, DeviceChoice::cpu, 99, &st);
  PETREL_CHECK_EQ(st.code(), StatusCode::invalid_argument);
  load(path, DeviceChoice::vulkan, 0, &st);
  PETREL_CHECK_EQ(st.code(), StatusCode::invalid_argument);
  m = load(path, DeviceChoice::vulkan, 99, &st);
  PETREL_CHECK(st.ok() && m && m->info().backend == "Vulkan");
  // Expert offload stays on the CPU backend.
  ModelOptions o;
  o.device = DeviceChoice::vulkan;
  o.offload.routing_trace_path = "/tmp/petrel-vulkan-trace-" + std::to_string(getpid());
  std::shared_ptr<Model> t;
  st = Model::load(path, o, &t);
  PETREL_CHECK_EQ(st.code(), StatusCode::invalid_argument);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace petrel
