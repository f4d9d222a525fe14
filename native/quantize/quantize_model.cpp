// quantize_model.h: plan (types, sizes, metadata), checks (output, disk space, imatrix), then the
// streaming conversion.
#include "quantize/quantize_model.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <thread>

#include "gguf/model_files.h"
#include "quant/convert.h"
#include "quant/quantize_rows.h"
#include "quantize/ftype.h"
#include "quantize/gguf_emit.h"
#include "quantize/imatrix.h"
#include "quantize/type_policy.h"

namespace petrel {
namespace {

// float32 elements one thread converts at a time (4 MiB), so a batch stays small on any model.
constexpr uint64_t kPieceElements = 1ull << 20;
// Raw tensors (kept as they are) are copied in chunks of this size.
constexpr uint64_t kCopyChunk = 16ull << 20;
// Left free on the disk besides the output.
constexpr uint64_t kDiskMargin = 64ull << 20;

Status invalid(const std::string& m) { return Status(StatusCode::invalid_argument, m); }

// Input pages already converted are dropped from the mapping (it is read-only and file-backed, so
// a page touched again is simply read back), so resident memory does not grow with the model.
void drop_pages(const uint8_t* begin, uint64_t n) {
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t b = reinterpret_cast<uintptr_t>(begin) / page * page;
  const uintptr_t e = (reinterpret_cast<uintptr_t>(begin) + n + page - 1) / page * page;
  if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

uint64_t meta_uint(const GgufModel& m, const std::string& key, uint64_t fallback) {
  const GgufValue* v = m.find(key);
  if (!v) return fallback;
  if (v->is_array()) {
    if (v->size() == 0 || v->item_type() == GgufType::STRING || v->item_type() == GgufType::ARRAY) return fallback;
    return v->item(0).to_uint().value_or(fallback);
  }
  return v->to_uint().value_or(fallback);
}

PolicyModel policy_model(const GgufModel& m) {
  PolicyModel p;
  if (const GgufValue* a = m.find("general.architecture"); a && a->is_string()) p.arch = *a->as_string();
  p.n_layer_all = static_cast<uint32_t>(meta_uint(m, p.arch + ".block_count", 0));
  p.n_expert = static_cast<uint32_t>(meta_uint(m, p.arch + ".expert_count", 0));
  const uint64_t n_head = meta_uint(m, p.arch + ".attention.head_count", 0);
  const uint64_t n_head_kv = meta_uint(m, p.arch + ".attention.head_count_kv", n_head);
  p.n_gqa = n_head_kv ? static_cast<uint32_t>(n_head / n_head_kv) : 0;
  p.is_70b = p.arch == "llama" && p.n_layer_all == 80 && n_head != n_head_kv;
  return p;
}

uint64_t tensor_bytes(GgmlType type, const int64_t ne[4]) {
  const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(type));
  const uint64_t rows = static_cast<uint64_t>(ne[1]) * static_cast<uint64_t>(ne[2]) * static_cast<uint64_t>(ne[3]);
  return rows * (static_cast<uint64_t>(ne[0]) / info->block_size * info->type_size);
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

Status check_disk(const std::string& output, uint64_t needed, uint64_t assume_free_bytes) {
  const size_t slash = output.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : output.substr(0, slash);
  uint64_t free_bytes = assume_free_bytes;
  if (free_bytes == 0) {
    struct statvfs st;
    if (::statvfs(dir.c_str(), &st) != 0) return Status::ok_status();  // unknown: the write itself will tell
    free_bytes = static_cast<uint64_t>(st.f_bavail) * static_cast<uint64_t>(st.f_frsize);
  }
  if (free_bytes < needed + kDiskMargin) {
    auto mib = [](uint64_t b) { return std::to_string((b + (1u << 20) - 1) >> 20) + " MiB"; };
    return Status(StatusCode::disk_full, gguf_printable(output) + ": not enough disk space: the output needs " + mib(needed) +
                                             ", " + mib(free_bytes) + " free");
  }
  return Status::ok_status();
}

// The output metadata: the input's, without split keys, with file type and quantization version
// set last (llama.cpp's gguf_set_val removes a key and appends it), plus the imatrix keys
// llama-quantize adds.
std::vector<GgufKv> output_metadata(const GgufModel& m, const QuantType& q, const QuantizeOptions& o, const Imatrix* im) {
  std::vector<GgufKv> kvs;
  for (const GgufKv& kv : m.kvs()) {
    if (kv.key == kGgufKeySplitNo || kv.key == kGgufKeySplitCount || kv.key == kGgufKeySplitTensorsCount) continue;
    if (kv.key == "general.quantization_version" || kv.key == "general.file_type") continue;
    kvs.push_back(kv);
  }
  kvs.push_back({"general.quantization_version", GgufValue::u32(2)});
  kvs.push_back({"general.file_type", GgufValue::u32(static_cast<uint32_t>(q.ftype))});
  if (im) {
    auto drop = [&](const char* key) {
      kvs.erase(std::remove_if(kvs.begin(), kvs.end(), [&](const GgufKv& kv) { return kv.key == key; }), kvs.end());
    };
    drop("quantize.imatrix.file");
    kvs.push_back({"quantize.imatrix.file", GgufValue::str(o.imatrix)});
    if (!im->datasets.empty()) {
      drop("quantize.imatrix.dataset");
      kvs.push_back({"quantize.imatrix.dataset", GgufValue::str(im->datasets[0])});
    }
    drop("quantize.imatrix.entries_count");
    kvs.push_back({"quantize.imatrix.entries_count", GgufValue::u32(static_cast<uint32_t>(im->entries.size()))});
    if (im->chunk_count > 0) {
      drop("quantize.imatrix.chunks_count");
      kvs.push_back({"quantize.imatrix.chunks_count", GgufValue::u32(static_cast<uint32_t>(im->chunk_count))});
    }
  }
  return kvs;
}

// One input tensor: a GGUF tensor (data) or a planned Hugging Face tensor (convert).
struct InTensor {
  std::string name;
  uint32_t n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};
  GgmlType type = GgmlType::F32;
  uint64_t n_elements = 0;
  uint64_t size = 0;
  const uint8_t* data = nullptr;
  const ConvertTensor* convert = nullptr;
};

struct Job {
  const InTensor* src = nullptr;
  const SafetensorsSource* safetensors = nullptr;
  QuantizedTensor* out = nullptr;
  const float* imatrix = nullptr;  // ne[0] * ne[2] values, or nullptr
};

// Converts rows [first, first + n) of one tensor into dst (dequantize to float32, then quantize).
Status convert_rows(const Job& job, uint64_t first, uint64_t n, std::vector<float>* scratch, uint8_t* dst) {
  const InTensor& t = *job.src;
  const int64_t ne0 = t.ne[0];
  const float* f32;
  if (t.convert) {
    scratch->resize(static_cast<size_t>(n * ne0));
    PETREL_RETURN_IF_ERROR(job.safetensors->read_rows(*t.convert, first, n, scratch->data()));
    f32 = scratch->data();
  } else {
    const uint64_t src_row = tensor_bytes(t.type, t.ne) / (static_cast<uint64_t>(t.ne[1]) * t.ne[2] * t.ne[3]);
    const uint8_t* src = t.data + first * src_row;
    if (t.type == GgmlType::F32 && reinterpret_cast<uintptr_t>(src) % alignof(float) == 0) {
      f32 = reinterpret_cast<const float*>(src);
    } else {
      scratch->resize(static_cast<size_t>(n * ne0));
      PETREL_RETURN_IF_ERROR(dequantize_row(t.type, src, scratch->data(), static_cast<int64_t>(n * ne0)));
      f32 = scratch->data();
    }
  }
  const GgmlTypeInfo* to = ggml_type_info(static_cast<uint32_t>(job.out->to));
  const uint64_t dst_row = static_cast<uint64_t>(ne0) / to->block_size * to->type_size;
  if (!job.imatrix) return quantize_rows(job.out->to, f32, dst, static_cast<int64_t>(n), ne0, nullptr);
  // Each expert (ne[2] slice) has its own importances; quantize the rows of one expert at a time.
  for (uint64_t r = 0; r < n;) {
    const uint64_t row = first + r;
    const uint64_t expert = (row / static_cast<uint64_t>(t.ne[1])) % static_cast<uint64_t>(t.ne[2]);
    const uint64_t end_of_expert = (row / t.ne[1] + 1) * t.ne[1];
    const uint64_t k = std::min(n - r, end_of_expert - row);
    PETREL_RETURN_IF_ERROR(quantize_rows(job.out->to, f32 + r * ne0, dst + r * dst_row, static_cast<int64_t>(k), ne0,
                                         job.imatrix + expert * ne0));
    r += k;
  }
  return Status::ok_status();
}

class Converter {
 public:
  Converter(const QuantizeOptions& o, unsigned threads, QuantizeProgress* p) : o_(o), threads_(threads), p_(p) {}

