// Allocation of the per-sequence state (see state.h) in the backend's memory. Allocation failures
// become out_of_memory, so a too-long context never takes the process down.
#include "model/qwen35/state.h"

#include <algorithm>
#include <new>
#include <string>

namespace petrel::qwen35 {

int64_t conv_state_floats(const Hparams& hp) {
  return static_cast<int64_t>(hp.ssm_d_conv - 1) * hp.ssm_conv_dim();
}

int64_t ssm_state_floats(const Hparams& hp) {
  return static_cast<int64_t>(hp.ssm_n_v_heads) * hp.ssm_d_state * hp.ssm_head_v_dim();
}

int64_t kv_floats_per_token(const Hparams& hp, int32_t il) {
  return static_cast<int64_t>(hp.n_head_kv[static_cast<size_t>(il)]) * hp.head_dim;
}

int64_t kv_bytes_per_token(const Hparams& hp, int32_t il, GgmlType kv_type) {
  return kv_floats_per_token(hp, il) * (kv_type == GgmlType::F16 ? 2 : 4);
}

Tensor kv_positions(const TensorBuffer& cache, int64_t n_pos) {
  Tensor t = cache.tensor().slice(1, 0, n_pos);
  std::swap(t.ne[1], t.ne[2]);
  std::swap(t.nb[1], t.nb[2]);
  return t;
}

Status make_state(const Hparams& hp, Backend& backend, GgmlType kv_type, SequenceState* out) {
  if (kv_type != GgmlType::F16 && kv_type != GgmlType::F32) {
    return Status(StatusCode::invalid_argument, "the KV cache holds f16 or f32");
  }
  SequenceState st;
  st.kv_type = kv_type;
  st.layers.resize(static_cast<size_t>(hp.n_layer));
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    if (!hp.recurrent[static_cast<size_t>(il)]) continue;
    LayerState& ls = st.layers[static_cast<size_t>(il)];
    const Status conv = backend.allocate(Tensor::contiguous(GgmlType::F32, hp.ssm_conv_dim(), hp.ssm_d_conv - 1), &ls.conv);
    const Status ssm = conv.ok() ? backend.allocate(Tensor::contiguous(GgmlType::F32, hp.ssm_head_v_dim(), hp.ssm_d_state,
                                                                       hp.ssm_n_v_heads), &ls.ssm)
                                 : conv;
    if (!ssm.ok()) return Status(StatusCode::out_of_memory, "not enough memory for a session's recurrent state");
  }
  *out = std::move(st);
  return Status();
}

Status reserve_kv(const Hparams& hp, Backend& backend, SequenceState* st, int64_t n_pos, int64_t max_pos) {
  if (n_pos <= st->kv_capacity) return Status();
  // Double (from 32 positions) so decode appends amortise; never past the context limit.
  const int64_t capacity = std::min(std::max({n_pos, st->kv_capacity * 2, int64_t{32}}), std::max(max_pos, n_pos));
  std::vector<TensorBuffer> grown(2 * static_cast<size_t>(hp.n_layer));
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    if (hp.recurrent[static_cast<size_t>(il)]) continue;
    const Tensor desc = Tensor::contiguous(st->kv_type, hp.head_dim, capacity, hp.n_head_kv[static_cast<size_t>(il)]);
    for (size_t i : {0, 1}) {
      if (!backend.allocate(desc, &grown[2 * static_cast<size_t>(il) + i]).ok()) {
        return Status(StatusCode::out_of_memory,
                      "not enough memory to grow the KV cache to " + std::to_string(capacity) + " positions");
      }
    }
  }
  // Each head's run of valid positions moves to its place in the larger buffer.
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    if (hp.recurrent[static_cast<size_t>(il)]) continue;
    LayerState& ls = st->layers[static_cast<size_t>(il)];
    TensorBuffer* to = &grown[2 * static_cast<size_t>(il)];
    if (st->n_pos > 0) {
      backend.copy(kv_positions(ls.k, st->n_pos), kv_positions(to[0], st->n_pos));
      backend.copy(kv_positions(ls.v, st->n_pos), kv_positions(to[1], st->n_pos));
    }
    ls.k = std::move(to[0]);
    ls.v = std::move(to[1]);
  }
  st->kv_capacity = capacity;
  return Status();
}

Status copy_state(const Hparams& hp, Backend& backend, const SequenceState& from, SequenceState* out) {
  SequenceState st;
  PETREL_RETURN_IF_ERROR(make_state(hp, backend, from.kv_type, &st));
  PETREL_RETURN_IF_ERROR(reserve_kv(hp, backend, &st, from.kv_capacity, from.kv_capacity));
  for (int32_t il = 0; il < hp.n_layer; ++il) {
    const LayerState& a = from.layers[static_cast<size_t>(il)];
    LayerState& b = st.layers[static_cast<size_t>(il)];
    if (hp.recurrent[static_cast<size_t>(il)]) {
      backend.copy(a.conv.tensor(), b.conv.tensor());
      backend.copy(a.ssm.tensor(), b.ssm.tensor());
    } else if (from.n_pos > 0) {
      backend.copy(kv_positions(a.k, from.n_pos), kv_positions(b.k, from.n_pos));
      backend.copy(kv_positions(a.v, from.n_pos), kv_positions(b.v, from.n_pos));
    }
  }
  st.n_pos = from.n_pos;
  *out = std::move(st);
  return Status();
}

}  // namespace petrel::qwen35
