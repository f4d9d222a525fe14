// The device side of MoE expert offload: a fixed number of expert slots in device memory, and
// the expert FFN run over experts held in slots. The engine's split MoE layer gives the cached
// experts' rows to the device and computes the missing experts on the CPU from RAM at the same
// time (model/qwen35/moe.cpp); the expert cache (offload/expert_cache.h) decides what the slots
// hold.
//
// SimulatedExpertDevice stands in for a GPU where there is none: its slots are host memory,
// capped at the planned VRAM budget, filled by copies (the uploads a GPU would get over PCIe),
// and it computes with the CPU backend's expert FFN on those copies only, so every path of the
// split layer (slot bookkeeping, uploads, row routing, the merge) runs and is tested without a GPU.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backend/expert_hooks.h"
#include "backend/expert_weights.h"
#include "petrel/status.h"

namespace petrel::offload {

class ExpertDevice {
 public:
  virtual ~ExpertDevice() = default;
  virtual const char* name() const = 0;
  virtual int64_t n_slots() const = 0;
  // Copies one expert (ExpertWeights::expert) into a slot, replacing what it held.
  virtual Status upload(int64_t slot, const ExpertWeights& expert) = 0;
  // Starts down[r] = W_down (silu(W_gate x[r]) ⊙ W_up x[r]) for rows [offsets[i], offsets[i + 1])
  // with the expert in slots[i]; offsets[0] == 0; x is [rows][n_embd], down [rows][n_embd]. It may
  // return before the results are there (a GPU's part of the layer runs while the CPU computes
  // its own): wait() returns once they are, and until then x, down and the arrays stay untouched
  // by the caller. cpu: the CPU backend's expert FFN, which a device that computes on the host
  // runs on its own copies of the experts.
  virtual void start_expert_ffn(HostExpertFfn& cpu, const int64_t* slots, const int64_t* offsets, int64_t n_groups,
                                const float* x, float* down) = 0;
  virtual void wait() = 0;
};

// slot_bytes: the most bytes one expert takes (file bytes plus the CPU backend's repacked copy,
// which the simulated device keeps so that it runs the same kernels as the CPU side).
std::unique_ptr<ExpertDevice> make_simulated_expert_device(int64_t n_slots, uint64_t slot_bytes);

// The bytes a slot needs for this expert on the simulated device.
uint64_t simulated_slot_bytes(const ExpertWeights& expert);
// The bytes of the expert as the file stores it (what crosses PCIe).
uint64_t expert_file_bytes(const ExpertWeights& expert);

}  // namespace petrel::offload