  Status run(const Job& job, AtomicFile* file) {
    const InTensor& t = *job.src;
    if (job.out->from == job.out->to && !t.convert) return copy(job, file);
    const uint64_t rows = static_cast<uint64_t>(t.ne[1]) * t.ne[2] * t.ne[3];
    if (rows == 0 || t.ne[0] <= 0) return Status::ok_status();  // an empty tensor has no data
    // At most kPieceElements per piece, and a whole number of pieces per thread, equal in size:
    // the threads of a batch wait for each other, so uneven batches leave cores idle.
    const uint64_t max_rows = std::max<uint64_t>(1, kPieceElements / static_cast<uint64_t>(t.ne[0]));
    const uint64_t n_threads = std::max<uint64_t>(1, threads_);
    const uint64_t min_pieces = (rows + max_rows - 1) / max_rows;
    const uint64_t balanced = std::min<uint64_t>(rows, (min_pieces + n_threads - 1) / n_threads * n_threads);
    const uint64_t piece_rows = (rows + balanced - 1) / balanced;
    const uint64_t n_pieces = (rows + piece_rows - 1) / piece_rows;
    const unsigned threads = static_cast<unsigned>(std::min<uint64_t>(threads_, n_pieces));
    const GgmlTypeInfo* to = ggml_type_info(static_cast<uint32_t>(job.out->to));
    const uint64_t dst_row = static_cast<uint64_t>(t.ne[0]) / to->block_size * to->type_size;
    const uint64_t src_row = t.size / rows;
    // uint64_t storage keeps every piece 8-byte aligned for the block structs.
    const uint64_t piece_words = (piece_rows * dst_row + 7) / 8;
    out_.resize(static_cast<size_t>(piece_words * threads));
    scratch_.resize(threads);
    std::vector<Status> results(threads);
    for (uint64_t p0 = 0; p0 < n_pieces; p0 += threads) {
      if (o_.cancel && o_.cancel->load(std::memory_order_relaxed)) return Status(StatusCode::io_error, "quantization cancelled");
      const unsigned in_batch = static_cast<unsigned>(std::min<uint64_t>(threads, n_pieces - p0));
      auto work = [&](unsigned s) {
        const uint64_t first = (p0 + s) * piece_rows;
        const uint64_t n = std::min(piece_rows, rows - first);
        results[s] = convert_rows(job, first, n, &scratch_[s], reinterpret_cast<uint8_t*>(out_.data() + s * piece_words));
      };
      std::vector<std::thread> pool;
      pool.reserve(in_batch - 1);
      for (unsigned s = 1; s < in_batch; ++s) pool.emplace_back(work, s);
      work(0);
      for (std::thread& th : pool) th.join();
      for (unsigned s = 0; s < in_batch; ++s) {
        if (!results[s].ok()) return Status(results[s].code(), "tensor " + gguf_quote(t.name) + ": " + results[s].message());
        const uint64_t first = (p0 + s) * piece_rows;
        const uint64_t n = std::min(piece_rows, rows - first);
        PETREL_RETURN_IF_ERROR(file->write(out_.data() + s * piece_words, static_cast<size_t>(n * dst_row)));
        advance(n * src_row);
      }
      const uint64_t done_rows = std::min(rows, (p0 + in_batch) * piece_rows);
      if (t.data) drop_pages(t.data + p0 * piece_rows * src_row, (done_rows - p0 * piece_rows) * src_row);
    }
    return Status::ok_status();
  }

