// Tensors of a Hugging Face checkpoint, read for the quantizer straight from memory-mapped
// .safetensors files. TypeScript (src/convert/) parses the headers and plans every output tensor as
// llama.cpp's convert_hf_to_gguf.py would write it; here each planned tensor is a list of row runs
// (parts) in the source files plus one of a few fixed transforms, so a tensor is produced a batch of
// rows at a time without ever holding a whole tensor:
//   - parts are concatenated in order: this alone expresses renames, squeezes (a [C,1,4] conv weight
//     is C rows of 4), splitting fused tensors (gate_up_proj, in_proj_qkvz), stacking per-expert
//     tensors and row permutations such as the V-head reordering (one part per head);
//   - col_perm permutes blocks of columns inside every row (the V-head reorder of out_proj's input);
//   - op applies +1 (zero-centred RMSNorm weights) or -exp (A_log -> ssm_a) in float32, rounded to
//     float16 afterwards for float16 sources, as torch computes it in the source dtype.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "petrel/status.h"
#include "quant/ggml_type.h"

namespace petrel {

enum class ConvertOp { none, add_one, neg_exp };

struct SafetensorsPart {
  uint32_t file = 0;    // index into ConvertPlan::files
  uint64_t offset = 0;  // absolute byte offset of the part's first row in that file
  uint64_t rows = 0;    // consecutive source rows of ne[0] elements
  GgmlType dtype = GgmlType::F32;  // F32, F16 or BF16
};

struct ConvertTensor {
  std::string name;
  uint32_t n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ggml order
  GgmlType type = GgmlType::F32;  // the type the converter would store it as
  ConvertOp op = ConvertOp::none;
  std::vector<SafetensorsPart> parts;
  uint32_t col_block = 0;           // with col_perm: output column block j is source block col_perm[j]
  std::vector<uint32_t> col_perm;
};

struct ConvertPlan {
  std::string metadata;             // a GGUF holding the output's metadata and no tensors
  std::vector<std::string> files;   // the .safetensors files
  std::vector<ConvertTensor> tensors;
};

// The mapped files of a plan; every part is checked against its file's size on open.
class SafetensorsSource {
 public:
  ~SafetensorsSource();
  static Status open(const ConvertPlan& plan, std::unique_ptr<SafetensorsSource>* out);
  uint64_t total_file_bytes() const { return total_; }
  // Output rows [first, first + n) of `t` as float32 (n * ne[0] values). Thread-safe.
  Status read_rows(const ConvertTensor& t, uint64_t first, uint64_t n, float* dst) const;

 private:
  struct Map {
    const uint8_t* data = nullptr;
    uint64_t size = 0;
  };
  std::vector<Map> maps_;
  uint64_t total_ = 0;
};

}  // namespace petrel
