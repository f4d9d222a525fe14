// Model loading: open the GGUF (memory-mapped, split files joined), read the hyperparameters,
// bind and shape-check every weight, start the CPU backend's thread pool and let it keep the
// weights it multiplies fastest in a layout of its own (Backend::prepare_weight: the CPU backend
// repacks Q4_K / Q6_K matrices, reading them once here, and the MoE experts only when they fit
// memory twice over) and take the weights' vectors as its constant tensors (Backend::constant).
// Other tensors' pages are faulted in from the page cache the first time a forward pass touches
// them. Also the model's identities that snapshots check: the shape fingerprint (at load) and
// the weights digest (on first use).
#include <algorithm>
#include <cstdio>
#include <mutex>
#include <new>
#include <thread>

#include <unistd.h>

#include "backend/cpu/ops/cpu_backend.h"
#include "core/vulkan_loader.h"
#include "engine/engine_impl.h"
#include "engine/fnv1a.h"
#include "model/qwen35/moe_model.h"

namespace petrel {
namespace {

ModelInfo make_info(const Model::Impl& m, const ModelOptions& options) {
  const qwen35::Hparams& hp = m.hp;
  ModelInfo info;
  info.arch = qwen35::arch_name(hp.arch);
  info.name = hp.name;
  info.n_layer = hp.n_layer;
  info.n_layer_nextn = hp.n_layer_nextn;
  info.n_vocab = hp.n_vocab;
  info.n_embd = hp.n_embd;
  info.n_ctx_train = hp.n_ctx_train;
  info.context_length = options.context_length > 0 ? options.context_length : hp.n_ctx_train;
  info.n_expert = hp.n_expert;
  info.n_expert_used = hp.n_expert_used;
  info.tied_output = m.weights.tied_output;
  info.recurrent = hp.recurrent;
  info.fingerprint = model_fingerprint(hp, m.weights.n_tensors);
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    if (hp.recurrent[static_cast<size_t>(il)]) {
      info.state_bytes_fixed +=
          static_cast<uint64_t>(qwen35::conv_state_floats(hp) + qwen35::ssm_state_floats(hp)) * sizeof(float);
    } else {
      info.kv_bytes_per_token += static_cast<uint64_t>(2 * qwen35::kv_bytes_per_token(hp, il, GgmlType::F16));
    }
  }
  return info;
}

// The memory this process may use: physical memory, or the container's cgroup limit when lower
// (v2 memory.max, v1 memory.limit_in_bytes; "max" or a huge v1 value mean no limit); 0 when unknown.
uint64_t usable_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  uint64_t bytes = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
  for (const char* path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    FILE* f = std::fopen(path, "r");
    if (f == nullptr) continue;
    unsigned long long limit = 0;
    if (std::fscanf(f, "%llu", &limit) == 1 && limit > 0 && (bytes == 0 || limit < bytes)) bytes = limit;
    std::fclose(f);
  }
  return bytes;
}

// Stacked MoE experts are handed to Backend::prepare_weight (the CPU backend repacks them: faster
// prefill products without the per-task repack, docs/PERFORMANCE.md#single-kernels) only when they take at most half of the
// memory this process may use: the repacked copy is anonymous memory, which the kernel cannot
// drop under pressure as it can the file's pages, so a model near the machine's size keeps its
// experts mapped.
bool experts_fit_memory(uint64_t expert_bytes) {
  const uint64_t usable = usable_memory_bytes();
  return usable > 0 && expert_bytes <= usable / 2;
}

std::string gib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1ull << 30));
  return buf;
}