 private:
  Status copy(const Job& job, AtomicFile* file) {
    const InTensor& t = *job.src;
    for (uint64_t done = 0; done < t.size;) {
      if (o_.cancel && o_.cancel->load(std::memory_order_relaxed)) return Status(StatusCode::io_error, "quantization cancelled");
      const uint64_t k = std::min(kCopyChunk, t.size - done);
      PETREL_RETURN_IF_ERROR(file->write(t.data + done, static_cast<size_t>(k)));
      drop_pages(t.data + done, k);
      done += k;
      advance(k);
    }
    return Status::ok_status();
  }

  void advance(uint64_t bytes) {
    p_->done_bytes += bytes;
    if (o_.progress) o_.progress(*p_);
  }

  const QuantizeOptions& o_;
  unsigned threads_;
  QuantizeProgress* p_;
  std::vector<uint64_t> out_;
  std::vector<std::vector<float>> scratch_;
};

}  // namespace

Status quantize_gguf(const QuantizeOptions& o, QuantizeSummary* summary) {
  *summary = QuantizeSummary();
  const QuantType* qtype = find_quant_type(o.type);
  if (!qtype) {
    size_t n = 0;
    const QuantType* table = quant_type_table(&n);
    std::string names;
    for (size_t i = 0; i < n; ++i) names += (i ? ", " : "") + std::string(table[i].name);
    return invalid("unknown quantization type " + gguf_quote(o.type) + " (one of: " + names + ")");
  }
  if (o.output.empty()) return invalid("no output file given");
  if (!o.dry_run) {
    if (!o.convert && same_file(o.input, o.output)) return invalid(gguf_printable(o.output) + ": the output would replace the input");
    if (!o.force && ::access(o.output.c_str(), F_OK) == 0) {
      return invalid(gguf_printable(o.output) + " exists; pass force to overwrite it");
    }
  }

  // The metadata comes from the input GGUF, or for a checkpoint from the plan's metadata-only GGUF.
  std::unique_ptr<GgufModel> model;
  PETREL_RETURN_IF_ERROR(GgufModel::open(o.convert ? o.convert->metadata : o.input, &model));
  std::unique_ptr<SafetensorsSource> safetensors;
  std::vector<InTensor> in;
  if (o.convert) {
    if (!model->tensors().empty()) return invalid("the conversion metadata must hold no tensors");
    PETREL_RETURN_IF_ERROR(SafetensorsSource::open(*o.convert, &safetensors));
    summary->input_file_bytes = safetensors->total_file_bytes();
    for (const ConvertTensor& c : o.convert->tensors) {
      InTensor t;
      t.name = c.name;
      t.n_dims = c.n_dims;
      std::copy(c.ne, c.ne + 4, t.ne);
      t.type = c.type;
      t.n_elements = static_cast<uint64_t>(c.ne[0] * c.ne[1] * c.ne[2] * c.ne[3]);
      const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(c.type));
      if (!info || t.ne[0] % info->block_size != 0) return invalid("tensor " + gguf_quote(c.name) + ": bad planned type");
      t.size = tensor_bytes(c.type, c.ne);
      t.convert = &c;
      in.push_back(std::move(t));
    }
  } else {
    for (size_t i = 0; i < model->n_files(); ++i) summary->input_file_bytes += model->file(i).file_size();
    for (const GgufTensorInfo& g : model->tensors()) {
      InTensor t;
      t.name = g.name;
      t.n_dims = g.n_dims;
      std::copy(g.ne, g.ne + 4, t.ne);
      t.type = g.type->type;
      t.n_elements = g.n_elements;
      t.size = g.size;
      t.data = g.data;
      in.push_back(std::move(t));
    }
  }

