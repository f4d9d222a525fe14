// SimulatedExpertDevice (expert_device.h): slots in host memory, computed with the CPU backend's
// expert FFN.
// A slot keeps each matrix's file bytes and, when the CPU backend repacked the experts at load,
// the repacked copy too: the products then go through the very kernels the CPU side uses, which
// is what lets the tests demand bit-identical outputs whatever the placement.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "offload/expert_device.h"

namespace petrel::offload {
namespace {

constexpr uint64_t kAlign = 64;

uint64_t aligned(uint64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

uint64_t matrix_bytes(const WeightView& w) { return static_cast<uint64_t>(w.rows()) * w.row_bytes; }

// Bytes of one matrix in a slot: its rows, then its repacked copy (each 64-byte aligned).
uint64_t slot_matrix_bytes(const WeightView& w) {
  return aligned(matrix_bytes(w)) + (w.repacked != nullptr ? aligned(w.repacked_slab_bytes) : 0);
}

// Copies w into dst and returns the view of the copy.
WeightView copy_matrix(const WeightView& w, uint8_t* dst) {
  WeightView v = w;
  std::memcpy(dst, w.data, matrix_bytes(w));
  v.data = dst;
  if (w.repacked != nullptr) {
    uint8_t* r = dst + aligned(matrix_bytes(w));
    std::memcpy(r, w.repacked, w.repacked_slab_bytes);
    v.repacked = r;
  }
  return v;
}

class SimulatedExpertDevice final : public ExpertDevice {
 public:
  SimulatedExpertDevice(int64_t n_slots, uint64_t slot_bytes, uint8_t* arena)
      : n_slots_(n_slots), slot_bytes_(slot_bytes), arena_(arena), slots_(static_cast<size_t>(n_slots)) {}
  ~SimulatedExpertDevice() override { std::free(arena_); }

  const char* name() const override { return "simulated"; }
  int64_t n_slots() const override { return n_slots_; }

  Status upload(int64_t slot, const ExpertWeights& e) override {
    if (slot < 0 || slot >= n_slots_) return Status(StatusCode::invalid_argument, "expert upload: slot out of range");
    if (simulated_slot_bytes(e) > slot_bytes_) {
      return Status(StatusCode::invalid_argument, "expert upload: the expert is larger than a slot");
    }
    uint8_t* p = arena_ + static_cast<uint64_t>(slot) * slot_bytes_;
    Slot& s = slots_[static_cast<size_t>(slot)];
    s.expert = e;
    if (e.fused) {
      s.expert.gate_up = copy_matrix(e.gate_up, p);
      p += slot_matrix_bytes(e.gate_up);
    } else {
      s.expert.gate = copy_matrix(e.gate, p);
      p += slot_matrix_bytes(e.gate);
      s.expert.up = copy_matrix(e.up, p);
      p += slot_matrix_bytes(e.up);
    }
    s.expert.down = copy_matrix(e.down, p);
    s.filled = true;
    return Status();
  }

  // One slot's expert at a time through the expert FFN the CPU part of the layer runs. The CPU
  // backend is the simulated device's compute, so this part runs before the CPU's own part
  // instead of beside it, and is done when it returns.
  void start_expert_ffn(HostExpertFfn& cpu, const int64_t* slots, const int64_t* offsets, int64_t n_groups,
                        const float* x, float* down) override {
    const int32_t only_expert = 0;  // a slot holds one expert's slabs
    for (int64_t g = 0; g < n_groups; ++g) {
      const int64_t rows = offsets[g + 1] - offsets[g];
      if (rows <= 0) continue;
      const ExpertWeights& expert = slots_[static_cast<size_t>(slots[g])].expert;
      const int64_t n_embd = expert.down.rows();
      const int64_t group_rows[2] = {0, rows};
      cpu.run(expert, &only_expert, group_rows, 1, x + offsets[g] * n_embd, down + offsets[g] * n_embd);
    }
  }

  void wait() override {}

 private:
  struct Slot {
    ExpertWeights expert;
    bool filled = false;
  };
  int64_t n_slots_;
  uint64_t slot_bytes_;
  uint8_t* arena_;
  std::vector<Slot> slots_;
};

}  // namespace

uint64_t simulated_slot_bytes(const ExpertWeights& e) {
  const uint64_t mats = e.fused ? slot_matrix_bytes(e.gate_up) : slot_matrix_bytes(e.gate) + slot_matrix_bytes(e.up);
  return mats + slot_matrix_bytes(e.down);
}

uint64_t expert_file_bytes(const ExpertWeights& e) {
  const uint64_t mats = e.fused ? matrix_bytes(e.gate_up) : matrix_bytes(e.gate) + matrix_bytes(e.up);
  return mats + matrix_bytes(e.down);
}

std::unique_ptr<ExpertDevice> make_simulated_expert_device(int64_t n_slots, uint64_t slot_bytes) {
  slot_bytes = aligned(slot_bytes);
  const uint64_t total = static_cast<uint64_t>(n_slots) * slot_bytes;
  void* arena = total > 0 ? std::aligned_alloc(kAlign, total) : nullptr;
  if (total > 0 && arena == nullptr) return nullptr;
  return std::make_unique<SimulatedExpertDevice>(n_slots, slot_bytes, static_cast<uint8_t*>(arena));
}

}  // namespace petrel::offload