// The backend ModelOptions::device and n_gpu_layers ask for (engine.h DeviceChoice). *note says
// why `auto` settled on the CPU.
Status choose_backend(const ModelOptions& options, const qwen35::Hparams& hp, uint64_t weight_bytes, int n_threads,
                      std::unique_ptr<Backend>* out, std::string* note) {
  const int32_t ngl = options.n_gpu_layers;
  const std::string ngl_flag = "-ngl " + std::to_string(ngl);
  if (ngl < -1) return Status(StatusCode::invalid_argument, ngl_flag + ": the number of GPU layers is at least 0 (-1: not given)");
  if (ngl > 0 && ngl < hp.n_layer) {
    return Status(StatusCode::invalid_argument,
                  ngl_flag + ": petrel runs a model wholly on one device; give 0 (the CPU) or at least its " +
                      std::to_string(hp.n_layer) + " layers (or 999)");
  }
  const bool offload = options.offload.device != OffloadDevice::none || !options.offload.routing_trace_path.empty();
  DeviceChoice device = options.device;
  if (device == DeviceChoice::cpu && ngl > 0) {
    return Status(StatusCode::invalid_argument, ngl_flag + " asks for GPU layers, but the device is the CPU");
  }
  if (device == DeviceChoice::vulkan && ngl == 0) {
    return Status(StatusCode::invalid_argument, "-ngl 0 puts no layer on the GPU, but the device is Vulkan");
  }
  if (device == DeviceChoice::vulkan && offload) {
    return Status(StatusCode::invalid_argument,
                  "expert offload and routing traces run with the CPU backend, not Vulkan (use the CPU device)");
  }
  if (device == DeviceChoice::auto_select) {
    const VulkanProbe& probe = vulkan_probe();
    bool gpu = false;
    for (bool g : probe.device_is_gpu) gpu = gpu || g;
    if (ngl == 0) {
      *note = "-ngl 0";
    } else if (offload) {
      *note = "expert offload runs with the CPU backend";
    } else if (!gpu) {
      *note = probe.device_names.empty() ? "no Vulkan device (" + probe.reason + ")" : "no Vulkan GPU (only software devices)";
    } else {
      VulkanBackendHandle h = vulkan_create_backend();
      std::unique_ptr<Backend> made(static_cast<Backend*>(h.backend));
      // The weights, with room for the activations, KV cache and state of a few sessions.
      const uint64_t need = weight_bytes + weight_bytes / 10 + (512ull << 20);
      if (!made) {
        *note = h.error;
      } else if (!h.is_gpu) {
        *note = "the Vulkan device chosen is not a GPU";
      } else if (need > h.memory_bytes) {
        *note = "the model needs about " + gib(need) + " of GPU memory, the GPU has " + gib(h.memory_bytes);
      } else {
        *out = std::move(made);
        return Status();
      }
    }
    device = DeviceChoice::cpu;
  }
  if (device == DeviceChoice::vulkan) {
    VulkanBackendHandle h = vulkan_create_backend();
    if (h.backend == nullptr) return Status(StatusCode::unsupported, "the Vulkan device cannot be used: " + h.error);
    out->reset(static_cast<Backend*>(h.backend));
    return Status();
  }
  *out = make_cpu_backend(n_threads);
  if (!*out) return Status(StatusCode::unsupported, "the CPU backend could not be started");
  return Status();
}

}  // namespace

uint64_t model_fingerprint(const qwen35::Hparams& hp, uint64_t n_tensors) {
  Fnv1a f;
  f.add(std::string(qwen35::arch_name(hp.arch)));
  f.add(static_cast<uint64_t>(hp.n_layer));
  f.add(static_cast<uint64_t>(hp.n_embd));
  f.add(static_cast<uint64_t>(hp.n_vocab));
  f.add(static_cast<uint64_t>(hp.head_dim));
  f.add(static_cast<uint64_t>(hp.ssm_d_conv));
  f.add(static_cast<uint64_t>(hp.ssm_d_inner));
  f.add(static_cast<uint64_t>(hp.ssm_d_state));
  f.add(static_cast<uint64_t>(hp.ssm_n_v_heads));
  f.add(static_cast<uint64_t>(hp.ssm_n_k_heads));
  f.add(static_cast<uint64_t>(hp.n_expert));
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    f.add(static_cast<uint64_t>(hp.recurrent[static_cast<size_t>(il)]));
    f.add(static_cast<uint64_t>(hp.n_head_kv[static_cast<size_t>(il)]));
  }
  f.add(n_tensors);
  return f.value();
}

