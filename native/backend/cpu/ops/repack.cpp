// Weights kept in the kernels' own layouts (op_repack_weight, ops.h).
//
// Q4_K and Q6_K matrices are repacked (BlockQ4_Kx8, BlockQ6_Kx8): they are all of a Q4_K_M
// model's projections and its output head, read on every token. Stacked MoE experts are too when
// the engine asks (Backend::prepare_weight is called for them only when the model fits memory
// with room to spare, engine/model.cpp); otherwise prefill repacks them per task (matmul.cpp).
// After repacking, the file's pages of that tensor are handed back to the kernel (they are never
// read again), so the resident size stays one copy. (Only for file mappings: on anonymous memory
// MADV_DONTNEED would zero the data.)
#include <cstring>

#include <sys/mman.h>
#include <unistd.h>

#include "backend/cpu/generic/q4_K_x8.h"
#include "backend/cpu/generic/q6_K_x8.h"
#include "backend/cpu/ops/ops.h"

namespace petrel::cpu {
namespace {

// Drops the whole pages inside [p, p + n) of a read-only file mapping from this process's
// resident set; later reads would fault them back in from the file.
void release_pages(const uint8_t* p, uint64_t n) {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace

RepackFormat repack_format(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_K:
      return {sizeof(BlockQ4_Kx8), sizeof(BlockQ4_K), [](const CpuKernels& k, const uint8_t* s, uint64_t rb, int64_t c, uint8_t* d) {
                k.repack_q4_K_x8(s, rb, c, reinterpret_cast<BlockQ4_Kx8*>(d));
              }};
    case GgmlType::Q6_K:
      return {sizeof(BlockQ6_Kx8), sizeof(BlockQ6_K), [](const CpuKernels&, const uint8_t* s, uint64_t rb, int64_t c, uint8_t* d) {
                repack_q6_K_x8(s, rb, c, reinterpret_cast<BlockQ6_Kx8*>(d));
              }};
    default:
      return {};
  }
}

bool repackable(const WeightView& w) {
  const RepackFormat format = repack_format(w.type);
  return format.repack != nullptr && w.data != nullptr && w.ne[2] >= 1 && w.ne[3] == 1 && w.cols() > 0 &&
         w.cols() % QK_K == 0 && w.rows() > 0 && w.rows() % 8 == 0 &&
         w.row_bytes == static_cast<uint64_t>(w.cols() / QK_K) * format.src_block_bytes;
}

RepackedBuffer& RepackedBuffer::operator=(RepackedBuffer&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) munmap(data_, bytes_);
    data_ = o.data_;
    bytes_ = o.bytes_;
    o.data_ = nullptr;
  }
  return *this;
}

RepackedBuffer::~RepackedBuffer() {
  if (data_ != nullptr) munmap(data_, bytes_);
}

RepackedBuffer RepackedBuffer::allocate(size_t bytes) {
  RepackedBuffer b;
  if (bytes == 0) return b;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return b;
#if defined(MADV_HUGEPAGE)
  madvise(p, bytes, MADV_HUGEPAGE);  // a hint: without transparent huge pages it does nothing
#endif
  b.data_ = static_cast<uint8_t*>(p);
  b.bytes_ = bytes;
  return b;
}

RepackedBuffer op_repack_weight(OpContext& ctx, WeightView* w, bool file_mapped) {
  if (!repackable(*w)) return {};
  const RepackFormat format = repack_format(w->type);
  // A stacked tensor's matrices follow each other row after row: with rows % 8 == 0 it repacks as
  // one matrix of rows x ne[2] rows, matrix e starting at group e * rows / 8.
  const int64_t cols = w->cols(), rows = w->rows() * w->ne[2];
  const int64_t groups = rows / 8;
  const uint64_t group_bytes = static_cast<uint64_t>(cols / QK_K) * format.block_bytes;
  RepackedBuffer buffer = RepackedBuffer::allocate(group_bytes * static_cast<uint64_t>(groups));
  if (!buffer) return {};
  uint8_t* dst = buffer.data();
  const WeightView& src = *w;
  ctx.pool.parallel_for(groups, grain_for(ctx.pool, groups, 8 * cols), [&](int64_t begin, int64_t end, int) {
    for (int64_t g = begin; g < end; ++g) {
      format.repack(ctx.kernels, src.data + static_cast<uint64_t>(g) * 8 * src.row_bytes, src.row_bytes, cols,
                    dst + static_cast<uint64_t>(g) * group_bytes);
    }
  });
  if (file_mapped) release_pages(w->data, w->row_bytes * static_cast<uint64_t>(rows));
  w->repacked = dst;
  w->repacked_slab_bytes = group_bytes * static_cast<uint64_t>(w->rows() / 8);
  return buffer;
}

}  // namespace petrel::cpu
