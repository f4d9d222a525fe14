// safetensors_source.h: memory maps, bounds checks and the per-row transforms.
#include "quantize/safetensors_source.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>

#include "gguf/reader.h"
#include "quant/fp16.h"

namespace petrel {
namespace {

uint64_t dtype_size(GgmlType t) { return t == GgmlType::F32 ? 4 : 2; }

void drop_pages(const uint8_t* begin, uint64_t n) {
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t b = (reinterpret_cast<uintptr_t>(begin) + page - 1) / page * page;
  const uintptr_t e = (reinterpret_cast<uintptr_t>(begin) + n) / page * page;
  if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

void to_f32(GgmlType dtype, const uint8_t* src, float* dst, int64_t n) {
  if (dtype == GgmlType::F32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * 4);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = dtype == GgmlType::F16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
  }
}

}  // namespace

SafetensorsSource::~SafetensorsSource() {
  for (const Map& m : maps_) {
    if (m.data && m.size) ::munmap(const_cast<uint8_t*>(m.data), m.size);
  }
}

Status SafetensorsSource::open(const ConvertPlan& plan, std::unique_ptr<SafetensorsSource>* out) {
  auto src = std::unique_ptr<SafetensorsSource>(new SafetensorsSource());
  for (const std::string& path : plan.files) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status(StatusCode::io_error, gguf_printable(path) + ": cannot open: " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      return Status(StatusCode::io_error, gguf_printable(path) + ": cannot stat: " + std::strerror(err));
    }
    Map m;
    m.size = static_cast<uint64_t>(st.st_size);
    if (m.size > 0) {
      void* p = ::mmap(nullptr, m.size, PROT_READ, MAP_SHARED, fd, 0);
      if (p == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        return Status(StatusCode::io_error, gguf_printable(path) + ": cannot map: " + std::strerror(err));
      }
      m.data = static_cast<const uint8_t*>(p);
    }
    ::close(fd);
    src->maps_.push_back(m);
    src->total_ += m.size;
  }
  // The plan was made from the headers; the files may have changed since, so check again.
  for (const ConvertTensor& t : plan.tensors) {
    uint64_t rows = 0;
    for (const SafetensorsPart& p : t.parts) {
      if (p.file >= src->maps_.size()) return Status(StatusCode::invalid_argument, "tensor " + gguf_quote(t.name) + ": bad file index");
      if (p.dtype != GgmlType::F32 && p.dtype != GgmlType::F16 && p.dtype != GgmlType::BF16) {
        return Status(StatusCode::invalid_argument, "tensor " + gguf_quote(t.name) + ": unsupported source dtype");
      }
      const uint64_t bytes = p.rows * static_cast<uint64_t>(t.ne[0]) * dtype_size(p.dtype);
      const uint64_t size = src->maps_[p.file].size;
      if (p.offset > size || bytes > size - p.offset) {
        return Status(StatusCode::corrupt_file, gguf_printable(plan.files[p.file]) + ": tensor " + gguf_quote(t.name) +
                                                    " reaches past the end of the file");
      }
      rows += p.rows;
    }
    if (rows != static_cast<uint64_t>(t.ne[1] * t.ne[2] * t.ne[3])) {
      return Status(StatusCode::invalid_argument, "tensor " + gguf_quote(t.name) + ": the parts do not add up to its shape");
    }
    if (!t.col_perm.empty()) {
      if (t.col_block == 0 || t.col_perm.size() * t.col_block != static_cast<uint64_t>(t.ne[0])) {
        return Status(StatusCode::invalid_argument, "tensor " + gguf_quote(t.name) + ": bad column permutation");
      }
      for (uint32_t c : t.col_perm) {
        if (c >= t.col_perm.size()) return Status(StatusCode::invalid_argument, "tensor " + gguf_quote(t.name) + ": bad column permutation");
      }
    }
  }
  *out = std::move(src);
  return Status::ok_status();
}

Status SafetensorsSource::read_rows(const ConvertTensor& t, uint64_t first, uint64_t n, float* dst) const {
  const int64_t ne0 = t.ne[0];
  std::vector<float> row;
  if (!t.col_perm.empty()) row.resize(static_cast<size_t>(ne0));
  uint64_t part_first = 0;  // output row of the current part's first row
  size_t pi = 0;
  for (uint64_t r = first; r < first + n;) {
    while (pi < t.parts.size() && part_first + t.parts[pi].rows <= r) part_first += t.parts[pi++].rows;
    if (pi == t.parts.size()) return Status(StatusCode::invalid_argument, "tensor " + gguf_quote(t.name) + ": row out of range");
    const SafetensorsPart& p = t.parts[pi];
    const uint64_t k = std::min(first + n - r, part_first + p.rows - r);
    const uint64_t row_bytes = static_cast<uint64_t>(ne0) * dtype_size(p.dtype);
    const uint8_t* src = maps_[p.file].data + p.offset + (r - part_first) * row_bytes;
    float* out = dst + (r - first) * ne0;
    for (uint64_t i = 0; i < k; ++i, src += row_bytes, out += ne0) {
      if (t.col_perm.empty()) {
        to_f32(p.dtype, src, out, ne0);
      } else {
        to_f32(p.dtype, src, row.data(), ne0);
        for (size_t b = 0; b < t.col_perm.size(); ++b) {
          std::memcpy(out + b * t.col_block, row.data() + t.col_perm[b] * t.col_block, t.col_block * sizeof(float));
        }
      }
      if (t.op == ConvertOp::none) continue;
      for (int64_t j = 0; j < ne0; ++j) {
        float v = t.op == ConvertOp::add_one ? out[j] + 1.0f : -std::exp(out[j]);
        if (p.dtype == GgmlType::F16) v = fp16_to_fp32(fp32_to_fp16(v));
        out[j] = v;
      }
    }
    drop_pages(maps_[p.file].data + p.offset + (r - part_first) * row_bytes, k * row_bytes);
    r += k;
  }
  return Status::ok_status();
}

}  // namespace petrel