// Two models with the same shapes (another quantization, another fine-tune, another seed of a
// synthetic model) differ in their tensor table (types, offsets) or in their data. The table is
// in the header bytes, which the load has already read; the data is sampled at the start and the
// end of every tensor, so every tensor that changed is almost surely seen, while the file is never
// read whole: a tensor's end and the next one's start share a page, so this costs about one page
// read per tensor, once (a few thousand for the largest models).
uint64_t model_weights_digest(const GgufModel& gguf) {
  constexpr uint64_t kSample = 64;
  Fnv1a f;
  for (size_t i = 0; i < gguf.n_files(); ++i) {
    const GgufFile& file = gguf.file(i);
    f.add(file.file_size());
    f.add(file.data_offset());
    f.bytes(file.mapping()->data(), std::min<uint64_t>(file.data_offset(), file.file_size()));
  }
  for (const GgufTensorInfo& t : gguf.tensors()) {
    const uint64_t n = std::min(kSample, t.size);
    f.add(t.size);
    if (n == 0) continue;
    f.bytes(t.data, n);
    f.bytes(t.data + (t.size - n), n);
  }
  return f.value();
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

const ModelInfo& Model::info() const { return impl_->info; }

OffloadStats Model::offload_stats() const { return impl_->offload ? impl_->offload->stats() : OffloadStats{}; }

uint64_t Model::weights_digest() const {
  std::call_once(impl_->digest_once, [this] { impl_->digest = model_weights_digest(*impl_->gguf); });
  return impl_->digest;
}

Status Model::load(const std::string& path, const ModelOptions& options, std::shared_ptr<Model>* out) {
  if (options.n_threads < 0) return Status(StatusCode::invalid_argument, "loadModel: threads must be >= 0");
  if (options.context_length < 0) return Status(StatusCode::invalid_argument, "loadModel: contextLength must be >= 0");
  try {
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    PETREL_RETURN_IF_ERROR(GgufModel::open(path, &impl->gguf));
    const std::string what = gguf_printable(path);
    PETREL_RETURN_IF_ERROR(qwen35::load_hparams(*impl->gguf, what, &impl->hp));
    PETREL_RETURN_IF_ERROR(qwen35::bind_weights(*impl->gguf, what, &impl->hp, &impl->weights));
    int n_threads = options.n_threads;
    if (n_threads == 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    uint64_t weight_bytes = 0;
    for (const GgufTensorInfo& t : impl->gguf->tensors()) weight_bytes += t.size;
    std::string device_note;
    PETREL_RETURN_IF_ERROR(choose_backend(options, impl->hp, weight_bytes, n_threads, &impl->backend, &device_note));
    // A backend that computes on host memory reads the weights in place; a device takes a copy
    // of every one, the embedding table included (the CPU reads its rows from the mapping).
    auto prepare = [&](Backend& backend) -> Status {
      const bool on_host = backend.computes_on_host_memory();
      // The views point into the GGUF's read-only mapping (gguf/reader.h).
      uint64_t expert_bytes = 0;
      qwen35::for_each_matrix(&impl->weights, [&](WeightView* w) {
        if (w->ne[2] > 1) expert_bytes += w->bytes();
      });
      const bool with_experts = !on_host || experts_fit_memory(expert_bytes);
      qwen35::for_each_matrix(&impl->weights, [&](WeightView* w) {
        if (w->ne[2] == 1 || with_experts) backend.prepare_weight(w, true);
      });
      if (!on_host) backend.prepare_weight(&impl->weights.token_embd.view, true);
      PETREL_RETURN_IF_ERROR(qwen35::prepare_vectors(backend, &impl->weights));
      return backend.sync();
    };
    Status prepared = prepare(*impl->backend);
    if (!prepared.ok() && options.device == DeviceChoice::auto_select && std::string(impl->backend->name()) != "CPU") {
      // auto promised the CPU when the GPU cannot take the model: a type without a shader, or
      // less free device memory than its heap size suggested.
      device_note = std::string(impl->backend->name()) + " could not take the model: " + prepared.message();
      impl->backend = make_cpu_backend(n_threads);
      if (!impl->backend) return Status(StatusCode::unsupported, "the CPU backend could not be started");
      prepared = prepare(*impl->backend);
    }
    if (!prepared.ok()) return Status(prepared.code(), gguf_printable(path) + ": " + prepared.message());
    Backend& backend = *impl->backend;
    impl->info = make_info(*impl, options);
    impl->info.backend = backend.name();
    impl->info.device_name = backend.device_name();
    impl->info.device_note = device_note;
    // After prepare_weight: the simulated device copies experts as the CPU backend keeps them.
    PETREL_RETURN_IF_ERROR(offload::ExpertOffload::create(
        options.offload, qwen35::moe_model(impl->hp, impl->weights, impl->info.context_length), impl->info,
        options.offload.assume_host_memory_bytes > 0 ? options.offload.assume_host_memory_bytes : usable_memory_bytes(),
        &impl->offload));
    *out = std::shared_ptr<Model>(new Model(std::move(impl)));
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::out_of_memory, gguf_printable(path) + ": not enough memory to load the model");
  }
  return Status();
}

}  // namespace petrel
