// Synthetic-model recipes: a small GGUF that holds a synthetic model's metadata (tokenizer
// included) and, under petrel.recipe.*, every tensor's name, type, shape and random source, but no
// tensor data. `petrel synth --recipe` writes one (src/synth/recipe.ts); write_from_recipe turns
// it into the model file with the same writer and generator the Node path uses, so the bytes are
// the same. This is how a machine without Node (the GPU machine) gets a multi-GB synthetic model
// from a file of a few MiB: native/tools/petrel_synth.cpp.
#pragma once

#include <string>

#include "gguf/writer.h"
#include "petrel/status.h"

namespace petrel {

// Keys of the recipe block (arrays with one item per tensor, shapes flattened).
inline constexpr const char* kRecipeVersionKey = "petrel.recipe.version";  // u32, 1
inline constexpr const char* kRecipePrefix = "petrel.recipe.";
// names: string; types: u32 ggml type ids; ndims: u32; shape: i64 (ndims values per tensor);
// seeds: u64; means, stds: f64; transforms: u8 (0 none, 1 neg_exp).

// Reads the recipe (hostile input: every count and value is checked; corrupt_file otherwise) into
// an empty writer: the keys outside petrel.recipe.*, in order, then the tensors; validated.
Status load_recipe(const std::string& recipe_path, GgufWriter* writer);

// load_recipe, then the model written to out_path atomically.
Status write_from_recipe(const std::string& recipe_path, const std::string& out_path, GgufWriteOptions options);

}  // namespace petrel
