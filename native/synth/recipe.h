// Synthetic-model recipes: a small GGUF that holds a synthetic model's metadata (tokenizer
// included) and, under petrel.recipe.*, every tensor's name, type, shape and random source, but no
// tensor data. `petrel synth --recipe` writes one (src/synth/recipe.ts); write_from_recipe turns
// it into the model file with the same writer and generator the Node path uses, so the bytes are
// the same. This is how a machine without Node (the GPU machine) gets a multi-GB synthetic model
// from a file of a few MiB: native/tools/petrel_synth.cpp.
//
// The GPU machine also needs quantized models of tens of GB in seconds, which no quantizer
// writes: read_recipe gives the recipe as a plan, recipe_keep_layers and recipe_quant_mix change
// it (fewer blocks; llama-quantize's per-tensor types for a llama_ftype), and write_random_blocks
// (synth/block_writer.h) writes it with random quantized blocks instead of quantized values.
#pragma once

#include <string>
#include <vector>

#include "gguf/gguf_value.h"
#include "gguf/writer.h"
#include "petrel/status.h"
#include "quantize/ftype.h"
#include "synth/random_fill.h"

namespace petrel {

// Keys of the recipe block (arrays with one item per tensor, shapes flattened).
inline constexpr const char* kRecipeVersionKey = "petrel.recipe.version";  // u32, 1
inline constexpr const char* kRecipePrefix = "petrel.recipe.";
// names: string; types: u32 ggml type ids; ndims: u32; shape: i64 (ndims values per tensor);
// seeds: u64; means, stds: f64; transforms: u8 (0 none, 1 neg_exp).

// One tensor of a synthetic model: where it goes, and how its values are drawn.
struct SynthTensor {
  std::string name;
  uint32_t type_id = 0;        // ggml type id
  std::vector<int64_t> shape;  // ggml ne order
  RandomSpec spec;
};

// A synthetic model: the metadata (recipe keys removed) in order, then the tensors in order.
struct SynthPlan {
  std::vector<GgufKv> kvs;
  std::vector<SynthTensor> tensors;
};

// Reads a recipe (hostile input: every count and value is checked; corrupt_file otherwise).
Status read_recipe(const std::string& recipe_path, SynthPlan* out);

// Keeps blocks 0 .. n_layers-1: drops the tensors of later blocks (blk.N.*) and sets
// <arch>.block_count to n_layers. n_layers must be a multiple of <arch>.full_attention_interval
// (every 4th block is attention), so that the blocks kept are the real model's first ones and
// hold both kinds; invalid_argument otherwise. The other metadata (general.size_label) stays the
// full model's: `petrel synth --layers N --recipe` makes the recipe of the very file
// `petrel synth --layers N` writes, with any N >= 2.
Status recipe_keep_layers(SynthPlan* plan, int n_layers);

// Gives every tensor the type llama-quantize would give it for `qtype` (quantize/type_policy.h,
// a port of llama.cpp's llama_tensor_get_type), and sets general.quantization_version and
// general.file_type as llama-quantize writes them.
Status recipe_quant_mix(SynthPlan* plan, const QuantType& qtype);

// The plan into an empty writer, its values drawn by random_fill and quantized by the writer
// (slow for large quantized models: see write_random_blocks); validated.
Status add_plan(SynthPlan plan, GgufWriter* writer);

// Reads the recipe (as read_recipe) into an empty writer: the keys outside petrel.recipe.*, in
// order, then the tensors; validated.
Status load_recipe(const std::string& recipe_path, GgufWriter* writer);

// load_recipe, then the model written to out_path atomically.
Status write_from_recipe(const std::string& recipe_path, const std::string& out_path, GgufWriteOptions options);

}  // namespace petrel