  std::unique_ptr<Imatrix> im;
  if (!o.imatrix.empty()) {
    im = std::make_unique<Imatrix>();
    PETREL_RETURN_IF_ERROR(load_imatrix(o.imatrix, im.get()));
    summary->imatrix_entries = static_cast<uint32_t>(im->entries.size());
  }

  // Types, in llama.cpp's tensor order (which is also the output order).
  std::vector<PolicyTensor> pts(in.size());
  std::vector<std::string> names(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    pts[i].name = names[i] = in[i].name;
    std::copy(in[i].ne, in[i].ne + 4, pts[i].ne);
    pts[i].type = in[i].type;
  }
  std::vector<TypeChoice> choices;
  PETREL_RETURN_IF_ERROR(choose_tensor_types(policy_model(*model), *qtype, im != nullptr, pts, &choices));
  const std::vector<size_t> order = llama_tensor_order(names);

  std::vector<Job> jobs;
  std::vector<EmitTensor> emit;
  summary->tensors.resize(in.size());
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t i = order[k];
    const InTensor& t = in[i];
    QuantizedTensor& q = summary->tensors[k];
    q.name = t.name;
    q.shape.assign(t.ne, t.ne + t.n_dims);
    q.from = t.type;
    q.to = choices[i].type;
    q.fallback = choices[i].fallback;
    q.n_elements = t.n_elements;
    q.bytes_in = t.size;
    q.bytes_out = tensor_bytes(q.to, t.ne);
    Job job{&t, safetensors.get(), &q, nullptr};
    if (q.from != q.to) {
      if (!t.convert && !can_dequantize(q.from)) {
        return Status(StatusCode::unsupported, "tensor " + gguf_quote(t.name) + ": petrel cannot convert from " +
                                                   ggml_type_info(static_cast<uint32_t>(q.from))->name);
      }
      if (im) {
        auto it = im->entries.find(t.name);
        if (it != im->entries.end()) {
          const uint64_t want = static_cast<uint64_t>(t.ne[0]) * static_cast<uint64_t>(t.ne[2]);
          if (it->second.size() == want) {
            // Q8_0 and the float types ignore importances (as in ggml_quantize_chunk).
            if (uses_imatrix(q.to)) {
              job.imatrix = it->second.data();
              q.with_imatrix = true;
            }
          } else if (t.name != "token_embd.weight" && t.name != "per_layer_token_embd.weight") {
            // llama.cpp refuses too: the imatrix was made for another model.
            return invalid("imatrix entry " + gguf_quote(t.name) + " has " + std::to_string(it->second.size()) +
                           " values, the tensor needs " + std::to_string(want));
          }
        }
      }
    }
    summary->n_elements += q.n_elements;
    summary->tensor_bytes_in += q.bytes_in;
    summary->tensor_bytes_out += q.bytes_out;
    jobs.push_back(job);
    emit.push_back({t.name, q.shape, static_cast<uint32_t>(q.to), q.bytes_out});
  }

  uint32_t alignment = kGgufDefaultAlignment;
  if (const GgufValue* a = model->find(kGgufKeyAlignment); a && a->type() == GgufType::UINT32) {
    alignment = static_cast<uint32_t>(a->bits());
  }
  std::vector<uint8_t> header;
  std::vector<uint64_t> offsets;
  uint64_t data_size = 0;
  PETREL_RETURN_IF_ERROR(encode_gguf_header(output_metadata(*model, *qtype, o, im.get()), emit, alignment, &header, &offsets, &data_size));
  summary->ftype = static_cast<uint32_t>(qtype->ftype);
  summary->output_file_bytes = header.size() + data_size;
  unsigned threads = o.threads ? o.threads : std::thread::hardware_concurrency();
  if (threads == 0) threads = 1;
  summary->threads = threads;
  if (o.dry_run) return Status::ok_status();

  PETREL_RETURN_IF_ERROR(check_disk(o.output, summary->output_file_bytes, o.assume_free_bytes));
  AtomicFile file;
  PETREL_RETURN_IF_ERROR(file.open(o.output, summary->output_file_bytes));
  PETREL_RETURN_IF_ERROR(file.write(header.data(), header.size()));

  QuantizeProgress progress;
  progress.total_bytes = summary->tensor_bytes_in;
  progress.n_tensors = static_cast<uint32_t>(jobs.size());
  Converter conv(o, threads, &progress);
  for (size_t k = 0; k < jobs.size(); ++k) {
    PETREL_RETURN_IF_ERROR(conv.run(jobs[k], &file));
    const uint64_t size = jobs[k].out->bytes_out;
    PETREL_RETURN_IF_ERROR(file.write_zeros((alignment - size % alignment) % alignment));
    progress.tensor_index = static_cast<uint32_t>(k + 1);
    if (o.progress) o.progress(progress);
  }
  if (file.written() != summary->output_file_bytes) {
    return Status(StatusCode::io_error, gguf_printable(o.output) + ": wrote " + std::to_string(file.written()) +
                                            " bytes, expected " + std::to_string(summary->output_file_bytes));
  }
  return file.commit();
}

}  // namespace petrel
